"""The harness's numbers against independent computations (issue #14: the suite used to pass when
the bootstrap reported a 90% interval as 95%, resampled requests instead of distinct prompts, or
mapped a judge's 1-10 rating to rating/10).

Each check recomputes the figure here with plain numpy and no eval_harness code, on data built so
that the wrong version is far off: prompts repeated many times (a request-level bootstrap is
~sqrt(25) = 5x too narrow there), and enough resamples that a 90% interval (0.84x the width) is
well outside the Monte Carlo error (~2% of the width at 4,000 resamples).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from eval_harness import graders, metrics
from eval_harness.label import LabelSpec, _judge_single
from eval_harness.replay import ReplaySpec, replay
from eval_harness.traffic import TrafficRecord, load_columns

WEAK, STRONG = "weak-m", "strong-m"
N_PROMPTS, REPEATS, N_BOOT = 40, 25, 4000


def _traffic() -> tuple[list[TrafficRecord], np.ndarray, np.ndarray, np.ndarray]:
    """40 distinct prompts, each asked 25 times with the same labels (a repeated template)."""
    rng = np.random.default_rng(7)
    weak = (rng.random(N_PROMPTS) < 0.45).astype(float)
    strong = np.maximum(weak, (rng.random(N_PROMPTS) < 0.7).astype(float))
    words = rng.integers(5, 300, N_PROMPTS)
    records = []
    for p in range(N_PROMPTS):
        text = f"question {p}: " + " ".join(["word"] * int(words[p]))
        for r in range(REPEATS):
            records.append(
                TrafficRecord(id=f"{p}-{r}", messages=[{"role": "user", "content": text}], scores={WEAK: weak[p], STRONG: strong[p]})
            )
    return records, weak, strong, words


def _percentiles(samples: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


@pytest.fixture(scope="module")
def report_and_truth():
    records, weak, strong, _ = _traffic()
    report = replay(load_columns(records), ReplaySpec(weak=WEAK, strong=STRONG, classifier="rules", n_boot=N_BOOT, seed=1))
    return report, weak, strong


def test_quality_interval_is_a_95pct_cluster_bootstrap(report_and_truth) -> None:
    report, weak, _ = report_and_truth
    assert report.confidence == 0.95
    entry = next(e for e in report.entries if e.name == "always-weak")
    # Independent: resample the 40 prompts (each carries its 25 identical requests), 95% percentile interval.
    rng = np.random.default_rng(12345)
    draws = rng.integers(0, N_PROMPTS, size=(20000, N_PROMPTS))
    low, high = _percentiles(weak[draws].mean(axis=1))
    width = high - low
    got = entry.quality_ci.high - entry.quality_ci.low
    assert entry.quality == pytest.approx(weak.mean())
    # A request-level bootstrap gives ~width/5, a 90% interval ~0.84 x width: both fail this.
    assert got == pytest.approx(width, rel=0.08), (got, width)
    assert entry.quality_ci.low == pytest.approx(low, abs=0.06 * width)
    assert entry.quality_ci.high == pytest.approx(high, abs=0.06 * width)


def test_apgr_interval_resamples_prompts(report_and_truth) -> None:
    report, weak, strong = report_and_truth
    entry = next(e for e in report.entries if e.kind == "classifier")
    _, _, _, words = _traffic()
    # The length rule ranks by prompt length; recompute its APGR on resampled prompts with metrics.apgr.
    route = words.astype(float)
    rng = np.random.default_rng(99)
    samples = []
    for _ in range(1500):
        idx = rng.integers(0, N_PROMPTS, N_PROMPTS)
        w, s = np.repeat(weak[idx], REPEATS), np.repeat(strong[idx], REPEATS)
        if s.sum() > w.sum():
            samples.append(metrics.apgr(np.repeat(route[idx], REPEATS), w, s))
    low, high = _percentiles(np.array(samples))
    assert entry.pair.apgr == pytest.approx(metrics.apgr(np.repeat(route, REPEATS), np.repeat(weak, REPEATS), np.repeat(strong, REPEATS)))
    got = entry.pair.apgr_ci.high - entry.pair.apgr_ci.low
    assert got == pytest.approx(high - low, rel=0.12), (got, high - low)


@pytest.mark.parametrize("rating", range(1, 11))
def test_judge_rating_maps_to_rating_minus_one_over_nine(rating: int) -> None:
    async def judge(model, messages, max_tokens, temperature):
        return f"Rating: [[{rating}]] because.", {}

    grade = asyncio.run(_judge_single("q?", "a.", None, "judge", LabelSpec(judge="judge"), judge))  # type: ignore[arg-type]
    assert grade.score == pytest.approx((rating - 1) / 9.0)
    assert graders.rating_score(rating) == pytest.approx([0, 1 / 9, 2 / 9, 3 / 9, 4 / 9, 5 / 9, 6 / 9, 7 / 9, 8 / 9, 1][rating - 1])
