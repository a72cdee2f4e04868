"""Baselines every routing report shows (best fixed tier, cost-matched random, kNN), each checked
against a plain recomputation, and the report's verdict on whether a router beats them."""

from __future__ import annotations

import numpy as np
import pytest

from eval_harness import baselines
from eval_harness.replay import ReplaySpec, default_threshold, replay
from eval_harness.traffic import TrafficRecord, load_columns
from policies.loader import load_policy


def test_knn_scores_equal_a_brute_force_loop() -> None:
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(60, 8)), rng.normal(size=(25, 8))
    gain = rng.random(60)
    got = baselines.knn_route_scores(train, gain, test, k=7)
    for i, q in enumerate(test):
        sims = [float(q @ t / np.linalg.norm(q) / np.linalg.norm(t)) for t in train]
        nearest = sorted(range(60), key=lambda j: -sims[j])[:7]
        assert got[i] == pytest.approx(np.mean(gain[nearest]))


def test_crossfit_never_uses_a_prompts_own_label() -> None:
    # Each prompt's only near neighbour is itself; with its own label hidden the score is the others' mean.
    emb = np.eye(10)
    gain = np.arange(10, dtype=float)
    scores = baselines.crossfit_knn_route_scores(emb, gain, folds=10, k=1)
    assert not np.any(scores == gain)


def test_cost_matched_random_spends_the_budget_and_no_more() -> None:
    rng = np.random.default_rng(3)
    cw, cs = np.full(200, 0.1), rng.uniform(1.0, 3.0, 200)
    budget = 50.0
    choice = baselines.cost_matched_random_choice(cw, cs, budget, np.random.default_rng(1))
    spent = float(np.sum((cs - cw)[choice == 1]))
    assert spent <= budget
    assert budget - spent < float(np.max(cs - cw))  # one more request would have gone over
    assert baselines.best_fixed_tier(np.array([[0.2, 0.9, 0.5], [0.4, 0.7, 0.9]])) == 1


def _topic_traffic(n_per_topic: int = 60) -> list[TrafficRecord]:
    """Two task families: proofs (only the strong model solves them) and greetings (both do).
    Prompt length says nothing about the family, so the length rule ranks at random while kNN on
    embeddings separates them: a router built to be worse than kNN."""
    rng = np.random.default_rng(5)
    records = []
    for i in range(n_per_topic):
        for topic, weak, strong in (
            ("prove that the integral of this polynomial series converges", 0.0, 1.0),
            ("say hello to my friend", 1.0, 1.0),
        ):
            filler = " please" * int(rng.integers(0, 40))
            records.append(
                TrafficRecord(
                    id=f"{topic[:5]}-{i}",
                    messages=[{"role": "user", "content": f"{topic} number {i}{filler}"}],
                    scores={"weak-m": weak, "strong-m": strong},
                )
            )
    return records


def test_report_shows_baselines_and_says_the_length_rule_loses_to_knn() -> None:
    report = replay(
        load_columns(_topic_traffic()), ReplaySpec(weak="weak-m", strong="strong-m", classifier="rules", threshold=0.05, n_boot=0)
    )
    by_kind = {e.kind: e for e in report.entries}
    assert {"best-tier", "random-cost", "knn"} <= set(by_kind)
    assert by_kind["best-tier"].quality == 1.0  # the strong model solves everything here
    router = by_kind["classifier"]
    # kNN ranks the two families perfectly (the oracle's APGR); the length rule about at random.
    assert by_kind["knn"].pair.apgr == pytest.approx(by_kind["oracle"].pair.apgr)
    assert router.pair.apgr < 0.6
    assert any(n.startswith("does NOT beat kNN") for n in router.notes), router.notes
    # The cost-matched random router spends no more than the router over always-weak.
    weak_cost = by_kind["always-weak"].cost_usd
    assert by_kind["random-cost"].cost_usd - weak_cost <= router.cost_usd - weak_cost + 1e-12


def test_bare_classifier_default_threshold_is_the_shipped_policys() -> None:
    assert default_threshold("rules") == 0.5
    thresholds = load_policy().routing.thresholds
    assert default_threshold("default") == max(thresholds.values()) != 0.5
