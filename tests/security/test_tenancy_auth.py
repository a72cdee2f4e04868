"""Tenancy under attack (issue 11, defects 4, 5, 6 and 13): who may call, what they may spend, what they may see.

Real gateway processes on 127.0.0.1 in front of tests/faulty_upstream.py, which stands in for a paid
provider and can over-report the usage it bills. One main gateway serves most tests of the module.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from router.cli import app
from router.ledger import Ledger
from router.tenancy.quota import Bucket, MemoryQuotaStore, QuotaStore, RedisQuotaStore
from tests.faulty_upstream import FaultyUpstream
from tests.servers import ROOT, Process, free_port, start_gateway

SECRET = "hunter2-upstream-credential"
ADMIN = "admin-test-key"
PRICE = 1000  # $/Mtok: a token costs $0.001, so every request is real money
LIE = {"prompt_tokens": 5000, "completion_tokens": 5000}  # $10 a request at PRICE, whatever was generated
HELLO = [{"role": "user", "content": "Say hello in one word."}]
MAX_TOKENS = 4
BUDGET_NANO = 1_000_000_000  # the lying test's hard budget: $1
TEAM_BUDGET_NANO = 2_000_000  # $0.002: smaller than any request's worst case, and must not print as "$0.00"

POLICY = """
version: 1
tiers:
  paid:
    engine: openai
    model: paid
    upstream_model: liar
    base_url: {upstream}/v1
    max_output_tokens: 4
    prices: {{input_per_mtok: {price}, output_per_mtok: {price}}}
  honest:
    engine: openai
    model: honest
    upstream_model: honest
    base_url: {upstream}/v1
    max_output_tokens: 4
    prices: {{input_per_mtok: 1, output_per_mtok: 1}}
  down:
    engine: openai
    model: down
    base_url: http://switchyard:{secret}@127.0.0.1:{dead}/v1
    max_output_tokens: 4
    prices: {{input_per_mtok: 1, output_per_mtok: 1}}
resilience: {{retry: {{attempts: 1}}}}
cache: {{exact: false, semantic: false}}  # every request must reach the upstream and be charged
"""


def cli(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def new_key(env: dict[str, str], tenant: str, team: str, *extra: str) -> dict[str, Any]:
    created = cli(env, "keys", "create", "--tenant", tenant, "--team", team, "--json", *extra)
    assert created.exit_code == 0, created.output
    return json.loads(created.output)


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def chat(gw: Process, key: str | None, model: str = "honest", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": HELLO, "max_tokens": MAX_TOKENS, **extra}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers=bearer(key) if key else {}, timeout=30)


def ledger_rows(url: str) -> list[dict[str, Any]]:
    ledger = Ledger(url)
    try:
        return list(ledger.rows())
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultyUpstream]:
    server = FaultyUpstream(free_port())
    httpx.post(server.url + "/control", json={"model": "liar", "usage": LIE}).raise_for_status()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def policy(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(POLICY.format(upstream=upstream.url, price=PRICE, secret=SECRET, dead=free_port()))
    return path


@pytest.fixture(scope="module")
def main(policy: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """Keys required: tenants acme and beta, a lying paid tier, a down tier whose URL holds a credential."""
    work = tmp_path_factory.mktemp("main")
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db", "SWITCHYARD_ADMIN_KEY": ADMIN}
    keys = {
        "acme_ml": new_key(env, "acme", "ml")["key"],
        "acme_web": new_key(env, "acme", "web")["key"],
        "beta_ml": new_key(env, "beta", "ml")["key"],
        "spender": new_key(env, "acme", "spend", "--budget-usd", "1", "--period", "total")["key"],
    }
    revoked = new_key(env, "acme", "gone")
    assert cli(env, "keys", "revoke", revoked["key_id"]).exit_code == 0
    keys["revoked"] = revoked["key"]
    # A team budget for acme's team ml only: beta's team ml is another team.
    team_budget = cli(env, "budgets", "set", "--team", "ml", "--tenant", "acme", "--usd", "0.002", "--period", "total")
    server = start_gateway(policy, work, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    server.keys = keys  # type: ignore[attr-defined]
    server.team_budget = team_budget  # type: ignore[attr-defined]
    server.env = env  # type: ignore[attr-defined]
    yield server
    server.stop()


# Defect 4: revoking the last key must not re-open the gateway; open mode is an explicit choice.

def test_revoking_the_last_key_keeps_keys_required(policy: Path, tmp_path: Path) -> None:
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"}
    only = new_key(env, "acme", "ml")
    assert cli(env, "keys", "revoke", only["key_id"]).exit_code == 0
    gw = start_gateway(policy, tmp_path, env=env)
    try:
        for key in (None, only["key"], "sk-anything"):
            reply = chat(gw, key)
            assert reply.status_code == 401, (key, reply.text)
            assert reply.json()["error"]["code"] == "invalid_api_key"
        assert "OPEN MODE" not in gw.output()
        assert "API keys required" in gw.output()
    finally:
        gw.stop()
    assert ledger_rows(env["SWITCHYARD_DATABASE_URL"]) == []


def test_open_mode_is_explicit_and_never_serves_revoked_keys(policy: Path, tmp_path: Path) -> None:
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db", "SWITCHYARD_OPEN_MODE": "1"}
    gone = new_key(env, "acme", "ml")
    assert cli(env, "keys", "revoke", gone["key_id"]).exit_code == 0
    gw = start_gateway(policy, tmp_path, env=env)
    try:
        assert chat(gw, None).status_code == 200
        revoked = chat(gw, gone["key"])
        assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "invalid_api_key"
        assert "OPEN MODE" in gw.output() and "SWITCHYARD_OPEN_MODE" in gw.output()
    finally:
        gw.stop()


# Defect 6: every /v1 route authenticates; feedback is the caller's own; 401s cost nothing; no leaks.

@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/route"), ("POST", "/v1/feedback"), ("GET", "/v1/models"),
                                              ("POST", "/v1/chat/completions")])
def test_every_v1_route_requires_a_live_key(main: Process, method: str, path: str) -> None:
    body = {"model": "auto", "messages": HELLO} if path != "/v1/feedback" else {"request_id": "x" * 32, "score": 1}
    for key in (None, main.keys["revoked"], "sk-sy-not-a-key"):  # type: ignore[attr-defined]
        reply = httpx.request(method, main.url + path, json=body if method == "POST" else None,
                              headers=bearer(key) if key else {}, timeout=10)
        assert reply.status_code == 401, (path, key, reply.text)
        error = reply.json()["error"]
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"


def test_unauthenticated_requests_write_no_ledger_rows(main: Process) -> None:
    before = len(ledger_rows(main.database_url or ""))
    for i in range(20):
        assert chat(main, None if i % 2 else "sk-sy-wrong").status_code == 401
    assert len(ledger_rows(main.database_url or "")) == before


def test_feedback_only_on_own_tenants_requests_last_verdict_wins(main: Process) -> None:
    keys = main.keys  # type: ignore[attr-defined]
    answered = chat(main, keys["acme_web"])
    assert answered.status_code == 200, answered.text
    request_id = answered.headers["x-switchyard-request-id"]
    feedback = main.url + "/v1/feedback"
    stranger = httpx.post(feedback, json={"request_id": request_id, "score": 0.0}, headers=bearer(keys["beta_ml"]))
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "request_not_found"
    for score in (0.0, 0.5, 1.0):  # the same tenant, another of its keys, may judge it; the last verdict stands
        reply = httpx.post(feedback, json={"request_id": request_id, "score": score}, headers=bearer(keys["acme_ml"]))
        assert reply.status_code == 200, reply.text
    ledger = Ledger(main.database_url)
    try:
        ledger.flush()
        with ledger.engine.connect() as connection:
            scores = connection.execute(text("select score from feedback where request_id = :r"), {"r": request_id}).scalars().all()
    finally:
        ledger.close()
    assert scores == [1.0]


def test_models_and_errors_never_show_upstream_urls_or_credentials(main: Process) -> None:
    keys = main.keys  # type: ignore[attr-defined]
    listed = httpx.get(main.url + "/v1/models", headers=bearer(keys["acme_ml"]))
    assert listed.status_code == 200 and {m["id"] for m in listed.json()["data"]} >= {"paid", "honest", "down"}
    failed = chat(main, keys["acme_web"], model="down")
    assert failed.status_code >= 500 and "error" in failed.json()
    streamed = chat(main, keys["acme_web"], model="down", stream=True)
    for reply in (listed, failed, streamed):
        assert SECRET not in reply.text and "switchyard:" not in reply.text
        assert "http://" not in reply.text and "127.0.0.1" not in reply.text, reply.text


# Defect 5: an upstream that over-reports usage cannot push spend past a hard budget.

def test_a_lying_upstream_cannot_overspend_a_hard_budget(main: Process) -> None:
    key = main.keys["spender"]  # type: ignore[attr-defined]
    statuses = []
    for i in range(80):
        reply = chat(main, key, model="paid", stream=i % 3 == 2)
        statuses.append(reply.status_code)
        if reply.status_code == 429:
            assert reply.json()["error"]["type"] == "budget_exceeded"
            break
    assert statuses[-1] == 429 and statuses.count(200) >= 2, statuses
    rows = [r for r in ledger_rows(main.database_url or "") if r["team"] == "spend"]
    spent = sum(r["cost_nanousd"] for r in rows)
    # One request's worst case, bounded generously from outside the gateway: every byte of the
    # prompt a token, 200 tokens of chat template, max_tokens of output.
    worst = (len(HELLO[0]["content"].encode()) + 200 + MAX_TOKENS) * PRICE * 1000
    assert all(r["cost_nanousd"] <= worst for r in rows)
    assert spent <= BUDGET_NANO + worst, (spent, BUDGET_NANO)
    # What the upstream claimed beyond the reservation is kept for reconciliation, not charged.
    assert all(r["excess_nanousd"] > 0 for r in rows if r["status"] == "ok")
    metrics = httpx.get(main.url + "/metrics").text
    assert "switchyard_cost_over_reservation_usd_total" in metrics


def store_bucket(key: str, limit: int) -> Bucket:
    return Bucket(key=key, name=f"budget {key}", limit=limit, hard=True, expires_at=time.time() + 3600, seed=lambda: 0)


async def settle_past_the_reservation(store: QuotaStore, prefix: str) -> None:
    bucket = store_bucket(f"{prefix}:cap", 100)
    assert await store.reserve("cap-1", [bucket], 30, ttl_s=60) is None
    await store.settle("cap-1", [bucket], 10_000)  # the upstream says it cost far more than the worst case
    assert await store.usage(bucket) == (30, 0)


def test_quota_stores_never_charge_past_the_reservation(redis_url: str) -> None:
    asyncio.run(settle_past_the_reservation(MemoryQuotaStore(), "mem"))

    async def redis() -> None:
        store = RedisQuotaStore(redis_url)
        try:
            await store.client.delete("redis:cap")
            await settle_past_the_reservation(store, "redis")
        finally:
            await store.aclose()

    asyncio.run(redis())


def test_prompt_bound_covers_the_bundled_models_chat_template(llama_server: Process) -> None:
    """The reservation's prompt bound against the prompt tokens the bundled model really counts."""
    from router.accounting import prompt_token_bound
    from router.schemas import parse_chat_request

    conversations = [
        [{"role": "user", "content": "Hi"}],
        HELLO,
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue?"}],
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": "こんにちは 🌍 " * 3}],
    ]
    for messages in conversations:
        reply = httpx.post(llama_server.url + "/v1/chat/completions", timeout=60,
                           json={"model": "smollm2-upstream", "messages": messages, "max_tokens": 1})
        counted = reply.json()["usage"]["prompt_tokens"]
        bound = prompt_token_bound(parse_chat_request({"model": "auto", "messages": messages}))
        assert counted <= bound, (messages, counted, bound)


# "Also seen": budget refusals say not to retry, and show amounts to the precision that matters.

def test_budget_429_says_do_not_retry_with_exact_amounts_and_rate_limits_say_when(main: Process) -> None:
    keys = main.keys  # type: ignore[attr-defined]
    refused = chat(main, keys["acme_ml"], model="paid")
    assert refused.status_code == 429, refused.text
    assert refused.headers.get("x-should-retry") == "false" and "retry-after" not in refused.headers
    assert "$0.002" in refused.json()["error"]["message"], refused.json()


# Defect 13: budgets across replicas and across tenants.

def test_team_budgets_are_per_tenant(main: Process) -> None:
    assert main.team_budget.exit_code == 0, main.team_budget.output  # type: ignore[attr-defined]
    keys = main.keys  # type: ignore[attr-defined]
    assert chat(main, keys["acme_ml"], model="paid").json()["error"]["type"] == "budget_exceeded"
    assert chat(main, keys["beta_ml"], model="paid").status_code == 200  # beta's team ml is not acme's
    unscoped = cli(main.env, "budgets", "set", "--team", "ml", "--usd", "5")  # type: ignore[attr-defined]
    assert unscoped.exit_code != 0 and "--tenant" in unscoped.output
    admin = {"authorization": f"Bearer {ADMIN}"}
    refused = httpx.put(main.url + "/admin/budgets", json={"scope": "team", "scope_id": "ops", "usd": "5"}, headers=admin)
    assert refused.status_code == 400 and "tenant" in refused.json()["error"]["message"]
    scoped = httpx.put(main.url + "/admin/budgets", json={"scope": "team", "scope_id": "ops", "tenant": "beta", "usd": "5"}, headers=admin)
    assert scoped.status_code == 200 and "team ops of tenant beta" in scoped.json()["description"]


def test_a_second_replica_without_a_shared_quota_store_refuses_to_start(main: Process, policy: Path, tmp_path: Path) -> None:
    env = {**os.environ, **main.env, "HF_HUB_OFFLINE": "1"}  # type: ignore[attr-defined]
    args = [sys.executable, "-m", "router.cli", "serve", "--policy", str(policy), "--port", str(free_port())]
    second = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode != 0
    assert "SWITCHYARD_REDIS_URL" in second.stdout + second.stderr
    assert "another gateway" in (second.stdout + second.stderr)
    # An explicit override starts it, loudly.
    allowed = start_gateway(policy, tmp_path, env={**main.env, "SWITCHYARD_ALLOW_UNSHARED_QUOTA": "1"})  # type: ignore[attr-defined]
    try:
        assert chat(allowed, main.keys["acme_web"]).status_code == 200  # type: ignore[attr-defined]
        lines = allowed.output().splitlines()
        warnings = [json.loads(line)["msg"] for line in lines if line.startswith('{"') and '"level":"warning"' in line]
        assert any("each enforce the whole budget" in w for w in warnings), allowed.output()[-2000:]
    finally:
        allowed.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_ledger_lease_is_exclusive_until_released(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from router.tenancy.replicas import LedgerLease

    url = f"sqlite:///{tmp_path}/ledger.db" if backend == "sqlite" else request.getfixturevalue("pg_schema_url")
    first, second = Ledger(url), Ledger(url)
    try:
        holder, rival = LedgerLease(first.engine), LedgerLease(second.engine)
        assert holder.acquire() is True
        assert rival.acquire() is False
        holder.release()
        assert rival.acquire() is True
        rival.release()
    finally:
        first.close()
        second.close()


def test_client_messages_are_scrubbed_of_upstream_addresses_and_credentials() -> None:
    from router.errors import scrub

    leaky = [
        f"upstream http://switchyard:{SECRET}@10.1.2.3:8443/v1 unreachable: Cannot connect to host 10.1.2.3:8443 "
        "ssl:default [Connect call failed ('10.1.2.3', 8443)]",
        "provider call for openai/gpt-4o failed: Incorrect API key provided: sk-proj-abcdefghijklmnop1234",
        "upstream said: Authorization: Bearer abcdefgh12345678 rejected; api_key=hunter2hunter2",
        "Cannot connect to host llm.internal.example:8443 ssl:True",
    ]
    for message in leaky:
        clean = scrub(message)
        for secret in (SECRET, "10.1.2.3", "8443", "sk-proj-abcdefghijklmnop1234", "abcdefgh12345678", "hunter2hunter2",
                       "llm.internal.example"):
            assert secret not in clean, (message, clean)
    # What clients need to read stays.
    for fine in ("missing API key: send 'Authorization: Bearer sk-sy-...'", "max_tokens 40000 exceeds the limit of 32768",
                 "rate limit: 2 requests per minute for key key_0123456789ab"):
        assert scrub(fine) == fine
