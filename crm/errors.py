"""Expected failures of the services, each with a stable code that clients switch on."""

from __future__ import annotations

import enum


class ErrorCode(str, enum.Enum):
    INVALID_PHONE = "INVALID_PHONE"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_HANDLE = "INVALID_HANDLE"
    INVALID_EXTERNAL_ID = "INVALID_EXTERNAL_ID"
    INVALID_DATE = "INVALID_DATE"
    INVALID_NAME = "INVALID_NAME"
    INVALID_REGION = "INVALID_REGION"
    INVALID_INPUT = "INVALID_INPUT"
    UNSUPPORTED_CHANNEL = "UNSUPPORTED_CHANNEL"
    NOTHING_TO_IDENTIFY = "NOTHING_TO_IDENTIFY"
    NOT_FOUND = "NOT_FOUND"
    NOT_ACTIVE = "NOT_ACTIVE"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    IDENTIFIER_CONFLICT = "IDENTIFIER_CONFLICT"
    DUPLICATE_CONTACT = "DUPLICATE_CONTACT"
    NAME_TAKEN = "NAME_TAKEN"
    MERGE_CONFLICT = "MERGE_CONFLICT"
    NOT_MERGED = "NOT_MERGED"
    CANDIDATE_CLOSED = "CANDIDATE_CLOSED"
    SOURCE_NOT_ALLOWED = "SOURCE_NOT_ALLOWED"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    # pets (docs/pets.md)
    INVALID_MICROCHIP = "INVALID_MICROCHIP"
    INVALID_PET_SEX = "INVALID_PET_SEX"
    MICROCHIP_CONFLICT = "MICROCHIP_CONFLICT"
    PET_OWNER_CONFLICT = "PET_OWNER_CONFLICT"
    # PMS sync (crm/pms): the PMS refused the credentials, could not be reached or answered
    # with something unreadable, or a sync of the connection is already running
    PMS_AUTH_FAILED = "PMS_AUTH_FAILED"
    PMS_UNAVAILABLE = "PMS_UNAVAILABLE"
    PMS_BAD_RESPONSE = "PMS_BAD_RESPONSE"
    SYNC_RUNNING = "SYNC_RUNNING"
    # the organization has a connection of that PMS already (one account per PMS type)
    PMS_CONNECTION_EXISTS = "PMS_CONNECTION_EXISTS"
    COLUMN_PLAN_REFUSED = "COLUMN_PLAN_REFUSED"
    # a CSV field whose opening quote is not closed where it should be: it swallowed lines
    UNBALANCED_QUOTE = "UNBALANCED_QUOTE"


class ServiceError(Exception):
    """Bad input or a state that forbids the operation; never a bug."""

    def __init__(self, code: ErrorCode | str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.code = ErrorCode(code if isinstance(code, str) else code.value)
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"ServiceError({self.code.value}, {self.message!r}, field={self.field!r})"


class NotFound(ServiceError):
    def __init__(self, what: str, *, field: str | None = None):
        super().__init__(ErrorCode.NOT_FOUND, f"{what} not found", field=field)
