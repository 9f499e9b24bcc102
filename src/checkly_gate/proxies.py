"""The one proxy the API host is reached through, from the standard environment variables.

httpx, left to read the environment itself, builds a transport for *every* proxy variable when a
client starts and fails on one it cannot use, even when ``NO_PROXY`` says the API host bypasses
it. The gate talks to one host, so it asks only which proxy applies to that host, with the rules
curl and Python's ``urllib`` share:

- a lower-case variable wins over its upper-case twin; an empty one is unset;
- ``no_proxy`` (host names, domain suffixes, ``host:port``, ``*``) bypasses every proxy;
- else ``https_proxy`` / ``http_proxy`` by the API URL's scheme, then ``all_proxy``.

Only that proxy is checked (``http``, ``https``, ``socks5``, ``socks5h``; a value without a scheme
is ``http://``) and handed to httpx; a broken proxy variable that does not apply never breaks a
run. Values are never shown in errors: they may carry credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed

#: Proxy URL schemes httpx can use (``socks5*`` through its ``socks`` extra, a dependency).
SCHEMES = ("http", "https", "socks5", "socks5h")


class ProxyError(ValueError):
    """A proxy variable that applies to the API host cannot be used; the message names it."""


def _variable(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(variable name as set, value) of ``name``, lower case first; None when unset or empty."""
    for spelled in (name, name.upper()):
        value = env.get(spelled)
        if value is not None and value.strip():
            return spelled, value.strip()
    return None


def proxy_for(api_url: str, env: Mapping[str, str]) -> str | None:
    """The proxy URL for requests to ``api_url`` under ``env``; None for a direct connection.

    Raises ``ProxyError`` (naming the variable, never its value) when the applicable proxy
    variable is not a usable URL, has a scheme httpx cannot use, or is SOCKS without ``socksio``.
    """
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    scheme = (parts.scheme or "https").lower()
    bypass = _variable(env, "no_proxy")
    if bypass is not None and host:
        target = f"{host}:{parts.port}" if parts.port else host
        if proxy_bypass_environment(target, {"no": bypass[1]}):
            return None
    for name in (f"{scheme}_proxy", "all_proxy"):
        found = _variable(env, name)
        if found is not None:
            return _usable(*found)
    return None


def _usable(name: str, value: str) -> str:
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
