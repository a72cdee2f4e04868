"""The console's figures, aggregated in SQL so a million-row ledger answers in one scan per view.

Money leaves the database as integer nano-dollars and is priced into dollars here; every filter
is the same (period, and optionally team/tenant/key), so the figures of one view add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from policies.schema import Policy
from router.ledger.tables import feedback, requests

SCOPES = {"team": requests.c.team, "tenant": requests.c.tenant, "key": requests.c.key_id}
HIT = requests.c.cache.like("hit%")
OK = requests.c.status == "ok"


@dataclass(frozen=True)
class Window:
    """A period and an optional scope, as every console query filters."""

    since: datetime | None = None
    until: datetime | None = None
    team: str | None = None
    tenant: str | None = None
    key: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.since is not None:
            out.append(requests.c.created_at >= self.since)
        if self.until is not None:
            out.append(requests.c.created_at < self.until)
        for name, column in SCOPES.items():
            value = getattr(self, name)
            if value is not None:
                out.append(column == value)
        return out


def _bucket(engine: Engine, size: str) -> Any:
    """The created_at prefix naming a day ('2026-12-01') or an hour ('2026-12-01 09'), in UTC as stored."""
    if engine.dialect.name == "sqlite":
        return func.substr(requests.c.created_at, 1, 10 if size == "day" else 13)
    return func.to_char(requests.c.created_at, "YYYY-MM-DD" if size == "day" else "YYYY-MM-DD HH24")


def _unindexed(column: Any) -> Any:
    """The column as an expression SQLite cannot read from an index. Grouping a whole period by an
    indexed column (team, key, tier) made SQLite walk that index and fetch every row at random:
    5x slower than one sequential scan on a 200k-row ledger. NULL stays NULL."""
    return column.op("||")("")


def _usd(nano: Any) -> float:
    return int(nano or 0) / 1e9


def _sums() -> list[Any]:
    return [
        func.count().label("requests"),
        func.coalesce(func.sum(requests.c.prompt_tokens), 0).label("prompt"),
        func.coalesce(func.sum(requests.c.completion_tokens), 0).label("completion"),
        func.coalesce(func.sum(requests.c.cost_nanousd), 0).label("cost"),
        func.coalesce(func.sum(requests.c.saved_nanousd), 0).label("saved"),
    ]


def counterfactual_cost(policy: Policy, against: str, prompt: int, completion: int, spend: float, saved: float) -> float:
    """What the answered requests would have cost on the counterfactual tier.

    'dearest' is what the ledger recorded per request (spend + saved, the figure `switchyard report spend`
    shows); a named tier prices the requests' tokens at that tier. Tokens of a cascade's first stages
    are in its row, so a named-tier counterfactual prices them too (it errs towards more savings there).
    """
    if against == "dearest":
        return spend + saved
    tier = policy.tiers[against]
    return float(tier.cost(int(prompt), int(completion)))


def overview(engine: Engine, policy: Policy, window: Window, against: str = "dearest") -> dict[str, Any]:
    """Totals, tier mix (requests and spend, $0 tiers included), cache and savings for a period."""
    # One scan: answered and failed requests apart by a group column rather than by a second query.
    query = (select(_unindexed(requests.c.tier).label("tier"), cast(case((HIT, 1), else_=0), Integer).label("hit"),
                    cast(case((OK, 1), else_=0), Integer).label("ok"), *_sums())
             .where(*window.where()).group_by("tier", "hit", "ok"))
    with engine.connect() as connection:
        every = connection.execute(query).all()
    rows = [row for row in every if row.ok]
    failed = sum(int(row.requests) for row in every if not row.ok)
    failed_cost = sum(int(row.cost) for row in every if not row.ok)
    tiers: dict[str, dict[str, Any]] = {}
    total = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "spend_usd": 0.0, "saved_usd": 0.0, "cache_hits": 0,
             "counterfactual_usd": 0.0, "cache_saved_usd": 0.0}
    for row in rows:
        name = row.tier or "(none)"
        spend, saved = _usd(row.cost), _usd(row.saved)
        known = row.tier in policy.tiers
        counter = counterfactual_cost(policy, against, row.prompt, row.completion, spend, saved)
        entry = tiers.setdefault(name, {"tier": name, "requests": 0, "spend_usd": 0.0, "cache_hits": 0,
                                        "free": known and policy.tiers[name].prices.blended == 0, "in_policy": known})
        entry["requests"] += int(row.requests)
        entry["spend_usd"] += spend
        total["requests"] += int(row.requests)
        total["prompt_tokens"] += int(row.prompt)
        total["completion_tokens"] += int(row.completion)
        total["spend_usd"] += spend
        total["counterfactual_usd"] += counter
        if row.hit:
            entry["cache_hits"] += int(row.requests)
            total["cache_hits"] += int(row.requests)
            total["cache_saved_usd"] += counter - spend  # a hit is answered for $0: its whole counterfactual is saved
    # Net of everything the requests cost (cascade first stages and billed attempts are in each row's
    # cost); negative when the counterfactual tier is the cheaper one.
    total["saved_usd"] = total["counterfactual_usd"] - total["spend_usd"]
    if against == "dearest":  # the ledger's own figure, to the nano-dollar (what `report spend` sums)
        total["saved_usd"] = sum(int(row.saved) for row in rows) / 1e9
        total["spend_usd"] = sum(int(row.cost) for row in rows) / 1e9
    total["routing_saved_usd"] = total["saved_usd"] - total["cache_saved_usd"]
    counter = total["counterfactual_usd"]
    total["saved_pct"] = round(100 * total["saved_usd"] / counter, 2) if counter else None
    total["cache_hit_rate"] = round(total["cache_hits"] / total["requests"], 4) if total["requests"] else None
    total["failed_requests"] = int(failed)
    total["failed_spend_usd"] = _usd(failed_cost)
    for name in policy.tiers:  # a tier with no traffic still shows, at 0
        tiers.setdefault(name, {"tier": name, "requests": 0, "spend_usd": 0.0, "cache_hits": 0,
                                "free": policy.tiers[name].prices.blended == 0, "in_policy": True})
    order = {name: i for i, name in enumerate(policy.by_cost())}
    mix = sorted(tiers.values(), key=lambda t: (order.get(t["tier"], len(order)), t["tier"]))
    for key in ("spend_usd", "saved_usd", "counterfactual_usd", "cache_saved_usd", "routing_saved_usd", "failed_spend_usd"):
        total[key] = round(total[key], 9)
    for entry in mix:
        entry["spend_usd"] = round(entry["spend_usd"], 9)
    return {"against": against, "totals": total, "tiers": mix, "quality": quality(engine, window)}


def quality(engine: Engine, window: Window) -> dict[str, Any]:
    """Users' feedback on the period's answers, per tier."""
    query = (select(requests.c.tier, func.count().label("n"), func.avg(feedback.c.score).label("mean"))
             .select_from(feedback.join(requests, feedback.c.request_id == requests.c.request_id))
             .where(*window.where()).group_by(requests.c.tier))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    per_tier = [{"tier": r.tier or "(none)", "feedback": int(r.n), "mean_score": round(float(r.mean), 4)} for r in rows]
    n = sum(r["feedback"] for r in per_tier)
    mean = sum(r["feedback"] * r["mean_score"] for r in per_tier) / n if n else None
    return {"feedback": n, "mean_score": round(mean, 4) if mean is not None else None, "per_tier": per_tier}


def trend(engine: Engine, window: Window, size: str = "day") -> dict[str, Any]:
    """Requests, spend and savings per day or hour, one series per tier."""
    bucket = _bucket(engine, size).label("b")
    query = (select(bucket, requests.c.tier, *_sums(), func.coalesce(func.sum(cast(case((HIT, 1), else_=0), Integer)), 0).label("hits"))
             .where(OK, *window.where()).group_by(bucket, requests.c.tier).order_by(bucket))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {"bucket": size, "data": [{"bucket": str(r.b), "tier": r.tier or "(none)", "requests": int(r.requests),
                                       "spend_usd": round(_usd(r.cost), 9), "saved_usd": round(_usd(r.saved), 9),
                                       "cache_hits": int(r.hits)} for r in rows]}


def groups(engine: Engine, window: Window, by: str, page: int = 0, per_page: int = 50) -> dict[str, Any]:
    """Spend per team, tenant or key, dearest first, a page at a time."""
    column = _unindexed(SCOPES[by]).label("g")
    base = (select(column, *_sums(), func.coalesce(func.sum(cast(case((HIT, 1), else_=0), Integer)), 0).label("hits"))
            .where(OK, *window.where()).group_by(column))
    # The number of groups comes with the page (a window over the grouped rows), not from a second scan.
    query = (base.add_columns(func.count().over().label("total"))
             .order_by(func.sum(requests.c.cost_nanousd).desc(), column).limit(per_page).offset(page * per_page))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        total = int(rows[0].total) if rows else int(connection.execute(select(func.count()).select_from(base.subquery())).scalar_one())
    return {"by": by, "page": page, "per_page": per_page, "total": total,
            "data": [{"group": r.g if r.g is not None else "(none)", "requests": int(r.requests), "prompt_tokens": int(r.prompt),
                      "completion_tokens": int(r.completion), "spend_usd": round(_usd(r.cost), 9),
                      "saved_usd": round(_usd(r.saved), 9), "cache_hits": int(r.hits)} for r in rows]}


LIST_COLUMNS = ("request_id", "created_at", "tenant", "team", "key_id", "door", "requested_model", "tier", "model", "status",
                "http_status", "prompt_tokens", "completion_tokens", "cost_nanousd", "latency_ms", "cache", "route_score",
                "fallback_from")


def _plain(row: Any) -> dict[str, Any]:
    out = {str(k): v for k, v in row._mapping.items()}  # plain str: orjson refuses the str subclasses SQLAlchemy names columns with
    if isinstance(out.get("created_at"), datetime):
        out["created_at"] = out["created_at"].isoformat()
    if "cost_nanousd" in out:
        out["cost_usd"] = _usd(out.pop("cost_nanousd"))
    if "saved_nanousd" in out:
        out["saved_usd"] = _usd(out.pop("saved_nanousd"))
    if "excess_nanousd" in out:
        out["excess_usd"] = _usd(out.pop("excess_nanousd"))
    return out


def request_page(engine: Engine, window: Window, tier: str | None = None, status: str | None = None,
                 before: str | None = None, per_page: int = 50) -> dict[str, Any]:
    """The newest requests first, a page at a time; `before` is the last row's 'created_at|request_id'
    (keyset paging: page 1000 costs what page 1 costs, unlike OFFSET)."""
    conditions = window.where()
    if tier is not None:
        conditions.append(requests.c.tier == tier)
    if status is not None:
        conditions.append(requests.c.status == status)
    if before:
        stamp, _, request_id = before.partition("|")
        at = datetime.fromisoformat(stamp)
        conditions.append((requests.c.created_at < at) | and_(requests.c.created_at == at, requests.c.request_id < request_id))
    columns = [requests.c[name] for name in LIST_COLUMNS]
    reason = requests.c.decision
    query = (select(*columns, reason).where(*conditions)
             .order_by(requests.c.created_at.desc(), requests.c.request_id.desc()).limit(per_page))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    data = []
    for row in rows:
        item = _plain(row)
        decision = item.pop("decision") or {}
        item["reason"] = decision.get("reason") if isinstance(decision, dict) else None
        data.append(item)
    cursor = f"{data[-1]['created_at']}|{data[-1]['request_id']}" if len(data) == per_page else None
    return {"data": data, "next": cursor}


def request_detail(engine: Engine, request_id: str) -> dict[str, Any] | None:
    """One ledger row, whole, with its feedback; prompts are there only where the policy stored them."""
    with engine.connect() as connection:
        row = connection.execute(select(requests).where(requests.c.request_id == request_id)).first()
        if row is None:
            return None
        verdict = connection.execute(select(feedback.c.score, feedback.c.comment).where(feedback.c.request_id == request_id)).first()
    out = _plain(row)
    out["feedback"] = {"score": verdict.score, "comment": verdict.comment} if verdict else None
    return out


def route_scores(engine: Engine, window: Window, bins: int = 20) -> dict[str, Any]:
    """How routed requests' scores spread over [0, 1], per tier they went to."""
    if engine.dialect.name == "sqlite":
        index = cast(requests.c.route_score * bins, Integer)  # SQLite's CAST truncates, as floor does for scores >= 0
    else:
        index = cast(func.floor(requests.c.route_score * bins), Integer)
    index = index.label("i")
    query = (select(index, requests.c.tier, func.count().label("n"))
             .where(requests.c.route_score.is_not(None), requests.c.routed.is_(True), *window.where())
             .group_by(index, requests.c.tier))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    counts: dict[str, list[int]] = {}
    for row in rows:
        slot = min(max(int(row.i), 0), bins - 1)
        counts.setdefault(row.tier or "(none)", [0] * bins)[slot] += int(row.n)
    return {"bins": [round(i / bins, 4) for i in range(bins + 1)], "series": counts}


def fallbacks(engine: Engine, window: Window) -> list[dict[str, Any]]:
    """Requests a tier other than the chosen one answered, by (chosen, answering) pair."""
    query = (select(requests.c.fallback_from, requests.c.tier, func.count().label("n"))
             .where(requests.c.fallback_from.is_not(None), *window.where())
             .group_by(requests.c.fallback_from, requests.c.tier).order_by(func.count().desc()))
    with engine.connect() as connection:
        return [{"from": r.fallback_from, "to": r.tier, "requests": int(r.n)} for r in connection.execute(query)]


def daily_spend(engine: Engine, column: str, value: str, tenant: str | None, start: datetime | None,
                end: datetime | None) -> list[dict[str, Any]]:
    """Spend per day of one budget's scope within its window (the burn-down's steps)."""
    bucket = _bucket(engine, "day").label("b")
    conditions: list[ColumnElement[bool]] = [SCOPES[column] == value]
    if tenant:
        conditions.append(requests.c.tenant == tenant)
    if start is not None:
        conditions.append(requests.c.created_at >= start)
    if end is not None:
        conditions.append(requests.c.created_at < end)
    query = (select(bucket, func.coalesce(func.sum(requests.c.cost_nanousd), 0).label("cost"))
             .where(*conditions).group_by(bucket).order_by(bucket))
    with engine.connect() as connection:
        return [{"day": str(r.b), "spend_usd": _usd(r.cost)} for r in connection.execute(query)]
