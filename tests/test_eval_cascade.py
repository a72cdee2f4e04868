"""Cascade policies in the eval harness: the traffic's confidence field, export of cascade rows, replay."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from eval_harness.cli import eval_app
from eval_harness.replay import (
    CascadeStages,
    ReplaySpec,
    cascade_curve,
    cascade_stops,
    fill_usage,
    replay,
)
from eval_harness.traffic import TrafficColumns, TrafficError, TrafficRecord, iter_records, load_columns
from policies.schema import Policy

CHEAP_PRICES = {"input_per_mtok": 1, "output_per_mtok": 2}
MID_PRICES = {"input_per_mtok": 3, "output_per_mtok": 6}
STRONG_PRICES = {"input_per_mtok": 10, "output_per_mtok": 30}


def _row(i: int, scores: dict[str, float], usage: dict[str, tuple[int, int]], confidence: dict[str, float] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"r{i}",
        "messages": [{"role": "user", "content": f"question {i}"}],
        "scores": scores,
        "usage": {m: {"prompt_tokens": p, "completion_tokens": c} for m, (p, c) in usage.items()},
    }
    if confidence is not None:
        row["confidence"] = confidence
    return row


# Four requests, by hand. At min_confidence 0.8: r0 and r2 are settled by the cheap model, r1
# (0.5) escalates, r3 (no confidence logged) escalates.
HAND = [
    _row(0, {"c": 1, "s": 1}, {"c": (100, 10), "s": (100, 20)}, {"c": 0.9}),
    _row(1, {"c": 0, "s": 1}, {"c": (200, 20), "s": (200, 40)}, {"c": 0.5}),
    _row(2, {"c": 0, "s": 1}, {"c": (50, 5), "s": (50, 10)}, {"c": 0.95}),
    _row(3, {"c": 1, "s": 0}, {"c": (80, 8), "s": (80, 16)}),
]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _policy(stages: list[str], min_confidence: float, **extra_tiers: dict[str, Any]) -> Policy:
    tiers = {
        "cheap": {"engine": "openai", "model": "c", "prices": CHEAP_PRICES},
        "mid": {"engine": "openai", "model": "m", "prices": MID_PRICES},
        "strong": {"engine": "openai", "model": "s", "prices": STRONG_PRICES},
        **extra_tiers,
    }
    return Policy.model_validate(
        {"name": "casc", "tiers": tiers, "routing": {"classifier": "rules", "cascade": {"tiers": stages, "min_confidence": min_confidence}}}
    )


def _hand_cost(policy: Policy, calls: list[tuple[str, int, int]]) -> float:
    return float(sum((policy.tiers[t].cost(p, c) for t, p, c in calls), Decimal(0)))


# --------------------------------------------------------------------------- the traffic field


def test_confidence_loads_as_a_nan_filled_matrix(tmp_path: Path) -> None:
    cols = load_columns(_write(tmp_path / "t.jsonl", HAND))
    assert cols.models == ["c", "s"]
    np.testing.assert_array_equal(cols.confidence[:, 0], [0.9, 0.5, 0.95, np.nan])
    assert np.isnan(cols.confidence[:, 1]).all()
    np.testing.assert_array_equal(cols.take(np.array([2, 2, 0])).confidence[:, 0], [0.95, 0.95, 0.9])
    # Round trip: the field survives a write and a read.
    record = TrafficRecord.model_validate(HAND[0])
    assert record.confidence == {"c": 0.9}
    assert json.loads(record.model_dump_json())["confidence"] == {"c": 0.9}


def test_columns_built_without_confidence_are_all_nan() -> None:
    # bench/replay_scale.py and other callers construct columns without the field.
    cols = TrafficColumns(
        ids=np.array(["a"], dtype=object),
        models=["c", "s"],
        scores=np.ones((1, 2)),
        prompt_tokens=np.ones((1, 2)),
        completion_tokens=np.ones((1, 2)),
        prompt_index=np.zeros(1, dtype=np.int64),
        texts=["q"],
        text_chars=np.ones(1, dtype=np.int64),
    )
    assert cols.confidence.shape == (1, 2) and np.isnan(cols.confidence).all()


@pytest.mark.parametrize("value", [1.5, -0.1, math.inf, math.nan])
def test_confidence_out_of_range_is_rejected_naming_the_model(value: float) -> None:
    with pytest.raises(ValueError, match=r"confidence for 'cheap-m' must be within \[0, 1\]"):
        TrafficRecord.model_validate({"id": "x", "messages": [{"role": "user", "content": "q"}], "confidence": {"cheap-m": value}})


def test_confidence_errors_name_the_line(tmp_path: Path) -> None:
    bad = {"id": "x", "messages": [{"role": "user", "content": "q"}], "confidence": {"c": 2}}
    src = _write(tmp_path / "bad.jsonl", [HAND[0], bad])
    with pytest.raises(TrafficError) as info:
        list(iter_records(src))
    assert info.value.line == 2
    assert "confidence for 'c' must be within [0, 1], got 2" in str(info.value)


# --------------------------------------------------------------------------- the core


def test_cascade_stops_walks_the_stages() -> None:
    nan = np.nan
    conf = np.array([[0.9, 0.1, nan], [0.2, 0.7, nan], [0.2, 0.3, nan], [nan, 0.9, nan], [0.6, nan, nan], [0.6, 0.6, 0.99]])
    assert cascade_stops(conf, 0.6).tolist() == [0, 1, 2, 1, 0, 0]
    assert cascade_stops(conf, 0.65).tolist() == [0, 1, 2, 1, 2, 2]
    # The last stage's confidence is never read: its answer is final.
    assert cascade_stops(conf, 1.0).tolist() == [2, 2, 2, 2, 2, 2]
    # Missing confidence escalates even at 0, as live (an answer without logprobs is not confident).
    assert cascade_stops(conf, 0.0).tolist() == [0, 0, 0, 1, 0, 0]


def test_two_stage_cascade_by_hand(tmp_path: Path) -> None:
    policy = _policy(["cheap", "strong"], 0.8)
    traffic = load_columns(_write(tmp_path / "t.jsonl", HAND))
    report = replay(traffic, ReplaySpec(policies=[("casc", policy)], baselines=False, n_boot=0))
    (entry,) = report.entries
    assert entry.quality == pytest.approx(0.5)  # r0: c=1, r1: s=1, r2: c=0, r3: s=0
    calls = [("cheap", 100, 10), ("cheap", 200, 20), ("strong", 200, 40), ("cheap", 50, 5), ("cheap", 80, 8), ("strong", 80, 16)]
    assert entry.cost_usd == pytest.approx(_hand_cost(policy, calls), rel=1e-12)
    assert entry.cost_per_1k == pytest.approx(_hand_cost(policy, calls) / 4 * 1000, rel=1e-12)
    assert [t.share for t in entry.tiers] == [0.5, 0.5]
    # What each tier was paid: the cheap one by every request, the strong one by the two escalated.
    assert entry.tiers[0].cost_usd == pytest.approx(_hand_cost(policy, [c for c in calls if c[0] == "cheap"]))
    assert entry.tiers[1].cost_usd == pytest.approx(_hand_cost(policy, [c for c in calls if c[0] == "strong"]))
    assert entry.cascade is not None
    assert entry.cascade.escalation_rate == 0.5 and entry.cascade.called == [1.0, 0.5]
    assert entry.cascade.missing_confidence == [0.25]
    assert entry.best_tier == "strong" and entry.best_quality == pytest.approx(0.75)
    assert entry.quality_retained == pytest.approx(0.5 / 0.75)
    assert entry.classifier.startswith("cascade cheap > strong")
    assert any("1 of 4 requests have no confidence logged for c" in n for n in entry.notes)
    # The pair metrics rank by 1 - confidence: r3 (none) first, then r1 (0.5), r0 (0.9), r2 (0.95).
    assert entry.pair is not None and entry.pair.strong_share == 0.5
    assert entry.curve is not None and entry.curve.min_confidence is not None


def test_three_stage_cascade_by_hand(tmp_path: Path) -> None:
    rows = [
        _row(0, {"c": 0, "m": 1, "s": 1}, {"c": (10, 1), "m": (10, 2), "s": (10, 3)}, {"c": 0.3, "m": 0.8}),  # stops at m
        _row(1, {"c": 1, "m": 0, "s": 0}, {"c": (20, 1), "m": (20, 2), "s": (20, 3)}, {"c": 0.7, "m": 0.9}),  # stops at c
        _row(2, {"c": 0, "m": 0, "s": 1}, {"c": (30, 1), "m": (30, 2), "s": (30, 3)}, {"c": 0.1, "m": 0.2}),  # goes to s
        _row(3, {"c": 0, "m": 0, "s": 1}, {"c": (40, 1), "m": (40, 2), "s": (40, 3)}, {"c": 0.1}),  # m has none: s
    ]
    policy = _policy(["cheap", "mid", "strong"], 0.6)
    report = replay(load_columns(_write(tmp_path / "t.jsonl", rows)), ReplaySpec(policies=[("casc", policy)], n_boot=0))
    entry = report.entries[0]
    assert entry.quality == pytest.approx(1.0)
    calls = [
        ("cheap", 10, 1), ("mid", 10, 2),
        ("cheap", 20, 1),
        ("cheap", 30, 1), ("mid", 30, 2), ("strong", 30, 3),
        ("cheap", 40, 1), ("mid", 40, 2), ("strong", 40, 3),
    ]  # fmt: skip
    assert entry.cost_usd == pytest.approx(_hand_cost(policy, calls), rel=1e-12)
    assert [t.share for t in entry.tiers] == [0.25, 0.25, 0.5]
    assert entry.cascade is not None and entry.cascade.called == [1.0, 0.75, 0.5]
    assert entry.pair is None  # three stages: no single weak/strong pair to rank between


def _random_traffic(n: int, seed: int, confidence: bool = True) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        conf = float(rng.random())
        # Informative signal: the cheap model is right more often when it is confident.
        cheap_right = float(rng.random() < conf)
        rows.append(
            _row(
                i,
                {"c": cheap_right, "s": float(rng.random() < 0.8)},
                {m: (int(rng.integers(10, 500)), int(rng.integers(1, 300))) for m in ("c", "s")},
                {"c": round(conf, 3)} if confidence else None,
            )
        )
    return rows


def _stage_costs(traffic: TrafficColumns) -> tuple[np.ndarray, np.ndarray]:
    usage = fill_usage(traffic)
    c, s = traffic.column("c"), traffic.column("s")
    cheap = usage.prompt_tokens[:, c] * 1 + usage.completion_tokens[:, c] * 2
    strong = usage.prompt_tokens[:, s] * 10 + usage.completion_tokens[:, s] * 30
    return cheap / 1e6, strong / 1e6


def test_threshold_zero_is_the_cheap_model_and_no_confidence_is_both(tmp_path: Path) -> None:
    traffic = load_columns(_write(tmp_path / "t.jsonl", _random_traffic(300, 1)))
    cheap_cost, strong_cost = _stage_costs(traffic)
    prices = [(1.0, 2.0), (10.0, 30.0)]
    (zero,) = cascade_curve(traffic, ["c", "s"], prices, [0.0])
    assert zero.quality == pytest.approx(np.mean(traffic.scores[:, 0]))
    assert zero.cost_usd == pytest.approx(cheap_cost.sum(), rel=1e-12)
    assert zero.escalation_rate == 0.0 and zero.answered == (1.0, 0.0)

    blind = load_columns(_write(tmp_path / "blind.jsonl", _random_traffic(300, 1, confidence=False)))
    points = cascade_curve(blind, ["c", "s"], prices, [0.0, 0.5, 1.0])
    for p in points:
        assert p.quality == pytest.approx(np.mean(blind.scores[:, 1]))
        assert p.cost_usd == pytest.approx((cheap_cost + strong_cost).sum(), rel=1e-12)
        assert p.escalation_rate == 1.0 and p.called == (1.0, 1.0)


def test_escalation_rises_with_the_threshold_and_replay_agrees_with_the_curve(tmp_path: Path) -> None:
    traffic = load_columns(_write(tmp_path / "t.jsonl", _random_traffic(400, 2)))
    thresholds = np.linspace(0.0, 1.0, 41).tolist()
    points = cascade_curve(traffic, ["c", "s"], [(1.0, 2.0), (10.0, 30.0)], thresholds)
    rates = [p.escalation_rate for p in points]
    costs = [p.cost_usd for p in points]
    assert all(b >= a for a, b in itertools.pairwise(rates))
    assert all(b >= a - 1e-15 for a, b in itertools.pairwise(costs))  # every escalation adds a strong call
    assert rates[0] == 0.0 and rates[-1] > 0.99
    assert len(set(rates)) > 10  # the sweep actually moves
    # Exactly the requests below the threshold escalate.
    conf = traffic.confidence[:, 0]
    for t, p in zip(thresholds, points, strict=True):
        assert p.escalation_rate == pytest.approx(np.mean(conf < t))

    # The policy's replay is the curve's point at its min_confidence: one implementation.
    policy = _policy(["cheap", "strong"], 0.6)
    entry = replay(traffic, ReplaySpec(policies=[("casc", policy)], n_boot=100, baselines=False)).entries[0]
    (at,) = cascade_curve(traffic, ["c", "s"], [(1.0, 2.0), (10.0, 30.0)], [0.6])
    assert entry.quality == pytest.approx(at.quality) and entry.cost_usd == pytest.approx(at.cost_usd)
    assert entry.cascade is not None and entry.cascade.escalation_rate == pytest.approx(at.escalation_rate)
    assert entry.quality_retained == pytest.approx(at.quality_retained)
    assert entry.quality_ci is not None and entry.quality_ci.low <= entry.quality <= entry.quality_ci.high
    ci = entry.cascade.escalation_rate_ci
    assert ci is not None and ci.low <= entry.cascade.escalation_rate <= ci.high
    # An informative signal ranks the strong model's wins first: APGR above random's 0.5.
    assert entry.pair is not None and entry.pair.apgr is not None and entry.pair.apgr > 0.55


def test_cascade_curve_rejects_bad_arguments(tmp_path: Path) -> None:
    traffic = load_columns(_write(tmp_path / "t.jsonl", HAND))
    with pytest.raises(ValueError, match="at least two stages"):
        cascade_curve(traffic, ["c"], [(1.0, 1.0)], [0.5])
    with pytest.raises(ValueError, match="2 models but 1 prices"):
        cascade_curve(traffic, ["c", "s"], [(1.0, 1.0)], [0.5])
    with pytest.raises(ValueError, match="within"):
        cascade_curve(traffic, ["c", "s"], [(1.0, 1.0)] * 2, [1.5])
    with pytest.raises(KeyError, match="'nope' is not in the traffic"):
        cascade_curve(traffic, ["c", "nope"], [(1.0, 1.0)] * 2, [0.5])


def test_requests_without_a_stage_score_are_left_out(tmp_path: Path) -> None:
    rows = [*HAND, _row(4, {"c": 1}, {"c": (10, 1)}, {"c": 0.99})]
    policy = _policy(["cheap", "strong"], 0.8)
    traffic = load_columns(_write(tmp_path / "t.jsonl", rows))
    report = replay(traffic, ReplaySpec(policies=[("casc", policy)], n_boot=0))
    assert report.rows == 5 and report.evaluated == 4 and report.skipped == 1
    assert report.entries[0].quality == pytest.approx(0.5)
    (point,) = cascade_curve(traffic, ["c", "s"], [(1.0, 2.0), (10.0, 30.0)], [0.8])
    assert point.n == 4 and point.quality == pytest.approx(0.5)


def test_cascade_scored_on_its_stages_only(tmp_path: Path) -> None:
    # "mid" is a tier of the policy but not of the cascade: its missing scores drop no request.
    policy = _policy(["cheap", "strong"], 0.8)
    traffic = load_columns(_write(tmp_path / "t.jsonl", [*HAND, _row(9, {"m": 1}, {})]))
    assert "m" in traffic.models
    report = replay(traffic, ReplaySpec(policies=[("casc", policy)], n_boot=0))
    assert report.skipped == 1  # r9 has no c or s score
    assert [t.tier for t in report.entries[0].tiers] == ["cheap", "strong"]


def test_cascade_with_one_stage_in_the_traffic_is_routed(tmp_path: Path) -> None:
    policy = _policy(["cheap", "mid"], 0.8)  # no "m" in the traffic
    report = replay(load_columns(_write(tmp_path / "t.jsonl", HAND)), ReplaySpec(policies=[("casc", policy)], n_boot=0))
    entry = report.entries[0]
    assert entry.cascade is None
    assert any("replayed as routed by its classifier" in n for n in entry.notes)


def test_stage_costs_cumulate() -> None:
    traffic = TrafficColumns(
        ids=np.array(["a", "b"], dtype=object),
        models=["c", "s"],
        scores=np.array([[1.0, 0.0], [0.0, 1.0]]),
        prompt_tokens=np.array([[1e6, 1e6], [2e6, 2e6]]),
        completion_tokens=np.zeros((2, 2)),
        prompt_index=np.array([0, 1]),
        texts=["a", "b"],
        text_chars=np.array([1, 1]),
        confidence=np.array([[0.9, np.nan], [0.1, np.nan]]),
    )
    from eval_harness.replay import Option

    stages = CascadeStages.build(traffic, fill_usage(traffic), [Option("c", "c", 0, 1.0, 0.0), Option("s", "s", 1, 5.0, 0.0)])
    out = stages.outcome(0.5)
    assert out.stop.tolist() == [0, 1]
    assert out.quality.tolist() == [1.0, 1.0]
    assert out.cost.tolist() == pytest.approx([1.0, 2.0 + 10.0])
    assert stages.paid(out.stop).tolist() == pytest.approx([3.0, 10.0])


# --------------------------------------------------------------------------- export


def _ledger_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "request_id": "req-1",
        "tenant": "t",
        "team": "x",
        "messages": [{"role": "user", "content": "What is 2+2?"}],
        "response": "4",
        "model": "big-m",
        "tier": "strong",
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "created_at": "2024-01-01T00:00:00+00:00",
        "requested_model": "auto",
        "route_score": 0.0,
        "decision": {
            "tier": "strong",
            "reason": "cascade cheap:0.420 > strong:n/a (min confidence 0.6)",
            "cascade": [
                {
                    "tier": "cheap",
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    "confidence": 0.42,
                    "accepted": False,
                },
                {"tier": "strong", "usage": {"prompt_tokens": 20, "completion_tokens": 7}},
            ],
        },
        "cache": "miss",
        "status": "ok",
        "cost_nanousd": 1234,
        "latency_ms": 5.0,
    }
    row.update(overrides)
    return row


def test_export_writes_each_cascade_stage() -> None:
    from router.export import traffic_record

    record = traffic_record(_ledger_row(), {"cheap": "small-m", "strong": "ignored: the row says big-m"})
    # Per-stage usage, not the row's total (30/12 is the sum the ledger charged).
    assert record["usage"] == {
        "small-m": {"prompt_tokens": 10, "completion_tokens": 5},
        "big-m": {"prompt_tokens": 20, "completion_tokens": 7},
    }
    assert record["confidence"] == {"small-m": 0.42}
    assert record["responses"] == {"big-m": "4"}
    parsed = TrafficRecord.model_validate(record)  # the export is valid labeled traffic
    assert parsed.confidence == {"small-m": 0.42}

    # Without a map, an unknown stage keeps its tier name rather than being dropped.
    bare = traffic_record(_ledger_row())
    assert set(bare["usage"]) == {"cheap", "big-m"} and bare["confidence"] == {"cheap": 0.42}

    # A confident first stage: its confidence is written, and there is no second stage.
    settled = _ledger_row(
        tier="cheap",
        model="small-m",
        decision={"cascade": [{"tier": "cheap", "usage": {"prompt_tokens": 9, "completion_tokens": 3}, "confidence": 0.97}]},
    )
    assert traffic_record(settled)["confidence"] == {"small-m": 0.97}

    # Rows that were not cascaded are exported as before.
    plain = traffic_record(_ledger_row(decision={"tier": "strong", "reason": "threshold"}))
    assert plain["usage"] == {"big-m": {"prompt_tokens": 30, "completion_tokens": 12}} and "confidence" not in plain


def test_logs_export_maps_stages_through_the_policy(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from router.cli import app
    from router.ledger import Ledger, LedgerRow

    url = f"sqlite:///{tmp_path}/l.db"
    ledger = Ledger(url)
    ledger.start()
    row = _ledger_row()
    try:
        fields = {k: v for k, v in row.items() if k not in ("created_at",)}
        asyncio.run(ledger.record(LedgerRow(**fields, http_status=200, created_at=datetime.now(UTC))))
    finally:
        ledger.close()
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\ntiers:\n"
        "  cheap: {engine: openai, model: small-m, base_url: 'http://127.0.0.1:9/v1'}\n"
        "  strong: {engine: openai, model: big-m, base_url: 'http://127.0.0.1:9/v1'}\n"
        "routing: {cascade: {tiers: [cheap, strong], min_confidence: 0.6}}\n"
    )
    out = tmp_path / "traffic.jsonl"
    result = CliRunner().invoke(app, ["logs", "export", "--out", str(out), "--policy", str(policy)], env={"SWITCHYARD_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    (record,) = iter_records(out)
    assert record.confidence == {"small-m": 0.42}
    assert set(record.usage) == {"small-m", "big-m"}


# --------------------------------------------------------------------------- the CLI

CLI_POLICY = """
version: 1
name: cascade-{threshold}
tiers:
  cheap:
    engine: openai
    model: c
    base_url: http://127.0.0.1:9/v1
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
  strong:
    engine: openai
    model: s
    base_url: http://127.0.0.1:9/v1
    prices: {{input_per_mtok: 10, output_per_mtok: 30}}
routing:
  classifier: rules
  cascade: {{tiers: [cheap, strong], min_confidence: {threshold}}}
"""


def test_eval_run_replays_a_cascade_policy(tmp_path: Path) -> None:
    data = _write(tmp_path / "t.jsonl", _random_traffic(200, 3))
    policy = tmp_path / "cascade.yaml"
    policy.write_text(CLI_POLICY.format(threshold=0.7))
    html = tmp_path / "report.html"
    run = ["run", "--data", str(data), "--policy", str(policy)]
    result = CliRunner().invoke(eval_app, [*run, "--bootstrap", "50", "--json", "--html", str(html)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    entry = payload["entries"][0]
    assert entry["name"] == "cascade-0.7" and entry["kind"] == "policy"
    assert entry["cascade"]["stages"] == ["cheap", "strong"] and entry["cascade"]["min_confidence"] == 0.7
    assert 0 < entry["cascade"]["escalation_rate"] < 1
    assert entry["quality_ci"]["low"] <= entry["quality"] <= entry["quality_ci"]["high"]
    curve = entry["curve"]
    assert curve["min_confidence"][0] == 0.0 and curve["min_confidence"][-1] == 1.0
    assert len(curve["quality"]) == len(curve["cost_per_1k"]) == len(curve["min_confidence"])
    # Baselines run on the cascade's pair, at its share of strong calls.
    assert [e["name"] for e in payload["entries"]] == ["cascade-0.7", "random", "oracle", "always-weak", "always-strong"]
    page = html.read_text()
    assert 'data-name="cascade-0.7"' in page and "escalated" in page and "min_confidence" in page

    # The quality gate applies to cascades as to routed policies.
    gated = CliRunner().invoke(eval_app, [*run, "--bootstrap", "0", "--min-quality-retained", "1.01"])
    assert gated.exit_code == 1 and "cascade-0.7: retains" in gated.stderr
    table = CliRunner().invoke(eval_app, [*run, "--bootstrap", "0"])
    assert table.exit_code == 0 and "escalated" in table.stdout and "classifier used: cascade cheap > strong" in table.stderr
