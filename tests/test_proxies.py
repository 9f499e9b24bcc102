"""Proxies as curl reads them: which one applies (``NO_PROXY`` by curl's rules, checked against a
port of curl's own ``Curl_check_noproxy``), and a proxy that refuses is one line at once.

The refusals are tried against a real proxy from Debian's packages (tinyproxy, started by the
test on 127.0.0.1 with a config it writes: ``BasicAuth`` gives 407 on CONNECT, ``ConnectPort``
403), and against small servers that echo credentials or answer SOCKS with garbage.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from checkly_gate.proxies import ProxyError, applicable, bypassed, proxy_for, secrets
from tests.canned import canned
from tests.tools import clean_env, unfolded

KEY = "cu_proxy_" + "k" * 20
SID = "0b2c9a4e-5f6d-4e3a-9b1c-2d3e4f5a6b7c"
USER, PASSWORD = "user", "pr0xyS3cretPW"


# --- which proxy applies: curl's rules -----------------------------------------------------------


def _c_atoi(text: str) -> int:
    """C's ``atoi`` then a cast to ``unsigned int``."""
    i = 0
    while i < len(text) and text[i] in " \t\n\v\f\r":
        i += 1
    sign = 1
    if i < len(text) and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    digits = ""
    while i < len(text) and text[i].isdigit() and text[i] in "0123456789":
        digits += text[i]
        i += 1
    return (sign * int(digits or "0")) % (1 << 32)


def _pton(family: int, text: str) -> bytes | None:
    try:
        return socket.inet_pton(family, text)
    except (OSError, ValueError):
        return None


def curl_check_noproxy(name: str, no_proxy: str) -> bool:
    """A line-by-line port of ``Curl_check_noproxy`` (curl 8, ``lib/noproxy.c``), the reference.

    One deliberate difference: curl's IPv6 check of the bits after the last whole byte is
    inverted (it refuses a match where they agree); here they must agree, as a prefix means.
    ``name`` is the host as curl holds it: an IPv6 address in brackets.
    """
    if not name:
        return False
    if not no_proxy:
        return False
    if no_proxy == "*":
        return True
    kind = "host"
    if name.startswith("["):
        end = name.find("]")
        if end < 0:
            return False
        name = name[1:end]
        kind = "ipv6"
    elif _pton(socket.AF_INET, name) is not None:
        kind = "ipv4"
    elif name.endswith("."):
        name = name[:-1]
    blank = " \t"
    p, n = 0, len(no_proxy)
    while p < n:
        while p < n and no_proxy[p] in blank:
            p += 1
        start = p
        while p < n and no_proxy[p] not in blank and no_proxy[p] != ",":
            p += 1
        token = no_proxy[start:p]
        if token:
            match = False
            if kind == "host":
                if token.endswith("."):
                    token = token[:-1]
                if token.startswith("."):
                    token = token[1:]
                low = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
                a, b = token.translate(low), name.translate(low)
                if len(a) == len(b):
                    match = a == b
                elif len(a) < len(b):
                    match = b[len(b) - len(a) - 1] == "." and b[len(b) - len(a) :] == a
            else:
                check, slash, rest = token.partition("/")
                bits = _c_atoi(rest) if slash else 0
                if kind == "ipv4":
                    address, network = _pton(socket.AF_INET, name), _pton(socket.AF_INET, check)
                    if bits <= 32 and address is not None and network is not None:
                        if bits and bits != 32:
                            mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
                            a4 = int.from_bytes(address, "big")
                            n4 = int.from_bytes(network, "big")
                            match = not ((a4 ^ n4) & mask)
                        else:
                            match = address == network
                else:
                    bits = bits or 128
                    whole, part = divmod(bits, 8)
                    address, network = _pton(socket.AF_INET6, name), _pton(socket.AF_INET6, check)
                    if (whole < 16 or (whole == 16 and not part)) and address and network:
                        match = address[:whole] == network[:whole]
                        if match and part:
                            mask = (0xFF << (8 - part)) & 0xFF
                            match = not ((address[whole] ^ network[whole]) & mask)
            if match:
                return True
        while p < n and no_proxy[p] in blank:
            p += 1
        if p >= n or no_proxy[p] != ",":
            break
        while p < n and no_proxy[p] == ",":
            p += 1
    return False


_labels = st.sampled_from(["api", "checklyhq", "com", "example", "internal", "Api", "CHECKLYHQ"])
_names = st.lists(_labels, min_size=1, max_size=4).map(".".join)
_hosts = st.one_of(
    _names,
    _names.map(lambda n: n + "."),  # a fully qualified host: api.checklyhq.com.
    st.sampled_from(["api.checklyhq.com", "api.checklyhq.com.", "notchecklyhq.com"]),
    st.ip_addresses(v=4).map(str),
    st.sampled_from(["127.0.0.1", "10.1.2.3", "192.168.0.7", "::1", "fd00::5", "2001:db8::1"]),
    st.ip_addresses(v=6).map(str),
)


def _cidr(address: ipaddress.IPv4Address | ipaddress.IPv6Address, bits: int) -> str:
    return f"{address}/{bits}"


_patterns = st.one_of(
    _names,
    _names.map(lambda n: "." + n),
    _names.map(lambda n: n + "."),
    st.sampled_from(["*", "checklyhq.com", ".checklyhq.com", "checklyhq.com.", "com", "localhost"]),
    st.sampled_from(["10.0.0.0/8", "127.0.0.0/8", "192.168.0.0/16", "::1", "fd00::/8", "::/0"]),
    st.builds(_cidr, st.ip_addresses(v=4), st.integers(0, 33)),
    st.builds(_cidr, st.ip_addresses(v=6), st.integers(0, 129)),
    st.sampled_from(["10.0.0.0/8x", "10.0.0.0/-1", "10.0.0.0/", "api.checklyhq.com:443", "[::1]"]),
    st.text(alphabet="ab.:/*[]019", max_size=8),
)
_no_proxy = st.builds(
    lambda items, seps: "".join(i + s for i, s in zip(items, seps, strict=False)),
    st.lists(_patterns, min_size=1, max_size=4),
    st.lists(st.sampled_from([",", ", ", " ,", ",,", " ", "\t,", ""]), min_size=4, max_size=4),
)


@settings(max_examples=600, deadline=None)
@given(host=_hosts, no_proxy=_no_proxy)
@example(host="api.checklyhq.com.", no_proxy="checklyhq.com")
@example(host="api.checklyhq.com", no_proxy=".checklyhq.com.")
@example(host="notchecklyhq.com", no_proxy="checklyhq.com")
@example(host="10.20.30.40", no_proxy="10.0.0.0/8")
@example(host="127.0.0.1", no_proxy="localhost, 127.0.0.0/8")
@example(host="fd00::5", no_proxy="fd00::/8")
@example(host="fd00::5", no_proxy="fd00::/12")
@example(host="api.checklyhq.com", no_proxy="example.com api.checklyhq.com")
def test_no_proxy_follows_curls_rules(host: str, no_proxy: str) -> None:
    as_curl_holds_it = f"[{host}]" if ":" in host else host
    assert bypassed(host, no_proxy) == curl_check_noproxy(as_curl_holds_it, no_proxy)


@pytest.mark.parametrize(
    ("api_url", "no_proxy", "direct"),
    [
        ("https://api.checklyhq.com", "checklyhq.com", True),
        ("https://api.checklyhq.com.", "checklyhq.com", True),
        ("https://api.checklyhq.com", ".checklyhq.com.", True),
        ("https://api.checklyhq.com", "notchecklyhq.com", False),
        ("https://10.1.2.3:8443", "10.0.0.0/8", True),
        ("http://127.0.0.1:8080", "127.0.0.0/8", True),
        ("http://[::1]:8080", "::1", True),
        ("http://[fd00::5]:8080", "fd00::/8", True),
        ("https://api.checklyhq.com", "*", True),
        ("https://api.checklyhq.com", "example.com api.checklyhq.com", False),  # curl stops
    ],
)
def test_the_api_host_bypasses_the_proxy_by_curls_rules(
    api_url: str, no_proxy: str, direct: bool
) -> None:
    env = {"HTTPS_PROXY": "http://proxy:3128", "HTTP_PROXY": "http://proxy:3128"}
    chosen = applicable(api_url, {**env, "NO_PROXY": no_proxy})
    assert (chosen is None) == direct


@pytest.mark.parametrize("value", ["http://a\tb:3128", "http://proxy:3128\nx", "http://pr oxy:1"])
def test_a_proxy_value_with_a_blank_or_line_break_is_refused_naming_the_variable(
    value: str,
) -> None:
    with pytest.raises(ProxyError, match="HTTPS_PROXY") as caught:
        proxy_for("https://api.checklyhq.com", {"HTTPS_PROXY": value})
    assert "proxy:3128" not in str(caught.value) and "\n" not in str(caught.value)


def test_proxy_credentials_are_known_in_every_form() -> None:
    forms = secrets(f"http://{USER}:{PASSWORD}@proxy:3128")
    assert PASSWORD in forms and f"{USER}:{PASSWORD}" in forms
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() in forms
    assert secrets("http://proxy:3128") == []


# --- a proxy that refuses: one line at once, naming the variable --------------------------------


def _gate(
    args: list[str], tmp: Path, timeout: float = 30, **env: str
) -> tuple[subprocess.CompletedProcess[str], float, str]:
    """The real CLI; returns the process, seconds taken and every output it wrote."""
    environment = {**clean_env(), "CHECKLY_API_KEY": KEY, "NO_COLOR": "1", **env}
    environment["GITHUB_ACTIONS"] = "true"
    environment["GITHUB_OUTPUT"] = str(tmp / "gh-output")
    environment["GITHUB_STEP_SUMMARY"] = str(tmp / "gh-summary")
    cmd = [sys.executable, "-m", "checkly_gate", *args, "--timeout", str(timeout)]
    cmd += ["--json", str(tmp / "gate.json"), "--junit", str(tmp / "junit.xml")]
    cmd += ["--summary", str(tmp / "summary.md")]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=environment, capture_output=True, text=True, timeout=90)
    took = time.monotonic() - start
    written = [proc.stdout, proc.stderr]
    for name in ("gate.json", "junit.xml", "summary.md", "gh-output", "gh-summary"):
        if (tmp / name).exists():
            written.append((tmp / name).read_text("utf-8", "replace"))
    return proc, took, "\n".join(written)


def _assert_no_credentials(text: str) -> None:
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for form in (PASSWORD, basic, basic.rstrip("=")):
        assert form not in text, f"proxy credential leaked: {form!r}"


def _tinyproxy() -> str | None:
    return shutil.which("tinyproxy") or next(
        (p for p in ("/usr/sbin/tinyproxy", "/usr/bin/tinyproxy") if Path(p).exists()), None
    )


@contextlib.contextmanager
def tinyproxy(tmp: Path, *lines: str) -> Iterator[str]:
    """A real tinyproxy on 127.0.0.1 with ``lines`` added to its config; yields host:port."""
    binary = _tinyproxy()
    if binary is None:
        pytest.skip("tinyproxy is not installed (apt-get install tinyproxy; .ci/run does)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp / "tinyproxy.conf"
    conf.write_text(
        "\n".join([f"Port {port}", "Listen 127.0.0.1", "Timeout 30", "MaxClients 20", *lines])
        + "\n"
    )
    proc = subprocess.Popen(
        [binary, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"tinyproxy did not start (exit {proc.poll()})")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("config", "credentials", "status"),
    [
        ([f"BasicAuth {USER} {PASSWORD}"], "", "407"),  # no credentials: 407 on CONNECT
        (["ConnectPort 443"], f"{USER}:{PASSWORD}@", "403"),  # CONNECT to this port denied
    ],
)
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_a_proxy_refusing_the_tunnel_is_one_line_at_once(
    tmp_path: Path, config: list[str], credentials: str, status: str, variable: str
) -> None:
    with tinyproxy(tmp_path, *config) as proxy:
        env = {variable: f"http://{credentials}{proxy}"}
        proc, took, written = _gate(
            ["wait", SID, "--api-url", "https://127.0.0.1:9"], tmp_path, **env
        )
    assert proc.returncode == 2, proc.stdout + proc.stderr  # README: configuration problem
    assert took < 15, f"retried for {took:.1f}s"
    verdict = [line for line in unfolded(proc.stdout).splitlines() if "(exit 2)" in line]
    assert len(verdict) == 1 and variable in verdict[0] and status in verdict[0], proc.stdout
    assert "Traceback" not in proc.stderr
    _assert_no_credentials(written)


def test_a_407_page_echoing_the_credentials_never_prints_them(tmp_path: Path) -> None:
    """A proxy (in front of a plain http:// API) whose 407 page echoes the credentials and the
    Basic header it was sent: masked in every output, the run still one line, exit 2."""
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        echoed = headers.get("Proxy-Authorization", "")
        page = f"bad credentials {USER}:{PASSWORD} ({echoed}; Basic {basic})"
        return 407, {"Content-Type": "text/plain", "X-Echo": echoed}, page.encode()

    with canned(answer) as proxy:
        env = {"HTTP_PROXY": proxy.replace("http://", f"http://{USER}:{PASSWORD}@")}
        proc, took, written = _gate(
            ["wait", SID, "--api-url", "http://127.0.0.1:9"], tmp_path, **env
        )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "HTTP_PROXY" in proc.stdout and took < 15
    _assert_no_credentials(written)


@contextlib.contextmanager
def garbage_server(reply: bytes) -> Iterator[str]:
    """Answers whatever it is sent with ``reply`` and closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    closing = threading.Event()

    def serve() -> None:
        while not closing.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.recv(1024)
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        closing.set()
        listener.close()


@pytest.mark.parametrize("reply", [b"HTTP/1.1 400 nope\r\n\r\n", b"\x05\xff", b"\x00\x5a"])
def test_a_socks_proxy_answering_garbage_is_one_line_at_once(tmp_path: Path, reply: bytes) -> None:
    with garbage_server(reply) as proxy:
        env = {"ALL_PROXY": f"socks5://{USER}:{PASSWORD}@{proxy}"}
        proc, took, written = _gate(
            ["wait", SID, "--api-url", "https://127.0.0.1:9"], tmp_path, **env
        )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ALL_PROXY" in proc.stdout and took < 15
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stdout
    _assert_no_credentials(written)


@pytest.mark.parametrize("value", ["http://a\tb:3128", "http://proxy:3128\nx"])
def test_a_proxy_variable_with_a_tab_or_line_break_is_exit_2(tmp_path: Path, value: str) -> None:
    proc, _, _ = _gate(["wait", SID], tmp_path, HTTPS_PROXY=value)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "HTTPS_PROXY" in lines[0] and "Traceback" not in proc.stderr
