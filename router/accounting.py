"""What a request costs and how it is recorded: prompt-token bounds, worst-case holds on budgets,
the per-request state, the ledger row and its commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response

from engines.base import messages_text
from policies.decide import Decision
from router.billing import ESTIMATED, attempts, estimate
from router.cache.responses import CacheControl
from router.errors import APIError
from router.gateway import Gateway, routing_text
from router.ledger.store import LedgerRow, LedgerUnavailable, to_nanousd
from router.schemas import ChatRequest
from router.tenancy.guard import Identity
from router.upstream import engine_request

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


@dataclass
class Call:
    """One chat request on its way through the gateway."""

    request_id: str
    started: float
    headers: dict[str, str]
    tenant: str = "anonymous"
    team: str = "default"
    key_id: str | None = None
    chat: ChatRequest | None = None
    decision: Decision | None = None
    overhead_ms: float | None = None
    identity: Identity | None = None
    reserved: int = 0
    holding: bool = False  # a budget reservation is held until settled or released
    cache: str = "off"  # off, bypass, miss, hit-exact, hit-semantic
    door: str = "chat"  # the API surface the request came through (router/doors/)
    conversation: str | None = None  # which conversation and step of it (router/conversations.py)
    step: int | None = None
    payload: dict[str, Any] | None = None  # the chat body a door translated, when not read from the request
    keep_text: bool = True  # False: the client asked that nothing be stored (Responses' `store: false`)
    cascade: list[dict[str, Any]] | None = None  # the cascade's stages so far, when the request is cascaded
    billed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # failed attempts providers bill (router/billing.py)
    control: CacheControl | None = None
    _embedding: Any = None
    _embedded: bool = False

    def embedding(self, gateway: Gateway) -> Callable[[], Awaitable[Any]]:
        """The request's embedding, computed at most once, when first needed."""

        async def get() -> Any:
            if not self._embedded:
                self._embedded = True
                assert self.chat is not None
                self._embedding = await gateway.embed(routing_text(self.chat.messages))
            return self._embedding

        return get

    async def settle(self, gateway: Gateway, actual: int) -> None:
        if self.holding and self.identity is not None:
            self.holding = False
            await gateway.tenancy.settle(self.identity, self.request_id, actual)

    async def release(self, gateway: Gateway) -> None:
        if self.holding and self.identity is not None:
            self.holding = False
            await gateway.tenancy.release(self.identity, self.request_id)


def finish(
    gateway: Gateway,
    call: Call,
    tier: str | None,
    usage: dict[str, Any],
    *,
    status: str = "ok",
    http_status: int = 200,
    error: str | None = None,
    response_text: str | None = None,
    cached_cost: int | None = None,
    prior: list[tuple[str, dict[str, Any]]] | None = None,
) -> tuple[Decimal, LedgerRow]:
    """Price the request, count it in the metrics and log line, and build its ledger row.

    `prior` are earlier calls of the same request (cascade stages that did not answer): each is
    priced at its own tier and added, so the one row carries everything the request cost; so are
    the request's failed attempts that providers bill (`call.billed`). Usage the gateway estimated
    is listed, with how, in the row's `decision.usage_estimated`; billed attempts in `decision.billed_attempts`.
    """
    prior = [*(prior or []), *call.billed]
    estimated = [u[ESTIMATED] for u in (usage, *(u for _, u in prior)) if u.get(ESTIMATED)]
    prompt, completion = reported_tokens(usage.get("prompt_tokens")), reported_tokens(usage.get("completion_tokens"))
    latency_ms = (time.perf_counter() - call.started) * 1000
    chat, decision = call.chat, call.decision
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
        metrics.answered(tier, model, status, call.cache, bool(chat and chat.stream), latency_ms / 1000, prompt, completion, float(cost))
    for stage, stage_usage in prior:
        stage_prompt = reported_tokens(stage_usage.get("prompt_tokens"))
        stage_completion = reported_tokens(stage_usage.get("completion_tokens"))
        stage_cost = gateway.policy.tiers[stage].cost(stage_prompt, stage_completion)
        cost += stage_cost
        saved = max(Decimal(0), saved - stage_cost)  # against sending the answer's tokens to the dearest tier
        prompt, completion = prompt + stage_prompt, completion + stage_completion
        gateway.metrics.tokens.labels(stage, "prompt").inc(stage_prompt)
        gateway.metrics.tokens.labels(stage, "completion").inc(stage_completion)
        gateway.metrics.cost.labels(stage).inc(float(stage_cost))
    excess = 0
    if call.reserved and to_nanousd(cost) > call.reserved:
        # The upstream reported more than this request's worst case: a lie or a bug, never a cost
        # a budget should carry. Charge the reservation; keep the rest aside for reconciliation.
        excess = to_nanousd(cost) - call.reserved
        cost = Decimal(call.reserved) / Decimal(1_000_000_000)
        gateway.metrics.over_reservation.labels(tier or "none").inc(excess / 1e9)
        log.warning("usage reported beyond the reservation: $%s not charged, kept for reconciliation", Decimal(excess) / 10**9,
                    extra={"request_id": call.request_id, "tenant": call.tenant, "tier": tier})
    if log.isEnabledFor(logging.INFO):
        log.info(
            "chat completion",
            extra={"request_id": call.request_id, "tenant": call.tenant, "tier": tier, "status": status, "http_status": http_status,
                   "prompt_tokens": prompt, "completion_tokens": completion, "cost_usd": str(cost), "latency_ms": round(latency_ms, 2)},
        )
    # Only a request an engine worked on keeps its prompt and answer: a refused one (any 4xx, a 429,
    # a 5xx before an answer began) would let anyone fill the ledger with megabytes for free.
    store = gateway.policy.store_prompts and call.keep_text and (status in ("ok", "cancelled") or response_text is not None)
    row = LedgerRow(
        request_id=call.request_id,
        tenant=call.tenant,
        team=call.team,
        key_id=call.key_id,
        status=status,
        http_status=http_status,
        requested_model=chat.model if chat else None,
        tier=tier,
        model=model,
        routed=bool(decision and not decision.pinned),
        route_score=decision.route_score if decision else None,
        decision=(
            {"tier": decision.tier, "predicted": decision.predicted, "threshold": decision.threshold,
             "reason": decision.reason, "classifier": decision.classifier,
             **({"reasoning": decision.reasoning} if decision.reasoning is not None else {}),
             **({"cascade": call.cascade} if call.cascade is not None else {}),
             **({"usage_estimated": estimated} if estimated else {}),
             **({"billed_attempts": attempts(call.billed)} if call.billed else {})}
            if decision else None
        ),
        fallback_from=decision.tier if decision and tier and tier != decision.tier else None,
        messages=chat.plain_messages if chat and store else None,
        response=response_text if store else None,
        params=chat.model_dump(include=PARAMS, exclude_none=True) if chat else None,
        stream=bool(chat and chat.stream),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_nanousd=to_nanousd(cost),
        saved_nanousd=to_nanousd(saved),
        latency_ms=round(latency_ms, 3),
        overhead_ms=call.overhead_ms,
        cache=call.cache,
        error=error,
        excess_nanousd=excess,
        door=call.door,
        conversation_id=call.conversation,
        step=call.step,
    )
    return cost, row


async def commit(gateway: Gateway, row: LedgerRow) -> None:
    try:
        await gateway.ledger.record(row)
    except LedgerUnavailable as exc:
        log.error("ledger write failed: %s", exc, extra={"request_id": row.request_id})
        message = "the gateway could not record this request, so it is not answered; retry later"
        raise APIError(503, message, code="ledger_unavailable") from None
    gateway.metrics.recorded(row.tenant, row.team, row.tier, row.status, row.cost_nanousd / 1e9)


async def abandoned(gateway: Gateway, call: Call) -> Response:
    """The client left while the upstream call (or its retries) was under way; that call was cancelled."""
    chat, decision = call.chat, call.decision
    assert chat is not None and decision is not None
    log.info("client went away; upstream call cancelled", extra={"request_id": call.request_id})
    # The upstream saw the prompt before it was cancelled: charge that, estimated.
    prompt = messages_text(engine_request(gateway, chat, decision.tier).messages)
    usage = estimate(prompt, 0, "client left before the answer: prompt estimated from its text")
    _, row = finish(gateway, call, decision.tier, usage, status="cancelled", http_status=499, error="client disconnected",
                    prior=completed_stages(call))
    await call.settle(gateway, row.cost_nanousd)
    await commit(gateway, row)
    return Response(status_code=499)


def completed_stages(call: Call, final: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Cascade stages that answered, except the final answer's own (finish prices that one)."""
    return [(s["tier"], s["usage"]) for s in call.cascade or [] if "usage" in s and s is not final]
