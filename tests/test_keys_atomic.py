"""Keys and their budgets under failure and contention, through the admin API and the CLI, on SQLite and
PostgreSQL: a key is stored with its budget or not at all, overlapping rotations of one key leave every
secret they answered with working (one wins, the others are told to retry), and amounts and limits are
taken as the operator wrote them or refused, never rounded to $0 or coerced from strings.

The app runs in-process (httpx's ASGI transport, the real openai SDK to use a key) with the fake engine.
Interleavings are made with the database, not with time: a trigger that refuses budgets, and a hook on
SQLAlchemy's cursor events that holds each rotation's write until all of them have read the key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from policies.loader import load_policy_text
from router.app import create_app
from router.cli import app as cli
from router.gateway import Gateway
from router.ledger import Ledger
from router.ledger.tables import api_keys, budgets

ADMIN_KEY = "sy-admin-keys-atomic-0123456789abcdef"
POLICY = """version: 1
name: keys-atomic
tiers:
  local:
    engine: fake
    model: local-fake
    prices: {input_per_mtok: 0.01, output_per_mtok: 0.02}
routing: {classifier: rules}
cache: {exact: false, semantic: false}
"""
ROTATIONS = 4  # under the default executor's smallest size (5 threads on one CPU): every rotation runs at once


class InProcess:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.gateway = Gateway(load_policy_text(POLICY), ledger=Ledger(database_url, sync="full"))
        self.app = create_app(self.gateway)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False), base_url="http://gateway", timeout=60
        )
        self.run(self.gateway.start())

    @property
    def engine(self) -> Engine:
        return self.gateway.ledger.engine

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.run(self.client.request(method, path, headers={"authorization": f"Bearer {ADMIN_KEY}"}, **kwargs))

    def works(self, key: str) -> bool:
        """Whether a client with this key gets an answer, asked the way a client asks (the openai SDK)."""
        client = openai.AsyncOpenAI(base_url="http://gateway/v1", api_key=key, max_retries=0, http_client=self.client)
        try:
            self.run(client.chat.completions.create(model="local-fake", messages=[{"role": "user", "content": "hi"}]))
        except openai.AuthenticationError:
            return False
        return True

    def count(self, table: Any) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.gateway.aclose())
        self.loop.close()


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("SWITCHYARD_POLICY_POLL_S", "0")


@pytest.fixture(params=["sqlite", "postgresql"])
def gw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InProcess]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_schema_url")
    app = InProcess(url)
    yield app
    app.close()


def _error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    if code is not None:
        assert error["code"] == code, error
    return error


def _cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _refuse_budgets(gw: InProcess) -> None:
    """A trigger that makes the database refuse every new budget row, as a failing disk or a constraint would."""
    with gw.engine.begin() as connection:
        if gw.gateway.ledger.is_sqlite:
            connection.execute(text("CREATE TRIGGER refuse_budgets BEFORE INSERT ON budgets "
                                    "BEGIN SELECT RAISE(ABORT, 'budgets refused'); END"))
        else:
            connection.execute(text("CREATE FUNCTION refuse_budgets() RETURNS trigger LANGUAGE plpgsql AS "
                                    "$$ BEGIN RAISE EXCEPTION 'budgets refused'; END $$"))
            connection.execute(text("CREATE TRIGGER refuse_budgets BEFORE INSERT ON budgets "
                                    "FOR EACH ROW EXECUTE FUNCTION refuse_budgets()"))


# -- a key and its budget: both or neither ----------------------------------------------------------


def test_a_key_whose_budget_the_database_refuses_is_not_stored(gw: InProcess) -> None:
    """The key was inserted and committed before its budget: a refused budget left a key that spent without limit."""
    _refuse_budgets(gw)
    error = _error(gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml", "budget_usd": "5"}), 500, "key_not_created")
    assert "neither was stored" in error["message"]
    assert gw.count(api_keys) == 0 and gw.count(budgets) == 0
    assert gw.admin("GET", "/admin/keys").json()["data"] == []
    # A key without a budget needs no budget row, and is still made.
    assert gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml"}).status_code == 201


def test_the_cli_stores_no_key_when_its_budget_is_refused(gw: InProcess) -> None:
    _refuse_budgets(gw)
    result = _cli("keys", "create", "--tenant", "acme", "--team", "ml", "--budget-usd", "5", "--database-url", gw.database_url)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "nothing was stored" in result.output and "Traceback" not in result.output
    assert "sk-sy-" not in result.output
    assert gw.count(api_keys) == 0 and gw.count(budgets) == 0


def test_a_key_and_its_budget_are_stored_together(gw: InProcess) -> None:
    made = gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml", "budget_usd": "0.5", "period": "daily"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["budget"] == f"daily hard budget of $0.50 for key {body['key_id']}"
    # The gateway's own cached book sees it at once: a stale cache would let the new key spend unlimited for seconds.
    covering = gw.gateway.tenancy.budgets.covering(body["key_id"], "ml", "acme")
    assert [(b.scope, b.limit_nanousd) for b in covering] == [("key", 500_000_000)]
    assert gw.works(body["key"])


# -- overlapping rotations: one wins, the others retry --------------------------------------------


class HoldRotations:
    """Holds each rotation's UPDATE until `parties` of them have reached it: all have read the key's
    secret before any writes one; `then` runs once they all have. A hook on SQLAlchemy's cursor events;
    nothing of ours is replaced."""

    def __init__(self, target: Any, parties: int, then: Callable[[], None] | None = None) -> None:
        self.target = target
        self.barrier = threading.Barrier(parties, action=self._then)
        self.action = then
        self.inside = threading.local()
        event.listen(target, "before_cursor_execute", self._before)

    def _then(self) -> None:
        if self.action is not None:
            self.inside.active = True  # what the action writes is not held
            try:
                self.action()
            finally:
                self.inside.active = False

    def _before(self, *args: Any) -> None:
        statement: str = args[2]
        if statement.lstrip().upper().startswith("UPDATE API_KEYS") and not getattr(self.inside, "active", False):
            self.barrier.wait(timeout=60)  # a bound, not a pace: it is reached at once when all run

    def close(self) -> None:
        event.remove(self.target, "before_cursor_execute", self._before)


def test_concurrent_rotations_one_wins_and_every_secret_answered_works(gw: InProcess) -> None:
    made = gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml"}).json()
    hold = HoldRotations(gw.engine, ROTATIONS)
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}

    async def rotate_all() -> list[httpx.Response]:
        return await asyncio.gather(*[gw.client.post(f"/admin/keys/{made['key_id']}/rotate", headers=headers) for _ in range(ROTATIONS)])

    try:
        answers = gw.run(rotate_all())
    finally:
        hold.close()
    assert sorted(a.status_code for a in answers) == [200] + [409] * (ROTATIONS - 1), [a.text for a in answers]
    (won,) = [a.json() for a in answers if a.status_code == 200]
    for lost in (a for a in answers if a.status_code == 409):
        error = _error(lost, 409, "rotation_conflict")
        assert error["type"] == "invalid_request_error" and "Retry" in error["message"] and made["key_id"] in error["message"]
        assert "sk-sy-" not in lost.text  # a loser shows no secret: none of its making works
    assert won["key"].startswith(won["prefix"]) and won["key_id"] == made["key_id"]
    assert gw.works(won["key"]) and not gw.works(made["key"])
    # Told to retry, the operator can: a rotation alone wins.
    again = gw.admin("POST", f"/admin/keys/{made['key_id']}/rotate")
    assert again.status_code == 200, again.text
    assert gw.works(again.json()["key"]) and not gw.works(won["key"])


def test_a_rotation_and_a_revocation_at_once_leave_no_working_secret(gw: InProcess) -> None:
    """The revocation wins the race: the rotation finds no live key (404), never a secret that does not work."""
    made = gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml"}).json()

    def revoke() -> None:
        assert gw.gateway.tenancy.keys.revoke(made["key_id"])

    hold = HoldRotations(gw.engine, 1, then=revoke)
    try:
        answer = gw.admin("POST", f"/admin/keys/{made['key_id']}/rotate")
    finally:
        hold.close()
    _error(answer, 404, "key_not_found")
    assert not gw.works(made["key"])


def test_the_cli_says_a_rotation_lost_to_another_and_exits_non_zero(gw: InProcess) -> None:
    """The CLI reads the key, then the admin API rotates it, then the CLI writes: it must lose, not win
    over a secret the admin API has already shown."""
    made = gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml"}).json()
    other: dict[str, Any] = {}

    def rotate_elsewhere() -> None:
        other["answer"] = gw.gateway.tenancy.keys.rotate(made["key_id"])

    # The CLI opens its own engine, so the hook is on every engine; the first UPDATE of a key is the CLI's.
    state = {"first": True}

    def before(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("UPDATE API_KEYS") and state["first"]:
            state["first"] = False
            rotate_elsewhere()

    event.listen(Engine, "before_cursor_execute", before)
    try:
        result = _cli("keys", "rotate", made["key_id"], "--database-url", gw.database_url)
    finally:
        event.remove(Engine, "before_cursor_execute", before)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "conflict" in result.output and "Retry" in result.output and "Traceback" not in result.output
    assert "sk-sy-" not in result.output
    secret = other["answer"][0]
    assert gw.works(secret) and not gw.works(made["key"])


# -- amounts and limits as written ----------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1e-20", "0.0000000001", "4E-10"])
def test_an_amount_that_rounds_to_zero_is_refused(gw: InProcess, amount: str) -> None:
    """`1e-20` was stored as a budget of $0: one that refuses every request, which nobody asked for."""
    error = _error(gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml", "budget_usd": amount}), 400, "invalid_value")
    assert error["param"] == "budget_usd" and "precision" in error["message"]
    body = {"scope": "tenant", "scope_id": "acme", "usd": float(amount)}  # a JSON number this time
    error = _error(gw.admin("PUT", "/admin/budgets", json=body), 400, "invalid_value")
    assert error["param"] == "usd" and "precision" in error["message"]
    for args in (("keys", "create", "--tenant", "acme", "--team", "ml", "--budget-usd", amount),
                 ("budgets", "set", "--tenant", "acme", "--usd", amount)):
        result = _cli(*args, "--database-url", gw.database_url)
        assert result.exit_code == 2, result.output
        assert "precision" in result.output and "Traceback" not in result.output
    assert gw.count(api_keys) == 0 and gw.count(budgets) == 0


def test_a_zero_budget_and_the_smallest_one_are_kept(gw: InProcess) -> None:
    zero = gw.admin("PUT", "/admin/budgets", json={"scope": "tenant", "scope_id": "acme", "usd": 0})
    assert zero.status_code == 200 and "$0.00" in zero.json()["description"], zero.text
    result = _cli("budgets", "set", "--tenant", "beta", "--usd", "0.000000001", "--database-url", gw.database_url)
    assert result.exit_code == 0 and "$0.000000001" in result.output, result.output


@pytest.mark.parametrize(("field", "value"), [("rpm", "5"), ("tpm", "100"), ("rpm", 5.5), ("rpm", True)])
def test_a_limit_must_be_a_json_integer(gw: InProcess, field: str, value: Any) -> None:
    """Lax validation took the string "5" for 5 (and true for 1)."""
    error = _error(gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml", field: value}), 400, "invalid_value")
    assert error["param"] == field
    if isinstance(value, str):
        assert "not a string" in error["message"]
    assert gw.count(api_keys) == 0
    made = gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml", field: 5})
    assert made.status_code == 201 and made.json()[field] == 5, made.text


def test_hard_must_be_a_json_boolean(gw: InProcess) -> None:
    """Lax validation read "no" and "off" as false: a budget meant to refuse only reported."""
    error = _error(gw.admin("PUT", "/admin/budgets", json={"scope": "tenant", "scope_id": "acme", "usd": 1, "hard": "no"}), 400)
    assert error["param"] == "hard" and "not a string" in error["message"]
    assert gw.count(budgets) == 0
