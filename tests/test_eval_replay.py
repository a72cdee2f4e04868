from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from classifiers.base import Prediction
from eval_harness import metrics
from eval_harness.bootstrap import BlockCurve, Resampler
from eval_harness.replay import (
    ReplaySpec,
    decide_vectorized,
    evaluate,
    fill_usage,
    policy_assignment,
    predictions_to_columns,
    replay,
)
from eval_harness.traffic import TrafficColumns, load_columns
from policies.decide import decide
from policies.schema import Policy

MMLU = Path(__file__).resolve().parents[2] / "shared/data/routing/mmlu-train.jsonl"
WEAK, STRONG = "mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"
needs_mmlu = pytest.mark.skipif(not MMLU.is_file(), reason=f"shared routing data not found at {MMLU}")


@pytest.fixture(scope="module")
def mmlu() -> TrafficColumns:
    if not MMLU.is_file():
        pytest.skip(f"shared routing data not found at {MMLU}")
    return load_columns(MMLU)


@pytest.fixture(scope="module")
def mmlu_raw() -> tuple[np.ndarray, np.ndarray]:
    """The two models' correctness read with plain json, independently of eval_harness.traffic."""
    if not MMLU.is_file():
        pytest.skip(f"shared routing data not found at {MMLU}")
    with MMLU.open(encoding="utf-8") as handle:  # not splitlines(): prompts contain U+2028
        rows = [json.loads(line) for line in handle if line.strip()]
    return np.array([r["scores"][WEAK] for r in rows]), np.array([r["scores"][STRONG] for r in rows])


@pytest.fixture(scope="module")
def pair_report(mmlu: TrafficColumns):
    return replay(mmlu, ReplaySpec(weak=WEAK, strong=STRONG, classifier="rules", n_boot=200, seed=3))


def _by_name(report, name: str):
    return next(e for e in report.entries if e.name == name)


def _oracle_apgr(w: np.ndarray, s: np.ndarray) -> float:
    """Closed form for 0/1 scores: strong-only wins first (PGR rises), ties (flat), weak-only wins last (falls to 1)."""
    n, a, b = len(w), float(np.sum(s > w)), float(np.sum(w > s))
    gap = a - b
    top = a / gap
    return (a / n) * top / 2 + ((n - a - b) / n) * top + (b / n) * (top + 1.0) / 2


@needs_mmlu
def test_reference_routers_on_mmlu(pair_report, mmlu_raw) -> None:
    w, s = mmlu_raw
    weak, strong = _by_name(pair_report, "always-weak"), _by_name(pair_report, "always-strong")
    assert weak.quality == pytest.approx(w.mean(), abs=1e-12)
    assert strong.quality == pytest.approx(s.mean(), abs=1e-12)
    assert strong.quality_retained == pytest.approx(1.0)
    assert weak.quality_retained == pytest.approx(w.mean() / s.mean())
    assert weak.tiers[0].share == 1.0 and strong.tiers[1].share == 1.0

    rnd, oracle, clf = (_by_name(pair_report, n) for n in ("random", "oracle", "classifier@0.5"))
    # Random route scores: APGR 0.5 in expectation; its spread over seeds here is ~0.01.
    assert abs(rnd.pair.apgr - 0.5) < 0.04
    assert oracle.pair.apgr == pytest.approx(_oracle_apgr(w, s), abs=1e-9)
    assert oracle.pair.apgr > 1.0  # PGR overshoots 1: the oracle avoids the strong model's misses
    assert oracle.pair.apgr >= clf.pair.apgr >= rnd.pair.apgr - 0.05
    # Random and oracle run at the classifier's strong share; at equal share the oracle is best.
    assert rnd.pair.strong_share == pytest.approx(clf.pair.strong_share, abs=1 / len(w))
    assert oracle.quality >= clf.quality and oracle.quality >= rnd.quality
    # The curves end at the two models' qualities.
    assert clf.curve.quality[0] == pytest.approx(w.mean()) and clf.curve.quality[-1] == pytest.approx(s.mean())
    assert pair_report.oracle_curve.quality[-1] == pytest.approx(s.mean())
    assert max(pair_report.oracle_curve.quality) > s.mean()


@needs_mmlu
def test_intervals_bracket_the_estimates(pair_report) -> None:
    for e in pair_report.entries:
        assert e.quality_ci.low <= e.quality <= e.quality_ci.high
        assert e.cost_per_1k_ci.low <= e.cost_per_1k <= e.cost_per_1k_ci.high
        assert 0 < e.quality_ci.high - e.quality_ci.low < 0.05
        if e.pair and e.pair.apgr is not None:
            assert e.pair.apgr_ci.low <= e.pair.apgr <= e.pair.apgr_ci.high


@needs_mmlu
def test_costs_use_tier_prices_and_estimates(pair_report, mmlu: TrafficColumns) -> None:
    # Every model's usage is missing in this data: prompts are chars/4, completions the 256 default.
    strong = _by_name(pair_report, "always-strong")
    chars = mmlu.text_chars[mmlu.prompt_index]
    expected = sum((Decimal(max(1, (int(c) + 3) // 4)) * Decimal(10) + Decimal(256) * Decimal(30)) / Decimal(1_000_000) for c in chars)
    assert strong.cost_usd == pytest.approx(float(expected), rel=1e-9)
    assert "estimated at 256 tokens" in pair_report.token_usage[STRONG]


def _policy(routing: dict, tiers: dict | None = None) -> Policy:
    base = {
        "cheap": {"engine": "openai", "model": "cheap-m", "quality_prior": 0.4, "prices": {"input_per_mtok": 0.1, "output_per_mtok": 0.1}},
        "mid": {
            "engine": "openai",
            "model": "mid-m",
            "quality_model": WEAK,
            "quality_prior": 0.7,
            "prices": {"input_per_mtok": 1, "output_per_mtok": 2},
        },
        "mid2": {"engine": "openai", "model": "mid2-m", "quality_prior": 0.7, "prices": {"input_per_mtok": 1, "output_per_mtok": 2}},
        "top": {"engine": "openai", "model": STRONG, "quality_prior": 0.9, "prices": {"input_per_mtok": 10, "output_per_mtok": 30}},
    }
    return Policy.model_validate({"name": "p", "tiers": tiers or base, "routing": routing})


def test_vectorised_decide_equals_decide_row_by_row() -> None:
    rng = random.Random(7)
    predictions = []
    for i in range(600):
        quality = {}
        # 0.7499999999: decide rounds predictions to 6 places, so this meets a 0.75 target there
        # and the vectorised form must agree (mid vs the equally priced mid2 at 0.76 tells).
        if i % 3:
            quality[WEAK] = rng.choice([rng.random(), 0.7499999999])
        if i % 4 == 0:
            quality[STRONG] = rng.choice([rng.random(), 0.75, 0.5])
        if i % 5 == 0 or i % 7 == 0:
            quality["mid2-m"] = rng.choice([rng.random(), 0.76])
        difficulty = rng.choice([rng.random(), 0.0, 1.0, 0.3, 0.8])
        predictions.append(Prediction(quality=quality, difficulty=difficulty))
    cols = predictions_to_columns(predictions)
    policies = [
        _policy({"thresholds": {"mid": 0.3, "top": 0.8}}),
        _policy({"thresholds": {"top": 0.5}}),
        _policy({"thresholds": {"cheap": 0.9, "mid2": 0.2}}),
        _policy({"thresholds": {}}),
        _policy({"quality_target": 0.75}),
        _policy({"quality_target": 0.5}),
        _policy({"quality_target": 0.99}),
        _policy({}),  # decide's default target
    ]
    enabled_sets = [["cheap", "mid", "mid2", "top"], ["cheap", "top"], ["mid", "mid2"], ["top"]]
    checked = 0
    for policy in policies:
        for enabled in enabled_sets:
            tiers, chosen = decide_vectorized(policy, cols.difficulty, cols.quality, enabled)
            for i, prediction in enumerate(predictions):
                assert tiers[chosen[i]] == decide(policy, prediction, enabled).tier, (policy.routing, enabled, prediction)
                checked += 1
    assert checked == len(policies) * len(enabled_sets) * len(predictions)


@needs_mmlu
def test_replayed_policy_matches_decide_on_mmlu_prompts(mmlu: TrafficColumns) -> None:
    from classifiers.rules import LengthRuleClassifier

    policy = _policy({"thresholds": {"top": 0.25}, "classifier": "rules", "long_prompt_words": 120})
    sample = mmlu.take(np.arange(0, mmlu.n, 37))
    clf = LengthRuleClassifier(120)
    preds = predictions_to_columns(clf.predict(sample.texts))
    assignment = policy_assignment(policy, sample, preds)
    # cheap/mid2 map to no model in the traffic; mid maps through its quality_model.
    assert [o.tier for o in assignment.options] == ["mid", "top"]
    assert any("cheap left out" in n for n in assignment.notes)
    for i in range(sample.n):
        text = sample.texts[sample.prompt_index[i]]
        expected = decide(policy, clf.predict([text])[0], ["mid", "top"]).tier
        assert assignment.options[assignment.choice[i]].tier == expected


def _expand(groups_rows: list[np.ndarray], mult: np.ndarray) -> np.ndarray:
    return np.concatenate([np.tile(rows, int(k)) for rows, k in zip(groups_rows, mult, strict=True) if k])


@needs_mmlu
@pytest.mark.parametrize("router", ["rules", "random", "oracle"])
def test_batched_bootstrap_metrics_equal_metrics_module(mmlu: TrafficColumns, router: str) -> None:
    from classifiers.rules import LengthRuleClassifier

    w, s = mmlu.scores[:, mmlu.column(WEAK)], mmlu.scores[:, mmlu.column(STRONG)]
    if router == "rules":
        route = np.array([p.difficulty for p in LengthRuleClassifier(200).predict(mmlu.texts)])[mmlu.prompt_index]
    elif router == "random":
        route = np.random.default_rng(0).random(mmlu.n)
    else:
        route = metrics.oracle_route_scores(w, s)
    resampler = Resampler(mmlu.prompt_index, n_boot=3, seed=11)
    block = BlockCurve.build(resampler, route, s - w)
    identity = np.ones((resampler.n_groups, 1), dtype=np.float32)
    area, cpts = block.stats(identity, (0.5, 0.8))
    ref = metrics.routing_summary(route, w, s)
    assert area[0] == pytest.approx(ref["apgr"], abs=1e-9)
    assert cpts[0, 0] == pytest.approx(ref["cpt50"], abs=1e-9)
    assert cpts[0, 1] == pytest.approx(ref["cpt80"], abs=1e-9)
    # A real resample equals metrics on the explicitly resampled requests.
    groups_rows = [np.flatnonzero(resampler.inverse == g) for g in range(resampler.n_groups)]
    mult = next(resampler.chunks())
    area, cpts = block.stats(np.ascontiguousarray(mult.T, dtype=np.float32), (0.5, 0.8))
    for b in range(len(mult)):
        rows = _expand(groups_rows, mult[b])
        ref = metrics.routing_summary(route[rows], w[rows], s[rows])
        assert area[b] == pytest.approx(ref["apgr"], abs=1e-6)
        assert cpts[b, 0] == pytest.approx(ref["cpt50"], abs=1e-6)
        assert cpts[b, 1] == pytest.approx(ref["cpt80"], abs=1e-6)


def test_usage_estimates_and_logged_usage_cost(tmp_path: Path) -> None:
    rows = [
        {
            "id": "1",
            "messages": [{"role": "user", "content": "x" * 40}],
            "scores": {"a": 1, "b": 1},
            "usage": {"a": {"prompt_tokens": 100, "completion_tokens": 10}, "b": {"prompt_tokens": 100, "completion_tokens": 30}},
        },
        {
            "id": "2",
            "messages": [{"role": "user", "content": "y" * 81}],
            "scores": {"a": 0, "b": 1},
            "usage": {"a": {"prompt_tokens": 50, "completion_tokens": 20}},
        },
        {"id": "3", "messages": [{"role": "user", "content": "z" * 8}], "scores": {"a": 0, "b": 0}},
    ]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    cols = load_columns(path)
    usage = fill_usage(cols, default_completion_tokens=99)
    np.testing.assert_array_equal(usage.prompt_tokens[:, 0], [100, 50, 2])  # 8 chars -> 2 tokens
    np.testing.assert_array_equal(usage.prompt_tokens[:, 1], [100, 21, 2])  # 81 chars -> 21 tokens
    np.testing.assert_array_equal(usage.completion_tokens[:, 0], [10, 20, 15])  # median of a's logged
    np.testing.assert_array_equal(usage.completion_tokens[:, 1], [30, 30, 30])  # median of b's one logged
    policy = Policy.model_validate(
        {
            "tiers": {
                "ta": {"engine": "openai", "model": "a", "prices": {"input_per_mtok": "0.5", "output_per_mtok": "1.5"}},
                "tb": {"engine": "openai", "model": "b", "prices": {"input_per_mtok": "3", "output_per_mtok": "15"}},
            },
            "routing": {"thresholds": {"tb": 0.5}},
        }
    )
    preds = predictions_to_columns([Prediction({}, d) for d in (0.9, 0.1, 0.6)])
    (result,) = evaluate([policy_assignment(policy, cols, preds)], cols, usage, n_boot=0)
    # Rows 1 and 3 go to tb, row 2 to ta: the exact Decimal cost from Tier.cost.
    expected = policy.tiers["tb"].cost(100, 30) + policy.tiers["ta"].cost(50, 20) + policy.tiers["tb"].cost(2, 30)
    assert result.cost_usd == pytest.approx(float(expected), rel=1e-12)
    assert [t.share for t in result.tiers] == pytest.approx([1 / 3, 2 / 3])
    assert result.quality == pytest.approx(1 / 3)  # b:1, a:0, b:0
    assert result.best_tier == "tb" and result.best_quality == pytest.approx(2 / 3)
    assert result.quality_retained == pytest.approx(0.5)


def test_classifier_loading_says_which_was_used(tmp_path: Path) -> None:
    import importlib.util

    from classifiers.rules import LengthRuleClassifier
    from eval_harness.replay import load_classifier

    clf, why = load_classifier("rules", 100)
    assert isinstance(clf, LengthRuleClassifier) and clf.long_words == 100 and why == "length rule (asked for rules)"
    # An artifact that cannot load falls back to the rule, and says why.
    clf, why = load_classifier(str(tmp_path / "missing-artifact"), 100)
    assert isinstance(clf, LengthRuleClassifier)
    if importlib.util.find_spec("classifiers.trained") is None:
        assert why.startswith("length rule (trained classifier unavailable")
    else:
        assert why.startswith("length rule (artifact") and "did not load" in why
    clf, why = load_classifier("default", 100)
    assert why.startswith("trained classifier") != isinstance(clf, LengthRuleClassifier)


@needs_mmlu
def test_trained_classifier_curve_lies_above_random(mmlu: TrafficColumns) -> None:
    # The bundled artifact was fitted on this file, so this is in-sample; held-out figures come
    # from `switchyard train`'s cross-validation (README). What it shows: the trained classifier is
    # the one the harness loads, and its curve stays above the random router's at every share.
    report = replay(mmlu, ReplaySpec(weak=WEAK, strong=STRONG, classifier="default", n_boot=50, seed=1))
    clf, rnd = next(e for e in report.entries if e.kind == "classifier"), _by_name(report, "random")
    assert "trained" in clf.classifier.lower()
    assert clf.pair.apgr > 0.6 > rnd.pair.apgr
    shares, quality = np.array(clf.curve.share), np.array(clf.curve.quality)
    weak, strong = quality[0], quality[-1]
    random_line = weak + shares * (strong - weak)  # the random router's expected quality at each share
    inside = (shares > 0.05) & (shares < 0.95)
    assert np.all(quality[inside] > random_line[inside])
