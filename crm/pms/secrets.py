"""PMS credentials at rest: Fernet, keyed from CRM_SECRET_KEY; rotation with MultiFernet.

The plain credentials exist only in memory, for the length of a call to the PMS. They are
never returned by the API, logged, or put into an error message: ``Credentials`` hides them
from ``repr``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlmodel import Session

from crm.errors import ErrorCode, ServiceError
from crm.models import PmsConnection, WebhookEndpoint
from crm.settings import (
    PREVIOUS_SECRET_FILE,
    SECRET_FILE,
    Settings,
    get_settings,
    new_secret_key,
    previous_keys,
)

_INFO = b"crm pms credentials v1"


class Credentials(dict):
    """A connection's credentials; printing it shows the names of its keys only."""

    def __repr__(self) -> str:
        return f"Credentials({sorted(self)})"

    __str__ = __repr__


def fernet_for(secret: str) -> Fernet:
    """The Fernet key derived from a secret key of any length (HKDF-SHA256)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _known_secrets(settings: Settings | None) -> list[str]:
    settings = settings or get_settings()
    return list(dict.fromkeys([settings.resolved_secret_key(), *previous_keys(settings)]))


def keyring(settings: Settings | None = None) -> MultiFernet:
    """The current key first (it encrypts), then every previous one (they still decrypt)."""
    return MultiFernet([fernet_for(s) for s in _known_secrets(settings)])


def encrypt(value: Mapping[str, Any], *, settings: Settings | None = None) -> str:
    """``value`` as JSON, encrypted under the current key."""
    return keyring(settings).encrypt(json.dumps(dict(value), sort_keys=True).encode()).decode()


def decrypt(token: str, *, settings: Settings | None = None) -> Credentials:
    """The credentials ``encrypt`` made; a token no known key opens is a clear error."""
    try:
        plain = keyring(settings).decrypt(token.encode())
    except InvalidToken:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            "the stored PMS credentials cannot be decrypted with CRM_SECRET_KEY (was the key "
            "changed without `crm secret rotate`?); add the connection's credentials again",
            field="credentials",
        ) from None
    return Credentials(json.loads(plain))


def rotate(session: Session, *, new_secret: str, settings: Settings | None = None) -> int:
    """Re-encrypt every stored credential under ``new_secret``; how many values it rewrote.

    Flushes only: the caller commits, then makes ``new_secret`` the current key."""
    secrets = dict.fromkeys([new_secret, *_known_secrets(settings)])
    ring = MultiFernet([fernet_for(s) for s in secrets])
    table = PmsConnection.__table__
    rows = session.execute(
        sa.select(table.c.id, table.c.credentials_encrypted, table.c.access_token_encrypted)
    ).all()
    count = 0
    for row in rows:
        values: dict[str, Any] = {}
        try:
            values["credentials_encrypted"] = ring.rotate(row.credentials_encrypted.encode())
            if row.access_token_encrypted:
                values["access_token_encrypted"] = ring.rotate(row.access_token_encrypted.encode())
        except InvalidToken:
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"PMS connection {row.id}: its credentials open with none of the known keys; "
                "nothing was rotated",
            ) from None
        session.execute(
            table.update()
            .where(table.c.id == row.id)
            .values({k: v.decode() for k, v in values.items()})
        )
        count += len(values)
    # inbound webhook endpoints' shared secrets (crm/webhooks/secrets.py) share the keyring
    endpoints = WebhookEndpoint.__table__
    for row in session.execute(sa.select(endpoints.c.id, endpoints.c.secret_encrypted)).all():
        try:
            token = ring.rotate(row.secret_encrypted.encode())
        except InvalidToken:
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"webhook endpoint {row.id}: its secret opens with none of the known keys; "
                "nothing was rotated",
            ) from None
        session.execute(
            endpoints.update()
            .where(endpoints.c.id == row.id)
            .values(secret_encrypted=token.decode())
        )
        count += 1
    session.flush()
    return count


def install_secret_file(new_secret: str, *, old_secret: str) -> None:
    """Make ``new_secret`` the key of ``./.crm-secret``, keeping ``old_secret`` in
    ``./.crm-secret.previous`` (it still decrypts anything written before the rotation)."""
    _write_private(
        PREVIOUS_SECRET_FILE,
        "\n".join(dict.fromkeys([old_secret, *_lines(PREVIOUS_SECRET_FILE)])) + "\n",
    )
    _write_private(SECRET_FILE, new_secret + "\n")


def _lines(path: Path) -> list[str]:
    return [x.strip() for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


__all__ = [
    "Credentials",
    "decrypt",
    "encrypt",
    "fernet_for",
    "install_secret_file",
    "keyring",
    "new_secret_key",
    "rotate",
]
