"""Agent loops: the same growing conversation sent many times, tool results between turns.

A conversation is named by the client (`x-switchyard-conversation-id`) or, failing that, by a hash of the
tenant, the system prompt and the first user message, which stay the same at every step of an agent's
loop. Its step is the number of assistant turns so far. The gateway remembers the tier each
conversation's last step was planned on so that planning can keep a tool chain on its tier
(router/planning.py): a cheaper tier mid-chain would see a conversation shaped by a stronger model's
calls, and a switch loses the provider's prompt cache.

That memory is the ledger's database (table `conversations`), so the next step may reach another
replica, or this one after a restart, and still find its tier. Only requests that look like an agent's
step (they offer tools or continue a conversation) read or write it; a one-shot chat never does. Each
process keeps what it last read or wrote, and trusts it without asking the database only for the step
right after the one it planned itself. A database that fails or is slow costs a step its stickiness,
never its answer: the step is routed as if the conversation were new, and the metric
`switchyard_conversation_state_errors_total` counts it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from policies.schema import Tier
from router.ledger.retention import trim_per_tenant
from router.ledger.tables import conversations as table
from router.schemas import ChatRequest

log = logging.getLogger("switchyard.conversations")

HEADER = "x-switchyard-conversation-id"
MAX_CONVERSATIONS = 100_000  # kept in each process, as a read-through cache of the table
TIMEOUT_S = 0.5  # a read or write slower than this is given up on: the step is routed without it
PAUSE_S = 5.0  # after a failure, steps skip the database this long rather than each wait TIMEOUT_S on it
MAX_IN_FLIGHT = 32  # database calls outstanding at once; past this a step does not queue behind a stuck database
KEEP_S = 24 * 3600.0  # a conversation idle this long is forgotten (swept), as an agent run is long over
# Rows one tenant keeps in the table: past it, its least recently used go at the next sweep, so a tenant
# sending fresh conversation ids cannot grow the shared table without bound for KEEP_S.
MAX_PER_TENANT = 50_000
SWEEP_S = 600.0
T = TypeVar("T")


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def conversation_id(chat: ChatRequest, tenant: str, header: str | None) -> str:
    if header and header.strip():
        return header.strip()[:64]
    system = next((_text(m.content) for m in chat.messages if m.role in ("system", "developer")), "")
    first = next((_text(m.content) for m in chat.messages if m.role == "user"), "")
    digest = hashlib.sha256("\x1f".join((tenant, system, first)).encode()).hexdigest()
    return f"h-{digest[:32]}"


def tracked(chat: ChatRequest) -> bool:
    """Whether a request looks like a step of an agent loop, whose tier the next step may need to keep:
    it offers tools, or continues a conversation (an assistant turn or a tool's result in it)."""
    return bool(chat.tools) or any(m.role in ("assistant", "tool", "function") for m in chat.messages)


def step(chat: ChatRequest) -> int:
    return sum(1 for m in chat.messages if m.role == "assistant")


def mid_chain(chat: ChatRequest) -> bool:
    """A tool chain is in progress: the last message is a tool's result, or an assistant's call of one."""
    last = chat.messages[-1]
    return last.role in ("tool", "function") or (last.role == "assistant" and bool(last.tool_calls))


def switch_loses(stay: Tier, go: Tier, prompt_tokens: int, output_tokens: int) -> bool:
    """Whether moving a conversation's next step from `stay` to the cheaper `go` costs more than it saves:
    `stay` bills the repeated prefix at its cached-input price (when the policy gives one), `go` at its full
    input price, as its cache holds none of this conversation."""
    cached = stay.prices.cached_input_per_mtok
    if cached is None:
        return False
    staying = Decimal(prompt_tokens) * cached + Decimal(output_tokens) * stay.prices.output_per_mtok
    going = Decimal(prompt_tokens) * go.prices.input_per_mtok + Decimal(output_tokens) * go.prices.output_per_mtok
    return staying <= going


@dataclass(frozen=True)
class State:
    """Where a conversation's last planned step went."""

    tier: str
    step: int
    mid_chain: bool


class Recent:
    """(tenant, conversation id) -> its last State as this process knows it, least recently used dropped first.

    Keyed by tenant because the id is the client's to name: one tenant sending another's id must
    neither set the tier that tenant's next step sticks to nor learn it. Each tenant holds at most
    `per_tenant` entries, so one tenant flooding fresh ids only recycles its own."""

    def __init__(self, limit: int = MAX_CONVERSATIONS, per_tenant: int = MAX_CONVERSATIONS // 10) -> None:
        self.limit = limit
        self.per_tenant = per_tenant
        self._states: OrderedDict[tuple[str, str], State] = OrderedDict()
        self._by_tenant: dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._states)

    def get(self, tenant: str, conversation: str) -> State | None:
        return self._states.get((tenant, conversation))

    def put(self, tenant: str, conversation: str, state: State) -> None:
        key = (tenant, conversation)
        self._states[key] = state
        self._states.move_to_end(key)
        own = self._by_tenant.setdefault(tenant, OrderedDict())
        own[conversation] = None
        own.move_to_end(conversation)
        while len(own) > self.per_tenant:
            self._states.pop((tenant, own.popitem(last=False)[0]), None)
        while len(self._states) > self.limit:
            (owner, oldest), _ = self._states.popitem(last=False)
            theirs = self._by_tenant.get(owner)
            if theirs is not None:
                theirs.pop(oldest, None)
                if not theirs:
                    del self._by_tenant[owner]


class _Failed:
    """A database call that did not answer in time or failed (distinct from a row that is not there)."""


FAILED = _Failed()


class Conversations:
    """Each conversation's last planned step, in the ledger's database, shared by every replica.

    Calls run on a few threads of their own, so a stuck database cannot take the threads that the
    ledger and the rest of the gateway use; each waits at most `timeout_s`."""

    def __init__(
        self,
        engine: Engine,
        registry: CollectorRegistry | None = None,
        *,
        timeout_s: float = TIMEOUT_S,
        keep_s: float = KEEP_S,
        per_tenant: int = MAX_PER_TENANT,
        recent: Recent | None = None,
    ) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self.keep_s = keep_s
        self.per_tenant = per_tenant
        self.recent = recent or Recent()
        self.errors = Counter(
            "switchyard_conversation_state_errors",
            "Agent-loop state reads and writes the database did not serve "
            "(failed, too slow, or skipped while it was failing): those steps were routed without it.",
            ["op"],
            registry=registry if registry is not None else CollectorRegistry(),
        )
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="conversation-state")
        self._in_flight = 0
        self._paused_until = 0.0
        self._swept_at = float("-inf")  # the first write sweeps

    async def last(self, tenant: str, conversation: str, step: int) -> State | None:
        """The conversation's last planned step. What this process planned itself is trusted for the very next
        step; anything else may have moved on another replica, so the database is asked."""
        known = self.recent.get(tenant, conversation)
        if known is not None and known.step == step - 1:
            return known
        found = await self._call("read", self._read, tenant, conversation)
        if isinstance(found, _Failed):
            return known  # the best this process knows
        if found is not None:
            self.recent.put(tenant, conversation, found)
        return found

    async def remember(self, tenant: str, conversation: str, state: State) -> None:
        """Keep where this step went; returns once the database has it (so the next step finds it on any
        replica), or once it has been given up on."""
        self.recent.put(tenant, conversation, state)
        await self._call("write", self._write, tenant, conversation, state)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _call(self, op: str, fn: Callable[..., T], *args: Any) -> T | _Failed:
        if time.monotonic() < self._paused_until or self._in_flight >= MAX_IN_FLIGHT:
            self.errors.labels(op).inc()
            return FAILED
        try:
            future = asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)
            self._in_flight += 1
            future.add_done_callback(self._finished)
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - whatever the database did, the step is routed without it
            self.errors.labels(op).inc()
            self._paused_until = time.monotonic() + PAUSE_S
            why = f"no answer in {self.timeout_s:g} s" if isinstance(exc, TimeoutError) else repr(exc)
            # One line per pause, not one per step: the pause skips the database until it is over.
            log.warning("conversation state: %s failed (%s); agent steps are routed without it for %g s", op, why, PAUSE_S)
            return FAILED

    def _finished(self, future: asyncio.Future[Any]) -> None:
        self._in_flight -= 1
        if not future.cancelled():
            future.exception()  # retrieved: a call given up on must not be reported again as never retrieved

    def _read(self, tenant: str, conversation: str) -> State | None:
        query = select(table.c.tier, table.c.step, table.c.mid_chain).where(
            table.c.tenant == tenant, table.c.conversation_id == conversation
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else State(row.tier, row.step, bool(row.mid_chain))

    def _write(self, tenant: str, conversation: str, state: State) -> None:
        now = datetime.now(UTC)
        values = {
            "tenant": tenant,
            "conversation_id": conversation,
            "tier": state.tier,
            "step": state.step,
            "mid_chain": state.mid_chain,
            "updated_at": now,
        }
        with self.engine.begin() as connection:
            upsert = (postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert)(table).values(**values)
            connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=[table.c.tenant, table.c.conversation_id],
                    set_={k: upsert.excluded[k] for k in ("tier", "step", "mid_chain", "updated_at")},
                )
            )
        if time.monotonic() - self._swept_at > SWEEP_S:
            # Its own transaction, after the step's row is in: a large sweep must not hold up or fail the write.
            self._swept_at = time.monotonic()
            try:
                with self.engine.begin() as connection:
                    connection.execute(delete(table).where(table.c.updated_at < now - timedelta(seconds=self.keep_s)))
                    trim_per_tenant(connection, table, table.c.updated_at, self.per_tenant)
            except Exception as exc:  # noqa: BLE001 - the next sweep retries; the state itself was written
                log.warning("sweeping idle conversations failed: %s", exc)
