"""Defects 7, 9, 10 and the disconnect part of 12: what a client can do to the gateway's process
before any engine is involved.

- 7: the admin API checks its key before it reads a body, and caps admin bodies.
- 9: JSON nested deeper than the gateway accepts is a 400 at parse time, with its ledger row.
- 10: idle, partial-header and stalled-body sockets are closed after documented timeouts, and a
  connection cap (derived from the file-descriptor limit) keeps room for the requests that matter.
- 12: a client that disconnects mid-upload is recorded quietly, not logged as an unhandled error.

One real gateway process serves the module, run with a soft limit of 256 file descriptors;
tests/faulty_upstream.py stands in for its (only) upstream.
"""

from __future__ import annotations

import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from router.ledger import Ledger
from tests.faulty_upstream import FaultyUpstream
from tests.servers import Process, free_port

ADMIN = "admin-limits-test"
FD_LIMIT = 256
HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 3
KEEPALIVE_S = 2
MESSAGES = [{"role": "user", "content": "Say hello."}]
# Run `switchyard serve` under a lower soft RLIMIT_NOFILE, as a deployment limited to few descriptors would.
LAUNCH = """
import resource, runpy, sys
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
sys.argv = ["switchyard", "serve", "--policy", sys.argv[2], "--port", sys.argv[3]]
runpy.run_module("router.cli", run_name="__main__")
"""


def policy_text(upstream: str) -> str:
    return f"""
version: 1
name: limits
tiers:
  only:
    engine: openai
    model: only
    upstream_model: only
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1, output_per_mtok: 1}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
"""


@pytest.fixture(scope="module")
def gw(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("limits")
    policy = work / "policy.yaml"
    policy.write_text(policy_text(upstream.url))
    url = f"sqlite:///{work}/ledger.db"
    env = {
        "SWITCHYARD_DATABASE_URL": url,
        "SWITCHYARD_ADMIN_KEY": ADMIN,
        "SWITCHYARD_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "SWITCHYARD_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "SWITCHYARD_KEEPALIVE_TIMEOUT_S": str(KEEPALIVE_S),
    }
    port = free_port()
    args = [sys.executable, "-c", LAUNCH, str(FD_LIMIT), str(policy), str(port)]
    server = Process(args, port, "/readyz", work / "gateway.log", env=env)
    server.database_url = url
    yield server
    server.stop()


def _status(pid: int, field: str) -> int:
    """A /proc/PID/status memory field, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _response_head(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent up to the end of its response headers (or until it closed)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _send_until_answered(port: int, head: bytes, body_size: int) -> tuple[bytes, int, float]:
    """Send `head`, then up to `body_size` body bytes in 1 MiB pieces, stopping as soon as the server
    answers (or stops reading); returns the answer's head, the body bytes sent and the seconds taken."""
    started = time.monotonic()
    piece = b"x" * (1 << 20)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            while sent < body_size:
                readable, writable, _ = select.select([sock], [sock], [], 5)
                if readable or not writable:
                    break
                sent += sock.send(piece[: min(len(piece), body_size - sent)])
        except OSError:
            pass  # the server answered and closed: what matters is what it answered
        try:
            answer = _response_head(sock, 10)
        except OSError:
            answer = b""
    return answer, sent, time.monotonic() - started


def test_admin_refuses_a_keyless_huge_body_before_reading_it(gw: Process) -> None:
    body_size = 64 << 20  # what a keyless caller declares and starts to send, four times
    pid = gw.proc.pid
    baseline = _status(pid, "VmRSS")
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:  # the peak RSS while the requests are under way
        while not done.wait(0.005):
            peak[0] = max(peak[0], _status(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for method, path in (("POST", "/admin/keys"), ("PUT", "/admin/budgets"), ("POST", "/admin/keys/k1/rotate"),
                             ("POST", "/admin/policy/reload")):
            head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {body_size}\r\n\r\n").encode()
            answer, sent, took = _send_until_answered(gw.port, head, body_size)
            assert answer.startswith(b"HTTP/1.1 401"), (path, answer[:200])
            assert sent < 16 << 20, f"{path}: the gateway took {sent >> 20} MiB before refusing a keyless caller"
            assert took < 10, f"{path}: {took:.1f} s to refuse a keyless caller"
    finally:
        done.set()
        sampler.join(5)
    grown_mb = (peak[0] - baseline) / 1024
    assert grown_mb < 32, f"RSS grew {grown_mb:.0f} MB while keyless callers sent large bodies"
    assert httpx.get(gw.url + "/healthz", timeout=5).status_code == 200


def test_admin_bodies_are_capped(gw: Process) -> None:
    auth = {"authorization": f"Bearer {ADMIN}"}
    big = {"tenant": "t", "team": "x", "name": "n" * 200_000}
    refused = httpx.post(gw.url + "/admin/keys", json=big, headers=auth, timeout=10)
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"]["code"] == "request_too_large"
    bad = httpx.post(gw.url + "/admin/keys", content=b"{not json", headers=auth, timeout=10)
    assert bad.status_code == 400 and set(bad.json()["error"]) == {"message", "type", "param", "code"}, bad.text
    wrong = httpx.post(gw.url + "/admin/keys", json={"tenant": "t"}, headers=auth, timeout=10)
    assert wrong.status_code == 400, wrong.text
    # (No key is created here: the other tests call the gateway in its open mode.)
    budget = httpx.put(gw.url + "/admin/budgets", json={"scope": "tenant", "scope_id": "t", "usd": "1"}, headers=auth, timeout=10)
    assert budget.status_code == 200, budget.text


def _tool_body(depth: int) -> bytes:
    """A chat request whose one tool's parameters nest `depth` levels below `properties.x` (written by
    hand: orjson itself will not write past 254 levels)."""
    inner = b"[" * (depth - 1) + b'{"type": "string"}' + b"]" * (depth - 1)
    tool = b'{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": ' + inner + b"}}}}"
    return b'{"model": "only", "messages": ' + orjson.dumps(MESSAGES) + b', "max_tokens": 4, "tools": [' + tool + b"]}"


@pytest.mark.parametrize("depth", [59, 300, 1000, 2000])
def test_json_nested_too_deep_is_a_400_with_its_ledger_row(gw: Process, depth: int) -> None:
    body = _tool_body(depth)
    response = httpx.post(gw.url + "/v1/chat/completions", content=body, headers={"content-type": "application/json"}, timeout=10)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "json_too_deep", error
    request_id = response.headers["x-switchyard-request-id"]
    ledger = Ledger(gw.database_url)
    try:
        rows = [r for r in ledger.rows() if r["request_id"] == request_id]
    finally:
        ledger.close()
    assert len(rows) == 1 and rows[0]["http_status"] == 400, rows
    routed = httpx.post(gw.url + "/v1/route", content=body, headers={"content-type": "application/json"}, timeout=10)
    assert routed.status_code == 400 and routed.json()["error"]["code"] == "json_too_deep", routed.text


def test_json_at_the_depth_limit_is_accepted(gw: Process) -> None:
    # 64 levels in all: the body object, tools, the tool, function, parameters, properties, then 58 more.
    response = httpx.post(gw.url + "/v1/route", content=_tool_body(58), headers={"content-type": "application/json"}, timeout=10)
    assert response.status_code != 500 and (response.status_code == 200 or response.json()["error"]["code"] != "json_too_deep"), (
        response.text
    )


def _fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_slow_clients_are_timed_out_and_capped(gw: Process) -> None:
    """More slow sockets than the gateway has descriptors for: normal requests are still served,
    and every slow socket is closed within its timeout."""
    pid = gw.proc.pid
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    kinds = {
        "idle": b"",
        "partial-header": head,
        "stalled-body": head + b"Content-Length: 4000\r\n\r\n" + b'{"model": "only", "messages": [',
    }
    slow: list[tuple[str, socket.socket]] = []
    try:
        for i in range(FD_LIMIT):
            kind = list(kinds)[i % len(kinds)]
            sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            if kinds[kind]:
                sock.sendall(kinds[kind])
            slow.append((kind, sock))
        opened = time.monotonic()
        # With every slow socket open, a normal request is answered.
        for _ in range(3):
            answer = httpx.get(gw.url + "/healthz", timeout=5)
            assert answer.status_code == 200
        chat = httpx.post(gw.url + "/v1/chat/completions", json={"model": "only", "messages": MESSAGES, "max_tokens": 4}, timeout=5)
        assert chat.status_code == 200, chat.text
        assert _fds(pid) < FD_LIMIT - 32, "the connection cap left too few descriptors for upstreams and the ledger"
        # Every slow socket is closed by the gateway: by the cap, or by its timeout.
        deadline = opened + max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S) + 10
        still_open = dict.fromkeys(kinds, 0)
        for kind, sock in slow:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                while sock.recv(65536):
                    pass
            except TimeoutError:
                still_open[kind] += 1
            except OSError:
                pass  # reset by the gateway: closed too
        assert not any(still_open.values()), f"slow sockets the gateway kept open past the timeouts: {still_open}"
    finally:
        for _, sock in slow:
            sock.close()
    assert httpx.get(gw.url + "/healthz", timeout=5).status_code == 200


def test_slow_sockets_under_the_cap_are_closed_by_their_timeouts(gw: Process) -> None:
    head = b"POST /v1/route HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    sends = {"idle": (b"", HEADER_TIMEOUT_S), "partial-header": (head, HEADER_TIMEOUT_S),
             "stalled-body": (head + b"Content-Length: 4000\r\n\r\n{", BODY_TIMEOUT_S)}
    socks = []
    try:
        for kind, (data, timeout) in sends.items():
            for _ in range(10):
                sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
                sock.sendall(data)
                socks.append((kind, timeout, sock, time.monotonic()))
        for kind, timeout, sock, opened in socks:
            sock.settimeout(timeout + 5)
            try:
                while sock.recv(65536):
                    pass
            except TimeoutError:
                raise AssertionError(f"a {kind} socket is still open {timeout + 5} s after it was opened") from None
            except OSError:
                pass
            assert time.monotonic() - opened < timeout + 5, kind
    finally:
        for _, _, sock, _ in socks:
            sock.close()


def test_an_idle_keepalive_connection_is_closed(gw: Process) -> None:
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _response_head(sock, 5).startswith(b"HTTP/1.1 200")
        sock.settimeout(KEEPALIVE_S + 5)
        started = time.monotonic()
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
        assert time.monotonic() - started < KEEPALIVE_S + 4


def test_a_stalled_body_gets_a_408(gw: Process) -> None:
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{")
        answer = _response_head(sock, BODY_TIMEOUT_S + 5)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/feedback", "/admin/keys"])
def test_a_client_leaving_mid_upload_is_not_an_unhandled_error(gw: Process, path: str) -> None:
    before = len(gw.output())
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n".encode() + b'{"model": "only", ' + b" " * 1000)
        time.sleep(0.3)
    time.sleep(1.0)
    assert httpx.get(gw.url + "/healthz", timeout=5).status_code == 200
    logged = gw.output()[before:]
    assert "Traceback" not in logged and "unhandled error" not in logged and "Exception in ASGI" not in logged, logged[-3000:]
