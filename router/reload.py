"""Policy hot reload: from a changed file (its mtime polled) or `POST /admin/policy/reload`.

A reload builds a *successor* gateway that shares everything that outlives a policy (ledger,
tenancy and quota store, metrics, circuit breakers, measured prices, embedder) and swaps it in with
one assignment.
A request holds the gateway it started with for its whole life, so an in-flight request keeps the
policy, engines and prices it was admitted and reserved under; its budget settles exactly as
reserved. Engines of unchanged tiers carry over; engines of changed or removed tiers are closed
once every gateway that used them has finished its in-flight requests.

An invalid policy is refused with its located issues (logged, and returned by the admin API), and
the running policy stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.factory import build_engine
from policies.loader import Issue, PolicyError, load_policy
from policies.preflight import errors as preflight_errors
from policies.preflight import preflight
from policies.schema import Policy
from router.cache.responses import ResponseCache
from router.errors import redact_credentials
from router.gateway import STATS_INTERVAL_S, Gateway
from router.tiers import load_classifier

log = logging.getLogger("switchyard")
DRAIN_LIMIT_S = 900.0  # as long as a budget reservation may live: no request outlasts it


@dataclass
class Outcome:
    ok: bool
    policy: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reloaded": self.ok, "policy": self.policy, "added": self.added, "removed": self.removed,
                               "changed": self.changed}
        if not self.ok:
            # The operator's answer (admin API, console): an issue may quote a value the environment put in the
            # policy (an upstream URL with its password, a key), so credentials go; hosts stay, to say which URL.
            out["issues"] = [{"path": list(i.path), "message": redact_credentials(i.message), "line": i.line,
                              "column": i.column, "text": redact_credentials(str(i))} for i in self.issues]
        return out


def _engine_key(policy: Policy, name: str) -> Any:
    """What an engine is built from: a tier whose definition (as declared, measured prices apart) is equal keeps its engine."""
    return policy.tiers[name]


async def successor(old: Gateway, policy: Policy, source: str) -> tuple[Gateway, list[str], list[str], list[str]]:
    """A gateway for `policy` sharing `old`'s long-lived parts and the engines of its unchanged tiers."""
    new = copy.copy(old)  # shares the ledger, tenancy, metrics, breakers, measured prices, embedder, anything long-lived
    new.declared, new.source = policy, source
    new.policy = old.measured_prices.priced(policy)  # what was measured prices the new policy's tiers from its first request
    new.status = {name: tier.status() for name, tier in policy.tiers.items()}
    new.dearest = new.policy.by_cost()[-1]
    new.active = 0
    new._stats_task = None
    loop = asyncio.get_running_loop()
    if (policy.routing.classifier, policy.routing.long_prompt_words) != (old.policy.routing.classifier,
                                                                         old.policy.routing.long_prompt_words):
        new.classifier, new.classifier_note = await loop.run_in_executor(
            None, load_classifier, policy.routing.classifier, policy.routing.long_prompt_words
        )
    if policy.cache != old.policy.cache:
        new.cache = ResponseCache(policy.cache, old.settings.redis_url, serving=policy)
        inner = getattr(old._embedder, "embedder", None)
        if policy.cache.semantic and inner is not None:
            new.cache.attach_embedder(inner.dim, inner.spec.name, new.embed_texts)
        elif policy.cache.semantic:
            await new._start_embedder()
        await new.cache.start()
    else:
        # The same entries, keyed by the new tiers: a tier now served by another model or endpoint misses.
        new.cache = old.cache.for_policy(policy)
    engines: dict[str, Any] = {}
    added, changed = [], []
    try:
        for name, (enabled, _) in new.status.items():
            if not enabled:
                continue
            if name in old.engines and name in old.declared.tiers and _engine_key(old.declared, name) == _engine_key(policy, name):
                engines[name] = old.engines[name]
                continue
            engine = build_engine(policy.tiers[name])
            await engine.start()
            engines[name] = engine
            (changed if name in old.engines else added).append(name)
    except BaseException:
        for name in added + changed:
            with contextlib.suppress(Exception):
                await engines[name].aclose()
        if new.cache.core is not old.cache.core:
            with contextlib.suppress(Exception):
                await new.cache.aclose()
        raise
    new.engines = engines
    removed = [name for name in old.engines if name not in engines]
    # Breakers describe upstreams: a tier pointing somewhere new starts closed.
    new.guard.reconfigure(policy.resilience, {name: policy.tiers[name].breaker for name in engines if name not in changed})
    for name in old.policy.tiers:
        if name not in policy.tiers:
            new.metrics.tier_up.labels(name).set(0)
    for name, (enabled, _) in new.status.items():
        new.metrics.tier_up.labels(name).set(1 if enabled else 0)
    new.metrics.observe_prices(new.policy)
    if any(hasattr(engine, "stats") for engine in engines.values()):
        new._stats_task = asyncio.create_task(new._refresh_stats_every(STATS_INTERVAL_S))
    return new, added, removed, changed


class PolicyReloader:
    """Swaps `holder.gateway` (the app's state) for a successor when the policy changes."""

    def __init__(self, holder: Any, path: Path | None, poll_s: float = 1.0) -> None:
        self.holder = holder
        self.path = path
        self.poll_s = poll_s
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        self._seen: tuple[int, int] | None = None
        self._draining: list[Gateway] = []
        self._closers: set[asyncio.Task[None]] = set()

    def _stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    async def start(self) -> None:
        self._seen = self._stamp()
        if self.path is not None and self.poll_s > 0:
            self._watch = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            stamp = self._stamp()
            if stamp is not None and stamp != self._seen:
                # Remember it even if the reload fails: a broken file is reported once, not every second.
                self._seen = stamp
                try:
                    await self.reload()
                except Exception:  # a failed reload must not stop the watch
                    log.exception("policy reload failed")

    async def reload(self) -> Outcome:
        async with self._lock:
            old: Gateway = self.holder.gateway
            source = str(self.path) if self.path is not None else old.source
            # Parsing, checking and preflighting a policy is CPU and file work (seconds for a large one): off the
            # event loop, which serves every request meanwhile.
            loop = asyncio.get_running_loop()
            try:
                policy = await loop.run_in_executor(None, load_policy, self.path)
            except PolicyError as exc:
                log.error("policy reload refused; %r stays in force:\n%s", old.policy.name, redact_credentials(str(exc)))
                return Outcome(False, old.policy.name, issues=exc.issues, error=str(exc))
            if not any(enabled for enabled, _ in (tier.status() for tier in policy.tiers.values())):
                issue = Issue(("tiers",), "no tier is enabled; nothing could answer")
                log.error("policy reload refused; %r stays in force: no tier is enabled", old.policy.name)
                return Outcome(False, old.policy.name, issues=[issue], error=str(issue))
            # What `serve` refuses to start on and the console refuses to apply (a tier URL no client can
            # call, an engine's missing package or model file): the loader alone let it into force, and
            # the tier answered every request with a 502.
            refused = preflight_errors(await loop.run_in_executor(None, preflight, policy))
            if refused:
                issues = [Issue(tuple(f.where.split(".")), f.message) for f in refused]
                log.error("policy reload refused; %r stays in force: %s", old.policy.name,
                          "; ".join(redact_credentials(str(f)) for f in refused))
                return Outcome(False, old.policy.name, issues=issues, error="; ".join(str(i) for i in issues))
            self._seen = self._stamp()
            try:
                new, added, removed, changed = await successor(old, policy, source)
            except Exception as exc:  # an engine that cannot start: the running policy stays
                log.exception("policy reload could not be applied; %r stays in force", old.policy.name)
                issue = Issue((), f"the policy is valid but could not be applied: {exc}")
                return Outcome(False, old.policy.name, issues=[issue], error=str(issue))
            self.holder.gateway = new
            if old._stats_task is not None:
                old._stats_task.cancel()
            self._draining.append(old)
            task = asyncio.create_task(self._retire(old))
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)
            log.info("policy %r reloaded from %s: added %s, removed %s, changed %s", policy.name, source, added, removed, changed)
            return Outcome(True, policy.name, added, removed, changed)

    def _in_use(self) -> set[int]:
        live = [self.holder.gateway, *self._draining]
        return {id(engine) for gateway in live for engine in gateway.engines.values()} | {id(g.cache.core) for g in live}

    async def _retire(self, old: Gateway) -> None:
        """Close what only `old` used, once its in-flight requests are done."""
        waited = 0.0
        while getattr(old, "active", 0) > 0 and waited < DRAIN_LIMIT_S:
            await asyncio.sleep(0.05)
            waited += 0.05
        if waited >= DRAIN_LIMIT_S:
            log.warning("closing the engines of a replaced policy with %d request(s) still in flight", old.active)
        self._draining.remove(old)
        await self._close_unused(old)
        del old
        # Startup froze what it had built (router/app.py), so the retired gateway's parts may sit in the
        # permanent generation, in reference cycles (the cache holds its gateway's embed_texts) that only a
        # collection frees. Reloads are rare: one full collection here, then freeze what is left.
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    async def _close_unused(self, old: Gateway) -> None:
        in_use = self._in_use()
        for name, engine in old.engines.items():
            if id(engine) not in in_use:
                log.info("closing the engine of retired tier %s", name)
                with contextlib.suppress(Exception):
                    await engine.aclose()
                in_use.add(id(engine))
        if id(old.cache.core) not in in_use:
            with contextlib.suppress(Exception):
                await old.cache.aclose()

    async def aclose(self) -> None:
        """Stop watching; close what draining gateways alone hold (the current one closes itself)."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        for task in list(self._closers):
            task.cancel()
        draining, self._draining = self._draining, []
        current = self.holder.gateway
        keep = {id(engine) for engine in current.engines.values()} | {id(current.cache.core)}
        for old in draining:
            for engine in old.engines.values():
                if id(engine) not in keep:
                    keep.add(id(engine))
                    with contextlib.suppress(Exception):
                        await engine.aclose()
            if id(old.cache.core) not in keep:
                keep.add(id(old.cache.core))
                with contextlib.suppress(Exception):
                    await old.cache.aclose()
