"""Routing metrics in the literature's terms, for one weak/strong model pair (pure numpy).

Definitions (RouteLLM, Ong et al. 2025), with a router that sends the requests with the highest
route scores to the strong model:

- PGR (performance gap recovered) at a share ``c`` of strong calls:
  ``(quality_router(c) - quality_weak) / (quality_strong - quality_weak)``.
- APGR: area under PGR as the strong-call share goes from 0 to 1 (trapezoid rule).
- CPT(x): the smallest strong-call share whose PGR reaches ``x`` (linear interpolation).

The curve is evaluated at every share ``k / n``. Requests with *tied* route scores are treated as
one block whose gain accrues linearly across the block: that is the expectation under random
tie-breaking, so a constant router scores exactly 0.5 APGR and results never depend on the input
order. Scores may be binary correctness or graded qualities in [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "apgr",
    "cpt",
    "oracle_route_scores",
    "pgr_at_share",
    "pgr_curve",
    "routing_summary",
    "threshold_for_quality",
    "threshold_for_share",
]


def _as_1d(name: str, values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _validate(
    route_scores: ArrayLike, weak_scores: ArrayLike, strong_scores: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    r = _as_1d("route_scores", route_scores)
    w = _as_1d("weak_scores", weak_scores)
    s = _as_1d("strong_scores", strong_scores)
    if not (len(r) == len(w) == len(s)):
        raise ValueError(f"length mismatch: route={len(r)} weak={len(w)} strong={len(s)}")
    if len(r) == 0:
        raise ValueError("need at least one request")
    return r, w, s


def _cumulative_gain(route: NDArray[np.float64], gain: NDArray[np.float64]) -> NDArray[np.float64]:
    """Total gain (strong - weak) after routing the top-k requests, for k = 0..n, tie-aware."""
    n = len(route)
    # Stable sort on the negated score keeps this deterministic; ties are averaged below anyway.
    order = np.argsort(-route, kind="stable")
    sorted_route = route[order]
    cum = np.concatenate([[0.0], np.cumsum(gain[order])])
    # Tie blocks: [start, end) ranges of equal scores in sorted order.
    is_start = np.ones(n, dtype=bool)
    is_start[1:] = sorted_route[1:] != sorted_route[:-1]
    starts = np.flatnonzero(is_start)
    ends = np.append(starts[1:], n)
    # For each k in 0..n, the block that the k-th routed request falls in (k=0 -> first block).
    block_of_k = np.searchsorted(starts, np.arange(n + 1), side="right") - 1
    block_of_k[0] = 0
    bs = starts[block_of_k]
    be = ends[block_of_k]
    frac = (np.arange(n + 1) - bs) / (be - bs)
    return cum[bs] + frac * (cum[be] - cum[bs])


def pgr_curve(route_scores: ArrayLike, weak_scores: ArrayLike, strong_scores: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """PGR at every strong-call share ``k/n`` (k = 0..n); returns ``(shares, pgr)``.

    ``route_scores``: higher means "send to the strong model". Raises ``ValueError`` when the
    strong model is not better than the weak one on this data (PGR is undefined then).
    """
    r, w, s = _validate(route_scores, weak_scores, strong_scores)
    total_gap = float(np.sum(s) - np.sum(w))
    if total_gap <= 0:
        raise ValueError(f"strong model is not better than the weak one on this data (gap {total_gap:.4g}); PGR is undefined")
    n = len(r)
    shares = np.arange(n + 1, dtype=np.float64) / n
    return shares, _cumulative_gain(r, s - w) / total_gap


def _trapezoid(y: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


def apgr(route_scores: ArrayLike, weak_scores: ArrayLike, strong_scores: ArrayLike) -> float:
    """Area under the PGR curve over strong-call shares 0..1 (trapezoid). Random router ~ 0.5."""
    shares, pgr = pgr_curve(route_scores, weak_scores, strong_scores)
    return _trapezoid(pgr, shares)


def cpt(route_scores: ArrayLike, weak_scores: ArrayLike, strong_scores: ArrayLike, x: float) -> float:
    """Smallest strong-call share whose PGR reaches ``x`` (e.g. 0.5 for CPT(50%)).

    ``x`` is a fraction, not a percentage (PGR itself can exceed 1, so 50 would be ambiguous).
    Linearly interpolated between the two curve points around the crossing. Returns NaN when
    the curve never reaches ``x``.
    """
    shares, pgr = pgr_curve(route_scores, weak_scores, strong_scores)
    return _first_crossing(shares, pgr, float(x))


def _first_crossing(shares: NDArray[np.float64], pgr: NDArray[np.float64], target: float) -> float:
    hits = np.flatnonzero(pgr >= target)
    if len(hits) == 0:
        return math.nan
    k = int(hits[0])
    if k == 0:
        return 0.0
    p0, p1 = pgr[k - 1], pgr[k]
    s0, s1 = shares[k - 1], shares[k]
    return float(s0 + (target - p0) / (p1 - p0) * (s1 - s0))


def pgr_at_share(route_scores: ArrayLike, weak_scores: ArrayLike, strong_scores: ArrayLike, share: float) -> float:
    """PGR when a fraction ``share`` of requests goes to the strong model (interpolated)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError("share must be in [0, 1]")
    shares, pgr = pgr_curve(route_scores, weak_scores, strong_scores)
    return float(np.interp(share, shares, pgr))


def oracle_route_scores(weak_scores: ArrayLike, strong_scores: ArrayLike) -> NDArray[np.float64]:
    """Route scores of the oracle router (knows the answers): the per-request gain."""
    return _as_1d("strong_scores", strong_scores) - _as_1d("weak_scores", weak_scores)


def routing_summary(route_scores: ArrayLike, weak_scores: ArrayLike, strong_scores: ArrayLike) -> dict[str, float]:
    """APGR, CPT(50%), CPT(80%) and the weak/strong qualities, for reports."""
    r, w, s = _validate(route_scores, weak_scores, strong_scores)
    shares, pgr = pgr_curve(r, w, s)
    return {
        "n": float(len(r)),
        "quality_weak": float(np.mean(w)),
        "quality_strong": float(np.mean(s)),
        "apgr": _trapezoid(pgr, shares),
        "cpt50": _first_crossing(shares, pgr, 0.5),
        "cpt80": _first_crossing(shares, pgr, 0.8),
        "pgr_at_30pct": float(np.interp(0.3, shares, pgr)),
    }


def threshold_for_share(route_scores: ArrayLike, share: float) -> float:
    """Threshold ``t`` such that routing ``score >= t`` to the strong model sends about ``share``.

    Returns ``+inf`` for share 0 (never strong) and the minimum score for share 1. With ties the
    achieved share can exceed the target by the size of the tie block at the boundary.
    """
    r = _as_1d("route_scores", route_scores)
    if not 0.0 <= share <= 1.0:
        raise ValueError("share must be in [0, 1]")
    k = round(share * len(r))
    if k == 0:
        return math.inf
    return float(np.sort(r)[::-1][k - 1])


def threshold_for_quality(
    route_scores: ArrayLike,
    weak_scores: ArrayLike,
    strong_scores: ArrayLike,
    target_fraction: float,
) -> tuple[float, float]:
    """Highest threshold whose routed quality is >= ``target_fraction`` x the strong model's.

    Highest threshold = fewest strong calls. Only thresholds at observed score values are
    considered (a request is routed when ``score >= t``), so tie blocks move together.
    Returns ``(threshold, achieved_strong_share)``; ``(+inf, 0.0)`` when the weak model alone
    already meets the target, and the lowest score (everything to strong) when nothing does.
    """
    r, w, s = _validate(route_scores, weak_scores, strong_scores)
    n = len(r)
    target = target_fraction * float(np.mean(s))
    order = np.argsort(-r, kind="stable")
    sorted_r = r[order]
    quality = (np.sum(w) + np.concatenate([[0.0], np.cumsum((s - w)[order])])) / n
    if quality[0] >= target:
        return math.inf, 0.0
    # Valid cut points are block ends (k where the next score differs, or k = n).
    k_all = np.arange(1, n + 1)
    block_end = np.ones(n, dtype=bool)
    block_end[:-1] = sorted_r[1:] != sorted_r[:-1]
    ok = block_end & (quality[1:] >= target)
    if not np.any(ok):
        return float(sorted_r[-1]), 1.0
    k = int(k_all[ok][0])
    return float(sorted_r[k - 1]), k / n
