"""Baseline routers every routing report shows beside the router (issue #14): a router is only
worth shipping if it beats all three on the same requests.

- **best fixed tier**: always the tier with the highest mean quality on the data (no routing);
- **cost-matched random**: each request goes to the strong model at random, in a random order,
  until the extra spend reaches the router's own extra spend over always-weak (so it costs what
  the router costs, whatever the per-request prices);
- **kNN**: the mean strong-minus-weak gain of the k nearest labeled prompts (cosine, on the same
  embeddings the trained classifier uses), cross-fitted so no prompt sees its own label.

Pure numpy on arrays, so ``switchyard train``, ``eval run`` and ``switchyard learn`` share one
implementation; :func:`embed_texts` is the only function that touches a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_K",
    "best_fixed_tier",
    "cost_matched_random_choice",
    "crossfit_knn_route_scores",
    "embed_texts",
    "knn_route_scores",
]

DEFAULT_K = 15


def best_fixed_tier(quality: NDArray[np.float64]) -> int:
    """Column of the (requests x tiers) quality matrix with the highest mean; the first on ties."""
    return int(np.argmax(np.nanmean(quality, axis=0)))


def cost_matched_random_choice(
    cost_weak: NDArray[np.float64], cost_strong: NDArray[np.float64], extra_budget: float, rng: np.random.Generator
) -> NDArray[np.int64]:
    """1 = strong: requests in random order go strong while the extra spend stays within ``extra_budget``.

    ``extra_budget`` is the router's spend minus always-weak's on the same requests. Requests
    whose strong answer is not dearer cost nothing extra and go strong anyway (a random router
    with that budget would).
    """
    n = len(cost_weak)
    extra = np.asarray(cost_strong, dtype=np.float64) - np.asarray(cost_weak, dtype=np.float64)
    order = rng.permutation(n)
    spent = np.cumsum(np.maximum(extra[order], 0.0))
    choice = np.zeros(n, dtype=np.int64)
    choice[order[spent <= extra_budget + 1e-12]] = 1
    return choice


def _unit(x: NDArray[np.floating]) -> NDArray[np.float64]:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def knn_route_scores(
    train_emb: NDArray[np.floating],
    train_gain: NDArray[np.float64],
    test_emb: NDArray[np.floating],
    k: int = DEFAULT_K,
    chunk: int = 2048,
) -> NDArray[np.float64]:
    """Mean gain (strong - weak quality) of each test prompt's ``k`` most cosine-similar train prompts."""
    if len(train_emb) == 0:
        return np.zeros(len(test_emb))
    a, b = _unit(train_emb), _unit(test_emb)
    gain = np.asarray(train_gain, dtype=np.float64)
    k = max(1, min(k, len(a)))
    out = np.empty(len(b))
    for start in range(0, len(b), chunk):
        sims = b[start : start + chunk] @ a.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out[start : start + chunk] = gain[top].mean(axis=1)
    return out


def crossfit_knn_route_scores(
    emb: NDArray[np.floating], gain: NDArray[np.float64], folds: int = 5, k: int = DEFAULT_K, seed: int = 0
) -> NDArray[np.float64]:
    """Out-of-fold kNN scores, one row per distinct prompt: each fold is scored by the others only."""
    n = len(emb)
    fold = np.random.default_rng(seed).permutation(n) % max(2, min(folds, n)) if n > 1 else np.zeros(n, dtype=np.int64)
    out = np.zeros(n)
    for f in np.unique(fold):
        test = fold == f
        out[test] = knn_route_scores(emb[~test], gain[~test], emb[test], k)
    return out


_last: tuple[bytes, NDArray[np.float32]] | None = None


def embed_texts(texts: Sequence[str]) -> NDArray[np.float32]:
    """The shipped router's embeddings (the static MiniLM table): the kNN baseline sees what the router sees.

    The last call's result is kept: replaying several policies (or gates) over one file embeds it
    once (~10k prompts take seconds on 2 cores).
    """
    global _last
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass")).digest()
    if _last is not None and _last[0] == digest:
        return _last[1]
    from classifiers.embed import get_default_embedder

    vectors = get_default_embedder().embed(list(texts))
    _last = (digest, vectors)
    return vectors
