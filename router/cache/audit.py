"""Sampled verified re-asks ("audits") of semantic cache hits: the cache's own false-hit signal.

With ``cache.audit_rate`` p > 0, each semantic hit is, with probability p, asked again of the tier
that gave the kept answer, once that answer has been sent: the client never waits for it (chat's
answer starts the audit when its last byte is out; a front door that rebuilds the answer gets it
started at most :data:`START_LATEST_S` later). The fresh answer is compared with the one served
(:func:`compare`) and a disagreement is treated as a user's negative feedback: the entry is evicted
and its scope's rule tightened, in every replica when Redis is configured
(:meth:`router.cache.responses.ResponseCache.penalize`).

Each scope keeps its running audited false-hit estimate (audits that decided, disagreements, and
the one-sided 95% Clopper-Pearson upper bound against ``cache.max_false_hit_rate``); totals are in
:meth:`Auditor.stats` and in the gateway's metrics (``switchyard_cache_audit*``).

Spend: an audit's call is the operator's cost of keeping the cache honest, not the tenant's: the
tenant was served from the cache at $0 and its budget is never charged for the re-ask (so an audit
can never take a hard budget past its limit). Each audit's usage, priced as the gateway prices a
request, is booked once in the ledger's ``overhead_spend`` (kind ``cache_audit``), which the
console's and ``report spend``'s whole-ledger figures count as spend and take off the net savings.

Bounded: at most :data:`MAX_IN_FLIGHT` audits run at once (a sampled hit past that is skipped and counted), shared
fairly (:meth:`Auditor.admit`): each tenant whose hits were sampled in the last :data:`RECENT_S` seconds has an
equal share, and one that was refused a slot in that time (and has not gone quiet since) is owed its share less
what it holds. A tenant under its share takes any free slot; one at or above it takes a free slot only while more
are free than the other tenants are owed. So a tenant's audits are skipped for another's at most once before it is
owed its share, and no slot is held back for a tenant that never wanted more than it got (work-conserving: a lone
tenant, or a busy one beside tenants with one audit each, may use every slot). At most
:data:`MAX_SCOPES` scopes keep an estimate (the least recently audited go).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import unicodedata
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.background import BackgroundTask

from router.cache.calibration import clopper_pearson_upper
from router.cache.entries import CachedAnswer
from router.cache.guards import MAX_TEXT_CHARS, incompatibility

if TYPE_CHECKING:
    from starlette.responses import Response

    from router.books import RequestBooks
    from router.cache.responses import Hit, ResponseCache
    from router.gateway import Gateway

log = logging.getLogger("switchyard")

AUDIT_KIND = "cache_audit"  # overhead_spend.kind of an audit's spend
MAX_IN_FLIGHT = 8
# How long a tenant counts as wanting audits after its last sampled hit: its share is owed to it that long. A flood
# of one tenant's hits (its audits slow, say, behind a slow tier) would otherwise take every slot for good and skip
# every other tenant's audit, so that no other scope's false hits were found; a fixed share per tenant instead left
# slots idle that a lone tenant (every keyless request is "anonymous") could use.
RECENT_S = 60.0
MAX_RECENT_TENANTS = 10_000  # tenants remembered for the shares (the least recently sampled go)
MAX_SCOPES = 10_000
# A front door (messages, responses, completions) builds its own answer from chat's, leaving the hook
# on chat's behind: the audit then starts this long after the hit was ready, by when that answer is out.
START_LATEST_S = 0.5
# Sampled (temperature > 0) answers differ by chance; only one-line answers are compared by their facts
# (numbers, units, negation). Measured on SmolLM2's answers to right hits (bench/cache_audit_agreement.py),
# comparing 32-token answers by every guard flagged 56 of 57 as false hits (entities, numbers, negation
# mentioned in passing), so longer answers and the noisier guards decide nothing.
SHORT_ANSWER_WORDS = 12
_FACT_CHECKS = frozenset({"numbers", "units", "negation"})

Verdict = Literal["agree", "disagree", "inconclusive"]
# Up to this many false hits the exact bound is summed term by term (~0.2 ms); past it, where that sum
# grows with the count, it comes from the beta distribution (the same bound, O(1)), when SciPy is there.
_SUMMED_UP_TO = 20
# Punctuation that changes nothing an answer says (operators, signs and brackets are kept).
_IGNORABLE = frozenset(".,!?;:'\"`*_“”‘’…")
_TOKEN_RE = re.compile(r"\d+(?:[.,:/]\d+)*|\w+|[^\w\s]")


_beta: Any = None  # scipy.stats.beta once an auditor exists (load_beta): importing it takes ~0.7 s


def load_beta() -> None:
    """Import SciPy's beta distribution now (an auditor's construction, at startup): imported on the first
    bound past _SUMMED_UP_TO, it stalled the event loop, and every request on the replica, for ~0.7 s."""
    global _beta
    if _beta is None:
        try:
            from scipy.stats import beta
        except ImportError:
            return
        _beta = beta


def upper_bound(k: int, n: int) -> float:
    """One-sided 95% Clopper-Pearson upper bound on a share of k in n, cheap at any k (it runs on the event loop)."""
    if k > _SUMMED_UP_TO and 0 < k < n and _beta is not None:
        return float(_beta.ppf(0.95, k + 1, n - k))
    return clopper_pearson_upper(k, n)


def normalise(text: str) -> tuple[str, ...]:
    """The words, numbers and meaningful symbols of a text, case-folded: what two answers must share
    to be the same answer ("The answer is 42." == "the answer is 42"; "3.5" != "35", "-5" != "5")."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return tuple(token for token in _TOKEN_RE.findall(folded) if token not in _IGNORABLE)


def _calls(message: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        with contextlib.suppress(ValueError, TypeError):
            arguments = orjson.loads(arguments) if isinstance(arguments, str) else arguments
        out.append((str(function.get("name") or ""), orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS).decode()))
    return out


def _json_value(text: str) -> str | None:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return orjson.dumps(orjson.loads(stripped), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        return None


def compare(served: dict[str, Any], fresh: dict[str, Any], deterministic: bool) -> tuple[Verdict, str]:
    """Whether a fresh answer (a chat choice) agrees with the one the cache served, and why.

    - Structure first, whatever the sampling: the same tool calls (names and arguments, compared as
      JSON), a refusal on both sides or on neither, JSON answers equal as JSON.
    - Text equal once case, spacing and punctuation that says nothing are set aside: agree.
    - ``deterministic`` (temperature 0): any other difference is a disagreement, as a regeneration of
      the same request would give the same answer.
    - Sampled: two answers differ by chance, so a difference counts only when it is a fact: one-line
      answers (at most :data:`SHORT_ANSWER_WORDS` words each) that the meaning guards find differing in
      numbers, units or negation. Anything else is inconclusive and enters no estimate: a false alarm
      would tighten a scope for nothing."""
    a, b = served.get("message") or {}, fresh.get("message") or {}
    calls_a, calls_b = _calls(a), _calls(b)
    if calls_a or calls_b:
        if [name for name, _ in calls_a] != [name for name, _ in calls_b]:
            return "disagree", "tool calls"
        if calls_a == calls_b:
            return "agree", "same tool calls"
        return ("disagree", "tool arguments") if deterministic else ("inconclusive", "tool arguments differ, sampled")
    if bool(a.get("refusal")) != bool(b.get("refusal")):
        return "disagree", "refusal"
    if a.get("refusal") and b.get("refusal"):
        return "agree", "both refused"
    text_a = a.get("content") if isinstance(a.get("content"), str) else ""
    text_b = b.get("content") if isinstance(b.get("content"), str) else ""
    json_a, json_b = _json_value(text_a), _json_value(text_b)
    if json_a is not None and json_b is not None:
        if json_a == json_b:
            return "agree", "same JSON"
        return ("disagree", "JSON differs") if deterministic else ("inconclusive", "JSON differs, sampled")
    if normalise(text_a) == normalise(text_b):
        return "agree", "same text"
    if deterministic:
        return "disagree", "text differs at temperature 0"
    longest = max(len(text_a.split()), len(text_b.split()))
    if longest > SHORT_ANSWER_WORDS or max(len(text_a), len(text_b)) > MAX_TEXT_CHARS:
        return "inconclusive", "longer sampled answers differ"
    why = incompatibility(text_b, text_a)
    if why in _FACT_CHECKS:
        return "disagree", why
    return "inconclusive", "sampled answers differ in wording only"


@dataclass(slots=True)
class ScopeEstimate:
    """One scope's audits that decided, and how many found a false hit."""

    audited: int = 0
    disagreed: int = 0
    upper: float = 1.0  # one-sided 95% Clopper-Pearson upper bound on its false-hit share

    def as_dict(self, bound: float) -> dict[str, Any]:
        return {"audited": self.audited, "disagreed": self.disagreed, "upper": round(self.upper, 6), "within_bound": self.upper <= bound}


@dataclass(slots=True)
class _Metrics:
    audits: Counter
    spend: Counter
    upper: Gauge
    scopes: Gauge


_REGISTERED: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()


def _metrics(registry: CollectorRegistry) -> _Metrics:
    """The audit's metrics in a gateway's registry, made by the first audit (metrics.py is the gateway's)."""
    found = _REGISTERED.get(registry)
    if found is None:
        found = _REGISTERED[registry] = _Metrics(
            Counter("switchyard_cache_audits_total", "Semantic cache hits re-asked, by verdict (agree, disagree, inconclusive, "
                    "failed; skipped: sampled while too many ran).", ["verdict"], registry=registry),
            Counter("switchyard_cache_audit_spend_usd_total", "What the semantic cache's audits spent (the ledger's overhead_spend).",
                    registry=registry),
            Gauge("switchyard_cache_audit_false_hit_upper", "One-sided 95% Clopper-Pearson upper bound on the false-hit share of "
                  "this replica's audited semantic hits, all scopes together.", registry=registry),
            Gauge("switchyard_cache_audit_scopes", "Scopes with an audit estimate, by state against cache.max_false_hit_rate: within "
                  "(upper bound under it), over (lower bound above it), unproven.", ["state"], registry=registry),
        )
    return found


@dataclass
class Auditor:
    """Samples semantic hits for audit and keeps what the audits found (one per response cache)."""

    rate: float
    bound: float  # cache.max_false_hit_rate
    rng: Callable[[], float] = random.random
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("sampled", "agree", "disagree", "inconclusive", "failed", "skipped", "skipped_tenant_share", "spend_nanousd", "booked",
         "unbooked"), 0))
    _scopes: OrderedDict[str, ScopeEstimate] = field(default_factory=OrderedDict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _states: dict[str, int] = field(default_factory=lambda: {"within": 0, "over": 0, "unproven": 0})
    _reserved: int = 0  # audits sampled and not finished (started or waiting for their answer to be sent)
    closed: bool = False
    max_in_flight: int = MAX_IN_FLIGHT
    _by_tenant: dict[str, int] = field(default_factory=dict)  # reserved audits per tenant; a tenant at 0 is dropped
    clock: Callable[[], float] = time.monotonic
    recent_s: float = RECENT_S
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)  # tenant -> its last sampled hit, oldest first
    # Tenants refused a slot (busy, or owed to others) in the last `recent_s`, refreshed while they keep being
    # sampled: only they are owed slots, so a slot is never held back for a tenant with nothing more to audit.
    _refused: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        if self.rate > 0:
            load_beta()

    def sample(self) -> bool:
        return self.rate > 0 and self.rng() < self.rate

    @property
    def busy(self) -> bool:
        """Every audit slot is taken."""
        return self._reserved >= self.max_in_flight

    def _forget(self, now: float) -> None:
        horizon = now - self.recent_s
        for table in (self._seen, self._refused):
            while table and (next(iter(table.values())) < horizon or len(table) > MAX_RECENT_TENANTS):
                table.popitem(last=False)

    @staticmethod
    def _touch(table: OrderedDict[str, float], tenant: str, now: float) -> None:
        table[tenant] = now
        table.move_to_end(tenant)

    def _tenants(self, tenant: str | None) -> int:
        """How many tenants the slots are shared between: those sampled recently or holding a slot, and ``tenant``."""
        tenants = len(self._seen) + sum(1 for t in self._by_tenant if t not in self._seen)
        return tenants + (tenant is not None and tenant not in self._seen and tenant not in self._by_tenant)

    def share(self, tenant: str | None = None) -> int:
        """A tenant's fair share of the slots: an equal part for each tenant sampled recently or holding a slot."""
        return max(1, self.max_in_flight // max(1, self._tenants(tenant)))

    def owed(self, tenant: str | None = None) -> int:
        """Slots the tenants other than ``tenant`` (every tenant, when None) are owed: for each refused one, its
        share less what it holds, when less. The walk stops once the slots are all owed: past the few tenants
        holding a slot, each refused tenant is owed at least one."""
        share, total = self.share(tenant), 0
        for other in reversed(self._refused):
            if other != tenant:
                total += max(0, share - self._by_tenant.get(other, 0))
                if total >= self.max_in_flight:
                    break
        return total

    def full_for(self, tenant: str) -> bool:
        """This tenant's next sampled hit may not take a free slot: it holds its share, and no more slots are
        free than the other tenants are owed (a slot a tenant under its share may want is never taken from it)."""
        self._forget(self.clock())
        if self._by_tenant.get(tenant, 0) < self.share(tenant):
            return False
        return self.max_in_flight - self._reserved <= self.owed(tenant)

    def admit(self, tenant: str) -> Literal["busy", "share"] | None:
        """Reserve a slot for a sampled hit's audit, or say why not (and count the skip): ``busy`` (every slot
        taken) or ``share`` (free slots, but each is owed to a tenant under its share while this one holds its own)."""
        now = self.clock()
        self._forget(now)
        self._touch(self._seen, tenant, now)
        if tenant in self._refused:
            self._touch(self._refused, tenant, now)  # still wanting slots: still owed them
        if not self.busy and not self.full_for(tenant):
            self.reserve(tenant)
            return None
        self._touch(self._refused, tenant, now)
        self.counts["skipped"] += 1
        if self.busy:
            return "busy"
        self.counts["skipped_tenant_share"] += 1  # slots were free, owed to other tenants' hits
        return "share"

    def _state(self, estimate: ScopeEstimate) -> str:
        if estimate.upper <= self.bound:
            return "within"
        lower = 1.0 - upper_bound(estimate.audited - estimate.disagreed, estimate.audited) if estimate.disagreed else 0.0
        return "over" if lower > self.bound else "unproven"

    def record(self, scope: str, verdict: Verdict) -> ScopeEstimate | None:
        """Count an audit's verdict; a decided one updates its scope's estimate (returned)."""
        self.counts[verdict] += 1
        if verdict == "inconclusive":
            return None
        estimate = self._scopes.get(scope)
        if estimate is None:
            estimate = self._scopes[scope] = ScopeEstimate()
        else:
            self._states[self._state(estimate)] -= 1
        self._scopes.move_to_end(scope)
        estimate.audited += 1
        estimate.disagreed += verdict == "disagree"
        estimate.upper = upper_bound(estimate.disagreed, estimate.audited)
        self._states[self._state(estimate)] += 1
        while len(self._scopes) > MAX_SCOPES:
            _, gone = self._scopes.popitem(last=False)
            self._states[self._state(gone)] -= 1
        return estimate

    def estimate(self, scope: str) -> dict[str, Any] | None:
        found = self._scopes.get(scope)
        return None if found is None else found.as_dict(self.bound)

    def pooled_upper(self) -> float:
        decided = self.counts["agree"] + self.counts["disagree"]
        return upper_bound(self.counts["disagree"], decided)

    def stats(self) -> dict[str, Any]:
        self._forget(self.clock())
        return {**self.counts, "rate": self.rate, "max_false_hit_rate": self.bound, "in_flight": self._reserved,
                "in_flight_tenants": len(self._by_tenant), "max_in_flight": self.max_in_flight,
                "recent_tenants": len(self._seen), "owed": self.owed(),
                "pooled_upper": round(self.pooled_upper(), 6),
                "scopes": dict(self._states)}

    def reserve(self, tenant: str) -> None:
        """A sampled hit's audit is coming (started once its answer is out): it counts against the bounds now."""
        self._reserved += 1
        self._by_tenant[tenant] = self._by_tenant.get(tenant, 0) + 1
        self._touch(self._seen, tenant, self.clock())

    def release(self, tenant: str) -> None:
        self._reserved -= 1
        left = self._by_tenant.get(tenant, 0) - 1
        if left > 0:
            self._by_tenant[tenant] = left
        else:
            self._by_tenant.pop(tenant, None)  # bounded by the tenants with an audit under way, not by all ever seen

    def track(self, task: asyncio.Task[None], tenant: str) -> None:
        self._tasks.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            self.release(tenant)
            if not task.cancelled() and task.exception() is not None:
                log.warning("cache audit failed: %s", task.exception())

        task.add_done_callback(done)

    def states(self) -> dict[str, int]:
        """How many scopes' estimates are within, over or not yet shown against the bound."""
        return dict(self._states)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for the audits sampled so far, those still waiting for their answer to go out included."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._reserved > 0 and (left := deadline - loop.time()) > 0:
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=left)
            else:
                await asyncio.sleep(min(0.01, left))

    def close(self) -> None:
        """The cache is closing: audits under way stop, and none starts."""
        self.closed = True
        for task in list(self._tasks):
            task.cancel()


@dataclass(frozen=True, slots=True)
class _Job:
    request_id: str
    tenant: str
    chat: Any  # the request as it was served (router.schemas.ChatRequest)
    entry: CachedAnswer
    scope: str
    digest: bytes
    score: float


def after_hit(gateway: Gateway, books: RequestBooks, hit: Hit, response: Response) -> Response:
    """The pipeline's hook after a cache hit's answer is ready: maybe audit it, once it is sent."""
    cache = gateway.cache
    auditor: Auditor | None = getattr(cache, "auditor", None)
    if hit.kind != "semantic" or auditor is None or hit.scope is None or hit.digest is None or books.chat is None:
        return response
    if not auditor.sample():
        return response
    auditor.counts["sampled"] += 1
    metrics = _metrics(gateway.metrics.registry)
    entry = books.hit if books.hit is not None else CachedAnswer.from_wire(hit.entry)
    job = _Job(books.request_id, books.tenant, books.chat, entry, hit.scope, hit.digest, hit.score)
    if auditor.admit(job.tenant) is not None:
        metrics.audits.labels("skipped").inc()
        return response
    loop = asyncio.get_running_loop()
    state: dict[str, Any] = {}

    def start() -> None:
        if "task" in state:
            return
        state["timer"].cancel()
        if auditor.closed:
            state["task"] = None
            auditor.release(job.tenant)
            return
        state["task"] = task = loop.create_task(_audit(gateway, cache, auditor, metrics, job))
        auditor.track(task, job.tenant)

    # After the answer's last byte (Starlette runs a response's background then); a door that builds its
    # own answer from this one drops that, so a timer starts the audit anyway, once.
    previous = response.background

    async def background() -> None:
        if previous is not None:
            await previous()
        start()

    state["timer"] = loop.call_later(START_LATEST_S, start)
    response.background = BackgroundTask(background)
    return response


async def _audit(gateway: Gateway, cache: ResponseCache, auditor: Auditor, metrics: _Metrics, job: _Job) -> None:
    from router.upstream import engine_request

    tier = job.entry.tier
    engine = gateway.engines.get(tier) if tier is not None else None
    if tier is None or engine is None:
        auditor.counts["failed"] += 1
        metrics.audits.labels("failed").inc()
        return
    gateway.active += 1  # a reloaded policy's engines stay open until its audits are done too
    try:
        served = gateway.policy.tiers[tier]
        ask = engine_request(gateway, job.chat, tier, job.tenant)
        try:
            answer = await asyncio.wait_for(engine.complete(ask), served.timeouts.total_s)
        except Exception as exc:  # noqa: BLE001 - a failed audit says nothing about the entry
            log.info("cache audit of %s failed: %s", job.request_id, exc)
            auditor.counts["failed"] += 1
            metrics.audits.labels("failed").inc()
            return
        usage = answer.get("usage") or {}
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        cost = served.cost(prompt, completion)
        await _book(gateway, auditor, tier, served.model, prompt, completion, cost, job.request_id)
        metrics.spend.inc(float(cost))
        fresh = (answer.get("choices") or [{}])[0]
        deterministic = job.chat.temperature is not None and job.chat.temperature == 0
        verdict, why = await asyncio.to_thread(compare, job.entry.choice, fresh, deterministic)
        auditor.record(job.scope, verdict)
        metrics.audits.labels(verdict).inc()
        metrics.upper.set(auditor.pooled_upper())
        for state, n in auditor.states().items():
            metrics.scopes.labels(state).set(n)
        if verdict == "disagree":
            log.warning("cache audit of %s: the fresh answer differs (%s); entry evicted, scope tightened", job.request_id, why)
            cache.penalize(job.scope, job.digest, job.score, source="audit")
    finally:
        gateway.done()


async def _book(gateway: Gateway, auditor: Auditor, tier: str, model: str, prompt: int, completion: int, cost: Decimal,
                request_id: str) -> None:
    """One overhead_spend row for one audit: the operator's spend, in every whole-ledger report."""
    from router.ledger.store import to_nanousd
    from router.ledger.tables import overhead_spend

    nanousd = to_nanousd(cost)
    row = {"created_at": datetime.now(UTC), "kind": AUDIT_KIND, "tier": tier, "model": model[:256], "calls": 1,
           "prompt_tokens": prompt, "completion_tokens": completion, "cost_nanousd": nanousd,
           "source": f"cache audit {request_id}"[:128]}

    def insert() -> None:
        with gateway.ledger.engine.begin() as connection:
            connection.execute(overhead_spend.insert(), [row])

    try:
        await asyncio.get_running_loop().run_in_executor(None, insert)
    except Exception as exc:  # noqa: BLE001 - the verdict still counts; the spend is logged, not lost silently
        auditor.counts["unbooked"] += 1
        log.error("booking a cache audit's spend (%d nano-USD on %s) failed: %s", nanousd, tier, exc)
        return
    auditor.counts["booked"] += 1
    auditor.counts["spend_nanousd"] += nanousd
