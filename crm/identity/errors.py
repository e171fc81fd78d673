"""The one exception every identity normaliser raises, with a machine-readable code."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Why a value could not be normalised; stable, shown to API users and in reject reports."""

    INVALID_PHONE = "INVALID_PHONE"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_HANDLE = "INVALID_HANDLE"
    INVALID_EXTERNAL_ID = "INVALID_EXTERNAL_ID"
    INVALID_DATE = "INVALID_DATE"
    INVALID_NAME = "INVALID_NAME"
    INVALID_REGION = "INVALID_REGION"
    UNSUPPORTED_CHANNEL = "UNSUPPORTED_CHANNEL"


class IdentityError(ValueError):
    """A value that cannot be normalised. Messages never quote the whole value: it may be PII."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __reduce__(self):
        # keyword-only ``field`` would otherwise be lost when pickled (arq results, multiprocessing)
        return (_rebuild, (self.code, self.message, self.field))

    def __repr__(self) -> str:
        return f"IdentityError({self.code.value}, {self.message!r}, field={self.field!r})"


def _rebuild(code: ErrorCode, message: str, field: str | None) -> IdentityError:
    return IdentityError(code, message, field=field)
