"""Label coverage: how many requests carry a score for each model a replay needs.

A replay can only score the requests labeled for every model it compares, so a weak judge that
leaves most answers ungraded silently shrinks the evaluated set to the easy ones (issue #14: 1 of
40 requests replayed, exit 0). Coverage is therefore the first line of every report, and
``eval run`` and ``switchyard learn`` refuse to report below ``--min-coverage``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, computed_field

from eval_harness.traffic import TrafficColumns

DEFAULT_MIN_COVERAGE = 0.8


class ModelCoverage(BaseModel):
    model: str
    labeled: int
    total: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def share(self) -> float:
        return self.labeled / self.total if self.total else 0.0


class Coverage(BaseModel):
    """Per model: requests with a score / all requests; ``complete``: requests scored for every model."""

    models: list[ModelCoverage]
    complete: int
    total: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def share(self) -> float:
        """The share a replay actually evaluates (scored for every model at once)."""
        return self.complete / self.total if self.total else 0.0

    def line(self) -> str:
        per_model = ", ".join(f"{m.model} {m.labeled:,}/{m.total:,} ({m.share:.1%})" for m in self.models)
        return f"Coverage: {self.complete:,}/{self.total:,} requests labeled for every model ({self.share:.1%}); {per_model}"

    def refusal(self, minimum: float) -> str | None:
        """Why the figures must not be reported at ``minimum`` coverage; None when coverage suffices."""
        if self.total and self.share >= minimum:
            return None
        low = [m for m in self.models if m.share < minimum]
        who = ", ".join(f"{m.model} {m.share:.1%}" for m in low) or "no single model, but few requests are scored for all at once"
        return (
            f"label coverage {self.share:.1%} is below the minimum {minimum:.0%} ({who}): the figures would describe only the "
            "requests that could be graded. Label more (a reference, feedback, or a stronger judge), or lower --min-coverage "
            "knowingly."
        )


def coverage(traffic: TrafficColumns, models: Sequence[str]) -> Coverage:
    cols = [traffic.column(m) for m in models]
    labeled = ~np.isnan(traffic.scores[:, cols]) if cols else np.ones((traffic.n, 0), dtype=bool)
    return Coverage(
        models=[ModelCoverage(model=m, labeled=int(labeled[:, j].sum()), total=traffic.n) for j, m in enumerate(models)],
        complete=int(labeled.all(axis=1).sum()),
        total=traffic.n,
    )
