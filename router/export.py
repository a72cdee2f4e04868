"""Ledger rows as labeled traffic (the JSONL format in ARCHITECTURE.md), for the eval harness."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from router.ledger import Ledger


def traffic_record(row: dict[str, Any]) -> dict[str, Any]:
    model = row["model"]
    record: dict[str, Any] = {"id": row["request_id"], "tenant": row["tenant"], "messages": row["messages"] or []}
    # Scores stay empty until `switchyard eval label` fills them; user feedback rides in meta.
    record["scores"] = {}
    if model:
        record["usage"] = {model: {"prompt_tokens": row["prompt_tokens"], "completion_tokens": row["completion_tokens"]}}
        if row["response"] is not None:
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
        "decision": row["decision"],
        "cache": row["cache"],
        "status": row["status"],
        "cost_usd": f"{row['cost_nanousd'] / 1e9:.9f}",
        "latency_ms": row["latency_ms"],
    }
    if row.get("feedback") is not None:
        record["meta"]["feedback"] = float(row["feedback"])
    return record


def export(ledger: Ledger, since: datetime | None, until: datetime | None, include_failed: bool = False) -> Iterator[dict[str, Any]]:
    for row in ledger.rows(since, until):
        if not include_failed and row["status"] != "ok":
            continue
        if not row["messages"]:
            continue  # prompts were not stored (policy store_prompts: false): nothing to replay
        yield traffic_record(row)
