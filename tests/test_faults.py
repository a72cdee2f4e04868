"""Fault injection: a real gateway in front of a real upstream that fails on demand.

Every scenario ends by checking the books: the ledger's cost for the key equals what the quota
store settled, and no reservation is left outstanding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from router.cli import app as cli
from router.ledger import Ledger
from tests.faulty_upstream import PIECES, FaultyUpstream
from tests.servers import Process, start_gateway

pytestmark = pytest.mark.slow

ADMIN = "admin-faults-test"
ANSWER = "".join(PIECES)
MESSAGES = [{"role": "user", "content": "Say hello."}]
TIMEOUTS = "{connect_s: 1, read_s: 3, first_token_s: 1.0, total_s: 3}"
NEVER_OPEN = "\n    breaker: {failures: 1000, cooldown_s: 1}"  # so that every fault a test injects reaches the tier
TIERS = {
    "fb_a": "{connect_s: 1, read_s: 3, first_token_s: 0.5, total_s: 1}" + NEVER_OPEN,
    "fb_b": TIMEOUTS, "nh_a": TIMEOUTS, "nh_b": "{connect_s: 1, read_s: 3, total_s: 1}",
    "br": TIMEOUTS, "ra": TIMEOUTS, "ms_a": TIMEOUTS + NEVER_OPEN, "ms_b": TIMEOUTS,
    "sc": "{connect_s: 1, read_s: 3, total_s: 1.2}",
    "sl": "{connect_s: 1, read_s: 5, first_token_s: 3, total_s: 5}",
}


def policy_text(upstream: str) -> str:
    tiers = "".join(
        f"""
  {name}:
    engine: openai
    model: {name}
    upstream_model: {name}
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
    timeouts: {timeouts}"""
        for name, timeouts in TIERS.items()
    )
    return f"""
version: 1
name: faults
tiers:{tiers}
fallbacks: {{fb_a: [fb_b], nh_a: [nh_b], ms_a: [ms_b]}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
resilience:
  retry: {{attempts: 2, base_delay_s: 0.01, max_delay_s: 0.05, max_retry_after_s: 2, budget_s: 3}}
  breaker: {{failures: 3, cooldown_s: 1.0}}
"""


@pytest.fixture(scope="module")
def gw(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("faults")
    policy = work / "policy.yaml"
    policy.write_text(policy_text(upstream.url))
    url = f"sqlite:///{work}/ledger.db"
    env = {"SWITCHYARD_DATABASE_URL": url, "SWITCHYARD_ADMIN_KEY": ADMIN}
    created = CliRunner().invoke(
        cli, ["keys", "create", "--tenant", "faulty", "--team", "ops", "--budget-usd", "1000", "--period", "total", "--json"], env=env
    )
    assert created.exit_code == 0, created.output
    server = start_gateway(policy, work, env=env)
    server.database_url = url
    info = json.loads(created.output)
    server.key, server.key_id = info["key"], info["key_id"]  # type: ignore[attr-defined]
    yield server
    server.stop()


def script(upstream: FaultyUpstream, model: str, modes: list[str], default: str = "ok") -> None:
    httpx.post(upstream.url + "/control", json={"model": model, "script": modes, "default": default}).raise_for_status()


def calls(upstream: FaultyUpstream, model: str) -> list[dict[str, Any]]:
    return [c for c in httpx.get(upstream.url + "/calls").json() if c["model"] == model]


def ask(gw: Process, model: str, *, stream: bool = False, timeout: float = 20) -> httpx.Response:
    body = {"model": model, "messages": MESSAGES, "max_tokens": 16, "stream": stream}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {gw.key}"}, timeout=timeout)  # type: ignore[attr-defined]


def events(response: httpx.Response) -> list[Any]:
    out = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def streamed_text(response: httpx.Response) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events(response) if isinstance(e, dict) and e.get("choices"))


def assert_openai_error(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def circuit_state(gw: Process, tier: str) -> float:
    for line in httpx.get(gw.url + "/metrics").text.splitlines():
        if line.startswith(f'switchyard_circuit_state{{tier="{tier}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no circuit state for {tier}")


def assert_books_balance(gw: Process) -> tuple[int, int]:
    """Ledger cost of the key's rows == settled spend in the quota store, nothing reserved; (rows, cost)."""
    deadline = time.monotonic() + 15
    while True:
        ledger = Ledger(gw.database_url)
        rows = [r for r in ledger.rows() if r["key_id"] == gw.key_id]  # type: ignore[attr-defined]
        ledger.close()
        budgets = httpx.get(gw.url + "/admin/budgets", headers={"authorization": f"Bearer {ADMIN}"}).json()["data"]
        (budget,) = [b for b in budgets if b["scope"] == "key" and b["scope_id"] == gw.key_id]  # type: ignore[attr-defined]
        spent, reserved = round(budget["spent_usd"] * 1e9), round(budget["reserved_usd"] * 1e9)
        cost = sum(r["cost_nanousd"] for r in rows)
        if (spent == cost and reserved == 0) or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # a cancelled request settles after its client has gone
    assert reserved == 0, f"{reserved} nano-dollars still reserved"
    assert spent == cost, f"quota store settled {spent}, ledger rows cost {cost}"
    assert len({r["request_id"] for r in rows}) == len(rows)
    return len(rows), cost


def test_every_request_answered_while_a_fallback_is_healthy(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "fb_b", [])
    started = time.monotonic()
    # "die" on a stream is a failure after the first byte: no fallback then (see the mid-stream test).
    cases = [(f, s) for f in ("500", "429:0", "malformed", "slow:3", "hang", "die") for s in (False, True) if (f, s) != ("die", True)]
    for fault, stream in cases:
        script(upstream, "fb_a", [fault, fault])  # the first call and its retry both fail
        response = ask(gw, "fb_a", stream=stream)
        assert response.status_code == 200, (fault, stream, response.text)
        assert (streamed_text(response) if stream else response.json()["choices"][0]["message"]["content"]) == ANSWER
        assert response.headers["x-switchyard-tier"] == "fb_b" and response.headers["x-switchyard-fallback-from"] == "fb_a"
        assert [c["mode"] for c in calls(upstream, "fb_a")[-2:]] == [fault, fault]
    assert time.monotonic() - started < 30
    rows, cost = assert_books_balance(gw)
    assert rows >= len(cases) and cost > 0


def test_no_healthy_tier_gives_clean_errors_in_bounded_time(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "nh_a", [], default="500")
    script(upstream, "nh_b", [], default="hang")
    for stream in (False, True, False, True, False):
        started = time.monotonic()
        response = ask(gw, "nh_a", stream=stream)
        elapsed = time.monotonic() - started
        assert response.status_code in (502, 503, 504), response.text
        error = assert_openai_error(response)
        assert error["code"] in ("upstream_error", "upstream_timeout", "upstream_unavailable")
        assert elapsed < 8, elapsed
    # Both breakers are open now: the answer is immediate, and says when to come back.
    started = time.monotonic()
    response = ask(gw, "nh_a")
    assert response.status_code == 503 and assert_openai_error(response)["code"] == "upstream_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert time.monotonic() - started < 1
    assert_books_balance(gw)


def test_breaker_opens_probes_half_open_and_closes(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "br", [], default="500")
    assert ask(gw, "br").status_code == 502  # two calls: the first and its retry
    assert ask(gw, "br").status_code == 502  # the third failure opens the breaker, so no retry
    assert len(calls(upstream, "br")) == 3
    assert circuit_state(gw, "br") == 2
    response = ask(gw, "br")
    assert response.status_code == 503 and assert_openai_error(response)["code"] == "upstream_unavailable"
    assert len(calls(upstream, "br")) == 3  # skipped without a call
    time.sleep(1.1)
    # Half-open: exactly one probe goes through; it fails, so the breaker opens again.
    assert ask(gw, "br").status_code == 502
    assert len(calls(upstream, "br")) == 4
    assert circuit_state(gw, "br") == 2
    script(upstream, "br", [], default="ok")
    assert ask(gw, "br").status_code == 503
    time.sleep(1.1)
    assert ask(gw, "br").status_code == 200  # the probe succeeds and closes the breaker
    assert circuit_state(gw, "br") == 0
    assert ask(gw, "br", stream=True).status_code == 200
    assert len(calls(upstream, "br")) == 6
    assert "switchyard_circuit_skips_total" in httpx.get(gw.url + "/metrics").text
    assert_books_balance(gw)


def test_retry_after_is_honoured(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "ra", ["429:1"])
    started = time.monotonic()
    response = ask(gw, "ra")
    assert response.status_code == 200, response.text
    first, second = calls(upstream, "ra")[-2:]
    assert first["mode"] == "429:1" and second["mode"] == "ok"
    assert second["t"] - first["t"] >= 1.0
    assert time.monotonic() - started >= 1.0
    # Longer than the policy waits for: the client hears 429 at once, with the upstream's Retry-After ...
    script(upstream, "ra", ["429:30"])
    started = time.monotonic()
    response = ask(gw, "ra")
    assert response.status_code == 429 and response.headers["retry-after"] == "30"
    assert assert_openai_error(response)["code"] == "upstream_rate_limited"
    assert time.monotonic() - started < 1.5
    # ... and no request reaches that upstream before the time it asked for.
    seen = len(calls(upstream, "ra"))
    response = ask(gw, "ra")
    assert response.status_code == 503 and int(response.headers["retry-after"]) >= 25
    assert len(calls(upstream, "ra")) == seen
    assert_books_balance(gw)


def test_stream_dying_midway_ends_with_an_error_event(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "ms_a", [], default="die")
    started = time.monotonic()
    response = ask(gw, "ms_a", stream=True)
    assert response.status_code == 200 and time.monotonic() - started < 5
    got = events(response)
    assert streamed_text(response) == "".join(PIECES[:2])  # what came before the failure, never a retry's
    assert got[-1] == "[DONE]" and got[-2]["error"]["code"] in ("upstream_unavailable", "upstream_error")
    # A total timeout mid-stream ends the same way, in bounded time.
    script(upstream, "sc", [], default="slowchunks:0.4")
    started = time.monotonic()
    response = ask(gw, "sc", stream=True)
    assert response.status_code == 200 and time.monotonic() - started < 4
    got = events(response)
    assert got[-1] == "[DONE]" and got[-2]["error"]["code"] == "upstream_timeout"
    assert 0 < len(streamed_text(response)) < len(ANSWER)
    # A chunk of the wrong shape: before the first byte it is a fallback, after it an error event.
    script(upstream, "ms_a", ["badchunk:0", "badchunk:0", "badchunk:2"], default="die")
    response = ask(gw, "ms_a", stream=True)
    assert response.status_code == 200 and response.headers["x-switchyard-tier"] == "ms_b" and streamed_text(response) == ANSWER
    response = ask(gw, "ms_a", stream=True)
    got = events(response)
    assert got[-1] == "[DONE]" and got[-2]["error"]["code"] == "upstream_error"
    assert streamed_text(response) == "".join(PIECES[:2])
    ledger = Ledger(gw.database_url)
    failed = [r for r in ledger.rows() if r["tier"] in ("ms_a", "sc") and r["status"] == "error"]
    ledger.close()
    assert len(failed) >= 3 and all(r["cost_nanousd"] > 0 for r in failed)  # what was generated is charged
    assert_books_balance(gw)


def test_clients_leaving_settle_their_reservations(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "sc", [], default="slowchunks:0.3")
    headers = {"authorization": f"Bearer {gw.key}"}  # type: ignore[attr-defined]
    body = {"model": "sc", "messages": MESSAGES, "max_tokens": 16, "stream": True}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=10) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # leave after the first event
    # Leaving before the first byte: the gateway is still waiting on a slow upstream.
    script(upstream, "sl", [], default="slow:1")
    for stream in (True, False):
        with pytest.raises(httpx.ReadTimeout):
            ask(gw, "sl", stream=stream, timeout=0.3)
    time.sleep(1.5)
    assert_books_balance(gw)
    ledger = Ledger(gw.database_url)
    cancelled = [r for r in ledger.rows() if r["tier"] in ("sc", "sl") and r["status"] == "cancelled"]
    ledger.close()
    assert len(cancelled) >= 2
    assert httpx.get(gw.url + "/healthz").status_code == 200
