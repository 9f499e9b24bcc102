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

import os
import ssl
from collections.abc import Iterator, Mapping

import certifi

#: The largest CA bundle read from ``SSL_CERT_FILE`` (certifi's is about 300 KB).
CA_FILE_MAX_BYTES = 16 * 1024 * 1024


class TlsSetupError(ValueError):
    """``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` cannot be used; one line naming the variable."""


def applies(api_url: str) -> bool:
    """Whether TLS settings matter for ``api_url`` at all: a plain ``http://`` API never uses
    them, so a broken ``SSL_CERT_FILE`` must not stop it."""
    return api_url.lower().startswith("https://")


def ssl_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """A client context trusting ``SSL_CERT_FILE``/``SSL_CERT_DIR`` (else certifi), not strict.

    ``SSL_CERT_FILE`` is read through ``files.read_bounded`` (a regular file of at most
    ``CA_FILE_MAX_BYTES``: a FIFO, ``/dev/zero`` or a directory is refused at once) and must
    hold at least one PEM or DER certificate; ``SSL_CERT_DIR`` must be a directory. Raises
    ``TlsSetupError`` naming the variable, never a traceback."""
    from checkly_gate.files import UnreadableInput, read_bounded

    cafile = env.get("SSL_CERT_FILE") or None
    capath = env.get("SSL_CERT_DIR") or None
    cadata: str | bytes | None = None
    if cafile is not None:
        try:
            data = read_bounded(cafile, CA_FILE_MAX_BYTES, "SSL_CERT_FILE")
        except UnreadableInput as exc:
            raise TlsSetupError(str(exc)) from None
        cadata = data.decode("ascii", "replace") if b"-----BEGIN" in data else data  # PEM/DER
    if capath is not None and not os.path.isdir(capath):
        raise TlsSetupError("SSL_CERT_DIR is not a directory; point it at a folder of CAs")
    try:
        context = ssl.create_default_context(
            cafile=certifi.where() if cadata is None and capath is None else None,
            capath=capath,
            cadata=cadata,
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
        raise TlsSetupError(
            f"{'SSL_CERT_FILE' if cadata is not None else 'SSL_CERT_DIR'} holds no usable CA "
            f"certificate ({reason or type(exc).__name__}); point it at a PEM bundle"
        ) from None
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
