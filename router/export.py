"""Ledger rows as labeled traffic (the JSONL format in ARCHITECTURE.md), for the eval harness."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from router.ledger import Ledger


def _stage_usage(usage: Any) -> dict[str, int] | None:
    if not isinstance(usage, Mapping):
        return None
    # Upstreams add keys (total_tokens, *_details); the traffic format keeps the two that are priced.
    return {"prompt_tokens": int(usage.get("prompt_tokens") or 0), "completion_tokens": int(usage.get("completion_tokens") or 0)}


def _cascade_sections(
    row: dict[str, Any], stages: list[Any], tier_models: Mapping[str, str] | None
) -> tuple[dict[str, dict[str, int]], dict[str, float]]:
    """Per-model usage and confidence of a cascaded request's stages.

    The row's own token counts are the sum over every stage (the ledger charges them all), so for
    a cascade they cannot be filed under the answering model; each stage's usage is. A stage names
    its tier only: the row's own tier/model pair maps the answering stage, ``tier_models`` (from the
    policy) the others, and an unknown tier is kept under its tier name rather than dropped.
    """
    models = dict(tier_models or {})
    if row.get("tier") and row.get("model"):
        models[row["tier"]] = row["model"]
    usage: dict[str, dict[str, int]] = {}
    confidence: dict[str, float] = {}
    for stage in stages:
        if not isinstance(stage, Mapping) or not isinstance(stage.get("tier"), str):
            continue
        model = models.get(stage["tier"], stage["tier"])
        stage_usage = _stage_usage(stage.get("usage"))
        if stage_usage is not None:
            usage[model] = stage_usage
        score = stage.get("confidence")
        if isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score):
            # An upstream reporting a positive logprob would push exp(mean) past 1 and make the file unreadable.
            confidence[model] = min(1.0, max(0.0, float(score)))
    return usage, confidence


def traffic_record(row: dict[str, Any], tier_models: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One ledger row as a labeled-traffic record; ``tier_models`` maps tier names to models for cascade stages."""
    model = row["model"]
    record: dict[str, Any] = {"id": row["request_id"], "tenant": row["tenant"], "messages": row["messages"] or []}
    # Scores stay empty until `switchyard eval label` fills them; user feedback rides in meta.
    record["scores"] = {}
    decision = row["decision"]
    stages = decision.get("cascade") if isinstance(decision, Mapping) else None
    if isinstance(stages, list) and stages:
        usage, confidence = _cascade_sections(row, stages, tier_models)
        if usage:
            record["usage"] = usage
        if confidence:
            # Replay walks the cascade on these: it needs every judged stage's confidence.
            record["confidence"] = confidence
    elif model:
        prompt, completion = row["prompt_tokens"], row["completion_tokens"]
        # Failed attempts billed to the request (router/billing.py) are in the row's totals, not in this model's answer.
        for attempt in (decision.get("billed_attempts") if isinstance(decision, Mapping) else None) or []:
            prompt, completion = prompt - int(attempt.get("prompt_tokens") or 0), completion - int(attempt.get("completion_tokens") or 0)
        record["usage"] = {model: {"prompt_tokens": max(0, prompt), "completion_tokens": max(0, completion)}}
    if model and row["response"] is not None:
        record["responses"] = {model: row["response"]}
    created = row["created_at"]
    record["meta"] = {
        "source": "switchyard",
        "team": row["team"],
        "created_at": created.isoformat() if isinstance(created, datetime) else str(created),
        "requested_model": row["requested_model"],
        "tier": row["tier"],
        "model": model,
        "route_score": row["route_score"],
        "decision": decision,
        "cache": row["cache"],
        "status": row["status"],
        "cost_usd": f"{row['cost_nanousd'] / 1e9:.9f}",
        "latency_ms": row["latency_ms"],
    }
    if row.get("feedback") is not None:
        record["meta"]["feedback"] = float(row["feedback"])
    return record


def export(
    ledger: Ledger,
    since: datetime | None,
    until: datetime | None,
    include_failed: bool = False,
    tier_models: Mapping[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows as traffic records. ``tier_models`` (tier -> model, from the policy) names cascade stages' models.

    Each row's own tier and model update that map as the rows go by (oldest first): what the
    gateway recorded beats a policy file that may since have changed.
    """
    models = dict(tier_models or {})
    for row in ledger.rows(since, until):
        if row["tier"] and row["model"]:
            models[row["tier"]] = row["model"]
        if not include_failed and row["status"] != "ok":
            continue
        if not row["messages"]:
            continue  # prompts were not stored (policy store_prompts: false): nothing to replay
        yield traffic_record(row, models)
