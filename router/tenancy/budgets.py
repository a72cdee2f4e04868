"""Budgets per key, team or tenant, over a period, hard (refuse) or soft (only reported).

A team budget belongs to one tenant: team `ml` of tenant A and team `ml` of tenant B are two teams.
Team budgets set before that (tenant '') still cover the team of every tenant, as they did, and the
gateway warns about each at start-up.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from router.ledger import to_nanousd
from router.ledger.tables import budgets, requests
from router.tenancy.quota import Bucket

Scope = Literal["key", "team", "tenant"]
Period = Literal["daily", "weekly", "monthly", "total"]
PERIODS: tuple[Period, ...] = ("daily", "weekly", "monthly", "total")
# A billion dollars: past any real budget, and its nano-dollars still fit the ledger's 64-bit integers.
MAX_BUDGET_USD = 10**9
SCOPE_COLUMN = {"key": requests.c.key_id, "team": requests.c.team, "tenant": requests.c.tenant}
CACHE_S = 5.0
NANO = Decimal(1_000_000_000)


def to_limit(dollars: Decimal) -> int:
    """A budget's dollars in the ledger's nano-dollars. An amount that is not 0 but rounds to 0 there is
    refused: `1e-20` was stored as a budget of $0, one that refuses every request, which nobody asked for."""
    nanousd = to_nanousd(dollars)
    if nanousd == 0 and dollars != 0:
        raise ValueError(
            f"{dollars:.3g} dollars is below the ledger's precision of $0.000000001 and would be stored as $0 "
            "(a budget that refuses every request); give at least 0.000000001, or exactly 0 for a zero budget"
        )
    return nanousd


def usd(nanousd: int) -> str:
    """Dollars to the precision that matters: $0.25, $1.00, $0.002, $0.000000150; never "$0.00" for a cost."""
    whole, _, fraction = f"{Decimal(nanousd) / NANO:.9f}".partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def window(period: str, now: datetime) -> tuple[datetime | None, datetime | None, str]:
    """The period window containing `now` (UTC): start, end and a label for counter keys."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day, day + timedelta(days=1), day.strftime("%Y-%m-%d")
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7), start.strftime("%G-W%V")
    if period == "monthly":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        return start, end, start.strftime("%Y-%m")
    if period == "total":
        return None, None, "total"
    raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")


@dataclass(frozen=True)
class Budget:
    budget_id: str
    scope: str
    scope_id: str
    period: str
    limit_nanousd: int
    hard: bool
    tenant: str = ""  # a team budget's tenant; '' for other scopes (and legacy team budgets: every tenant)

    def who(self) -> str:
        if self.scope != "team":
            return f"{self.scope} {self.scope_id}"
        return f"team {self.scope_id} of tenant {self.tenant}" if self.tenant else f"team {self.scope_id} (every tenant)"

    def describe(self) -> str:
        return f"{self.period} {'hard' if self.hard else 'soft'} budget of {usd(self.limit_nanousd)} for {self.who()}"


class BudgetBook:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: tuple[float, list[Budget]] | None = None

    def set(
        self, scope: Scope, scope_id: str, period: str, limit_nanousd: int, hard: bool = True, tenant: str | None = None
    ) -> Budget:
        """Set or replace a budget. A team budget needs its tenant: team names are only unique within one."""
        owner = self._check(scope, period, limit_nanousd, tenant)
        try:
            with self.engine.begin() as connection:
                budget_id = self._upsert(connection, scope, scope_id, period, limit_nanousd, hard, owner)
        except IntegrityError:
            # Another writer inserted this budget between our look-up and our insert (two PUTs of one new
            # budget at once): it exists now, so the second try updates it. Without the retry, a 500.
            with self.engine.begin() as connection:
                budget_id = self._upsert(connection, scope, scope_id, period, limit_nanousd, hard, owner)
        self._cache = None
        return Budget(budget_id, scope, scope_id, period, limit_nanousd, hard, owner)

    def set_within(
        self, connection: Connection, scope: Scope, scope_id: str, period: str, limit_nanousd: int, hard: bool = True,
        tenant: str | None = None,
    ) -> Budget:
        """`set` inside the caller's transaction (a new key's budget, stored with the key or not at all).
        No retry: a failure rolls the caller's transaction back. The caller calls `forget` once it commits."""
        owner = self._check(scope, period, limit_nanousd, tenant)
        budget_id = self._upsert(connection, scope, scope_id, period, limit_nanousd, hard, owner)
        return Budget(budget_id, scope, scope_id, period, limit_nanousd, hard, owner)

    def forget(self) -> None:
        """Drop the cached budgets: the next look-up reads them again."""
        self._cache = None

    @staticmethod
    def _check(scope: Scope, period: str, limit_nanousd: int, tenant: str | None) -> str:
        window(period, datetime.now(UTC))  # validates the period
        if scope not in SCOPE_COLUMN:
            raise ValueError(f"unknown scope {scope!r}; use key, team or tenant")
        if limit_nanousd < 0:
            raise ValueError("a budget cannot be negative")
        if scope == "team" and not tenant:
            raise ValueError("a team budget needs its tenant (--tenant): teams of different tenants are different teams")
        if scope != "team" and tenant:
            raise ValueError(f"a {scope} budget takes no tenant; only team budgets do")
        return tenant or ""

    @staticmethod
    def _upsert(
        connection: Connection, scope: Scope, scope_id: str, period: str, limit_nanousd: int, hard: bool, owner: str
    ) -> str:
        existing = connection.execute(
            select(budgets.c.budget_id).where(budgets.c.scope == scope, budgets.c.scope_id == scope_id,
                                              budgets.c.period == period, budgets.c.tenant == owner)
        ).first()
        if existing:
            budget_id = existing.budget_id
            connection.execute(update(budgets).where(budgets.c.budget_id == budget_id).values(limit_nanousd=limit_nanousd, hard=hard))
        else:
            budget_id = "bud_" + secrets.token_hex(6)
            connection.execute(
                insert(budgets).values(
                    budget_id=budget_id, scope=scope, scope_id=scope_id, period=period, limit_nanousd=limit_nanousd,
                    hard=hard, tenant=owner, created_at=datetime.now(UTC),
                )
            )
        return budget_id

    def remove(self, budget_id: str) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(delete(budgets).where(budgets.c.budget_id == budget_id))
        self._cache = None
        return result.rowcount > 0

    def cached(self) -> bool:
        return self._cache is not None and time.monotonic() - self._cache[0] < CACHE_S

    def all(self) -> list[Budget]:
        if self._cache is not None and time.monotonic() - self._cache[0] < CACHE_S:
            return self._cache[1]
        with self.engine.connect() as connection:
            rows = connection.execute(select(budgets).order_by(budgets.c.created_at)).all()
        found = [Budget(r.budget_id, r.scope, r.scope_id, r.period, r.limit_nanousd, r.hard, r.tenant) for r in rows]
        self._cache = (time.monotonic(), found)
        return found

    def covering(self, key_id: str | None, team: str, tenant: str) -> list[Budget]:
        ids = {"key": key_id, "team": team, "tenant": tenant}
        return [b for b in self.all() if ids.get(b.scope) == b.scope_id and (b.scope != "team" or b.tenant in ("", tenant))]

    def legacy_team_budgets(self) -> list[Budget]:
        """Team budgets from before team budgets were per tenant: they cover the team of every tenant."""
        return [b for b in self.all() if b.scope == "team" and not b.tenant]

    def spent(self, budget: Budget, start: datetime | None, end: datetime | None) -> int:
        """Settled spend in a window, from the ledger (the source of truth)."""
        query = select(func.coalesce(func.sum(requests.c.cost_nanousd), 0)).where(SCOPE_COLUMN[budget.scope] == budget.scope_id)
        if budget.scope == "team" and budget.tenant:
            query = query.where(requests.c.tenant == budget.tenant)
        if start is not None:
            query = query.where(requests.c.created_at >= start)
        if end is not None:
            query = query.where(requests.c.created_at < end)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def buckets(self, covering: list[Budget], now: datetime | None = None) -> list[Bucket]:
        now = now or datetime.now(UTC)
        out = []
        for budget in covering:
            start, end, label = window(budget.period, now)
            expires = (end or now + timedelta(days=3650)).timestamp() + 86400
            out.append(
                Bucket(
                    key=f"sy:budget:{budget.budget_id}:{label}",
                    name=budget.describe(),
                    limit=budget.limit_nanousd,
                    hard=budget.hard,
                    expires_at=expires,
                    seed=lambda b=budget, s=start, e=end: self.spent(b, s, e),
                )
            )
        return out
