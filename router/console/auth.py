"""Console sessions: sign in with the admin key, then an HttpOnly, SameSite=Strict cookie.

Sessions live in the ledger's database (table `console_sessions`), so a session opened on one
replica works on every other and survives a restart, and signing out on any replica ends it on all.
They expire after SWITCHYARD_CONSOLE_SESSION_S seconds (8 hours by default), checked on every
read; expired rows are swept when someone signs in. The cookie holds a random token; the database
keeps only an HMAC-SHA256 of it keyed by the admin key, so a copy of the table hands out no live
session, and changing the admin key (restarting replicas with a new SWITCHYARD_ADMIN_KEY) ends
every session opened under the old one. Each session has a CSRF token that every state-changing
request must echo in the X-CSRF-Token header (or a csrf form field): a cookie alone, which a
foreign page can make the browser send, changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine
from starlette.requests import Request

from policies.settings import current as current_settings
from router.errors import APIError
from router.ledger.tables import console_sessions as table

COOKIE = "switchyard_console"
MAX_SESSIONS = 1000  # oldest dropped beyond this: signing in in a loop cannot grow the table without bound
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
T = TypeVar("T")


def session_seconds() -> float:
    return current_settings().console_session_s


class FailedSignIns:
    """Failed sign-ins over the last minute, from every client together: past the limit, every sign-in
    is refused until the oldest failure is a minute old, the right key included (else the refusals
    would still tell a guesser which key is right). Global rather than per address, because behind a
    proxy every client has the proxy's address; the cost is that a flood of guesses also keeps the
    operator out of the console for a minute, never out of the model API (the admin API counts its own)."""

    def __init__(self, per_minute: int | None = None) -> None:
        if per_minute is None:
            per_minute = current_settings().console_signin_failures
        self.per_minute = max(1, per_minute)
        self._times: list[float] = []

    def retry_after(self, now: float | None = None) -> float:
        """Seconds until a sign-in may be tried again; 0 when it may be now."""
        now = time.monotonic() if now is None else now
        self._times = [t for t in self._times if now - t < 60.0]
        return 60.0 - (now - self._times[0]) if len(self._times) >= self.per_minute else 0.0

    def failed(self, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)


def admin_key() -> str | None:
    """The admin key the admin API uses; without it the console is off, as the admin API is."""
    return current_settings().admin_key


def key_matches(offered: str) -> bool:
    expected = admin_key()
    return expected is not None and hmac.compare_digest(offered.encode(), expected.encode())


@dataclass
class Session:
    csrf: str
    expires_at: float  # unix time


class Sessions:
    """The console's sessions in the ledger's database. `load` runs before every console route (a dependency
    of the console's router), so a request's session is read once, and `find` answers from it."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine  # None: the serving gateway's ledger

    def _engine(self, request: Request) -> Engine:
        return self.engine if self.engine is not None else request.app.state.gateway.ledger.engine

    @staticmethod
    def _digest(token: str, key: str) -> str:
        return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()

    async def load(self, request: Request) -> None:
        request.state.console_session = await self.lookup(request)

    def find(self, request: Request) -> Session | None:
        """The session `load` found for this request; none where it did not run."""
        return getattr(request.state, "console_session", None)

    async def lookup(self, request: Request) -> Session | None:
        token, key = request.cookies.get(COOKIE), admin_key()
        if not token or key is None:
            return None
        return await _blocking(self._read, self._engine(request), self._digest(token, key))

    async def open(self, request: Request) -> tuple[str, Session]:
        key = admin_key()
        if key is None:
            raise APIError(403, "the console is off: SWITCHYARD_ADMIN_KEY is not set", code="console_off")
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=session_seconds())
        session = Session(csrf=secrets.token_urlsafe(32), expires_at=expires.timestamp())
        await _blocking(self._write, self._engine(request), self._digest(token, key), session.csrf, now, expires)
        request.state.console_session = session
        return token, session

    async def close(self, request: Request) -> None:
        token, key = request.cookies.get(COOKIE), admin_key()
        if token and key is not None:
            await _blocking(self._delete, self._engine(request), self._digest(token, key))
        request.state.console_session = None

    @staticmethod
    def _read(engine: Engine, digest: str) -> Session | None:
        query = select(table.c.csrf, table.c.expires_at).where(table.c.token_hash == digest, table.c.expires_at > datetime.now(UTC))
        with engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else Session(row.csrf, _utc(row.expires_at).timestamp())

    @staticmethod
    def _write(engine: Engine, digest: str, csrf: str, now: datetime, expires: datetime) -> None:
        with engine.begin() as connection:
            connection.execute(delete(table).where(table.c.expires_at <= now))
            live = connection.execute(select(func.count()).select_from(table)).scalar_one()
            if live >= MAX_SESSIONS:
                oldest = select(table.c.token_hash).order_by(table.c.created_at).limit(live - MAX_SESSIONS + 1)
                connection.execute(delete(table).where(table.c.token_hash.in_(oldest.scalar_subquery())))
            connection.execute(insert(table).values(token_hash=digest, csrf=csrf, created_at=now, expires_at=expires))

    @staticmethod
    def _delete(engine: Engine, digest: str) -> None:
        with engine.begin() as connection:
            connection.execute(delete(table).where(table.c.token_hash == digest))


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite gives back naive UTC


async def _blocking(fn: Callable[..., T], *args: Any) -> T:
    """A session store call off the event loop; a database that fails is a 503 for the console, never a traceback."""
    try:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
    except Exception as exc:  # whatever the database did, the console cannot check sessions
        raise APIError(503, "console sessions are unavailable: the database did not answer", code="session_store_unavailable") from exc


def csrf_ok(session: Session, offered: str | None) -> bool:
    return bool(offered) and hmac.compare_digest(offered.encode(), session.csrf.encode())  # type: ignore[union-attr]


def refuse_nul(request: Request) -> None:
    """A NUL in a path id or a query parameter is a 400: the value goes into a WHERE clause, and
    PostgreSQL refuses NUL in text (a DataError, a 500). The admin API's router and the console's run it."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if "\x00" in str(value):
            raise APIError(400, f"{name} contains a NUL character", code="invalid_value", param=name)
