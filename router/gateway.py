"""The gateway's state: the policy, one engine per enabled tier, the classifier and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from classifiers.base import Prediction
from classifiers.embed import limit_blas_threads, limit_tokenizer_threads
from engines.base import Engine
from engines.factory import build_engine
from policies.decide import Decision, NoTierAvailable, Requirements, decide, pinned
from policies.schema import Policy
from policies.settings import Settings
from policies.settings import current as current_settings
from router.cache.responses import ResponseCache
from router.capabilities import Needs, capable
from router.conversations import Conversations
from router.errors import APIError, redact_credentials
from router.ledger import Ledger
from router.ledger.store import QuarantineCollector
from router.measured_prices import MeasuredPrices
from router.metrics import Metrics
from router.overhead import measured
from router.resilience import Guard
from router.schemas import ChatRequest
from router.tenancy.budgets import BudgetBook
from router.tenancy.guard import Tenancy, quota_store
from router.tenancy.keys import KeyStore
from router.tiers import load_classifier

log = logging.getLogger("switchyard")
STATS_INTERVAL_S = 2.0


def routing_text(messages: list[Any]) -> str:
    """What the classifier reads: the last user turn (system prompts describe the app, not the task)."""
    for message in reversed(messages):
        if message.role == "user":
            content = message.content
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(p["text"] for p in content if isinstance(p.get("text"), str))
    return ""


class Gateway:
    def __init__(self, policy: Policy, source: str = "<default>", ledger: Ledger | None = None, settings: Settings | None = None) -> None:
        self.settings = settings = settings or current_settings()  # read once by the CLI; shared by reload successors
        # `declared` is the policy as loaded and is never changed; `policy`, which routing and pricing read,
        # is it with the measured prices laid over it (router/measured_prices.py).
        self.declared = policy
        self.measured_prices = MeasuredPrices()
        self.policy = policy
        self.source = source
        self.ledger = ledger or Ledger(settings=settings)
        self.tenancy = Tenancy(KeyStore(self.ledger.engine), BudgetBook(self.ledger.engine), quota_store(settings.redis_url),
                               open_mode=settings.open_mode, allow_unshared_quota=settings.allow_unshared_quota)
        # Keyed by what serves each tier (serving=): a reload hands the cache on with ResponseCache.for_policy.
        self.cache = ResponseCache(policy.cache, settings.redis_url, serving=policy)
        self._embedder: Any = None  # an AsyncBatcher over the request embedder, when something needs embeddings
        # Savings are counted against sending everything to the policy's dearest tier.
        self.dearest = policy.by_cost()[-1]
        self.metrics = Metrics(max_teams=settings.metrics_max_teams)
        self.metrics.registry.register(QuarantineCollector(self.ledger))
        # Each conversation's last tier, for agent loops (router/planning.py); shared by replicas through the ledger's database.
        self.conversations = Conversations(self.ledger.engine, self.metrics.registry)
        self.status = {name: tier.status() for name, tier in policy.tiers.items()}
        self.engines: dict[str, Engine] = {}
        self.classifier, self.classifier_note = load_classifier(
            policy.routing.classifier, policy.routing.long_prompt_words
        )
        self.ready = False
        self.started_at = 0.0
        self.active = 0  # requests in flight on this gateway (a reloaded policy's engines close when it drains)
        for name, (enabled, _) in self.status.items():
            self.metrics.tier_up.labels(name).set(1 if enabled else 0)
        self.metrics.observe_prices(policy)
        # The callback holds the metrics, not this gateway: a reload's successor shares the guard, and a
        # reference back to the gateway it replaced would keep that one (its cache, its index) alive.
        circuit_state = self.metrics.circuit_state
        self.guard = Guard(policy.resilience, on_change=lambda tier, state: circuit_state.labels(tier).set(state))
        self._stats_task: asyncio.Task[None] | None = None

    def banner(self) -> list[str]:
        lines = [f"policy {self.policy.name!r} from {self.source}"]
        for name in self.policy.by_cost():
            enabled, why = self.status[name]
            tier = self.policy.tiers[name]
            lines.append(f"  tier {name:<12} {'ENABLED ' if enabled else 'disabled'} {tier.model}: {why}")
        lines.append(f"  routing: {self.classifier_note}")
        # The banner goes to the terminal and the service's logs: a PostgreSQL URL's password must not.
        lines.append(f"  ledger: {_shown_url(self.ledger.url)} (sync {self.ledger.sync.lower()})")
        return lines

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        limit_blas_threads()  # per-request products are tiny: BLAS threads cost wake-ups, not time saved
        limit_tokenizer_threads()  # likewise one prompt per tokenisation: no hand-off to tokenizers' pool
        await loop.run_in_executor(None, self.ledger.start)
        await self.tenancy.start()  # logs who may call; refuses a second replica counting budgets in memory
        if self.policy.cache.semantic:
            await self._start_embedder()
        await self.cache.start()
        log.info("cache: %s", self.cache.describe())
        for name, (enabled, _) in self.status.items():
            if not enabled:
                continue
            engine = build_engine(self.policy.tiers[name])
            await engine.start()
            self.engines[name] = engine
        if any(hasattr(engine, "stats") for engine in self.engines.values()):
            self._stats_task = asyncio.create_task(self._refresh_stats_every(STATS_INTERVAL_S))
        self.ready = True

    def refresh_engine_stats(self) -> None:
        """Copy what vLLM tiers scraped from their replicas into the metrics, and re-price those tiers
        from their measured decode throughput (so routing and spend use what the GPUs deliver)."""
        for name, engine in self.engines.items():
            stats = getattr(engine, "stats", None)
            if stats is not None:
                pool = stats()
                self.metrics.observe_vllm(name, pool)
                self.measured_prices.observe(name, self.declared.tiers[name].model, pool.busy_tokens_per_s)
        priced = self.measured_prices.priced(self.declared)
        if [t.prices for t in priced.tiers.values()] != [t.prices for t in self.policy.tiers.values()]:
            self.policy = priced
            self.metrics.observe_prices(priced)

    async def _refresh_stats_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.refresh_engine_stats()
            except Exception:  # a failed refresh must not stop the next one
                log.exception("refreshing engine stats failed")

    async def aclose(self) -> None:
        self.ready = False
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        for engine in self.engines.values():
            await engine.aclose()
        self.engines.clear()
        await self.tenancy.aclose()
        await self.cache.aclose()
        if self._embedder is not None:
            await self._embedder.aclose()
        self.conversations.close()
        await asyncio.get_running_loop().run_in_executor(None, self.ledger.close)

    async def _start_embedder(self) -> None:
        # The semantic cache needs a contextual embedding (MiniLM, ONNX int8): the classifier's static
        # token embeddings rank difficulty well but cannot tell a paraphrase from a changed question
        # (bench/semantic_cache.py --backend static). So this is a second embedding, computed at most
        # once per request and only when an entry of the same form exists (the cache's
        # lazy index); the classifier embeds on its own in ~1 ms.
        try:
            from classifiers.embed import AsyncBatcher, Embedder, EmbedderSpec

            loop = asyncio.get_running_loop()
            backend = self.settings.cache_embed_backend
            embedder = Embedder(EmbedderSpec(backend=backend, head_tokens=96, tail_tokens=32))  # type: ignore[arg-type]
            await loop.run_in_executor(None, embedder.warmup)
            self._embedder = AsyncBatcher(embedder)
            self.cache.attach_embedder(embedder.dim, embedder.spec.name, self.embed_texts)
        except Exception as exc:  # noqa: BLE001 - without embeddings the gateway still serves, uncached by meaning
            log.warning("request embeddings unavailable (%s); semantic cache off", exc)
            self._embedder = None

    async def embed(self, text: str) -> Any:
        """The request's contextual embedding for the semantic cache."""
        if self._embedder is None or not text:
            return None
        try:
            with measured():  # the cache's own cost, in the request's ledger row (router/overhead.py)
                return await self._embedder.embed(text)
        except Exception as exc:  # noqa: BLE001
            log.warning("embedding failed: %s", exc)
            return None

    async def embed_texts(self, texts: Sequence[str]) -> list[Any]:
        """Embeddings of other texts (cache entries embedded when first needed), None where one failed."""
        return list(await asyncio.gather(*(self.embed(text) for text in texts)))

    def done(self) -> None:
        """One request on this gateway finished (it began with `active += 1` in the pipeline)."""
        self.active -= 1

    def enabled(self) -> list[str]:
        return [name for name in self.policy.tiers if name in self.engines]

    async def predict(self, text: str) -> Prediction:
        with measured():  # routing's own cost, in the request's ledger row (router/overhead.py)
            if getattr(self.classifier, "cheap", False):
                return self.classifier.predict([text])[0]
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(None, self.classifier.predict, [text])
            return result[0]

    async def decide(self, request: ChatRequest, cheapest_only: str | None = None, need: Needs | None = None) -> Decision:
        """`need`: the request's capability needs, when the caller (plan()) has them already."""
        if request.model != "auto":
            tier = self.policy.resolve(request.model)
            if tier is None:
                raise APIError(
                    404,
                    f"the model {request.model!r} does not exist; "
                    f"use 'auto', a tier ({', '.join(self.policy.tiers)}) or a model from /v1/models",
                    code="model_not_found",
                    param="model",
                )
            if tier not in self.engines:
                raise APIError(
                    400,
                    f"tier {tier!r} ({self.policy.tiers[tier].model}) is disabled: {self.status[tier][1]}",
                    code="model_unavailable",
                    param="model",
                )
            capable(self.policy, [tier], request, need)  # a pinned tier that lacks what the request needs: a 400 naming it
            return pinned(self.policy, tier, f"pinned by the request's model {request.model!r}")
        enabled = self.enabled()
        # Only tiers that can serve the request compete, a budget downgrade included.
        enabled = capable(self.policy, enabled, request, need)
        if cheapest_only is not None:
            # A budget is nearly spent: the policy asks to downgrade rather than refuse.
            cheapest = self.policy.by_cost(enabled)[0]
            self.metrics.decisions.labels(cheapest).inc()
            return Decision(cheapest, self.policy.tiers[cheapest].model, 0.0, None, f"downgraded: {cheapest_only} is nearly spent")
        prediction = await self.predict(routing_text(request.messages))
        try:
            decision = decide(self.policy, prediction, enabled, self.classifier.name)
        except NoTierAvailable as exc:
            raise APIError(503, str(exc), code="no_tier_available") from None
        self.metrics.decisions.labels(decision.tier).inc()
        return decision

    def plan(self, first: str, need: Requirements | None = None) -> list[str]:
        """The tier to call and, after it, the enabled fallbacks the policy lists for it that have what the
        request needs (`need`: a tools request never falls back to a tier without tools)."""
        order = [first]
        for name in self.policy.fallbacks.get(first, []):
            if name in self.engines and name not in order and not (need and need.missing(self.policy.tiers[name])):
                order.append(name)
        return order


def _shown_url(url: str) -> str:
    """A database URL without its password, however the password is written ('p/ss' passes SQLAlchemy unencoded
    and stops the log redaction's pattern): parsed as SQLAlchemy parses it, the pattern only as a fallback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return redact_credentials(url)
