"""Predicted quality for a tier with only a handful of labels (a model just added to a policy).

A separate regression on 20 labels is noise. Instead, IRT-style (Rasch): every request has a
difficulty that the well-labeled models already estimate, and each tier has one ability::

    logit P(tier t answers request i well) = logit q_ref(i) + theta_t

``q_ref`` is a well-labeled reference model's predicted quality and ``theta_t`` the new tier's
ability relative to it, the only number fitted: a MAP estimate under a normal prior centred on
0 ("as good as the reference") with ``PRIOR_SD`` logits, so 20 labels move it most of the way and
2 labels barely. Among the references, the one under which the labels are likeliest is kept.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

PRIOR_SD = 1.5  # logits: a new tier is rarely more than ~3 logits from a known one
MIN_OWN_LABELS = 200  # below this many labels a tier is calibrated, not regressed


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def fit_ability(
    ref_logit: NDArray[np.float64], y: NDArray[np.float64], weights: NDArray[np.float64] | None = None, prior_sd: float = PRIOR_SD
) -> tuple[float, float]:
    """MAP ``theta`` for labels ``y`` in [0, 1] given the reference's logits; returns (theta, log-likelihood).

    Newton's method on a strictly concave objective (Bernoulli log-likelihood + normal prior),
    so it converges from 0 in a few steps.
    """
    z = np.asarray(ref_logit, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    theta = 0.0
    for _ in range(50):
        p = _sigmoid(z + theta)
        grad = float(np.sum(w * (y - p))) - theta / prior_sd**2
        hess = -float(np.sum(w * p * (1 - p))) - 1.0 / prior_sd**2
        step = grad / hess
        theta -= step
        if abs(step) < 1e-8:
            break
    p = np.clip(_sigmoid(z + theta), 1e-9, 1 - 1e-9)
    loglik = float(np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p))))
    return theta, loglik


def calibrate_sparse_tiers(
    emb: NDArray[np.float32],
    scores: NDArray[np.float64],
    weights: NDArray[np.float64],
    lr_w: NDArray[np.float64],
    lr_b: NDArray[np.float64],
    prior: NDArray[np.float64],
    base: NDArray[np.float64],
) -> dict[int, dict[str, float]]:
    """Overwrite, in place, the parameters of every model with < MIN_OWN_LABELS labels.

    Each such model becomes its best reference shifted by ``theta`` in logit space: the same
    regression weights with the bias moved, the topic priors and base rate moved alike. Returns
    ``{model index: {"reference": index, "theta": theta, "labels": n}}``.
    """
    counts = (~np.isnan(scores)).sum(axis=0)
    dense = [m for m in range(scores.shape[1]) if counts[m] >= MIN_OWN_LABELS]
    out: dict[int, dict[str, float]] = {}
    if not dense:
        return out
    for m in range(scores.shape[1]):
        if m in dense or counts[m] == 0:
            continue
        rows = ~np.isnan(scores[:, m])
        best: tuple[float, float, int] | None = None
        for r in dense:
            z = emb[rows].astype(np.float64) @ lr_w[r] + lr_b[r]
            theta, loglik = fit_ability(z, scores[rows, m], weights[rows])
            if best is None or loglik > best[1]:
                best = (theta, loglik, r)
        assert best is not None
        theta, _ll, r = best
        lr_w[m], lr_b[m] = lr_w[r], lr_b[r] + theta
        clipped = np.clip(prior[:, r], 1e-6, 1 - 1e-6)
        prior[:, m] = _sigmoid(np.log(clipped / (1 - clipped)) + theta)
        b = float(np.clip(base[r], 1e-6, 1 - 1e-6))
        base[m] = float(_sigmoid(np.array(np.log(b / (1 - b)) + theta)))
        out[m] = {"reference": float(r), "theta": theta, "labels": float(counts[m])}
    return out
