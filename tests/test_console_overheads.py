"""What routing and caching cost besides the answers is in the ledger, and the console's savings are net of it.

A real gateway with in-process fake engines (fixed usage): a cascaded request's row keeps its first
stage's spend apart (`cascade_nanousd`, part of its cost); a routed request's row prices the
classifier's time (`overhead_nanousd`) at the policy's rate, here absurdly high so that any measured
time shows; a pinned request runs neither. The overview and `switchyard report spend` then agree on
the gross saving, the overheads and the net saving.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from policies.loader import load_policy_text
from router.ledger import Ledger
from router.ledger.store import to_nanousd
from tests.servers import ROOT, Process, start_ledger_gateway

ADMIN_KEY = "sy-admin-overheads-test"
POLICY = """
version: 1
name: overheads
tiers:
  mid: {engine: fake, model: mid-m, max_output_tokens: 16, prices: {input_per_mtok: 1000, output_per_mtok: 2000}}
  big: {engine: fake, model: big-m, max_output_tokens: 16, prices: {input_per_mtok: 3000, output_per_mtok: 6000}}
routing:
  classifier: rules
  cascade: {tiers: [mid, big], min_confidence: 0.5}  # the fake engines report no log-probabilities: never confident
cache: {exact: false, semantic: false}
accounting: {compute_usd_per_cpu_hour: 3600000000}  # $1 per CPU-microsecond
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    gw, _ = start_ledger_gateway(tmp_path_factory.mktemp("overheads"), POLICY, ADMIN_KEY)
    yield gw
    gw.stop()


def _rows(gw: Process) -> dict[str, dict[str, Any]]:
    assert gw.database_url
    ledger = Ledger(gw.database_url)
    try:
        return {row["request_id"]: row for row in ledger.rows()}
    finally:
        ledger.close()


def test_overheads_are_recorded_and_savings_are_net_of_them(gateway: Process) -> None:
    gw = gateway
    made = httpx.post(
        gw.url + "/admin/keys", json={"tenant": "acme", "team": "ml"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    )
    assert made.status_code == 201, made.text
    headers = {"Authorization": f"Bearer {made.json()['key']}"}
    ask = [{"role": "user", "content": "Name a prime number."}]
    ids = {}
    with httpx.Client(base_url=gw.url, headers=headers, timeout=30) as client:
        for name, body in (
            ("cascaded", {"model": "auto", "messages": ask}),
            ("routed", {"model": "auto", "messages": ask, "stream": True}),  # a stream is not cascaded: classified
            ("pinned", {"model": "big-m", "messages": ask}),
        ):
            answer = client.post("/v1/chat/completions", json=body)
            assert answer.status_code == 200, answer.text
            ids[name] = answer.headers["x-switchyard-request-id"]
    rows = _rows(gw)
    cascaded, routed, pinned = (rows[ids[name]] for name in ("cascaded", "routed", "pinned"))

    stages = cascaded["decision"]["cascade"]
    assert [s["tier"] for s in stages] == ["mid", "big"]
    mid = load_policy_text(POLICY).tiers["mid"]
    first = to_nanousd(mid.cost(stages[0]["usage"]["prompt_tokens"], stages[0]["usage"]["completion_tokens"]))
    assert first > 0 and cascaded["cascade_nanousd"] == first and cascaded["cost_nanousd"] > first
    assert cascaded["overhead_nanousd"] == 0  # a cascade asks no classifier, and the cache is off
    assert routed["overhead_nanousd"] > 0 and routed["cascade_nanousd"] == 0
    assert pinned["overhead_nanousd"] == 0 and pinned["cascade_nanousd"] == 0

    with httpx.Client(base_url=gw.url, follow_redirects=False, timeout=30) as console:
        assert console.post("/console/login", data={"key": ADMIN_KEY}).status_code == 303
        totals = console.get("/console/api/overview").json()["totals"]
        exported = console.get("/console/api/export.csv").text
    # The CSV lists every overhead the net figure subtracts: they add up to gross less net.
    head, values = [line.split(",") for line in exported.strip().splitlines()[-2:]]
    listed = dict(zip(head, values, strict=True))
    assert set(totals["overheads"]) - {"total_usd"} == {name.removeprefix("overhead_") for name in listed if name.startswith("overhead_")}
    spent = sum(float(v) for name, v in listed.items() if name.startswith("overhead_"))
    assert float(listed["saved_gross_usd"]) - spent == pytest.approx(float(listed["saved_net_usd"]), abs=1e-6)
    answered = [cascaded, routed, pinned]
    compute = sum(r["overhead_nanousd"] for r in answered) / 1e9
    assert totals["overheads"]["cascade_first_stages_usd"] == pytest.approx(first / 1e9, abs=1e-9)
    assert totals["overheads"]["compute_usd"] == pytest.approx(compute, abs=1e-9)
    assert totals["gross_saved_usd"] == pytest.approx(totals["saved_usd"] + first / 1e9, abs=1e-9)
    assert totals["net_saved_usd"] == pytest.approx(totals["saved_usd"] - compute, abs=1e-9)
    assert totals["net_saved_usd"] < totals["gross_saved_usd"]

    env = {"SWITCHYARD_DATABASE_URL": gw.database_url or "", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "router.cli", "report", "spend", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout)["totals"]
    for field in ("requests", "spend_usd", "saved_usd", "gross_saved_usd", "net_saved_usd", "net_saved_pct", "gross_saved_pct"):
        assert report[field] == pytest.approx(totals[field], abs=1e-9), field
    assert report["overheads"] == pytest.approx(totals["overheads"], abs=1e-9)
    table = subprocess.run(
        [sys.executable, "-m", "router.cli", "report", "spend"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=True
    ).stdout
    assert re.search(r"-?\$[0-9.]+ net", table), table
    assert all(what in table for what in ("cascade first stages", "compute", "judge", "labeling answers", "cache audits")), table


def test_the_rate_is_a_policy_setting_with_a_stated_default() -> None:
    policy = load_policy_text(POLICY.replace("accounting: {compute_usd_per_cpu_hour: 3600000000}", ""))
    assert float(policy.accounting.compute_usd_per_cpu_hour) == 0.045
    with pytest.raises(Exception, match="compute_usd_per_cpu_hour"):
        load_policy_text(POLICY.replace("3600000000", "-1"))
