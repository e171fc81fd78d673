"""Instagram and Facebook handles, from "@name", "name" or a profile link."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from crm.identity.channels import Channel, parse_channel
from crm.identity.errors import ErrorCode, IdentityError

_INSTAGRAM = re.compile(r"[a-z0-9._]{1,30}")
_FACEBOOK_USERNAME = re.compile(r"[a-z0-9.]{5,50}")
_FACEBOOK_ID = re.compile(r"[0-9]{1,20}")
_HOSTS = {
    Channel.INSTAGRAM: frozenset({"instagram.com", "instagr.am"}),
    Channel.FACEBOOK: frozenset({"facebook.com", "fb.com", "fb.me", "m.me"}),
}
_LABELS = {Channel.INSTAGRAM: "an Instagram", Channel.FACEBOOK: "a Facebook"}
_ALL_HOSTS = frozenset().union(*_HOSTS.values())
_HOST_PREFIXES = ("www.", "m.", "mobile.", "web.", "touch.")
# first path segments that are site pages, not people
# fmt: off
_RESERVED = {
    Channel.INSTAGRAM: frozenset(
        {"p", "reel", "reels", "tv", "explore", "accounts", "direct", "about", "legal"}
    ),
    Channel.FACEBOOK: frozenset({
        "groups", "events", "watch", "share", "sharer", "sharer.php", "marketplace", "gaming",
        "hashtag", "login", "login.php", "help", "photo.php", "story.php", "permalink.php",
        "home.php", "settings", "messages", "notifications", "pages",
    }),
}
# fmt: on


def normalize_handle(value: str, channel: Channel | str) -> str:
    """The lower-case Instagram username or Facebook username/numeric id, else INVALID_HANDLE."""
    channel = parse_channel(channel)
    if channel not in _HOSTS:
        raise IdentityError(
            ErrorCode.UNSUPPORTED_CHANNEL,
            "handles exist only for INSTAGRAM and FACEBOOK",
            field="channel",
        )
    if not isinstance(value, str):
        raise _invalid(channel, "a handle must be text")
    text = value.strip().lower()
    handle = _from_link(text, channel) if _is_link(text) else text.removeprefix("@")
    if channel is Channel.INSTAGRAM:
        if not _INSTAGRAM.fullmatch(handle):
            raise _invalid(channel, "an Instagram handle is 1-30 letters, digits, '.' or '_'")
    elif not (_FACEBOOK_ID.fullmatch(handle) or _FACEBOOK_USERNAME.fullmatch(handle)):
        raise _invalid(channel, "a Facebook handle is 5-50 letters, digits or '.', or a numeric id")
    return handle


def _is_link(text: str) -> bool:
    if text.startswith(("http://", "https://", "//")):
        return True
    host = text.split("/", 1)[0]
    return _bare_host(host) in _ALL_HOSTS


def _bare_host(host: str) -> str:
    if host in _ALL_HOSTS:
        return host  # "m.me" is Messenger itself, not a mobile subdomain of "me"
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix):
            return host[len(prefix) :]
    return host


def _from_link(text: str, channel: Channel) -> str:
    if not text.startswith(("http://", "https://", "//")):
        text = "//" + text
    try:
        parts = urlsplit(text)
        host = _bare_host(parts.hostname or "")
    except ValueError:
        raise _invalid(channel, "not a profile link") from None
    if host not in _HOSTS[channel]:
        raise _invalid(channel, f"not {_LABELS[channel]} profile link")
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise _invalid(channel, "the link has no profile name")
    first = segments[0].removeprefix("@")
    if channel is Channel.FACEBOOK:
        if first == "profile.php":
            return next(iter(parse_qs(parts.query).get("id", [])), "")
        if first == "people" and len(segments) >= 3:
            return segments[2]  # /people/Display-Name/<numeric id>
    elif first == "stories" and len(segments) >= 2:
        return segments[1]
    if first in _RESERVED[channel]:
        raise _invalid(channel, "the link is not a profile")
    return first


def _invalid(channel: Channel, message: str) -> IdentityError:
    return IdentityError(ErrorCode.INVALID_HANDLE, message, field=channel.value.lower())
