"""One request's books: who asked, what it holds against budgets, how it ended; its one `close()`,
which prices it, settles its hold, writes its ledger row, keeps its answer in the cache and counts it
in the metrics, once, however the request ended; and its x-switchyard-* headers, written only by
`headers()`, from the same state."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import anyio
from starlette.responses import Response

from engines.base import messages_text
from policies.decide import Decision
from router.accounting import ledger_row, money
from router.billing import estimate
from router.cache.entries import CachedAnswer
from router.cache.responses import CacheControl
from router.cascade import Stage
from router.errors import APIError
from router.gateway import Gateway, routing_text
from router.ledger.store import LedgerRow, LedgerUnavailable
from router.schemas import ChatRequest
from router.tenancy.guard import Identity
from router.upstream import engine_request

log = logging.getLogger("switchyard")

# How an answer may have ended to be kept: whole, cut at max_tokens, calling tools, or withheld by the
# provider's filter all replay as they ended; an error or an unknown ending is asked again.
KEPT_ENDINGS = frozenset({"stop", "length", "tool_calls", "content_filter"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a request ended, as `RequestBooks.close` records it."""

    status: str = "ok"  # ok; cancelled (the client left); error (an engine failed); rejected (a 4xx)
    http_status: int = 200
    tier: str | None = None  # the tier that answered or failed; None when no tier worked on the request
    usage: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    text: str | None = None  # the answer's text, kept in the ledger when the policy stores prompts
    answer: dict[str, Any] | None = None  # the chat answer, kept in the cache when the request may be
    final: Stage | None = None  # the cascade stage whose answer this is: priced as the answer, not again as a stage
    cached: CachedAnswer | None = None  # the kept answer that served the request: $0, saving what it cost
    row: Mapping[str, Any] | None = None  # ledger-row fields a door prices itself (the embeddings door's tier)


@dataclass(slots=True)
class RequestBooks:
    """One request on its way through the gateway. Its parts fill the books in; only `close()`
    charges, records and caches, and only the first `close()` does anything."""

    request_id: str
    started: float
    door: str = "chat"  # the API surface the request came through (router/doors/)
    payload: dict[str, Any] | None = None  # the chat body a door translated, when not read from the request
    keep_text: bool = True  # False: the client asked that nothing be stored (Responses' `store: false`)
    tenant: str = "anonymous"
    team: str = "default"
    key_id: str | None = None
    identity: Identity | None = None
    chat: ChatRequest | None = None
    decision: Decision | None = None
    overhead_ms: float | None = None
    reserved: int = 0
    holding: bool = False  # a budget reservation is held until close() settles or releases it
    cache: str = "off"  # off, bypass, miss, hit-exact, hit-semantic
    bypass: str | None = None  # why the cache was not looked up (Cache-Control), for its header
    control: CacheControl | None = None
    hit: CachedAnswer | None = None
    similarity: float | None = None  # a semantic hit's
    conversation: str | None = None  # which conversation and step of it (router/conversations.py)
    step: int | None = None
    stages: list[Stage] | None = None  # the cascade's stages so far, when the request is cascaded
    billed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # failed attempts providers bill (router/billing.py)
    answered: str | None = None  # the tier whose answer the client gets (a fallback's, a cascade's last stage)
    answered_model: str | None = None
    deferred: bool = False  # a stream: its cost goes out in its usage chunk, after the headers
    cost: Decimal | None = None
    row: LedgerRow | None = None
    closed: bool = False
    out: dict[str, str] = field(default_factory=dict)  # the headers, one dict for the answer and any error
    remembering: asyncio.Task[None] | None = None  # an agent step's conversation state being written (router/planning.py)
    _embedding: Any = None
    _embedded: bool = False

    def __post_init__(self) -> None:
        self.out["x-switchyard-request-id"] = self.request_id

    def embedding(self, gateway: Gateway) -> Callable[[], Awaitable[Any]]:
        """The request's embedding, computed at most once, when first needed."""

        async def get() -> Any:
            if not self._embedded:
                self._embedded = True
                assert self.chat is not None
                self._embedding = await gateway.embed(routing_text(self.chat.messages))
            return self._embedding

        return get

    async def remembered(self) -> None:
        """Wait until the agent step's conversation state is written (or given up on: Conversations bounds
        the wait and never raises for the database). Called before any of the answer leaves."""
        task, self.remembering = self.remembering, None
        if task is None:
            return
        try:
            await asyncio.shield(task)  # a client that leaves cancels its request, not another step's state write
        except Exception:
            log.exception("conversation state write failed", extra={"request_id": self.request_id})

    def answer_from(self, tier: str, model: str) -> None:
        self.answered, self.answered_model = tier, model

    def headers(self) -> dict[str, str]:
        """The x-switchyard-* headers from what the books know now: the one place they are written.
        The dict is the same one error responses carry (request.state.headers)."""
        out = self.out
        if self.bypass is not None:
            out["x-switchyard-cache-bypass"] = self.bypass
        hit, decision = self.hit, self.decision
        if hit is not None:
            out["x-switchyard-tier"], out["x-switchyard-model"] = str(hit.tier), str(hit.model)
            out["x-switchyard-route-score"] = "0.0000"
            out["x-switchyard-overhead-ms"] = f"{(time.perf_counter() - self.started) * 1000:.3f}"
            if self.similarity is not None:
                out["x-switchyard-cache-similarity"] = f"{self.similarity:.4f}"
        elif decision is not None:
            tier = self.answered or decision.tier
            out["x-switchyard-tier"], out["x-switchyard-model"] = tier, self.answered_model or decision.model
            out["x-switchyard-route-score"] = f"{decision.route_score:.4f}"
            if tier != decision.tier:
                out["x-switchyard-fallback-from"] = decision.tier
            if self.overhead_ms is not None:
                out["x-switchyard-overhead-ms"] = f"{self.overhead_ms:.3f}"
            if self.stages is not None and self.answered is not None:
                out["x-switchyard-cascade"] = ",".join(stage.label() for stage in self.stages)
        elif self.answered is not None:  # a tier no routing decided on: the embeddings door's own
            out["x-switchyard-tier"], out["x-switchyard-model"] = self.answered, self.answered_model or ""
            if self.cost is not None:
                out["x-switchyard-cost-usd"] = money(self.cost)
            return out
        else:
            return out
        out["x-switchyard-cache"] = self.cache
        if self.cost is not None:
            out["x-switchyard-cost-usd"] = money(self.cost)
        elif self.deferred:
            out["x-switchyard-cost-usd"] = "deferred"
        return out

    async def close(self, gateway: Gateway, outcome: Outcome | None) -> Decimal:
        """Close the books: price the request, settle its hold (capped at what it reserved, and
        released when nothing was spent on an unanswered request), write its ledger row, keep an
        answer in the cache, count it in the metrics. `outcome` None records nothing and gives
        the hold back (a caller who never authenticated, a fault of the gateway's own). Only the
        first call does anything; later ones return the first one's cost.

        Raises APIError 503 when the ledger cannot take the row (the request is then not answered)."""
        if self.closed:
            return self.cost if self.cost is not None else Decimal(0)
        self.closed = True
        # Shielded: Starlette ends a stream the client left through a cancel scope that cancels every
        # await inside it; books half closed would leave a hold never charged and no ledger row.
        with anyio.CancelScope(shield=True):
            return await self._close(gateway, outcome)

    async def _close(self, gateway: Gateway, outcome: Outcome | None) -> Decimal:
        await self.remembered()
        if outcome is None:
            await self._release(gateway)
            return Decimal(0)
        try:
            cost, row = ledger_row(gateway, self, outcome)
        except BaseException:
            await self._release(gateway)
            raise
        if outcome.row and "cost_nanousd" in outcome.row:
            cost = Decimal(row.cost_nanousd) / Decimal(1_000_000_000)  # a door priced it: what the row charges
        self.cost, self.row = cost, row
        if row.cost_nanousd or outcome.status in ("ok", "cancelled"):
            # A request that was not answered gives its hold back, unless attempts of it cost what
            # their providers bill (router/billing.py): that is spent, like any answer's cost.
            await self._settle(gateway, row.cost_nanousd)
        else:
            await self._release(gateway)
        try:
            await gateway.ledger.record(row)
        except LedgerUnavailable as exc:
            log.error("ledger write failed: %s", exc, extra={"request_id": row.request_id})
            message = "the gateway could not record this request, so it is not answered; retry later"
            raise APIError(503, message, code="ledger_unavailable") from None
        gateway.metrics.recorded(row.tenant, row.team, row.tier, row.status, row.cost_nanousd / 1e9)
        if outcome.answer is not None and outcome.tier is not None and outcome.status == "ok":
            await self._keep(gateway, outcome.tier, outcome.answer, row.cost_nanousd)
        return cost

    async def _settle(self, gateway: Gateway, actual: int) -> None:
        if self.holding and self.identity is not None:
            self.holding = False
            try:
                await gateway.tenancy.settle(self.identity, self.request_id, actual)
            except Exception as exc:  # noqa: BLE001 - the answer was paid for: its ledger row must still be written
                log.error("settling the budget hold failed: %s", exc, extra={"request_id": self.request_id})

    async def _release(self, gateway: Gateway) -> None:
        if self.holding and self.identity is not None:
            self.holding = False
            try:
                await gateway.tenancy.release(self.identity, self.request_id)
            except Exception as exc:  # noqa: BLE001 - the hold lapses at its expiry; the row still goes in
                log.error("releasing the budget hold failed: %s", exc, extra={"request_id": self.request_id})

    async def _keep(self, gateway: Gateway, tier: str, answer: dict[str, Any], cost_nanousd: int) -> None:
        """Keep an answer for later identical or equivalent requests; a cache failure never fails a request."""
        control = self.control
        if not self.keep_text:  # the client said nothing of this exchange may be stored (Responses' store: false)
            return
        if control is None or not control.store or not gateway.cache.enabled or self.chat is None:
            return
        if (answer.get("choices") or [{}])[0].get("finish_reason") not in KEPT_ENDINGS:
            return
        entry = CachedAnswer(answer, tier, answer.get("model"), answer.get("usage") or {}, cost_nanousd)
        try:
            await gateway.cache.store(
                self.tenant, self.chat, control, entry.to_wire(), self.embedding(gateway), store_prompts=gateway.policy.store_prompts
            )
        except Exception as exc:  # noqa: BLE001
            log.warning("cache store failed: %s", exc, extra={"request_id": self.request_id})


async def abandoned(gateway: Gateway, books: RequestBooks) -> Response:
    """The client left while the upstream call (or its retries) was under way; that call was cancelled."""
    chat, decision = books.chat, books.decision
    assert chat is not None and decision is not None
    log.info("client went away; upstream call cancelled", extra={"request_id": books.request_id})
    # The upstream saw the prompt before it was cancelled: charge that, estimated.
    prompt = messages_text(engine_request(gateway, chat, decision.tier).messages)
    usage = estimate(prompt, 0, "client left before the answer: prompt estimated from its text")
    await books.close(gateway, Outcome("cancelled", 499, decision.tier, usage, error="client disconnected"))
    return Response(status_code=499)
