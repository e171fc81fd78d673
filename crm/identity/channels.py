"""Channels, the identity-key namespaces they map to, and the key type itself."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from crm.identity.errors import ErrorCode, IdentityError


class Channel(enum.StrEnum):
    """A way a source knows a person; the value equals the name (also the GraphQL enum)."""

    EMAIL = "EMAIL"
    PHONE = "PHONE"
    WHATSAPP = "WHATSAPP"
    SMS = "SMS"
    INSTAGRAM = "INSTAGRAM"
    FACEBOOK = "FACEBOOK"
    CHATWOOT = "CHATWOOT"
    CLINIKO = "CLINIKO"
    GENTU = "GENTU"
    HALAXY = "HALAXY"
    MEDIRECORDS = "MEDIRECORDS"
    CAREPORTALS = "CAREPORTALS"
    EXTERNAL = "EXTERNAL"


_NAMESPACE_BY_CHANNEL: dict[Channel, str] = {
    Channel.EMAIL: "email",
    # one key space: a number seen on WhatsApp finds the contact imported with that phone
    Channel.PHONE: "tel",
    Channel.WHATSAPP: "tel",
    Channel.SMS: "tel",
    Channel.INSTAGRAM: "instagram",
    Channel.FACEBOOK: "facebook",
    Channel.CHATWOOT: "chatwoot",
    Channel.CLINIKO: "cliniko",
    Channel.GENTU: "gentu",
    Channel.HALAXY: "halaxy",
    Channel.MEDIRECORDS: "medirecords",
    Channel.CAREPORTALS: "careportals",
    Channel.EXTERNAL: "external",
}
# first channel wins, so "tel" maps back to PHONE
_CHANNEL_BY_NAMESPACE: dict[str, Channel] = {}
for _channel, _namespace in _NAMESPACE_BY_CHANNEL.items():
    _CHANNEL_BY_NAMESPACE.setdefault(_namespace, _channel)

NAMESPACES: frozenset[str] = frozenset(_CHANNEL_BY_NAMESPACE)
# households may share these; every other namespace belongs to exactly one contact
SHARED_NAMESPACES: frozenset[str] = frozenset({"tel", "email"})
PMS_NAMESPACES: frozenset[str] = frozenset({"cliniko", "gentu", "halaxy", "medirecords"})
PHONE_CHANNELS: frozenset[Channel] = frozenset({Channel.PHONE, Channel.WHATSAPP, Channel.SMS})
HANDLE_CHANNELS: frozenset[Channel] = frozenset({Channel.INSTAGRAM, Channel.FACEBOOK})


@dataclass(frozen=True, slots=True)
class IdentityKey:
    """A normalised identifier: unique per organization within its namespace."""

    namespace: str
    value: str


def parse_channel(channel: Channel | str) -> Channel:
    """The Channel for an enum member or its name (case-insensitive), else UNSUPPORTED_CHANNEL."""
    if isinstance(channel, Channel):
        return channel
    if isinstance(channel, str):
        try:
            return Channel[channel.strip().upper()]
        except KeyError:
            pass
    raise IdentityError(ErrorCode.UNSUPPORTED_CHANNEL, "unknown channel", field="channel")


def namespace_for(channel: Channel) -> str:
    """The identity-key namespace of a channel (PHONE, WHATSAPP and SMS share "tel")."""
    return _NAMESPACE_BY_CHANNEL[parse_channel(channel)]


def channel_for_namespace(namespace: str) -> Channel:
    """The canonical channel of a namespace ("tel" gives PHONE)."""
    try:
        return _CHANNEL_BY_NAMESPACE[namespace]
    except (KeyError, TypeError):
        raise IdentityError(
            ErrorCode.UNSUPPORTED_CHANNEL, "unknown identifier namespace", field="namespace"
        ) from None
