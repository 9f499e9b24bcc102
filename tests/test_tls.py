"""TLS: a CA curl accepts works on every Python; an unverifiable certificate is a configuration
error reported at once, never "network trouble" retried until the deadline.

The test makes its own CA (basicConstraints present but NOT critical, as some TLS-inspecting
proxies' CAs are) and a server certificate for 127.0.0.1, and serves HTTPS with them.
"""

from __future__ import annotations

import datetime
import glob
import http.server
import io
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from checkly_gate.config import Options
from checkly_gate.tls import ssl_context
from checkly_gate.trigger import TriggerOptions
from tests.fakes import SID, row, session_body, trigger_and_wait, wait_for
from tests.tools import clean_env, unfolded

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

KEY = "cu_tls_" + "z" * 16
SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Inspecting Proxy CA"))
        .issuer_name(_name("Inspecting Proxy CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        # The point of the test: a CA whose basicConstraints is not marked critical.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Api(http.server.BaseHTTPRequestHandler):
    """A passed session for any GET; counts the requests that got through TLS."""

    def do_GET(self) -> None:
        self.server.served += 1  # type: ignore[attr-defined]
        body = json.dumps(session_body("PASSED", [row("Homepage")])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Https(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pki: Pki) -> None:
        super().__init__(("127.0.0.1", 0), _Api)
        self.served = 0
        self.handshakes = 0
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.cert, pki.key)
        self._context = context

    def get_request(self):  # type: ignore[no-untyped-def]
        conn, addr = super().get_request()
        self.handshakes += 1
        return self._context.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ), addr

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # failed handshakes are the point of some tests


@pytest.fixture
def https(pki: Pki) -> Iterator[_Https]:
    server = _Https(pki)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: _Https) -> str:
    return f"https://127.0.0.1:{server.server_address[1]}"


def _pythons() -> list[str]:
    """This interpreter, plus a Python 3.13 if the machine has one (its ssl is the strict one)."""
    found = [sys.executable]
    if sys.version_info[:2] == (3, 13):
        return found
    pattern = os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")
    for candidate in [*glob.glob(pattern), shutil.which("python3.13")]:
        if candidate and _runs(candidate):
            return [*found, candidate]
    return found


def _runs(python: str) -> bool:
    try:
        probe = [python, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"]
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _gate(
    python: str, url: str, cwd: Path, timeout: float, **env: str
) -> subprocess.CompletedProcess[str]:
    site = [p for p in sys.path if p.endswith("site-packages")]
    environment = {
        **clean_env(),
        "CHECKLY_API_KEY": KEY,
        "NO_COLOR": "1",
        # a foreign interpreter borrows this one's pure-Python dependencies
        "PYTHONPATH": os.pathsep.join([str(SRC), *site]),
        **env,
    }
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if variable not in env:
            environment.pop(variable, None)
    cmd = [python, "-m", "checkly_gate", "wait", SID, "--api-url", url, "--timeout", str(timeout)]
    cmd += ["--poll-interval", "0.2", "--json", "gate.json", "--junit", "junit.xml"]
    return subprocess.run(cmd, env=environment, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("python", _pythons())
def test_a_ca_curl_accepts_works_on_every_python(
    python: str, pki: Pki, https: _Https, tmp_path: Path
) -> None:
    version = subprocess.run(
        [python, "-c", "import sys, ssl; print(sys.version_info[:2], ssl.OPENSSL_VERSION)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    proc = _gate(python, _url(https), tmp_path, 20, SSL_CERT_FILE=str(pki.ca))
    assert proc.returncode == 0, f"Python {version}: " + proc.stdout + proc.stderr
    assert https.served >= 1


def test_the_ca_is_one_strict_verification_rejects(pki: Pki, https: _Https) -> None:
    """Python 3.13's default (VERIFY_X509_STRICT) refuses this CA; the gate's context does not."""
    strict = ssl_context({"SSL_CERT_FILE": str(pki.ca)})
    strict.verify_flags |= ssl.VERIFY_X509_STRICT
    with pytest.raises(httpx.ConnectError, match="not marked critical"):
        httpx.get(_url(https) + f"/v1/test-sessions/{SID}", verify=strict)
    ours = ssl_context({"SSL_CERT_FILE": str(pki.ca)})
    assert not ours.verify_flags & ssl.VERIFY_X509_STRICT
    assert httpx.get(_url(https) + f"/v1/test-sessions/{SID}", verify=ours).status_code == 200


def test_an_unverifiable_certificate_is_a_configuration_error_at_once(
    https: _Https, tmp_path: Path
) -> None:
    start = time.monotonic()
    proc = _gate(sys.executable, _url(https), tmp_path, 20)  # certifi does not know the CA
    took = time.monotonic() - start
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert took < 10, "retried as network trouble"
    assert https.handshakes == 1 and https.served == 0
    text = (proc.stdout + proc.stderr).replace("\n  ", " ")  # verdict folded at 100 columns
    assert "cannot verify the TLS certificate of 127.0.0.1" in text
    assert "unable to get local issuer certificate" in text
    assert "Traceback" not in proc.stderr
    data = json.loads((tmp_path / "gate.json").read_text())
    assert data["exitCode"] == 2 and "TLS certificate" in data["reason"]
    assert (tmp_path / "junit.xml").exists()


def _verify_failure() -> httpx.ConnectError:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate in certificate chain"
    cause.verify_code = 19
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(("answers_first", "code"), [(False, 2), (True, 5)])
def test_tls_failure_code_depends_on_whether_anything_was_read(
    answers_first: bool, code: int
) -> None:
    """Before anything was read: exit 2 (configuration). After the API answered: 5 (refused),
    unless what was read already decides (a failure stays 1)."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if answers_first and calls == 1:
            return httpx.Response(
                200, json=session_body("RUNNING", [row("a", "RUNNING", "PENDING")])
            )
        raise _verify_failure()

    options = Options(
        session_ids=(SID,), api_key=KEY, api_url="https://api.test", timeout=20, poll_interval=0.1
    )
    run = wait_for(options, io.StringIO(), transport=httpx.MockTransport(handler))
    assert run.verdict.exit_code == code, run.verdict.reason
    assert calls == (2 if answers_first else 1)  # never retried
    assert "self-signed certificate" in run.verdict.reason


def test_a_trigger_that_cannot_verify_tls_is_a_configuration_error(tmp_path: Path) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise _verify_failure()

    options = Options(
        session_ids=(),
        api_key=KEY,
        api_url="https://api.test",
        timeout=20,
        json=tmp_path / "gate.json",
    )
    out = io.StringIO()
    code = trigger_and_wait(
        options, TriggerOptions(tag_groups=(("web",),)), out, {}, httpx.MockTransport(handler)
    )
    assert code == 2 and calls == 1, out.getvalue()
    assert "cannot verify the TLS certificate of api.test" in out.getvalue()
    assert json.loads((tmp_path / "gate.json").read_text())["exitCode"] == 2


def test_an_https_url_on_a_plain_http_server_is_a_configuration_error_at_once(
    tmp_path: Path,
) -> None:
    """`--api-url https://` where the server speaks plain HTTP (or the port is another
    service's): OpenSSL's WRONG_VERSION_NUMBER cannot get better by retrying."""
    from checkly_gate.simulator import Simulator, load_scenario

    with Simulator(scenario=load_scenario("passing"), api_key=KEY) as sim:
        start = time.monotonic()
        url = sim.url.replace("http://", "https://")
        proc = _gate(sys.executable, url, tmp_path, 20)
        took = time.monotonic() - start
        assert not sim.requests
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert took < 10, "retried as network trouble"
    text = unfolded(proc.stdout)
    assert "does not speak TLS there" in text and "--api-url" in text
    assert (tmp_path / "junit.xml").exists()


COMMANDS = {
    "wait": ["wait", SID],
    "run": ["run", "--tags", "web"],
    "wait --commit": ["wait", "--commit", "0123abcd0123abcd0123abcd0123abcd0123abcd"],
    "run --check-sessions": ["run", "--check-sessions", "--tags", "web"],
}


def _command(args: list[str], url: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **env}
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if variable not in env:
            environment.pop(variable, None)
    cmd = [sys.executable, "-m", "checkly_gate", *args, "--api-url", url, "--timeout", "20"]
    cmd += ["--json", "gate.json"]
    return subprocess.run(cmd, env=environment, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_same_tls_failure_is_the_same_exit_code_on_every_command(
    command: str, https: _Https, tmp_path: Path
) -> None:
    """An unverifiable certificate is exit 2 whichever phase meets it first (trigger,
    discovery's list, a session read): one rule, in ``finish.configuration_problem``."""
    proc = _command(COMMANDS[command], _url(https), tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot verify the TLS certificate of 127.0.0.1" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert https.served == 0
    assert json.loads((tmp_path / "gate.json").read_text())["exitCode"] == 2


def _cert_file(kind: str, tmp: Path) -> str:
    """An SSL_CERT_FILE that cannot be used, of one kind."""
    target = tmp / f"ca-{kind}"
    if kind == "missing":
        return str(target)
    if kind == "directory":
        target.mkdir()
    elif kind == "garbage":
        target.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    elif kind == "fifo":
        os.mkfifo(target)  # nobody ever writes it
    elif kind == "dev-zero":
        return "/dev/zero"
    elif kind == "huge":
        with open(target, "wb") as handle:
            handle.truncate(64 * 1024 * 1024)  # sparse: no disk used
    elif kind == "symlink-loop":
        os.symlink(target, target)
    return str(target)


CERT_FILE_KINDS = ("missing", "directory", "garbage", "fifo", "dev-zero", "huge", "symlink-loop")


@pytest.mark.parametrize("kind", CERT_FILE_KINDS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unusable_ssl_cert_file_is_one_line_exit_2_on_every_command(
    kind: str, command: str, tmp_path: Path
) -> None:
    cafile = _cert_file(kind, tmp_path)
    proc = _command(COMMANDS[command], "https://127.0.0.1:9", tmp_path, SSL_CERT_FILE=cafile)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "SSL_CERT_FILE" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", CERT_FILE_KINDS)
def test_a_tls_setting_that_does_not_apply_does_not_stop_a_plain_http_run(
    kind: str, tmp_path: Path
) -> None:
    from checkly_gate.simulator import Simulator, load_scenario

    cafile = _cert_file(kind, tmp_path)
    with Simulator(scenario=load_scenario("passing"), api_key=KEY, speed=20) as sim:
        proc = _command(["wait", SID], sim.url, tmp_path, SSL_CERT_FILE=cafile)
    assert proc.returncode == 0, proc.stdout + proc.stderr
