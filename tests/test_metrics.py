"""Invariants of the routing metrics: random ~ 0.5 APGR, oracle is the maximum, CPT is sane."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval_harness.metrics import (
    apgr,
    cpt,
    oracle_route_scores,
    pgr_at_share,
    pgr_curve,
    routing_summary,
    threshold_for_quality,
    threshold_for_share,
)


def _labels(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binary correctness with roughly the MMLU data's mix (weak 68%, strong 81%)."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(4, size=n, p=[0.63, 0.18, 0.14, 0.05])  # both, strong-only, none, weak-only
    weak = np.isin(kind, [0, 3]).astype(float)
    strong = np.isin(kind, [0, 1]).astype(float)
    return weak, strong


def test_curve_endpoints_and_shape() -> None:
    weak, strong = _labels()
    shares, pgr = pgr_curve(np.random.default_rng(1).random(len(weak)), weak, strong)
    assert shares[0] == 0.0 and shares[-1] == 1.0
    assert len(shares) == len(weak) + 1
    assert pgr[0] == pytest.approx(0.0)
    assert pgr[-1] == pytest.approx(1.0)


def test_constant_router_is_exactly_random() -> None:
    weak, strong = _labels()
    assert apgr(np.zeros(len(weak)), weak, strong) == pytest.approx(0.5)
    assert cpt(np.zeros(len(weak)), weak, strong, 0.5) == pytest.approx(0.5)
    assert cpt(np.ones(len(weak)), weak, strong, 0.8) == pytest.approx(0.8)


def test_random_router_about_half() -> None:
    weak, strong = _labels(n=5000)
    rng = np.random.default_rng(7)
    values = [apgr(rng.random(len(weak)), weak, strong) for _ in range(20)]
    assert abs(float(np.mean(values)) - 0.5) < 0.02


def test_oracle_is_maximum() -> None:
    weak, strong = _labels()
    rng = np.random.default_rng(3)
    best = apgr(oracle_route_scores(weak, strong), weak, strong)
    noisy = oracle_route_scores(weak, strong) + rng.normal(0, 0.5, len(weak))
    assert best > apgr(noisy, weak, strong) > 0.5
    for _ in range(10):
        assert apgr(rng.random(len(weak)), weak, strong) < best
    assert apgr(-oracle_route_scores(weak, strong), weak, strong) < 0.5
    # The oracle recovers half the gap with the fewest strong calls.
    assert cpt(oracle_route_scores(weak, strong), weak, strong, 0.5) < 0.2


def test_hand_computed_example() -> None:
    # Items: gains +1, 0, +1, -1 (total gap 1). Routing by score order 0,2,1,3.
    weak = np.array([0.0, 1.0, 0.0, 1.0])
    strong = np.array([1.0, 1.0, 1.0, 0.0])
    route = np.array([0.9, 0.5, 0.8, 0.1])
    shares, pgr = pgr_curve(route, weak, strong)
    np.testing.assert_allclose(shares, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(pgr, [0, 1, 2, 2, 1])
    # Trapezoid: 0.25 * (0.5 + 1.5 + 2 + 1.5) = 1.375
    assert apgr(route, weak, strong) == pytest.approx(1.375)
    assert cpt(route, weak, strong, 0.5) == pytest.approx(0.125)
    assert cpt(route, weak, strong, 0.8) == pytest.approx(0.2)
    assert math.isnan(cpt(route, weak, strong, 2.5))
    assert pgr_at_share(route, weak, strong, 0.125) == pytest.approx(0.5)


def test_ties_are_order_independent() -> None:
    weak, strong = _labels(n=500)
    route = np.round(np.random.default_rng(5).random(len(weak)), 1)  # many ties
    perm = np.random.default_rng(6).permutation(len(weak))
    assert apgr(route, weak, strong) == pytest.approx(apgr(route[perm], weak[perm], strong[perm]))


def test_graded_scores_and_invariance_to_monotone_transform() -> None:
    rng = np.random.default_rng(11)
    weak = rng.random(300) * 0.8
    strong = np.clip(weak + rng.normal(0.1, 0.2, 300), 0, 1)
    route = rng.normal(size=300) + (strong - weak)
    assert apgr(route, weak, strong) == pytest.approx(apgr(np.exp(route), weak, strong))


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        pgr_curve([0.1, 0.2], [1.0, 1.0], [0.0, 1.0])  # strong not better
    with pytest.raises(ValueError):
        pgr_curve([0.1], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError):
        pgr_curve([], [], [])
    with pytest.raises(ValueError):
        apgr([np.nan, 0.1], [0.0, 0.0], [1.0, 1.0])


def test_summary_keys() -> None:
    weak, strong = _labels()
    out = routing_summary(oracle_route_scores(weak, strong), weak, strong)
    assert {"apgr", "cpt50", "cpt80", "quality_weak", "quality_strong"} <= set(out)
    assert out["quality_strong"] > out["quality_weak"]


def test_threshold_for_share() -> None:
    route = np.arange(100, dtype=float)
    t = threshold_for_share(route, 0.3)
    assert np.mean(route >= t) == pytest.approx(0.3)
    assert threshold_for_share(route, 0.0) == math.inf
    assert np.mean(route >= threshold_for_share(route, 1.0)) == 1.0


def test_threshold_for_quality() -> None:
    weak, strong = _labels()
    route = oracle_route_scores(weak, strong) + np.random.default_rng(2).normal(0, 0.3, len(weak))
    t, share = threshold_for_quality(route, weak, strong, 0.95)
    routed = np.where(route >= t, strong, weak)
    assert routed.mean() >= 0.95 * strong.mean() - 1e-12
    assert np.mean(route >= t) == pytest.approx(share)
    # Weak alone is above 50% of strong quality: no strong calls needed.
    assert threshold_for_quality(route, weak, strong, 0.5) == (math.inf, 0.0)
