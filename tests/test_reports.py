"""Spend reports: aggregates checked against the ledger rows, every format, the HTML seen in Chromium,
and the admin API that serves them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from router.cli import app
from router.ledger import Ledger, LedgerRow
from router.reports import PALETTE
from tests.screenshots import CHROMIUM, mask, screenshot
from tests.servers import Process, start_gateway

TEAMS, TIERS, DOORS = ["ml", "web", "ops"], ["local", "self_hosted", "frontier"], ["chat", "responses", "messages", "completions"]


@pytest.fixture()
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ledger.db"
    ledger = Ledger(url)
    ledger.start()
    now = datetime.now(UTC)
    rows = []
    for i in range(90):
        rows.append(LedgerRow(
            request_id=f"r{i}", tenant="acme", team=TEAMS[i % 3], status="ok" if i % 10 else "error", http_status=200,
            created_at=now - timedelta(days=i % 5, minutes=i), tier=TIERS[i % 3], model=f"m-{TIERS[i % 3]}",
            prompt_tokens=100 + i, completion_tokens=10 * (i % 7), cost_nanousd=1_000_000 * (i % 3 + 1) * (1 + i % 4),
            saved_nanousd=500_000 * (i % 5), cache="hit-exact" if i % 6 == 0 else "miss", door=DOORS[i % 4],
        ))

    async def write() -> None:
        await asyncio.gather(*[ledger.record(r) for r in rows])

    asyncio.run(write())
    ledger.close()
    return url


def expected(url: str, key: str) -> dict[str, dict[str, float]]:
    ledger = Ledger(url)
    out: dict[str, dict[str, float]] = {}
    for row in ledger.rows():
        if row["status"] != "ok":
            continue
        group = out.setdefault(row[key], {"requests": 0, "spend": 0, "saved": 0, "hits": 0})
        group["requests"] += 1
        group["spend"] += row["cost_nanousd"] / 1e9
        group["saved"] += row["saved_nanousd"] / 1e9
        group["hits"] += row["cache"].startswith("hit")
    ledger.close()
    return out


@pytest.mark.parametrize("by", ["team", "tier", "door"])
def test_json_and_csv_match_the_ledger(ledger_url: str, by: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["report", "spend", "--by", by, "--format", "json"], env={"SWITCHYARD_DATABASE_URL": ledger_url})
    assert result.exit_code == 0, result.output
    data = {row["group"]: row for row in json.loads(result.output)["data"]}
    truth = expected(ledger_url, by)
    assert set(data) == set(truth)
    for group, numbers in truth.items():
        assert data[group]["requests"] == numbers["requests"]
        assert data[group]["spend_usd"] == pytest.approx(numbers["spend"])
        assert data[group]["saved_usd"] == pytest.approx(numbers["saved"])
        assert data[group]["cache_hits"] == numbers["hits"]
    as_csv = runner.invoke(app, ["report", "spend", "--by", by, "--format", "csv"], env={"SWITCHYARD_DATABASE_URL": ledger_url})
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert {r["group"]: int(r["requests"]) for r in rows} == {g: n["requests"] for g, n in truth.items()}


def test_time_window_and_table(ledger_url: str) -> None:
    runner = CliRunner()
    env = {"SWITCHYARD_DATABASE_URL": ledger_url}
    recent = json.loads(runner.invoke(app, ["report", "spend", "--by", "day", "--since", "36h", "--format", "json"], env=env).output)
    assert 1 <= len(recent["data"]) <= 2
    table = runner.invoke(app, ["report", "spend", "--by", "team"], env=env)
    assert table.exit_code == 0 and "total" in table.output and "ml" in table.output


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed (apt-get install chromium)")
def test_html_report_shows_its_charts(ledger_url: str, tmp_path: Path) -> None:
    page = tmp_path / "spend.html"
    result = CliRunner().invoke(app, ["report", "spend", "--format", "html", "--out", str(page)],
                                env={"SWITCHYARD_DATABASE_URL": ledger_url})
    assert result.exit_code == 0, result.output
    text = page.read_text()
    # The report says what share was saved, and gives the tier mix by requests as well as by spend.
    assert re.search(r"saved <b>\$[0-9.]+</b> \([0-9.]+% of \$[0-9.]+\)", text), text[:2000]
    assert "Requests per day, by tier" in text and "share of requests" in text
    image = screenshot(page, tmp_path, 1000, 1400)
    assert np.mean(np.all(image > 245, axis=2)) > 0.4  # a rendered page, not an error screen
    # Three series (teams, then tiers) coloured from the palette: each colour fills bars in the charts.
    for colour in PALETTE[:3]:
        pixels = mask(image, colour)
        _, xs = np.nonzero(pixels)
        assert len(xs) > 500, f"{colour}: {len(xs)} pixels"
        assert xs.max() - xs.min() > 200  # bars across several days, not one legend swatch


@pytest.mark.slow
def test_admin_api(llama_server: Process, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""
version: 1
tiers:
  t:
    engine: openai
    model: t
    upstream_model: smollm2-upstream
    base_url: {llama_server.url}/v1
    max_output_tokens: 2
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
""")
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/l.db", "SWITCHYARD_ADMIN_KEY": "admin-secret"}
    gateway = start_gateway(policy, tmp_path, env=env)
    admin = {"authorization": "Bearer admin-secret"}
    try:
        assert httpx.get(gateway.url + "/admin/keys").status_code == 401
        assert httpx.get(gateway.url + "/admin/keys", headers={"authorization": "Bearer nope"}).status_code == 401
        made = httpx.post(gateway.url + "/admin/keys", headers=admin, json={"tenant": "acme", "team": "ml", "budget_usd": "1"})
        assert made.status_code == 201, made.text
        assert made.headers["cache-control"] == "no-store"  # the key's plaintext is in this answer, once
        key, key_id = made.json()["key"], made.json()["key_id"]
        bad = httpx.post(gateway.url + "/admin/keys", headers=admin, json={"tenant": "acme"})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        chat = {"model": "t", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        # A real model answers: give it a loaded machine's time, not httpx's default 5 s.
        answered = httpx.post(gateway.url + "/v1/chat/completions", json=chat, headers={"authorization": f"Bearer {key}"}, timeout=60)
        assert answered.status_code == 200, answered.text
        budgets = httpx.get(gateway.url + "/admin/budgets", headers=admin).json()["data"]
        assert budgets[0]["scope_id"] == key_id and 0 < budgets[0]["spent_usd"] < 1
        report = httpx.get(gateway.url + "/admin/reports", headers=admin)
        assert report.status_code == 200 and "<svg" in report.text and "ml" in report.text
        assert httpx.get(gateway.url + "/admin/reports/spend?by=team", headers=admin).json()["data"][0]["group"] == "ml"
        rotated = httpx.post(gateway.url + f"/admin/keys/{key_id}/rotate", headers=admin).json()["key"]
        assert httpx.delete(gateway.url + f"/admin/keys/{key_id}", headers=admin).status_code == 200
        assert httpx.delete(gateway.url + f"/admin/keys/{key_id}", headers=admin).status_code == 404
        assert rotated != key
    finally:
        gateway.stop()


def test_admin_api_is_off_without_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from router.admin import router
    from router.errors import install_handlers

    monkeypatch.delenv("SWITCHYARD_ADMIN_KEY", raising=False)
    app_ = FastAPI()
    install_handlers(app_)
    app_.include_router(router)
    response = TestClient(app_).get("/admin/keys", headers={"authorization": "Bearer anything"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "admin_disabled"


def test_html_report_names_the_free_tier(tmp_path: Path) -> None:
    """A tier that answers for $0 has no height in a spend chart; the report still names it, and counts its requests."""
    from router.reports import to_html

    url = f"sqlite:///{tmp_path}/free.db"
    ledger = Ledger(url)
    ledger.start()
    now = datetime.now(UTC)
    rows = [LedgerRow(request_id=f"f{i}", tenant="acme", team="ml", status="ok", http_status=200, created_at=now, tier=tier,
                      prompt_tokens=10, completion_tokens=5, cost_nanousd=cost, saved_nanousd=1000)
            for i, (tier, cost) in enumerate([("local", 0), ("local", 0), ("local", 0), ("frontier", 9000)])]

    async def write() -> None:
        await asyncio.gather(*[ledger.record(r) for r in rows])

    asyncio.run(write())
    ledger.close()
    reader = Ledger(url)
    page = to_html(reader.engine, "team", None, None)
    reader.close()
    assert "local ($0, free)" in page and "<td>local (free)</td><td>3</td><td>75.0%</td>" in page


def test_csv_cells_a_spreadsheet_would_run_are_quoted_and_numbers_are_not() -> None:
    from router.reports import SpendRow, csv_cell, to_csv

    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert [csv_cell(v) for v in ("+1+cmd", "@SUM(A1)", "-x", "team-a", "-0.25", -3, "1e-9")] == [
        "'+1+cmd", "'@SUM(A1)", "'-x", "team-a", "-0.25", -3, "1e-9"
    ]
    text = to_csv([SpendRow("=cmd()", 1, 2, 3, 0.5, -0.25, 0)])
    assert "'=cmd()" in text and ",-0.25," in text
