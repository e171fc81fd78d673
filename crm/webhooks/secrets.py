"""Endpoint secrets encrypted at rest, under the same keys as PMS credentials.

One keyring (``crm.pms.secrets.keyring``: ``CRM_SECRET_KEY`` first, then every previous key)
encrypts both, so ``crm secret rotate`` re-encrypts webhook secrets with PMS credentials.
"""

from __future__ import annotations

import secrets as _secrets

from cryptography.fernet import InvalidToken

from crm.pms.secrets import keyring
from crm.settings import Settings


def new_secret() -> str:
    """A fresh random shared secret for a webhook endpoint."""
    return _secrets.token_urlsafe(32)


def encrypt(plain: str, *, settings: Settings | None = None) -> str:
    """``plain`` as a Fernet token (text), under the current key."""
    return keyring(settings).encrypt(plain.encode()).decode()


def decrypt(token: str, *, settings: Settings | None = None) -> str:
    """The plain secret of ``token``; ValueError when no known key opens it."""
    try:
        return keyring(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("the webhook secret cannot be decrypted with CRM_SECRET_KEY") from None
