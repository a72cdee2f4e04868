"""Agent loops: the same growing conversation sent many times, tool results between turns.

A conversation is named by the client (`x-switchyard-conversation-id`) or, failing that, by a hash of the
tenant, the system prompt and the first user message, which stay the same at every step of an agent's
loop. Its step is the number of assistant turns so far. The gateway remembers the tier each
conversation was last sent to (in this process, the most recent MAX_CONVERSATIONS) so that planning
can keep a tool chain on its tier (router/planning.py): a cheaper tier mid-chain would see a
conversation shaped by a stronger model's calls, and a switch loses the provider's prompt cache."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from decimal import Decimal

from policies.schema import Tier
from router.schemas import ChatRequest

HEADER = "x-switchyard-conversation-id"
MAX_CONVERSATIONS = 100_000


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


class Conversations:
    """(tenant, conversation id) -> the tier its last step was sent to, least recently used dropped first.

    Keyed by tenant because the id is the client's to name: one tenant sending another's id must
    neither set the tier that tenant's next step sticks to nor learn it. Each tenant holds at most
    `per_tenant` entries, so one tenant flooding fresh ids only recycles its own."""

    def __init__(self, limit: int = MAX_CONVERSATIONS, per_tenant: int = MAX_CONVERSATIONS // 10) -> None:
        self.limit = limit
        self.per_tenant = per_tenant
        self._tiers: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._by_tenant: dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._tiers)

    def tier(self, tenant: str, conversation: str) -> str | None:
        return self._tiers.get((tenant, conversation))

    def remember(self, tenant: str, conversation: str, tier: str) -> None:
        key = (tenant, conversation)
        self._tiers[key] = tier
        self._tiers.move_to_end(key)
        own = self._by_tenant.setdefault(tenant, OrderedDict())
        own[conversation] = None
        own.move_to_end(conversation)
        while len(own) > self.per_tenant:
            self._tiers.pop((tenant, own.popitem(last=False)[0]), None)
        while len(self._tiers) > self.limit:
            (owner, oldest), _ = self._tiers.popitem(last=False)
            theirs = self._by_tenant.get(owner)
            if theirs is not None:
                theirs.pop(oldest, None)
                if not theirs:
                    del self._by_tenant[owner]
