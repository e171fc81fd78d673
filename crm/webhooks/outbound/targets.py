"""Where a webhook may be sent: http(s) only and, unless the setting allows it (tests), never a
loopback, private, link-local or otherwise internal address (SSRF).

The host is resolved once per delivery and every address it resolves to is checked; the
connection is then made to a checked address (``pinned_client``), with the ``Host`` header,
TLS SNI and certificate check still naming the host. A second DNS answer (DNS rebinding: a
public address for the check, then 127.0.0.1 for the connection) therefore never reaches the
connection. The same check runs when a subscription is made, to refuse bad URLs early.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from crm.errors import ErrorCode, ServiceError

MAX_URL = 2000

# (host, port) -> the addresses it resolves to, as text ("93.184.215.14", "2001:db8::1")
Resolver = Callable[[str, int], list[str]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives ``host`` (TCP), in its order, once each."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def _refused(message: str) -> ServiceError:
    return ServiceError(ErrorCode.INVALID_INPUT, message, field="url")


def internal(address: Address) -> bool:
    """Whether ``address`` is one a webhook must not reach: anything not globally routable
    (loopback, private, link-local, unspecified, reserved, shared, benchmarking...), multicast,
    and IPv6 forms that carry such an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return True
        embedded: list[ipaddress.IPv4Address] = []
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(internal(v4) for v4 in embedded):
            return True
    return not address.is_global or address.is_multicast


@dataclass(frozen=True)
class Target:
    """A URL whose host was resolved once, with the addresses that passed the check."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _parse(url: str) -> tuple[str, str, int]:
    url = (url or "").strip()
    if len(url) > MAX_URL:
        raise _refused(f"the URL is longer than {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refused("the URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise _refused("the URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _refused("the URL's port is not a number from 1 to 65535") from None
    return url, parts.hostname, port


def resolve_target(url: str, *, allow_private: bool, resolve: Resolver | None = None) -> Target:
    """Resolve ``url``'s host once and check every address; INVALID_INPUT on ``url`` when
    one of them is internal (unless ``allow_private``) or it does not resolve."""
    url, host, port = _parse(url)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        answers = [str(literal)]
    else:
        try:
            answers = (resolve or system_resolver)(host, port)
        except (OSError, UnicodeError, ValueError):
            raise _refused("the URL's host does not resolve") from None
    addresses: list[str] = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer.split("%")[0])
        except ValueError:
            raise _refused("the URL's host resolves to something that is not an address") from None
        if not allow_private and internal(address):
            raise _refused("the URL's host is a loopback, private or internal address")
        addresses.append(str(address))
    if not addresses:
        raise _refused("the URL's host does not resolve")
    return Target(url=url, host=host, port=port, addresses=tuple(addresses))


def check_url(url: str, *, allow_private: bool, resolve: Resolver | None = None) -> str:
    """``url`` when webhooks may go there, else INVALID_INPUT on ``url`` (with
    ``allow_private`` only its form is checked: the host need not resolve yet)."""
    if allow_private:
        return _parse(url)[0]
    return resolve_target(url, allow_private=False, resolve=resolve).url


class PinnedTransport(httpx.BaseTransport):
    """Sends every request to ``address`` whatever its URL's host: the ``Host`` header stays
    the URL's, and for https the TLS server name (SNI) and the certificate check use the
    URL's host too (httpcore's ``sni_hostname``)."""

    def __init__(self, address: str, *, verify: ssl.SSLContext | bool = True) -> None:
        self.address = address
        self._inner = httpx.HTTPTransport(verify=verify, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if "host" not in request.headers:  # httpx sets it from the URL; keep it the name's
            request.headers["host"] = request.url.netloc.decode("ascii")
        request.url = request.url.copy_with(host=self.address)
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def pinned_client(
    target: Target, *, timeout: float, verify: ssl.SSLContext | bool = True, address: str = ""
) -> httpx.Client:
    """A client that reaches ``target`` only at ``address`` (default its first checked
    address) and follows no redirect (a redirect could lead anywhere: it is a failed attempt)."""
    return httpx.Client(
        transport=PinnedTransport(address or target.addresses[0], verify=verify),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
