"""A third tier with 20 labels gets a sensible predicted quality (IRT-style calibration), on
synthetic data whose true abilities are known."""

from __future__ import annotations

import numpy as np

from classifiers.tiers import fit_ability
from classifiers.trained import QualityModel, _sigmoid
from classifiers.training import fit_quality_model

# True model: logit P(tier answers request i) = ability[tier] - difficulty(i).
ABILITY = {"weak": -0.5, "mid": 0.5, "strong": 1.5}


def _world(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    direction = np.zeros(16)
    direction[0] = 1.0
    difficulty = 6.0 * emb @ direction
    truth = np.stack([_sigmoid(ABILITY[t] - difficulty) for t in ("weak", "mid", "strong")], axis=1)
    labels = (rng.random(truth.shape) < truth).astype(float)
    return emb, truth, labels


def test_fit_ability_recovers_a_known_shift_and_leans_on_its_prior() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(scale=2.0, size=5000)
    y = (rng.random(5000) < _sigmoid(z - 0.8)).astype(float)
    theta, _ = fit_ability(z, y)
    assert abs(theta - (-0.8)) < 0.2
    assert fit_ability(z[:0], y[:0])[0] == 0.0  # no labels: the prior's centre
    one, _ = fit_ability(z[:2], np.zeros(2))
    assert -2.0 < one < 0.0  # two failures pull it down, not to minus infinity


def test_third_tier_with_20_labels_is_placed_between_the_known_tiers() -> None:
    emb, truth, labels = _world(3000, 0)
    train, test = np.arange(2000), np.arange(2000, 3000)
    scores = labels[train].copy()
    scores[20:, 1] = np.nan  # the new "mid" tier: 20 labels only
    arrays = fit_quality_model(emb[train], scores, np.zeros(len(train), dtype=np.int64), 1)
    q, _ = QualityModel(arrays).quality(emb[test], ["a question"] * len(test))
    mean_pred = q.mean(axis=0)
    mean_true = truth[test].mean(axis=0)
    assert mean_pred[0] < mean_pred[1] < mean_pred[2]
    assert abs(mean_pred[1] - mean_true[1]) < 0.08
    # Per request it inherits the well-labeled tiers' sense of difficulty.
    assert np.corrcoef(q[:, 1], truth[test, 1])[0, 1] > 0.9


def test_quality_target_over_three_tiers_uses_the_middle_tier() -> None:
    """The cheapest tier predicted to meet a target: with a calibrated middle tier, a real share
    of requests stops there instead of escalating to the strong tier."""
    emb, truth, labels = _world(3000, 2)
    scores = labels[:2000].copy()
    scores[20:, 1] = np.nan
    arrays = fit_quality_model(emb[:2000], scores, np.zeros(2000, dtype=np.int64), 1)
    q, _ = QualityModel(arrays).quality(emb[2000:], ["a question"] * 1000)
    target = 0.7
    chosen = np.where(q[:, 0] >= target, 0, np.where(q[:, 1] >= target, 1, 2))
    assert 0.1 < float(np.mean(chosen == 1)) < 0.7
    # Those requests are ones the middle tier really answers at about the target rate.
    assert truth[2000:][chosen == 1, 1].mean() > target - 0.1


# --- bench/routing_three_tiers.py: the pieces its quality-vs-cost table is made of ------------


def test_policy_decision_routes_to_the_cheapest_tier_meeting_the_target() -> None:
    """The benchmark routes through policies.decide with tiers priced by measured cost: the
    cheapest tier predicted to meet the target, else the best predicted (cheaper on a tie)."""
    from bench.routing_three_tiers import policy_for, route_by_target

    tiers = ["mid", "cheap", "top"]  # listed out of cost order: the prices must order them
    policy = policy_for(tiers, np.array([2.0, 1.0, 3.0]))
    q = np.array(
        [
            [0.75, 0.20, 0.90],  # cheap misses 0.7, mid meets it
            [0.10, 0.80, 0.95],  # cheap meets it
            [0.30, 0.20, 0.60],  # none meets it: the best predicted, top
            [0.50, 0.50, 0.40],  # none meets it, mid and cheap tie: the cheaper
        ]
    )
    assert [tiers[i] for i in route_by_target(policy, q, tiers, 0.7)] == ["mid", "cheap", "top", "cheap"]
    assert [tiers[i] for i in route_by_target(policy, q, tiers, 0.05)] == ["cheap"] * 4


def test_random_hull_and_budget_curve() -> None:
    from bench.routing_three_tiers import curve_at, hull_quality

    fixed = [(1.0, 0.2), (2.0, 0.3), (3.0, 0.6)]  # the middle tier lies under the cheap-top chord
    assert hull_quality(1.0, fixed) == 0.2
    assert abs(hull_quality(2.0, fixed) - 0.4) < 1e-12  # half cheap, half top beats the mid tier
    assert abs(hull_quality(2.5, fixed) - 0.5) < 1e-12
    assert hull_quality(5.0, fixed) == 0.6
    points = [(1.2, 0.25), (1.8, 0.45), (2.6, 0.40)]
    assert curve_at(points, 2.0) == 0.45 and curve_at(points, 1.5) == 0.25 and np.isnan(curve_at(points, 1.0))


def test_knn_quality_averages_the_nearest_rows_labeled_for_each_tier() -> None:
    from bench.routing_three_tiers import knn_quality

    emb = np.eye(4, dtype=np.float32)
    y = np.array([[1.0, np.nan], [0.0, 1.0], [1.0, 0.0], [0.0, np.nan]])
    probe = np.array([[0.9, 0.1, 0.0, 0.0]], dtype=np.float32)
    probe /= np.linalg.norm(probe)
    out = knn_quality(emb, y, probe, k=2)
    assert out[0, 0] == 0.5  # rows 0 and 1
    assert out[0, 1] == 0.5  # tier 1 is labeled on rows 1 and 2 only: both taken


def test_operating_points_average_the_seeds_instead_of_picking_the_best() -> None:
    from bench.routing_three_tiers import seed_mean_points

    per = [(0.5, 1.0, 0.2, []), (0.9, 2.0, 0.4, []), (0.5, 1.2, 0.4, []), (0.9, 2.2, 0.2, [])]  # 2 targets x 2 seeds
    assert np.allclose(seed_mean_points(per, 2), [(1.1, 0.3), (2.1, 0.3)])
