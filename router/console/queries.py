"""The console's figures: sums kept per hour and per day by the ledger's trigger (migration 0007), so a
million-row ledger answers without scanning its rows.

A period rarely starts on the hour: its whole buckets are read from a rollup table, the ragged
edges (at most a bucket at each end) from the request rows themselves, and the two are added.
Without a scope the hourly table answers; with a team, tenant or key the daily one (per key, with
its tenant and team), or the rows for an hourly trend of one scope. Money leaves the database as
integer nano-dollars and is priced into dollars here; every filter is the same (period, and
optionally team/tenant/key), so the figures of one view add up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, Table, and_, case, cast, func, literal, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from policies.schema import Policy
from router.ledger.tables import feedback, requests, requests_daily, requests_daily_scope, requests_hourly, route_scores_hourly
from router.reports import learn_spend, savings

SCOPES = {"team": requests.c.team, "tenant": requests.c.tenant, "key": requests.c.key_id}
HIT = requests.c.cache.like("hit%")
OK = requests.c.status == "ok"
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
ROUTE_BINS = 20  # route_scores_hourly's bins (migration 0007)
SUMS = ("prompt_tokens", "completion_tokens", "cost_nanousd", "saved_nanousd", "cascade_nanousd", "overhead_nanousd")


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """A period and an optional scope, as every console query filters."""

    since: datetime | None = None
    until: datetime | None = None
    team: str | None = None
    tenant: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        # SQLite compares stored UTC text: a bound datetime must be in UTC too.
        object.__setattr__(self, "since", _utc(self.since))
        object.__setattr__(self, "until", _utc(self.until))

    @property
    def scoped(self) -> bool:
        return any(getattr(self, name) is not None for name in SCOPES)

    def where(self) -> list[ColumnElement[bool]]:
        return self._where(requests.c.created_at, SCOPES)

    def _where(
        self, at: Any, scopes: dict[str, Any], since: datetime | None = None, until: datetime | None = None, clip: bool = True
    ) -> list[ColumnElement[bool]]:
        since, until = (self.since, self.until) if clip else (since, until)
        out: list[ColumnElement[bool]] = []
        if since is not None:
            out.append(at >= since)
        if until is not None:
            out.append(at < until)
        for name, column in scopes.items():
            value = getattr(self, name)
            if value is not None:
                out.append(column == value)
        return out


def _bucket(engine: Engine, size: str, at: Any = None) -> Any:
    """The timestamp's prefix naming a day ('2026-12-01') or an hour ('2026-12-01 09'), in UTC as stored."""
    at = requests.c.created_at if at is None else at
    if engine.dialect.name == "sqlite":
        return func.substr(at, 1, 10 if size == "day" else 13)
    return func.to_char(func.timezone("UTC", at), "YYYY-MM-DD" if size == "day" else "YYYY-MM-DD HH24")


def _unindexed(column: Any) -> Any:
    """The column as an expression SQLite cannot read from an index. Grouping a period's rows by an
    indexed column (team, key, tier) made SQLite walk that index and fetch every row at random:
    5x slower than reading the period's rows by time. NULL stays NULL."""
    return column.op("||")("")


def _usd(nano: Any) -> float:
    return int(nano or 0) / 1e9


@dataclass
class Sums:
    """A group's figures; money in nano-dollars."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_nanousd: int = 0
    saved_nanousd: int = 0
    cascade_nanousd: int = 0
    overhead_nanousd: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Any) -> None:
        self.requests += int(row.requests or 0)
        for name in SUMS:
            setattr(self, name, getattr(self, name) + int(getattr(row, name) or 0))


def _floor(at: datetime, step: timedelta) -> datetime:
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if step == DAY else at


def _ceil(at: datetime, step: timedelta) -> datetime:
    floor = _floor(at, step)
    return floor if floor == at else floor + step


def _pieces(
    window: Window, step: timedelta
) -> tuple[tuple[datetime | None, datetime | None] | None, list[tuple[datetime | None, datetime | None]]]:
    """The period's whole buckets as (from, to), None where it holds none, and its ragged edges, each a
    (since, until) of request rows."""
    since, until = window.since, window.until
    start = _ceil(since, step) if since is not None else None
    end = _floor(until, step) if until is not None else None
    if start is not None and end is not None and start >= end:
        return None, [(since, until)]  # within one bucket (or two halves of neighbours): the rows only
    edges: list[tuple[datetime | None, datetime | None]] = []
    if since is not None and start is not None and since < start:
        edges.append((since, start))
    if until is not None and end is not None and end < until:
        edges.append((end, until))
    return (start, end), edges


def _parts(
    engine: Engine, window: Window, keys: tuple[str, ...], bucket: str | None, only_ok: bool, rows_only: bool = False
) -> list[Select[Any]]:
    """SELECTs whose rows, added up per `keys`, are the period's sums: one over a rollup table where one
    holds them, one over the request rows for each ragged edge (or the whole period, where none does,
    or `rows_only`)."""
    scoped = window.scoped or any(k in SCOPES for k in keys)
    table: Table | None
    if rows_only:
        table = None
    elif scoped:
        table = requests_daily if bucket in (None, "day") else None
    else:
        table = requests_hourly
    parts: list[Select[Any]] = []
    edges: list[tuple[datetime | None, datetime | None]] = [(window.since, window.until)]
    if table is not None:
        step, at = (DAY, table.c.day) if table is requests_daily else (HOUR, table.c.hour)
        whole, edges = _pieces(window, step)
        if whole is not None:
            scopes = {"team": table.c.team, "tenant": table.c.tenant, "key": table.c.key_id} if table is requests_daily else {}
            columns = {
                "tier": table.c.tier,
                "hit": cast(table.c.hit, Integer),
                "ok": cast(table.c.ok, Integer),
                "bucket": _bucket(engine, bucket or "day", at),
                **{name: _unindexed(column) for name, column in scopes.items()},  # filters use the indexes, grouping does not
            }
            query = select(
                *(columns[k].label(k) for k in keys),
                func.sum(table.c.requests).label("requests"),
                func.sum(case((table.c.hit, table.c.requests), else_=0)).label("hits"),
                *(func.sum(table.c[name]).label(name) for name in SUMS),
            ).where(*window._where(at, scopes, *whole, clip=False))
            if only_ok:
                query = query.where(table.c.ok.is_(True))
            parts.append(query.group_by(*(columns[k] for k in keys)))
    raw = {
        "tier": func.coalesce(requests.c.tier, ""),
        "hit": cast(case((HIT, 1), else_=0), Integer),
        "ok": cast(case((OK, 1), else_=0), Integer),
        "bucket": _bucket(engine, bucket or "day"),
        "team": _unindexed(requests.c.team),
        "tenant": _unindexed(requests.c.tenant),
        "key": _unindexed(func.coalesce(requests.c.key_id, "")),
    }
    for since, until in edges:
        query = select(
            *(raw[k].label(k) for k in keys),
            func.count().label("requests"),
            func.sum(cast(case((HIT, 1), else_=0), Integer)).label("hits"),
            *(func.sum(requests.c[name]).label(name) for name in SUMS),
        ).where(*window._where(requests.c.created_at, SCOPES, since, until, clip=False))
        if only_ok:
            query = query.where(OK)
        parts.append(query.group_by(*(raw[k] for k in keys)))
    return parts


def _figures(
    engine: Engine, window: Window, keys: Iterable[str], bucket: str | None = None, only_ok: bool = False
) -> dict[tuple[Any, ...], Sums]:
    """The period's sums grouped by `keys` (tier, hit, ok, team, tenant, key, bucket)."""
    keys = tuple(keys)
    out: dict[tuple[Any, ...], Sums] = {}
    with engine.connect() as connection:
        for query in _parts(engine, window, keys, bucket, only_ok):
            for row in connection.execute(query):
                group = tuple(int(getattr(row, k)) if k in ("hit", "ok") else str(getattr(row, k) or "") for k in keys)
                out.setdefault(group, Sums()).add(row)
    return out


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
    """Totals, tier mix (requests and spend, $0 tiers included), cache, and savings gross and net of
    their overheads, for a period."""
    every = _figures(engine, window, ("tier", "hit", "ok"))
    rows = [(tier, hit, sums) for (tier, hit, ok), sums in every.items() if ok]
    failed = sum(s.requests for (_, _, ok), s in every.items() if not ok)
    failed_cost = sum(s.cost_nanousd for (_, _, ok), s in every.items() if not ok)
    tiers: dict[str, dict[str, Any]] = {}
    total = {
        "requests": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "spend_usd": 0.0,
        "saved_usd": 0.0,
        "cache_hits": 0,
        "counterfactual_usd": 0.0,
        "cache_saved_usd": 0.0,
    }
    cascade = compute = 0
    for tier, hit, sums in rows:
        name = tier or "(none)"
        spend, saved = _usd(sums.cost_nanousd), _usd(sums.saved_nanousd)
        known = tier in policy.tiers
        counter = counterfactual_cost(policy, against, sums.prompt_tokens, sums.completion_tokens, spend, saved)
        entry = tiers.setdefault(
            name,
            {
                "tier": name,
                "requests": 0,
                "spend_usd": 0.0,
                "cache_hits": 0,
                "free": known and policy.tiers[name].prices.blended == 0,
                "in_policy": known,
            },
        )
        entry["requests"] += sums.requests
        entry["spend_usd"] += spend
        total["requests"] += sums.requests
        total["prompt_tokens"] += sums.prompt_tokens
        total["completion_tokens"] += sums.completion_tokens
        total["spend_usd"] += spend
        total["counterfactual_usd"] += counter
        cascade += sums.cascade_nanousd
        compute += sums.overhead_nanousd
        if hit:
            entry["cache_hits"] += sums.requests
            total["cache_hits"] += sums.requests
            total["cache_saved_usd"] += counter - spend  # a hit is answered for $0: its whole counterfactual is saved
    # Net of what the answers cost (cascade first stages and billed attempts are in each row's cost);
    # negative when the counterfactual tier is the cheaper one.
    total["saved_usd"] = total["counterfactual_usd"] - total["spend_usd"]
    if against == "dearest":  # the ledger's own figure, to the nano-dollar (what `report spend` sums)
        total["saved_usd"] = sum(s.saved_nanousd for _, _, s in rows) / 1e9
        total["spend_usd"] = sum(s.cost_nanousd for _, _, s in rows) / 1e9
    total["routing_saved_usd"] = total["saved_usd"] - total["cache_saved_usd"]
    counter = total["counterfactual_usd"]
    total["saved_pct"] = round(100 * total["saved_usd"] / counter, 2) if counter else None
    total["cache_hit_rate"] = round(total["cache_hits"] / total["requests"], 4) if total["requests"] else None
    total["failed_requests"] = int(failed)
    total["failed_spend_usd"] = _usd(failed_cost)
    for key in ("spend_usd", "saved_usd", "counterfactual_usd", "cache_saved_usd", "routing_saved_usd", "failed_spend_usd"):
        total[key] = round(total[key], 9)
    # `learn`'s labeling calls belong to no team, tenant or key: the whole ledger's figures alone count them.
    learning = None if window.scoped else learn_spend(engine, window.since, window.until)
    total.update(savings(counter, total["spend_usd"], total["saved_usd"], cascade / 1e9, compute / 1e9, learning))
    for name in policy.tiers:  # a tier with no traffic still shows, at 0
        tiers.setdefault(
            name,
            {
                "tier": name,
                "requests": 0,
                "spend_usd": 0.0,
                "cache_hits": 0,
                "free": policy.tiers[name].prices.blended == 0,
                "in_policy": True,
            },
        )
    order = {name: i for i, name in enumerate(policy.by_cost())}
    mix = sorted(tiers.values(), key=lambda t: (order.get(t["tier"], len(order)), t["tier"]))
    for entry in mix:
        entry["spend_usd"] = round(entry["spend_usd"], 9)
    return {"against": against, "totals": total, "tiers": mix, "quality": quality(engine, window)}


def quality(engine: Engine, window: Window) -> dict[str, Any]:
    """Users' feedback on the period's answers, per tier. The feedback table drives the query (each verdict
    looks its request up by key): joined the other way, SQLite walked the period's request rows to find
    the few with a verdict (2 s for 30 days of a million-row ledger)."""
    answered = requests.c.request_id == feedback.c.request_id
    tier = select(requests.c.tier).where(answered).scalar_subquery()
    in_window = select(requests.c.request_id).where(answered, *window.where()).exists()
    query = select(tier.label("tier"), func.count().label("n"), func.avg(feedback.c.score).label("mean")).where(in_window).group_by(tier)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    per_tier = [{"tier": r.tier or "(none)", "feedback": int(r.n), "mean_score": round(float(r.mean), 4)} for r in rows]
    n = sum(r["feedback"] for r in per_tier)
    mean = sum(r["feedback"] * r["mean_score"] for r in per_tier) / n if n else None
    return {"feedback": n, "mean_score": round(mean, 4) if mean is not None else None, "per_tier": per_tier}


def trend(engine: Engine, window: Window, size: str = "day") -> dict[str, Any]:
    """Requests, spend and savings per day or hour, one series per tier."""
    figures = _figures(engine, window, ("bucket", "tier", "hit"), bucket=size, only_ok=True)
    series: dict[tuple[str, str], dict[str, Any]] = {}
    for (at, tier, hit), sums in sorted(figures.items()):
        entry = series.setdefault(
            (at, tier), {"bucket": at, "tier": tier or "(none)", "requests": 0, "spend_usd": 0.0, "saved_usd": 0.0, "cache_hits": 0}
        )
        entry["requests"] += sums.requests
        entry["spend_usd"] = round(entry["spend_usd"] + _usd(sums.cost_nanousd), 9)
        entry["saved_usd"] = round(entry["saved_usd"] + _usd(sums.saved_nanousd), 9)
        entry["cache_hits"] += sums.requests if hit else 0
    return {"bucket": size, "data": list(series.values())}


def groups(engine: Engine, window: Window, by: str, page: int = 0, per_page: int = 50) -> dict[str, Any]:
    """Spend per team, tenant or key, dearest first, a page at a time: added up, ordered and paged in SQL,
    since a ledger may hold more keys than are worth carrying into Python for one page."""
    if window.scoped:  # a scope within a scope (a team's tenants): the daily rollup, filtered
        parts = _parts(engine, window, (by,), None, True)
    else:
        table = requests_daily_scope
        whole, edges = _pieces(window, DAY)
        parts = [
            part for since, until in edges for part in _parts(engine, Window(since=since, until=until), (by,), None, True, rows_only=True)
        ]
        if whole is not None:
            parts.append(
                select(
                    table.c.value.label(by),
                    func.sum(table.c.requests).label("requests"),
                    func.sum(table.c.hits).label("hits"),
                    *(func.sum(table.c[name]).label(name) if name in table.c else literal(0).label(name) for name in SUMS),
                )
                .where(table.c.scope == by, *window._where(table.c.day, {}, *whole, clip=False))
                .group_by(table.c.value)
            )
    every = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    group = every.c[by]
    cost = func.sum(every.c.cost_nanousd)
    base = select(group.label("g")).group_by(group)
    query = (
        select(
            group.label("g"),
            func.sum(every.c.requests).label("requests"),
            func.sum(every.c.hits).label("hits"),
            func.sum(every.c.prompt_tokens).label("prompt"),
            func.sum(every.c.completion_tokens).label("completion"),
            cost.label("cost"),
            func.sum(every.c.saved_nanousd).label("saved"),
            func.count().over().label("total"),  # the number of groups, with the page rather than from a second scan
        )
        .group_by(group)
        .order_by(cost.desc(), group)
        .limit(per_page)
        .offset(page * per_page)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        total = int(rows[0].total) if rows else int(connection.execute(select(func.count()).select_from(base.subquery())).scalar_one())
    data = [
        {
            "group": r.g or "(none)",
            "requests": int(r.requests),
            "prompt_tokens": int(r.prompt),
            "completion_tokens": int(r.completion),
            "spend_usd": round(_usd(r.cost), 9),
            "saved_usd": round(_usd(r.saved), 9),
            "cache_hits": int(r.hits),
        }
        for r in rows
    ]
    return {"by": by, "page": page, "per_page": per_page, "total": total, "data": data}


LIST_COLUMNS = (
    "request_id",
    "created_at",
    "tenant",
    "team",
    "key_id",
    "door",
    "requested_model",
    "tier",
    "model",
    "status",
    "http_status",
    "prompt_tokens",
    "completion_tokens",
    "cost_nanousd",
    "latency_ms",
    "cache",
    "route_score",
    "fallback_from",
)


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


def request_page(
    engine: Engine, window: Window, tier: str | None = None, status: str | None = None, before: str | None = None, per_page: int = 50
) -> dict[str, Any]:
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
    query = select(*columns, reason).where(*conditions).order_by(requests.c.created_at.desc(), requests.c.request_id.desc()).limit(per_page)
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


def route_scores(engine: Engine, window: Window) -> dict[str, Any]:
    """How routed requests' scores spread over [0, 1] in ROUTE_BINS bins, per tier they went to."""
    bins = ROUTE_BINS
    if engine.dialect.name == "sqlite":
        index = cast(requests.c.route_score * bins, Integer)  # SQLite's CAST truncates, as floor does for scores >= 0
    else:
        index = cast(func.floor(requests.c.route_score * bins), Integer)
    routed = [requests.c.route_score.is_not(None), requests.c.routed.is_(True)]
    queries = []
    edges: list[tuple[datetime | None, datetime | None]] = [(window.since, window.until)]
    if not window.scoped:  # the hourly histogram holds every scope together
        table = route_scores_hourly
        whole, edges = _pieces(window, HOUR)
        if whole is not None:
            queries.append(
                select(table.c.bin.label("i"), table.c.tier.label("tier"), func.sum(table.c.requests).label("n"))
                .where(*window._where(table.c.hour, {}, *whole, clip=False))
                .group_by(table.c.bin, table.c.tier)
            )
    tier = func.coalesce(requests.c.tier, "")  # one expression: PostgreSQL matches GROUP BY to SELECT by their parameters too
    for since, until in edges:
        queries.append(
            select(index.label("i"), tier.label("tier"), func.count().label("n"))
            .where(*routed, *window._where(requests.c.created_at, SCOPES, since, until, clip=False))
            .group_by(index, tier)
        )
    counts: dict[str, list[int]] = {}
    with engine.connect() as connection:
        for query in queries:
            for row in connection.execute(query):
                slot = min(max(int(row.i), 0), bins - 1)
                counts.setdefault(row.tier or "(none)", [0] * bins)[slot] += int(row.n)
    return {"bins": [round(i / bins, 4) for i in range(bins + 1)], "series": counts}


def fallbacks(engine: Engine, window: Window) -> list[dict[str, Any]]:
    """Requests a tier other than the chosen one answered, by (chosen, answering) pair."""
    query = (
        select(requests.c.fallback_from, requests.c.tier, func.count().label("n"))
        .where(requests.c.fallback_from.is_not(None), *window.where())
        .group_by(requests.c.fallback_from, requests.c.tier)
        .order_by(func.count().desc())
    )
    with engine.connect() as connection:
        return [{"from": r.fallback_from, "to": r.tier, "requests": int(r.n)} for r in connection.execute(query)]


def daily_spend(
    engine: Engine, column: str, value: str, tenant: str | None, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    """Spend per day of one budget's scope within its window (the burn-down's steps)."""
    scope = {"tenant": tenant or None, column: value}  # a team budget's tenant; a tenant budget's own
    window = Window(since=start, until=end, **scope)
    per_day: dict[str, int] = {}
    for (day,), sums in _figures(engine, window, ("bucket",), bucket="day").items():
        per_day[day] = per_day.get(day, 0) + sums.cost_nanousd
    return [{"day": day, "spend_usd": _usd(cost)} for day, cost in sorted(per_day.items())]
