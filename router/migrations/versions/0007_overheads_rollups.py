"""requests.cascade_nanousd and requests.overhead_nanousd: what routing and caching cost besides answers;
requests_hourly, requests_daily, requests_daily_scope and route_scores_hourly: sums of the ledger kept by a trigger on every
insert into requests, so the console answers on a million-row ledger without scanning it.

A trigger rather than the ledger's writer: it fires only for rows the database really took (a journal
replay's ON CONFLICT DO NOTHING skips rows already there, and their sums with them), in the same
transaction, whoever inserts (the writer, a replay, a bulk load).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SUMS = ("prompt_tokens", "completion_tokens", "cost_nanousd", "saved_nanousd", "cascade_nanousd", "overhead_nanousd")
# requests_daily_scope: answered requests per day and team, tenant or key alone, for spend per team, tenant or
# key: without the tier and the other scopes in its key it holds a tenth of requests_daily's rows.
SCOPES = {"team": "team", "tenant": "tenant", "key": "key_id"}
SCOPE_SUMS = ("prompt_tokens", "completion_tokens", "cost_nanousd", "saved_nanousd")
BINS = 20  # route-score bins of route_scores_hourly (router/console/queries.py ROUTE_BINS)


def _sum_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("hit", sa.Boolean, primary_key=True),
        sa.Column("ok", sa.Boolean, primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in SUMS),
    ]


def _sqlite_bucket(size: int) -> str:
    # created_at is stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): the bucket in the same form, so it reads back as a datetime.
    return f"substr(NEW.created_at, 1, {size}) || '{' 00:00:00.000000' if size == 10 else ':00:00.000000'}'"


def _pg_bucket(unit: str) -> str:
    return f"date_trunc('{unit}', NEW.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def _upsert(table: str, keys: dict[str, str], hit: str, ok: str) -> str:
    names = [*keys, "hit", "ok", "requests", *SUMS]
    values = [*keys.values(), hit, ok, "1", *(f"NEW.{name}" for name in SUMS)]
    updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in ("requests", *SUMS))
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(values)}) "
        f"ON CONFLICT ({', '.join([*keys, 'hit', 'ok'])}) DO UPDATE SET {updates};"
    )


def _scope_upsert(scope: str, value: str, day: str, hit: str) -> str:
    names = ["day", "scope", "value", "requests", "hits", *SCOPE_SUMS]
    values = [day, f"'{scope}'", f"coalesce(NEW.{value}, '')", "1", f"CASE WHEN {hit} THEN 1 ELSE 0 END", *(f"NEW.{n}" for n in SCOPE_SUMS)]
    updates = ", ".join(f"{n} = requests_daily_scope.{n} + excluded.{n}" for n in ("requests", "hits", *SCOPE_SUMS))
    return (
        f"INSERT INTO requests_daily_scope ({', '.join(names)}) SELECT {', '.join(values)} WHERE NEW.status = 'ok' "
        f"ON CONFLICT (scope, day, value) DO UPDATE SET {updates};"
    )


def _statements(dialect: str) -> list[str]:
    sqlite = dialect == "sqlite"
    hour = _sqlite_bucket(13) if sqlite else _pg_bucket("hour")
    day = _sqlite_bucket(10) if sqlite else _pg_bucket("day")
    hit = "(NEW.cache LIKE 'hit%')"
    ok = "(NEW.status = 'ok')"
    tier = "coalesce(NEW.tier, '')"
    score_bin = (
        f"min(max(CAST(NEW.route_score * {BINS} AS INTEGER), 0), {BINS - 1})"
        if sqlite
        else f"least(greatest(floor(NEW.route_score * {BINS})::integer, 0), {BINS - 1})"
    )
    body = [
        _upsert("requests_hourly", {"hour": hour, "tier": tier}, hit, ok),
        _upsert(
            "requests_daily",
            {"day": day, "tenant": "NEW.tenant", "team": "NEW.team", "key_id": "coalesce(NEW.key_id, '')", "tier": tier},
            hit,
            ok,
        ),
    ]
    routed = "NEW.routed AND NEW.route_score IS NOT NULL"
    scores = (
        f"INSERT INTO route_scores_hourly (hour, tier, bin, requests) SELECT {hour}, {tier}, {score_bin}, 1 "
        f"WHERE {routed} ON CONFLICT (hour, tier, bin) DO UPDATE SET requests = route_scores_hourly.requests + 1;"
    )
    body += [_scope_upsert(scope, value, day, hit) for scope, value in SCOPES.items()]
    if sqlite:
        return [f"CREATE TRIGGER requests_rollup AFTER INSERT ON requests BEGIN {' '.join(body)} {scores} END"]
    return [
        f"CREATE FUNCTION requests_rollup() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {' '.join(body)} {scores} RETURN NULL; END $$",
        "CREATE TRIGGER requests_rollup AFTER INSERT ON requests FOR EACH ROW EXECUTE FUNCTION requests_rollup()",
    ]


def _backfill(dialect: str) -> list[str]:
    """The sums of the rows already in the ledger."""
    sqlite = dialect == "sqlite"

    def bucket(size: int, unit: str) -> str:
        return (_sqlite_bucket(size) if sqlite else _pg_bucket(unit)).replace("NEW.", "")

    sums = ", ".join(f"coalesce(sum({name}), 0)" for name in SUMS)
    names = f"hit, ok, requests, {', '.join(SUMS)}"
    flags = "(cache LIKE 'hit%'), (status = 'ok'), count(*)"
    score_bin = (
        f"min(max(CAST(route_score * {BINS} AS INTEGER), 0), {BINS - 1})"
        if sqlite
        else f"least(greatest(floor(route_score * {BINS})::integer, 0), {BINS - 1})"
    )
    hour, day = bucket(13, "hour"), bucket(10, "day")
    return [
        f"INSERT INTO requests_hourly (hour, tier, {names}) SELECT {hour}, coalesce(tier, ''), {flags}, {sums} FROM requests "
        f"GROUP BY {hour}, coalesce(tier, ''), (cache LIKE 'hit%'), (status = 'ok')",
        f"INSERT INTO requests_daily (day, tenant, team, key_id, tier, {names}) SELECT {day}, tenant, team, coalesce(key_id, ''), "
        f"coalesce(tier, ''), {flags}, {sums} FROM requests "
        f"GROUP BY {day}, tenant, team, coalesce(key_id, ''), coalesce(tier, ''), (cache LIKE 'hit%'), (status = 'ok')",
        f"INSERT INTO route_scores_hourly (hour, tier, bin, requests) SELECT {hour}, coalesce(tier, ''), {score_bin}, count(*) "
        f"FROM requests WHERE routed AND route_score IS NOT NULL GROUP BY {hour}, coalesce(tier, ''), {score_bin}",
        *(
            f"INSERT INTO requests_daily_scope (day, scope, value, requests, hits, {', '.join(SCOPE_SUMS)}) SELECT {day}, '{scope}', "
            f"coalesce({value}, ''), count(*), sum(CASE WHEN cache LIKE 'hit%' THEN 1 ELSE 0 END), "
            f"{', '.join(f'coalesce(sum({n}), 0)' for n in SCOPE_SUMS)} FROM requests WHERE status = 'ok' "
            f"GROUP BY {day}, coalesce({value}, '')"
            for scope, value in SCOPES.items()
        ),
    ]


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("cascade_nanousd", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("overhead_nanousd", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "requests_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("tier", sa.String(64), primary_key=True),
        *_sum_columns(),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "requests_daily",
        sa.Column("day", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("team", sa.String(128), primary_key=True),
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("tier", sa.String(64), primary_key=True),
        *_sum_columns(),
        sqlite_with_rowid=False,
    )
    # A scope's figures (a team's burn-down, a tenant's overview) read only that scope's days.
    for column in ("tenant", "team", "key_id"):
        op.create_index(f"ix_requests_daily_{column}", "requests_daily", [column, "day"])
    op.create_table(
        "requests_daily_scope",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("day", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("value", sa.String(128), primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("hits", sa.BigInteger, nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in SCOPE_SUMS),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "route_scores_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("tier", sa.String(64), primary_key=True),
        sa.Column("bin", sa.Integer, primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    # The few requests a fallback answered, found without a scan; a tenant's newest requests, in order (teams'
    # and keys' have had theirs since 0002).
    op.create_index(
        "ix_requests_fallback",
        "requests",
        ["fallback_from", "created_at"],
        sqlite_where=sa.text("fallback_from IS NOT NULL"),
        postgresql_where=sa.text("fallback_from IS NOT NULL"),
    )
    op.create_index("ix_requests_tenant_created_at", "requests", ["tenant", "created_at"])
    dialect = op.get_bind().dialect.name
    for statement in _backfill(dialect) + _statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS requests_rollup")
    else:
        op.execute("DROP TRIGGER IF EXISTS requests_rollup ON requests")
        op.execute("DROP FUNCTION IF EXISTS requests_rollup()")
    for name in ("ix_requests_tenant_created_at", "ix_requests_fallback"):
        op.drop_index(name, table_name="requests")
    op.drop_table("route_scores_hourly")
    op.drop_table("requests_daily_scope")
    for column in ("tenant", "team", "key_id"):
        op.drop_index(f"ix_requests_daily_{column}", table_name="requests_daily")
    op.drop_table("requests_daily")
    op.drop_table("requests_hourly")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("overhead_nanousd")
        batch.drop_column("cascade_nanousd")
