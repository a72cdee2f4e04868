"""What a request costs and how it is recorded: prompt-token bounds, worst-case holds on budgets,
and the ledger row a request's books (router/books.py) close with."""

from __future__ import annotations

import dataclasses
import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from engines.base import messages_text
from policies.decide import Decision
from router.billing import ESTIMATED, attempts, estimate
from router.gateway import Gateway
from router.ledger.store import LedgerRow, to_nanousd
from router.overhead import spent_nanousd
from router.schemas import ChatRequest

if TYPE_CHECKING:
    from router.books import Outcome, RequestBooks

log = logging.getLogger("switchyard")
PARAMS = {"max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "seed", "user", "stream", "tools", "tool_choice"}


def money(value: Decimal) -> str:
    return f"{value:.8f}"


# Providers bill an image by its size, up to ~1,500 tokens for the largest they accept (OpenAI, Anthropic).
MEDIA_PART_TOKENS = 2048
MAX_REPORTED_TOKENS = 10**9
TEMPLATE_TOKENS_PER_MESSAGE = 8
TEMPLATE_TOKENS = 64


def prompt_token_bound(chat: ChatRequest) -> int:
    """An upper bound on the prompt's tokens: byte-level tokenizers never make more tokens than
    UTF-8 bytes, so every byte an upstream is sent counts: the whole serialised messages (any field a
    client adds travels with them), tools and response_format. Plus what bytes cannot bound: each
    image a provider bills by its pixels (MEDIA_PART_TOKENS), and the chat template's tokens: markers
    around each message, and a default system prompt and generation prompt once (SmolLM2's template
    adds a 15-token system prompt when the request has none: 31 tokens for "Hi").
    tests/security/test_tenancy_auth.py checks it against the bundled model."""
    size = len(orjson.dumps(chat.plain_messages))
    for extra in (chat.tools, chat.response_format):
        if extra is not None:
            size += len(orjson.dumps(extra))
    media = sum(1 for m in chat.messages if isinstance(m.content, list) for part in m.content if part.get("type") == "image_url")
    return size + MEDIA_PART_TOKENS * media + TEMPLATE_TOKENS_PER_MESSAGE * len(chat.messages) + TEMPLATE_TOKENS


def reported_tokens(value: Any) -> int:
    """A token count as an upstream reported it, made safe to price, count and store: an integer
    from 0 to MAX_REPORTED_TOKENS (negative, non-numeric or absurd figures once crashed the row's
    metrics and JSON and lost it). What it costs past the reservation is never charged anyway."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 0
    return int(min(max(value, 0), MAX_REPORTED_TOKENS))


def partial_usage(chat: ChatRequest, pieces: list[str]) -> dict[str, Any]:
    """Usage of a stream that ended before its usage chunk: the prompt estimated, one token a piece."""
    why = "stream ended early: prompt estimated from its text, one token a chunk"
    return estimate(messages_text(chat.plain_messages), len(pieces), why)


def worst_case(gateway: Gateway, chat: ChatRequest, decision: Decision, prompt_bound: int) -> int:
    """What this request could cost at most, on whichever tier of its plan ends up answering."""
    worst = Decimal(0)
    for name in gateway.plan(decision.tier):
        tier = gateway.policy.tiers[name]
        worst = max(worst, tier.cost(prompt_bound, chat.output_limit() or tier.max_output_tokens))
    return to_nanousd(worst)


def ledger_row(gateway: Gateway, books: RequestBooks, outcome: Outcome) -> tuple[Decimal, LedgerRow]:
    """Price the request, count it in the metrics and log line, and build its ledger row.

    The request's earlier calls (cascade stages that did not give the answer) are each priced at
    their own tier and added, so the one row carries everything the request cost; so are the
    request's failed attempts that providers bill (`books.billed`). Usage the gateway estimated
    is listed, with how, in the row's `decision.usage_estimated`; billed attempts in `decision.billed_attempts`.
    """
    tier, usage, status = outcome.tier, outcome.usage, outcome.status
    cached_cost = outcome.cached.cost_nanousd if outcome.cached is not None else None
    prior = [(s.tier, s.usage) for s in books.stages or [] if s.usage is not None and s is not outcome.final]
    staged = len(prior)  # the cascade's stages come first: an overhead of routing, kept apart in the row
    prior += books.billed
    estimated = [u[ESTIMATED] for u in (usage, *(u for _, u in prior)) if u.get(ESTIMATED)]
    prompt, completion = reported_tokens(usage.get("prompt_tokens")), reported_tokens(usage.get("completion_tokens"))
    latency_ms = (time.perf_counter() - books.started) * 1000
    chat, decision = books.chat, books.decision
    cost = saved = Decimal(0)
    model = None
    if tier is not None:
        served = gateway.policy.tiers[tier]
        model = served.model
        # A cache hit costs nothing; what it saved is counted like any other saving.
        cost = Decimal(0) if cached_cost is not None else served.cost(prompt, completion)
        saved = max(Decimal(0), gateway.policy.tiers[gateway.dearest].cost(prompt, completion) - cost)
        metrics = gateway.metrics
        if cached_cost is not None:
            metrics.cache_saved.labels(tier).inc(cached_cost / 1e9)
        metrics.answered(tier, model, status, books.cache, bool(chat and chat.stream), latency_ms / 1000, prompt, completion, float(cost))
    cascade_cost = Decimal(0)
    for i, (stage, stage_usage) in enumerate(prior):
        stage_prompt = reported_tokens(stage_usage.get("prompt_tokens"))
        stage_completion = reported_tokens(stage_usage.get("completion_tokens"))
        stage_cost = gateway.policy.tiers[stage].cost(stage_prompt, stage_completion)
        cost += stage_cost
        cascade_cost += stage_cost if i < staged else 0
        saved = max(Decimal(0), saved - stage_cost)  # against sending the answer's tokens to the dearest tier
        prompt, completion = prompt + stage_prompt, completion + stage_completion
        gateway.metrics.tokens.labels(stage, "prompt").inc(stage_prompt)
        gateway.metrics.tokens.labels(stage, "completion").inc(stage_completion)
        gateway.metrics.cost.labels(stage).inc(float(stage_cost))
    excess = 0
    if books.reserved and to_nanousd(cost) > books.reserved:
        # The upstream reported more than this request's worst case: a lie or a bug, never a cost
        # a budget should carry. Charge the reservation; keep the rest aside for reconciliation.
        excess = to_nanousd(cost) - books.reserved
        cost = Decimal(books.reserved) / Decimal(1_000_000_000)
        gateway.metrics.over_reservation.labels(tier or "none").inc(excess / 1e9)
        log.warning("usage reported beyond the reservation: $%s not charged, kept for reconciliation", Decimal(excess) / 10**9,
                    extra={"request_id": books.request_id, "tenant": books.tenant, "tier": tier})
    if log.isEnabledFor(logging.INFO):
        log.info(
            "chat completion",
            extra={"request_id": books.request_id, "tenant": books.tenant, "tier": tier, "status": status,
                   "http_status": outcome.http_status, "prompt_tokens": prompt, "completion_tokens": completion,
                   "cost_usd": str(cost), "latency_ms": round(latency_ms, 2)},
        )
    # Only a request an engine worked on keeps its prompt and answer: a refused one (any 4xx, a 429,
    # a 5xx before an answer began) would let anyone fill the ledger with megabytes for free.
    store = gateway.policy.store_prompts and books.keep_text and (status in ("ok", "cancelled") or outcome.text is not None)
    row = LedgerRow(
        request_id=books.request_id,
        tenant=books.tenant,
        team=books.team,
        key_id=books.key_id,
        status=status,
        http_status=outcome.http_status,
        requested_model=chat.model if chat else None,
        tier=tier,
        model=model,
        routed=bool(decision and not decision.pinned),
        route_score=decision.route_score if decision else None,
        decision=(
            {"tier": decision.tier, "predicted": decision.predicted, "threshold": decision.threshold,
             "reason": decision.reason, "classifier": decision.classifier,
             **({"reasoning": decision.reasoning} if decision.reasoning is not None else {}),
             **({"cascade": [stage.as_row() for stage in books.stages]} if books.stages is not None else {}),
             **({"usage_estimated": estimated} if estimated else {}),
             **({"billed_attempts": attempts(books.billed)} if books.billed else {})}
            if decision else None
        ),
        fallback_from=decision.tier if decision and tier and tier != decision.tier else None,
        messages=chat.plain_messages if chat and store else None,
        response=outcome.text if store else None,
        params=chat.model_dump(include=PARAMS, exclude_none=True) if chat else None,
        stream=bool(chat and chat.stream),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_nanousd=to_nanousd(cost),
        saved_nanousd=to_nanousd(saved),
        latency_ms=round(latency_ms, 3),
        overhead_ms=books.overhead_ms,
        cache=books.cache,
        error=outcome.error,
        excess_nanousd=excess,
        door=books.door,
        conversation_id=books.conversation,
        step=books.step,
        cascade_nanousd=to_nanousd(cascade_cost),
        overhead_nanousd=spent_nanousd(gateway.policy.accounting.compute_usd_per_cpu_hour),
    )
    if outcome.row:
        row = dataclasses.replace(row, **outcome.row)
    return cost, row
