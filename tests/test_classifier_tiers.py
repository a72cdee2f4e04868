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
