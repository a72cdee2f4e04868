"""`switchyard keys ...` and `switchyard budgets ...`: tenants' keys and budgets, on the ledger DB."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from policies.settings import DATABASE_HELP
from policies.settings import current as current_settings
from router.errors import redact_credentials
from router.ledger import Ledger
from router.tenancy.budgets import MAX_BUDGET_USD, PERIODS, BudgetBook, to_limit, window
from router.tenancy.keys import CONTROL_CHARACTERS, MAX_PER_MINUTE, KeyStore, RotationConflict

keys_app = typer.Typer(help="Virtual API keys: each maps to a tenant and a team.", no_args_is_help=True)
budgets_app = typer.Typer(help="Spend limits per key, team or tenant.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
DatabaseOption = Annotated[str | None, typer.Option(help=DATABASE_HELP)]


def open_ledger(database_url: str | None) -> Ledger:
    """The ledger, migrated, or one line on why not (exit 2): a bad URL, an unknown driver, a database that
    does not answer or a path that is a folder was a SQLAlchemy traceback in every command that reads it."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from router.errors import redact_credentials

    def refuse(why: str) -> typer.Exit:
        err.print(f"cannot open the ledger (--database-url or SWITCHYARD_DATABASE_URL): {redact_credentials(why)}",
                  highlight=False, markup=False)
        return typer.Exit(2)

    url = database_url or current_settings().database_url
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            # SQLite's in-memory database: a key created there was printed, then gone with the process.
            raise refuse(f"{redact_credentials(url)!r} names no file: an in-memory ledger keeps nothing past this command")
        ledger = Ledger(database_url)
        ledger.migrate()
    # ValueError: a port that is not a number; ImportError: a driver that is not installed (mysql://).
    except (SQLAlchemyError, OSError, ValueError, ImportError) as exc:
        raise refuse((str(exc).strip().splitlines() or [type(exc).__name__])[0]) from None
    return ledger



def _usd(value: str) -> int:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not an amount in dollars") from None
    if not amount.is_finite():  # comparing a NaN Decimal raises InvalidOperation: it was a traceback
        raise typer.BadParameter(f"{value!r} is not an amount in dollars")
    if not 0 <= amount <= MAX_BUDGET_USD:
        raise typer.BadParameter(f"a budget is from $0 to ${MAX_BUDGET_USD:,}")
    try:
        return to_limit(amount)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _period(value: str) -> str:
    if value not in PERIODS:
        raise typer.BadParameter(f"use one of {', '.join(PERIODS)}")
    return value


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="The tenant the key belongs to.")],
    team: Annotated[str, typer.Option(help="The team within the tenant (spend reports group by it).")],
    name: Annotated[str | None, typer.Option(help="A label for people.")] = None,
    budget_usd: Annotated[str | None, typer.Option(help="A hard budget for this key, in dollars.")] = None,
    period: Annotated[str, typer.Option(help="daily, weekly, monthly or total.", callback=_period)] = "monthly",
    rpm: Annotated[int | None, typer.Option(min=1, max=MAX_PER_MINUTE, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(min=1, max=MAX_PER_MINUTE, help="Tokens per minute.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    # Checked before the key exists: a bad amount refused after it left a stored key that was never shown.
    limit = _usd(budget_usd) if budget_usd is not None else None
    if not tenant.strip() or not team.strip():
        raise typer.BadParameter("--tenant and --team must not be empty: spend is reported and limited by them")
    for option, value in (("--tenant", tenant), ("--team", team), ("--name", name or "")):
        if CONTROL_CHARACTERS.search(value):  # PostgreSQL refuses a NUL in text: a traceback there
            raise typer.BadParameter("control characters are not allowed", param_hint=option)
    ledger = open_ledger(database_url)
    store = KeyStore(ledger.engine)
    budget = None
    try:
        if limit is None:
            key, info = store.create(tenant, team, name, rpm, tpm)
        else:  # one transaction: a key whose budget failed was stored and spent without limit
            key, info, budget = store.create_with_budget(BudgetBook(ledger.engine), period, limit, tenant, team, name, rpm, tpm)
    except SQLAlchemyError as exc:
        err.print(f"the database refused the key{' or its budget' if limit is not None else ''}, so nothing was stored "
                  f"(no key exists): {redact_credentials((str(exc).strip().splitlines() or [type(exc).__name__])[0])}",
                  highlight=False, markup=False)
        raise typer.Exit(1) from None
    finally:
        ledger.close()
    if as_json:
        payload = {"key": key, **info.public(), "budget": budget.describe() if budget else None}
        out.print(orjson.dumps(payload).decode(), highlight=False)
        return
    line = f"key {info.key_id} for tenant {tenant}, team {team}" + (f"; {budget.describe()}" if budget else "")
    out.print(line, highlight=False, markup=False)
    out.print(key, highlight=False)
    err.print("This is the only time the key is shown. Store it now.")


@keys_app.command("list")
def list_keys(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List keys (never their secrets)."""
    ledger = open_ledger(database_url)
    keys = KeyStore(ledger.engine).list(include_revoked=all_keys)
    ledger.close()
    if as_json:
        out.print(orjson.dumps([k.public() for k in keys]).decode(), highlight=False)
        return
    table = Table("key id", "prefix", "tenant", "team", "name", "rpm", "tpm", "created", "revoked")
    for k in keys:
        # Names are the operator's text, not markup: "[/x]" in a tenant raised MarkupError here.
        table.add_row(k.key_id, k.prefix + "…", escape(k.tenant), escape(k.team), escape(k.name or ""), str(k.rpm or ""), str(k.tpm or ""),
                      k.created_at.strftime("%Y-%m-%d %H:%M") if k.created_at else "",
                      k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "")
    out.print(table)


@keys_app.command("revoke")
def revoke(key_id: str, database_url: DatabaseOption = None) -> None:
    """Revoke a key: replicas stop accepting it within seconds."""
    ledger = open_ledger(database_url)
    done = KeyStore(ledger.engine).revoke(key_id)
    ledger.close()
    if not done:
        err.print(f"no live key {key_id}", highlight=False, markup=False)
        raise typer.Exit(1)
    out.print(f"revoked {key_id}")


@keys_app.command("rotate")
def rotate(key_id: str, database_url: DatabaseOption = None) -> None:
    """Give a key a new secret; its tenant, team, limits and budgets stay, the old secret stops."""
    ledger = open_ledger(database_url)
    try:
        result = KeyStore(ledger.engine).rotate(key_id)
    except RotationConflict as exc:
        err.print(f"conflict: {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    finally:
        ledger.close()
    if result is None:
        err.print(f"no live key {key_id}", highlight=False, markup=False)
        raise typer.Exit(1)
    out.print(result[0], highlight=False)
    err.print("This is the only time the new key is shown. Store it now.")


@budgets_app.command("set")
def set_budget(
    usd: Annotated[str, typer.Option(help="The limit in dollars.")],
    key: Annotated[str | None, typer.Option(help="A key id.")] = None,
    team: Annotated[str | None, typer.Option(help="A team (with --tenant: the tenant it belongs to).")] = None,
    tenant: Annotated[str | None, typer.Option(help="A tenant; with --team, the team's tenant.")] = None,
    period: Annotated[str, typer.Option(help="daily, weekly, monthly or total.", callback=_period)] = "monthly",
    soft: Annotated[bool, typer.Option(help="Only report overruns, never refuse.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Set (or replace) the budget of one key, one team of a tenant, or one tenant, for a period."""
    if key and (team or tenant):
        raise typer.BadParameter("--key takes neither --team nor --tenant")
    if team and not tenant:
        raise typer.BadParameter("a team budget needs --tenant too: teams of different tenants are different teams")
    if not (key or team or tenant):
        raise typer.BadParameter("give --key, --team with --tenant, or --tenant")
    scope, scope_id = ("key", key) if key else ("team", team) if team else ("tenant", tenant)
    limit = _usd(usd)
    ledger = open_ledger(database_url)
    try:
        known = KeyStore(ledger.engine).list(include_revoked=True)
        if key and not any(k.key_id == key for k in known):
            # Key ids are made by `keys create`: a budget on any other id never applies to anything.
            err.print(f"no key {key} (see `switchyard keys list`)", highlight=False, markup=False)
            raise typer.Exit(1)
        if not key and not any(k.tenant == tenant and (team is None or k.team == team) for k in known):
            # Keys may come later, so this is set; but a misspelt name would leave the real one unlimited.
            who = f"team {team} of tenant {tenant}" if team else f"tenant {tenant}"
            err.print(f"note: no key belongs to {who} yet: the budget applies to its keys once they exist", highlight=False, markup=False)
        budget = BudgetBook(ledger.engine).set(scope, scope_id, period, limit, hard=not soft,  # type: ignore[arg-type]
                                               tenant=tenant if scope == "team" else None)
    finally:
        ledger.close()
    out.print(f"{budget.budget_id}: {budget.describe()}", highlight=False, markup=False)


@budgets_app.command("list")
def list_budgets(as_json: Annotated[bool, typer.Option("--json")] = False, database_url: DatabaseOption = None) -> None:
    """Budgets with what the ledger says is spent in the current window."""
    from datetime import UTC, datetime

    ledger = open_ledger(database_url)
    book = BudgetBook(ledger.engine)
    rows = []
    for budget in book.all():
        start, end, label = window(budget.period, datetime.now(UTC))
        spent = book.spent(budget, start, end)
        rows.append({"budget_id": budget.budget_id, "scope": budget.scope, "scope_id": budget.scope_id, "tenant": budget.tenant or None,
                     "who": budget.who(), "period": budget.period,
                     "window": label, "limit_usd": budget.limit_nanousd / 1e9, "spent_usd": spent / 1e9, "hard": budget.hard})
    ledger.close()
    if as_json:
        out.print(orjson.dumps(rows).decode(), highlight=False)
        return
    table = Table("budget", "scope", "who", "period", "window", "limit $", "spent $", "kind")
    for r in rows:
        table.add_row(r["budget_id"], r["scope"], escape(r["who"]), r["period"], r["window"], f"{r['limit_usd']:.4f}",
                      f"{r['spent_usd']:.6f}", "hard" if r["hard"] else "soft")
    out.print(table)


@budgets_app.command("remove")
def remove_budget(budget_id: str, database_url: DatabaseOption = None) -> None:
    """Remove a budget."""
    ledger = open_ledger(database_url)
    done = BudgetBook(ledger.engine).remove(budget_id)
    ledger.close()
    if not done:
        err.print(f"no budget {budget_id}", highlight=False, markup=False)
        raise typer.Exit(1)
    out.print(f"removed {budget_id}")
