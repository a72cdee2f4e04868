"""Prices measured at run time, kept as an overlay on the prices the policy declares.

A vLLM tier priced by its GPUs (policies/vllm.py `Pricing`) costs what its replicas' measured decode
throughput makes of the GPU-hour. That measurement belongs to the running service, not to a policy: it
lives here, in the gateway's long-lived parts that a reload hands on (router/reload.py), so a reload
neither forgets it nor finds it written into the policy it compares the new file with. What is kept is
the throughput, not a price, so a reload that changes a tier's GPU-hour price reprices it from what was
measured. Keyed by tier and model: a tier that now names another model starts from its declared price.
"""

from __future__ import annotations

from policies.schema import Policy
from policies.vllm import reprice


class MeasuredPrices:
    def __init__(self) -> None:
        self._tokens_per_s: dict[tuple[str, str], float] = {}

    def observe(self, tier: str, model: str, tokens_per_s: float | None) -> None:
        """A tier's measured decode throughput per replica; None (not measured long enough yet) keeps the last one."""
        if tokens_per_s is not None and tokens_per_s > 0:
            self._tokens_per_s[(tier, model)] = tokens_per_s

    def tokens_per_s(self, tier: str, model: str) -> float | None:
        return self._tokens_per_s.get((tier, model))

    def priced(self, declared: Policy) -> Policy:
        """`declared` with each measured tier priced from its measurement: a new policy, `declared` itself
        when nothing applies (tiers without GPU pricing, or with `measured: false`, keep their prices)."""
        measured = {name: self._tokens_per_s.get((name, tier.model)) for name, tier in declared.tiers.items()}
        return reprice(declared, {name: tps for name, tps in measured.items() if tps is not None})
