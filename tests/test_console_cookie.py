"""The console's session cookie is Secure when the browser used HTTPS, behind a TLS-terminating proxy too.

X-Forwarded-Proto is believed only from the proxies named in SWITCHYARD_TRUSTED_PROXIES: the gateway
below trusts 127.0.0.2, and the test speaks to it from 127.0.0.2 (the proxy) and from 127.0.0.1
(anyone else), both over loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from router.console.transport import secure_cookie
from tests.faulty_upstream import FaultyUpstream
from tests.servers import ROOT, Process, start_gateway
from tests.test_console import ADMIN_KEY, POLICY

PROXY = "127.0.0.2"


@pytest.fixture(scope="module")
def proxied_gateway(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work = tmp_path_factory.mktemp("console-cookie")
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url))
    env = {
        "SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db",
        "SWITCHYARD_ADMIN_KEY": ADMIN_KEY,
        "SWITCHYARD_POLICY_POLL_S": "0",
        "SWITCHYARD_TRUSTED_PROXIES": f"10.9.0.0/16, {PROXY}",
    }
    gw = start_gateway(policy, work, env=env)
    yield gw
    gw.stop()


def _sign_in_from(gw: Process, address: str, headers: dict[str, str]) -> str:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=gw.url, transport=transport, follow_redirects=False, timeout=30) as client:
        answer = client.post("/console/login", data={"key": ADMIN_KEY}, headers=headers)
    assert answer.status_code == 303, answer.text
    return answer.headers["set-cookie"].lower()


def _secure(cookie: str) -> bool:
    return "secure" in [part.strip() for part in cookie.split(";")]


def test_forwarded_https_from_a_trusted_proxy_makes_the_cookie_secure(proxied_gateway: Process) -> None:
    cookie = _sign_in_from(proxied_gateway, PROXY, {"X-Forwarded-Proto": "https"})
    assert _secure(cookie) and "httponly" in cookie and "samesite=strict" in cookie


def test_forwarded_https_from_anyone_else_is_not_believed(proxied_gateway: Process) -> None:
    assert not _secure(_sign_in_from(proxied_gateway, "127.0.0.1", {"X-Forwarded-Proto": "https"}))


def test_plain_http_from_the_trusted_proxy_is_not_secure(proxied_gateway: Process) -> None:
    assert not _secure(_sign_in_from(proxied_gateway, PROXY, {"X-Forwarded-Proto": "http"}))
    assert not _secure(_sign_in_from(proxied_gateway, PROXY, {}))


def _request(client: str, scheme: str = "http", proto: str | None = None) -> Request:
    headers = [(b"x-forwarded-proto", proto.encode())] if proto else []
    return Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": scheme,
            "path": "/console/login",
            "headers": headers,
            "client": (client, 50000),
            "server": ("127.0.0.1", 8000),
            "query_string": b"",
        }
    )


def test_the_secure_cookie_setting_and_direct_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHYARD_TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("SWITCHYARD_CONSOLE_SECURE_COOKIE", raising=False)
    assert secure_cookie(_request("203.0.113.9", scheme="https"))  # TLS to the gateway itself
    assert not secure_cookie(_request("203.0.113.9", proto="https"))  # no proxy is trusted by default
    monkeypatch.setenv("SWITCHYARD_TRUSTED_PROXIES", "2001:db8::/32")
    assert secure_cookie(_request("2001:db8::7", proto="https, http"))  # the outermost proxy's entry counts
    assert not secure_cookie(_request("203.0.113.9", proto="https"))
    monkeypatch.setenv("SWITCHYARD_CONSOLE_SECURE_COOKIE", "true")
    assert secure_cookie(_request("203.0.113.9"))


def test_serve_refuses_an_unreadable_proxy_list(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(upstream="http://127.0.0.1:9"))
    env = {
        **os.environ,
        "SWITCHYARD_TRUSTED_PROXIES": "10.0.0.0/8, not-an-address",
        "SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/l.db",
    }
    out = subprocess.run(
        [sys.executable, "-m", "router.cli", "serve", "--policy", str(policy), "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode != 0, out.stdout + out.stderr
    assert "SWITCHYARD_TRUSTED_PROXIES" in out.stdout + out.stderr and "Traceback" not in out.stdout + out.stderr
