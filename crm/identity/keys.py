"""One entry point: a channel and a raw value in, an identity key out."""

from __future__ import annotations

from crm.identity.channels import (
    HANDLE_CHANNELS,
    PHONE_CHANNELS,
    Channel,
    IdentityKey,
    namespace_for,
    parse_channel,
)
from crm.identity.email import normalize_email
from crm.identity.external_ids import normalize_external_id
from crm.identity.handles import normalize_handle
from crm.identity.phone import normalize_phone


def normalize_identifier(
    channel: Channel | str, value: str, *, region: str | None = "AU"
) -> IdentityKey:
    """The identity key of a value seen on a channel (the enum or its name, any case)."""
    channel = parse_channel(channel)
    if channel in PHONE_CHANNELS:
        normalized = normalize_phone(value, region=region)
    elif channel is Channel.EMAIL:
        normalized = normalize_email(value)
    elif channel in HANDLE_CHANNELS:
        normalized = normalize_handle(value, channel)
    else:
        normalized = normalize_external_id(value)
    return IdentityKey(namespace_for(channel), normalized)
