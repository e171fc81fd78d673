"""Where a webhook may be sent: http(s) only and, unless the setting allows it (tests), never a
loopback, private, link-local or otherwise internal address (SSRF). The host is resolved and
every address checked, when the subscription is made and again before each delivery (a name
may point elsewhere by then)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from crm.errors import ErrorCode, ServiceError

MAX_URL = 2000


def _refused(message: str) -> ServiceError:
    return ServiceError(ErrorCode.INVALID_INPUT, message, field="url")


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def check_url(url: str, *, allow_private: bool) -> str:
    """``url`` when webhooks may go there, else INVALID_INPUT on ``url``."""
    url = (url or "").strip()
    if len(url) > MAX_URL:
        raise _refused(f"the URL is longer than {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refused("the URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise _refused("the URL must not carry credentials")
    if allow_private:
        return url
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError):
        raise _refused("the URL's host does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if _internal(address):
            raise _refused("the URL's host is a loopback, private or internal address")
    return url
