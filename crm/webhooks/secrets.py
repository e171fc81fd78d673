"""Endpoint secrets encrypted at rest (Fernet keyed from ``CRM_SECRET_KEY``).

A small module of its own for now; it derives its key from the same settings value as the
PMS token encryption so that the two can become one helper.
"""

from __future__ import annotations

import base64
import hashlib
import secrets as _secrets

from cryptography.fernet import Fernet, InvalidToken

from crm.settings import Settings, get_settings


def _fernet(settings: Settings | None = None) -> Fernet:
    key = (settings or get_settings()).resolved_secret_key()
    # any text as CRM_SECRET_KEY: Fernet wants 32 url-safe base64 bytes
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def new_secret() -> str:
    """A fresh random shared secret for a webhook endpoint."""
    return _secrets.token_urlsafe(32)


def encrypt(plain: str, *, settings: Settings | None = None) -> str:
    """``plain`` as a Fernet token (text)."""
    return _fernet(settings).encrypt(plain.encode()).decode()


def decrypt(token: str, *, settings: Settings | None = None) -> str:
    """The plain secret of ``token``; ValueError when ``CRM_SECRET_KEY`` changed since."""
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("the webhook secret cannot be decrypted with CRM_SECRET_KEY") from None
