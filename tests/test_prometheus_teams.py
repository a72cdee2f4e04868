"""Per-team Prometheus series stay bounded, and the Grafana dashboard only asks for series the gateway exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from router.cli import app as cli
from router.metrics import Metrics
from tests.faulty_upstream import FaultyUpstream
from tests.servers import ROOT, Process, start_gateway

DASHBOARD = ROOT / "deploy" / "grafana" / "switchyard-dashboard.json"
POLICY = """
version: 1
name: metrics
tiers:
  cheap:
    engine: openai
    model: cheap
    upstream_model: cheap
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
routing: {{classifier: rules}}
cache: {{exact: true, semantic: false}}
"""
TENANTS = ("acme", "globex", "initech")


def _series(text: str, family: str) -> list[dict[str, str]]:
    return [s.labels for f in text_string_to_metric_families(text) if f.name == family for s in f.samples if s.name.endswith("_total")]


def test_ten_thousand_tenants_keep_the_series_bounded() -> None:
    metrics = Metrics(max_teams=50)
    for i in range(10_000):
        metrics.recorded(f"tenant-{i}", f"team-{i % 7}", "cheap", "ok", 0.001)
    text = metrics.render().decode()
    requests = _series(text, "switchyard_team_requests")
    spend = _series(text, "switchyard_team_cost_usd")
    assert len(requests) == len(spend) == 51  # 50 first-come pairs + other/other
    assert {"tenant": "other", "team": "other", "tier": "cheap", "status": "ok"} in requests
    other = next(s for f in text_string_to_metric_families(text) if f.name == "switchyard_team_requests"
                 for s in f.samples if s.labels.get("tenant") == "other")
    assert other.value == 10_000 - 50  # nothing is lost, only folded
    # A kept pair keeps its label after the cap is reached.
    metrics.recorded("tenant-0", "team-0", "cheap", "ok", 0.001)
    assert len(_series(metrics.render().decode(), "switchyard_team_requests")) == 51


def test_a_tenant_named_other_cannot_take_the_overflow_label() -> None:
    metrics = Metrics(max_teams=1)
    assert metrics.team_labels("other", "other") == ("other", "other")
    assert metrics.team_labels("acme", "ml") == ("acme", "ml")  # the slot was not spent on 'other'


@pytest.fixture(scope="module")
def gw(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("prom")
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url))
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db", "SWITCHYARD_METRICS_MAX_TEAMS": "2"}
    keys = []
    for tenant in TENANTS:
        created = CliRunner().invoke(cli, ["keys", "create", "--tenant", tenant, "--team", "ml", "--json"], env=env)
        assert created.exit_code == 0, created.output
        keys.append(json.loads(created.output)["key"])
    server = start_gateway(policy, work, env=env)
    server.keys = keys  # type: ignore[attr-defined]
    try:
        for key in keys:
            for _ in range(2):  # the second is an exact-cache hit
                body = {"model": "cheap", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
                r = httpx.post(server.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)
                assert r.status_code == 200, r.text
        yield server
    finally:
        server.stop()


def test_gateway_labels_spend_and_requests_by_team_with_the_cap(gw: Process) -> None:
    text = httpx.get(gw.url + "/metrics").text
    requests = _series(text, "switchyard_team_requests")
    pairs = {(s["tenant"], s["team"]) for s in requests}
    assert pairs == {("acme", "ml"), ("globex", "ml"), ("other", "other")}  # cap 2: the third tenant folds
    spend = {(s["tenant"], s["team"]) for s in _series(text, "switchyard_team_cost_usd")}
    assert spend == pairs


def _exported_names(text: str) -> set[str]:
    """Every series name a query may use: histograms' _bucket/_sum/_count, counters' _total and _created."""
    names = set()
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}.get(family.type, ("",))
        names.update(family.name + s for s in suffixes)
    return names


def test_dashboard_is_valid_and_uses_only_exported_metrics(gw: Process) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    used = {name for expr in exprs for name in re.findall(r"\bswitchyard_[a-z0-9_]+", expr)}
    exported = _exported_names(httpx.get(gw.url + "/metrics").text)
    assert used, "the dashboard asks for no switchyard metric"
    assert used <= exported, f"the dashboard asks for series the gateway does not export: {sorted(used - exported)}"
    # Each panel the task names is there.
    for wanted in ("switchyard_team_cost_usd_total", "switchyard_requests_total", "switchyard_request_latency_seconds_bucket",
                   "switchyard_circuit_state", "switchyard_cache_saved_usd_total"):
        assert wanted in used
    for expr in exprs:
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
