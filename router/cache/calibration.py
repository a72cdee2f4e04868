"""The semantic cache's acceptance rule, calibrated to ``cache.max_false_hit_rate``.

bench/semantic_cache.py --calibrate runs the real index and verifier over the calibration half of
bench/data/semantic_eval.jsonl and the spent red-team sets (its ``SPENT``) and writes, for a grid of
``min_alignment`` values, how many hits the
cache made and how many of them were another prompt's answer (:data:`ARTIFACT`). At startup the
gateway picks, for the operator's bound, the loosest ``min_alignment`` whose one-sided 95%
Clopper-Pearson upper bound on the false-hit share is within it (or, of the rows that made exactly
the same hits as that one, the strictest): a bound on the *interval*, not on
the point estimate, so a lucky calibration run with few hits cannot certify a loose rule. When no
grid value is certified the strictest one is used and the rule is reported as uncertified (the
gateway then keeps the semantic cache off unless the policy turns it on explicitly).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARTIFACT = Path(__file__).with_name("calibration.json")


def _binom_cdf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on a binomial share from k successes in n trials."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    lo, hi = k / n, 1.0
    for _ in range(80):  # bisection to well below any share that matters
        mid = (lo + hi) / 2
        if _binom_cdf(k, n, mid) > 1.0 - confidence:
            lo = mid
        else:
            hi = mid
    return hi


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided exact interval of a binomial share (for reports: with few hits, Wilson's is too narrow)."""
    if n <= 0:
        return 0.0, 1.0
    one_sided = 1.0 - (1.0 - confidence) / 2
    lower = 0.0 if k <= 0 else 1.0 - clopper_pearson_upper(n - k, n, one_sided)  # by symmetry in k and n - k
    return lower, clopper_pearson_upper(k, n, one_sided)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Two-sided 95% Wilson score interval of a share (for reports)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rule:
    min_alignment: float
    certified: bool  # the calibration half's upper bound is within the operator's bound
    hits: int
    false_hits: int
    upper: float  # that upper bound

    def describe(self, bound: float) -> str:
        state = "meets" if self.certified else "does NOT meet"
        return (
            f"alignment >= {self.min_alignment:.2f}: {self.false_hits}/{self.hits} false hits on the calibration data"
            " (the calib half and the spent red-team sets), "
            f"95% upper bound {self.upper:.1%}, {state} max_false_hit_rate {bound:.1%}"
        )


def choose(table: list[dict[str, Any]], bound: float, confidence: float = 0.95) -> Rule:
    """The loosest rule in ``table`` (rows: min_alignment, hits, false_hits) certified for ``bound``."""
    if not table:
        return Rule(1.0, False, 0, 0, 1.0)
    rows = sorted(table, key=lambda r: r["min_alignment"])
    for i, row in enumerate(rows):
        upper = clopper_pearson_upper(int(row["false_hits"]), int(row["hits"]), confidence)
        if row["hits"] > 0 and upper <= bound:
            # Stricter rows that made the very same hits are as useful and safer; the strictest of
            # them (1.0: the same form) also lets a miss skip the embedding.
            for stricter in rows[i + 1 :]:
                if (stricter["hits"], stricter["false_hits"]) != (row["hits"], row["false_hits"]):
                    break
                row = stricter
            return Rule(float(row["min_alignment"]), True, int(row["hits"]), int(row["false_hits"]), upper)
    strict = rows[-1]
    upper = clopper_pearson_upper(int(strict["false_hits"]), int(strict["hits"]), confidence)
    return Rule(float(strict["min_alignment"]), False, int(strict["hits"]), int(strict["false_hits"]), upper)


def load(path: Path = ARTIFACT) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"table": []}


def rule_for(bound: float, path: Path = ARTIFACT) -> Rule:
    return choose(load(path).get("table", []), bound)


def status_line(bound: float, enabled: bool, path: Path = ARTIFACT) -> str:
    """One line for `serve`: the rule in force and whether the held-out measurement supports it."""
    artifact = load(path)
    rule = choose(artifact.get("table", []), bound)
    report = artifact.get("report")
    held = "no held-out measurement recorded"
    if report:
        held = (
            f"held-out report half: {report['false_hits']}/{report['hits']} false hits, 95% upper bound {report['upper']:.1%}, "
            f"{report['good']}/{report['same']} same-meaning prompts hit"
        )
    if enabled:
        return f"semantic cache ON by policy; rule {rule.describe(bound)}; {held}"
    if report and report["upper"] <= bound and report["min_alignment"] == rule.min_alignment:
        # Certified on the team's held-out half, yet off: an independent red-team set found false hits the
        # team's set did not (README, "Semantic cache"), so that figure does not carry to unseen prompts.
        return (
            f"semantic cache off (the default: its rule meets max_false_hit_rate {bound:.1%} on the team's held-out half "
            f"({held}) but not on an independent red-team set; README 'Semantic cache', bench/semantic_cache.py); "
            "set cache.semantic: true to use it anyway"
        )
    return (
        f"semantic cache off (the default until its rule meets max_false_hit_rate {bound:.1%} on held-out data: {held}; "
        "bench/semantic_cache.py); set cache.semantic: true to use it anyway"
    )
