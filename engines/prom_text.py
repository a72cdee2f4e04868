"""Read the numbers a vLLM replica publishes on /metrics (Prometheus text format).

Parsing is prometheus_client's own, so every escaping and exposition rule it knows is honoured.
Samples are summed over their label sets: a replica running data-parallel engines or serving
several model names reports one series per engine, and the balancer wants the replica's total.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

# vLLM renamed some series between releases; each figure lists the names it has gone by,
# newest first, and the first one a replica publishes wins.
RUNNING = ("vllm:num_requests_running",)
WAITING = ("vllm:num_requests_waiting",)
KV_CACHE_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
GENERATION_TOKENS = ("vllm:generation_tokens_total",)
PROMPT_TOKENS = ("vllm:prompt_tokens_total",)
SPEC_DRAFTS = ("vllm:spec_decode_num_drafts_total",)
SPEC_DRAFT_TOKENS = ("vllm:spec_decode_num_draft_tokens_total",)
SPEC_ACCEPTED_TOKENS = ("vllm:spec_decode_num_accepted_tokens_total",)


def parse_samples(text: str) -> dict[str, float]:
    """Sample name -> value summed over label sets; histogram buckets and `_created` are dropped."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            if name.endswith(("_bucket", "_created")):
                continue
            totals[name] = totals.get(name, 0.0) + float(sample.value)
    return totals


def _first(samples: dict[str, float], names: tuple[str, ...]) -> float | None:
    for name in names:
        if name in samples:
            return samples[name]
    return None


@dataclass(frozen=True)
class VLLMSnapshot:
    """One scrape of one replica. `None` means the replica does not publish that series."""

    running: float | None = None
    waiting: float | None = None
    kv_cache_usage: float | None = None
    generation_tokens: float | None = None
    prompt_tokens: float | None = None
    spec_drafts: float | None = None
    spec_draft_tokens: float | None = None
    spec_accepted_tokens: float | None = None

    @classmethod
    def from_text(cls, text: str) -> VLLMSnapshot:
        samples = parse_samples(text)
        return cls(
            running=_first(samples, RUNNING),
            waiting=_first(samples, WAITING),
            kv_cache_usage=_first(samples, KV_CACHE_USAGE),
            generation_tokens=_first(samples, GENERATION_TOKENS),
            prompt_tokens=_first(samples, PROMPT_TOKENS),
            spec_drafts=_first(samples, SPEC_DRAFTS),
            spec_draft_tokens=_first(samples, SPEC_DRAFT_TOKENS),
            spec_accepted_tokens=_first(samples, SPEC_ACCEPTED_TOKENS),
        )
