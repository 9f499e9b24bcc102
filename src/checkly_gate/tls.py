"""TLS trust for the API client: which CAs, which checks, and how a failure is named.

The gate builds its ``ssl.SSLContext`` itself rather than letting each Python version choose:

- CAs: ``SSL_CERT_FILE`` and/or ``SSL_CERT_DIR`` when set (the OpenSSL variables curl and httpx
  also honour: a TLS-inspecting proxy's CA goes there), otherwise certifi's bundle.
- ``VERIFY_X509_STRICT`` is cleared. Python 3.13's ``ssl.create_default_context`` sets it, and
  it rejects CA certificates that curl, browsers and Python 3.11/3.12 accept, such as a
  corporate proxy CA whose basicConstraints extension is not marked critical. The chain, the
  expiry and the host name are still verified exactly as before; only RFC 5280 pedantry
  differs. So the gate trusts the same certificates on every supported Python.

A certificate that cannot be verified is a configuration problem, never "network trouble":
``verification_error`` finds it in an exception chain so the client can report it at once.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping

import certifi


def ssl_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """A client context trusting ``SSL_CERT_FILE``/``SSL_CERT_DIR`` (else certifi), not strict."""
    cafile = env.get("SSL_CERT_FILE") or None
    capath = env.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        cafile = certifi.where()
    context = ssl.create_default_context(cafile=cafile, capath=capath)
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes and contexts, and exceptions carried in their ``args`` (httpx wraps
    the ``ssl`` error that way), each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


def verification_error(exc: BaseException) -> str | None:
    """The certificate verification error somewhere in ``exc``'s chain, as one line, or None."""
    for current in _chain(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            reason = current.verify_message or current.reason or str(current)
            return f"{reason} (OpenSSL verify code {current.verify_code})"
    return None


# OpenSSL's words for "the peer did not answer with TLS at all" (an http:// server behind an
# https:// URL, or a proxy's plain-text error page).
_NOT_TLS = (
    "WRONG_VERSION_NUMBER",
    "HTTP_REQUEST",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
)


def not_tls_error(exc: BaseException) -> str | None:
    """One line when ``exc``'s chain says the server did not speak TLS at all, else None."""
    for current in _chain(exc):
        text = " ".join(str(a) for a in getattr(current, "args", ())) or str(current)
        if isinstance(current, ssl.SSLError) or "SSL" in text:
            for reason in _NOT_TLS:
                if reason in text:
                    return f"the server does not speak TLS there ({reason})"
    return None


def tls_problem(exc: BaseException, host: str) -> str | None:
    """What a transport failure says about the TLS setup, as the one-line message a user
    needs, or None when it is not a TLS configuration problem. Retrying cannot help either
    kind, so the gate reports it at once (``api.Misconfigured``)."""
    problem = verification_error(exc)
    if problem is not None:
        return (
            f"cannot verify the TLS certificate of {host}: {problem}; "
            "if a proxy inspects TLS, point SSL_CERT_FILE at its CA bundle"
        )
    plain = not_tls_error(exc)
    if plain is not None:
        return (
            f"TLS handshake with {host} failed: {plain}; "
            "check the scheme and port of --api-url (http:// or https://)"
        )
    return None
