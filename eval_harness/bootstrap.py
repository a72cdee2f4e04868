"""Vectorised bootstrap for replay: means and weak/strong routing metrics, B resamples at once.

Resampling unit: the distinct prompt (a cluster bootstrap). Logged traffic repeats prompts
(retries, templates, popular questions), and repeats of one prompt share its difficulty, so
resampling single requests would understate the uncertainty; when every prompt is distinct this
is the ordinary bootstrap. Every estimator here sees the *same* resamples (seeded per chunk),
so differences between routers are paired comparisons.

Why the routing metrics are recomputed here rather than by calling ``eval_harness.metrics`` per
resample: those functions take one unweighted array per call and cost ~0.2 s at a million
requests, so 1,000 resamples would take minutes. Requests with equal route scores form a tie
block whose PGR segment is a straight line (that is the metric's tie rule), so a curve is fully
described by per-block counts and gains, and a resample is just new block weights: the whole
bootstrap is a few matrix products. ``tests/test_eval_replay.py`` checks that this agrees with
``metrics.routing_summary`` on unresampled data; the point estimates in reports still come from
``metrics`` itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Cells of a (blocks x resamples) matrix per chunk: ~32 MB a float64 matrix, ~10 alive at once.
_MAX_CELLS = 4_000_000


@dataclass
class Resampler:
    """Draws multiplicities of distinct prompts; ``groups[i]`` is request i's prompt index."""

    groups: NDArray[np.int64]
    n_boot: int
    seed: int = 0

    def __post_init__(self) -> None:
        uniq, inverse = np.unique(self.groups, return_inverse=True)
        self.inverse: NDArray[np.int64] = inverse.astype(np.int64)
        self.n_groups = len(uniq)
        self.sizes: NDArray[np.float64] = np.bincount(self.inverse, minlength=self.n_groups).astype(np.float64)

    def chunk_size(self, width: int) -> int:
        return max(1, min(self.n_boot, _MAX_CELLS // max(width, self.n_groups, 1)))

    def chunks(self, width: int = 0) -> Iterator[NDArray[np.float64]]:
        """Multiplicity matrices (b x groups), chunked; identical for every caller with the same seed.

        Chunk c is drawn from its own seeded generator, so a caller that needs smaller chunks
        (wider block matrices) would see different draws: callers that must agree pass the same
        ``width`` (replay always passes the largest it needs).
        """
        size = self.chunk_size(width)
        u = self.n_groups
        for c, start in enumerate(range(0, self.n_boot, size)):
            b = min(size, self.n_boot - start)
            rng = np.random.default_rng([self.seed, c])
            draws = rng.integers(0, u, size=(b, u))
            flat = (draws + (np.arange(b)[:, None] * u)).ravel()
            yield np.bincount(flat, minlength=b * u).reshape(b, u).astype(np.float64)

    def group_sums(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-prompt sums of per-request values: (n,) -> (groups,), (n, k) -> (groups, k)."""
        if values.ndim == 1:
            return np.bincount(self.inverse, weights=values, minlength=self.n_groups)
        return np.stack(
            [np.bincount(self.inverse, weights=values[:, j], minlength=self.n_groups) for j in range(values.shape[1])],
            axis=1,
        )


@dataclass
class BlockCurve:
    """A route-score ranking reduced to (prompt, tie block) cells for batched PGR curves."""

    cell_group: NDArray[np.int64]
    cell_count: NDArray[np.float64]
    cell_gain: NDArray[np.float64]
    block_starts: NDArray[np.int64]
    n_blocks: int

    @classmethod
    def build(cls, resampler: Resampler, route: NDArray[np.float64], gain: NDArray[np.float64]) -> BlockCurve:
        # Block 0 holds the highest route score: the requests routed to the strong model first.
        _, block = np.unique(-route, return_inverse=True)
        block = block.astype(np.int64)
        n_blocks = int(block.max()) + 1
        key = block * resampler.n_groups + resampler.inverse
        cells, cell_of_row = np.unique(key, return_inverse=True)
        count = np.bincount(cell_of_row, minlength=len(cells)).astype(np.float64)
        gains = np.bincount(cell_of_row, weights=gain, minlength=len(cells))
        cell_block = cells // resampler.n_groups
        # np.unique sorted the keys, so cells are already ordered by block: reduceat needs that.
        starts = np.searchsorted(cell_block, np.arange(n_blocks))
        return cls(cells % resampler.n_groups, count, gains, starts.astype(np.int64), n_blocks)

    def stats(self, multiplicity_t: NDArray[np.float32], targets: Sequence[float]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """APGR (b,) and CPT at each target (b, len(targets)) for a chunk of resamples.

        ``multiplicity_t`` is the chunk transposed (groups x b), float32: gathering contiguous
        rows is ~10x faster than gathering columns, and counts stay exact in float32 below 2**24.
        """
        weights = multiplicity_t[self.cell_group]
        # Cumulate over cells (ordered by block) and read the block ends: cheaper than reduceat
        # when blocks are small, and the cumulative sums are what the curve needs anyway.
        ends = np.append(self.block_starts[1:], len(self.cell_group)) - 1
        cum_counts = np.cumsum(weights * self.cell_count.astype(np.float32)[:, None], axis=0, dtype=np.float64)[ends]
        cum_gains = np.cumsum(weights * self.cell_gain.astype(np.float32)[:, None], axis=0, dtype=np.float64)[ends]
        del weights
        n = cum_counts[-1]
        gap = cum_gains[-1]
        counts = np.diff(cum_counts, axis=0, prepend=0.0)
        gains = np.diff(cum_gains, axis=0, prepend=0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            s_end = cum_counts / n
            p_end = cum_gains / gap
            s_start = s_end - counts / n
            p_start = p_end - gains / gap
            area = np.sum((counts / n) * (p_start + p_end) / 2.0, axis=0)
            cpts = np.full((len(n), len(targets)), np.nan)
            cols = np.arange(len(n))
            for t, x in enumerate(targets):
                hit = p_end >= x
                first = np.argmax(hit, axis=0)
                found = hit[first, cols]
                p0, p1 = p_start[first, cols], p_end[first, cols]
                s0, s1 = s_start[first, cols], s_end[first, cols]
                # Inside a tie block the curve is a line, so the crossing is interpolated on it.
                step = np.where(p1 > p0, (x - p0) / (p1 - p0), 0.0)
                value = np.where(x <= 0.0, 0.0, s0 + np.clip(step, 0.0, 1.0) * (s1 - s0))
                cpts[:, t] = np.where(found, value, np.nan)
        bad = gap <= 0
        area[bad] = np.nan
        cpts[bad] = np.nan
        return area, cpts


def percentile_interval(samples: NDArray[np.float64], confidence: float) -> NDArray[np.float64]:
    """Percentile interval per column of (B, k) samples -> (k, 2); NaN samples are ignored."""
    alpha = (1.0 - confidence) / 2.0
    out = np.full((samples.shape[1], 2), np.nan)
    for j in range(samples.shape[1]):
        col = samples[:, j]
        col = col[np.isfinite(col)]
        if len(col):
            out[j] = np.quantile(col, [alpha, 1.0 - alpha])
    return out
