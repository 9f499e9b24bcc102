"""The one proxy the API host is reached through, from the standard environment variables.

httpx, left to read the environment itself, builds a transport for *every* proxy variable when a
client starts and fails on one it cannot use, even when ``NO_PROXY`` says the API host bypasses
it. The gate talks to one host, so it asks only which proxy applies to that host, by curl's
rules (``lib/noproxy.c`` and ``lib/url.c`` of curl 8, https://curl.se/docs/manpage.html#ENVIRONMENT):

- a lower-case variable wins over its upper-case twin; an empty one is unset;
- ``no_proxy`` bypasses every proxy: exactly ``*`` matches every host; otherwise a list of
  patterns separated by commas (blanks around them are skipped; a blank *inside* the list ends
  it, as in curl). A host name matches a pattern equal to it or a domain it is in
  (``example.com`` and ``.example.com`` both match ``api.example.com``, not
  ``notexample.com``), case-insensitively, a trailing dot ignored on either side; an IP address
  matches an equal address or a CIDR range (``10.0.0.0/8``, ``127.0.0.0/8``, ``fd00::/8``),
  never a name (curl 8's IPv6 check of the bits after the last whole byte is inverted; here
  a prefix means a prefix). A pattern with a port (``host:8080``) matches nothing, as in curl;
- else ``https_proxy`` / ``http_proxy`` by the API URL's scheme, then ``all_proxy``.

Only that proxy is checked (``http``, ``https``, ``socks5``, ``socks5h``; a value without a scheme
is ``http://``; blanks or control characters inside refuse it) and handed to httpx; a broken
proxy variable that does not apply never breaks a run. Values are never shown in errors: they
may carry credentials, which ``secrets`` lists for masking.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

#: Proxy URL schemes httpx can use (``socks5*`` through its ``socks`` extra, a dependency).
SCHEMES = ("http", "https", "socks5", "socks5h")


class ProxyError(ValueError):
    """A proxy variable that applies to the API host cannot be used; the message names it."""


@dataclass(frozen=True)
class Proxy:
    """The proxy that applies: the variable as spelled in the environment, and its URL."""

    variable: str
    url: str


def _variable(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(variable name as set, value) of ``name``, lower case first; None when unset or empty."""
    for spelled in (name, name.upper()):
        value = env.get(spelled)
        if value is not None and value.strip():
            return spelled, value.strip()
    return None


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_BLANKS = " \t"


def _fold(text: str) -> str:
    """ASCII-only case folding, as curl's ``strncasecompare``."""
    return text.translate(_ASCII_LOWER)


def _patterns(no_proxy: str) -> list[str]:
    """The patterns of a ``no_proxy`` value as curl reads them: blanks skipped around each, a
    run of commas between two; anything after a blank that is not followed by a comma is
    ignored (curl stops there)."""
    patterns: list[str] = []
    at, end = 0, len(no_proxy)
    while at < end:
        while at < end and no_proxy[at] in _BLANKS:
            at += 1
        start = at
        while at < end and no_proxy[at] not in _BLANKS and no_proxy[at] != ",":
            at += 1
        if at > start:
            patterns.append(no_proxy[start:at])
        while at < end and no_proxy[at] in _BLANKS:
            at += 1
        if at >= end or no_proxy[at] != ",":
            break
        while at < end and no_proxy[at] == ",":
            at += 1
    return patterns


def _prefix_bits(text: str) -> int:
    """The number after a CIDR slash as C's ``atoi`` (then cast to unsigned) reads it: leading
    digits only; a negative number is huge, so it matches nothing."""
    found = re.match(r"[ \t\n\v\f\r]*([+-]?)(\d*)", text)
    assert found is not None
    value = int(found.group(2) or 0)
    return 1 << 32 if found.group(1) == "-" and value else value


def _address_matches(address: ipaddress.IPv4Address | ipaddress.IPv6Address, pattern: str) -> bool:
    network, slash, bits_text = pattern.partition("/")
    bits = _prefix_bits(bits_text) if slash else 0
    if "%" in network:  # a zone id: curl's inet_pton refuses it
        return False
    try:
        other = ipaddress.ip_address(network)
    except ValueError:
        return False
    if other.version != address.version:
        return False
    width = address.max_prefixlen
    if address.version == 6 and bits == 0:
        bits = width
    if bits > width:
        return False
    if bits in (0, width):
        return address == other
    shift = width - bits
    return int(address) >> shift == int(other) >> shift


def bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` says ``host`` (a name or an IP address, IPv6 without brackets) is
    reached directly, by curl's rules (see the module docs)."""
    if not host:
        return False
    if no_proxy == "*":
        return True
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(
            host.strip("[]")
        )
    except ValueError:
        address = None
    if address is not None and "%" in host:
        address = None
    name = _fold(host[:-1] if host.endswith(".") else host)
    for pattern in _patterns(no_proxy):
        if address is not None:
            if _address_matches(address, pattern):
                return True
            continue
        token = _fold(pattern[:-1] if pattern.endswith(".") else pattern)
        if token.startswith("."):
            token = token[1:]
        if token == name:
            return True
        if len(token) < len(name) and name.endswith(token) and name[-len(token) - 1] == ".":
            return True
    return False


def _no_proxy(env: Mapping[str, str]) -> str | None:
    """``no_proxy``, else ``NO_PROXY``, as set (curl reads an empty variable as unset)."""
    for name in ("no_proxy", "NO_PROXY"):
        value = env.get(name)
        if value:
            return value
    return None


def applicable(api_url: str, env: Mapping[str, str]) -> Proxy | None:
    """The proxy for requests to ``api_url`` under ``env``; None for a direct connection.

    Raises ``ProxyError`` (naming the variable, never its value) when the applicable proxy
    variable is not a usable URL, has a scheme httpx cannot use, or is SOCKS without ``socksio``.
    """
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    scheme = (parts.scheme or "https").lower()
    no_proxy = _no_proxy(env)
    if no_proxy is not None and bypassed(host, no_proxy):
        return None
    for name in (f"{scheme}_proxy", "all_proxy"):
        found = _variable(env, name)
        if found is not None:
            return Proxy(found[0], _usable(*found))
    return None


def proxy_for(api_url: str, env: Mapping[str, str]) -> str | None:
    """The URL of ``applicable``'s proxy, or None."""
    proxy = applicable(api_url, env)
    return proxy.url if proxy is not None else None


def secrets(proxy_url: str) -> list[str]:
    """Every form in which a proxy's credentials could be echoed back (a 407 page): the
    password, ``user:password`` as written and percent-decoded, and the Basic header's base64
    of it. Empty without credentials."""
    try:
        parts = urlsplit(proxy_url)
    except ValueError:
        return []
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if not userinfo:
        return []
    found = {userinfo, unquote(userinfo)}
    user, _, password = userinfo.partition(":")
    if password:
        found |= {password, unquote(password)}
    decoded = f"{unquote(user)}:{unquote(password)}"
    found.add(decoded)
    found.add(base64.b64encode(decoded.encode("utf-8", "surrogateescape")).decode("ascii"))
    return sorted(found)


def _usable(name: str, value: str) -> str:
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ProxyError(f"{name}: not a valid proxy URL (a blank, tab or line break inside)")
    url = value if "://" in value else f"http://{value}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ProxyError(f"{name}: not a valid proxy URL") from None
    scheme = parts.scheme.lower()
    if not parts.hostname:
        raise ProxyError(f"{name}: not a valid proxy URL (no host)")
    if scheme not in SCHEMES:
        raise ProxyError(
            f"{name}: unsupported proxy scheme {scheme!r} (supported: {', '.join(SCHEMES)})"
        )
    if scheme.startswith("socks"):
        try:
            import socksio  # noqa: F401
        except ImportError:
            raise ProxyError(
                f"{name}: a SOCKS proxy needs httpx's socks extra: pip install 'httpx[socks]'"
            ) from None
    return url
