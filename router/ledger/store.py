"""The ledger store: SQLite by default, Postgres by URL, written with group commit.

Every answered request has its row committed before the answer leaves the gateway. Rows are
queued to one writer thread that commits whatever has accumulated in a single transaction, so at
high concurrency many requests share one commit (and, with SQLite's synchronous=FULL, one fsync),
while a lone request waits for exactly one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, func, insert, select
from sqlalchemy.engine import Engine

from router.ledger.tables import feedback, requests

DEFAULT_URL = "sqlite:///.switchyard/switchyard.db"
COLUMNS = [column.name for column in requests.columns]
JSON_COLUMNS = {"decision", "messages", "params"}
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
NANO = Decimal(1_000_000_000)


def database_url() -> str:
    return os.environ.get("SWITCHYARD_DATABASE_URL") or DEFAULT_URL


def to_nanousd(dollars: Decimal) -> int:
    return int((dollars * NANO).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass
class LedgerRow:
    request_id: str
    tenant: str
    team: str
    status: str
    http_status: int
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    key_id: str | None = None
    requested_model: str | None = None
    tier: str | None = None
    model: str | None = None
    routed: bool = False
    route_score: float | None = None
    decision: dict[str, Any] | None = None
    fallback_from: str | None = None
    messages: list[dict[str, Any]] | None = None
    response: str | None = None
    params: dict[str, Any] | None = None
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_nanousd: int = 0
    saved_nanousd: int = 0
    latency_ms: float | None = None
    overhead_ms: float | None = None
    cache: str = "off"
    error: str | None = None


class LedgerUnavailable(Exception):
    pass


_STOP = object()


class Ledger:
    def __init__(self, url: str | None = None, *, sync: str | None = None, max_batch: int = 512) -> None:
        self.url = url or database_url()
        self.sync = (sync or os.environ.get("SWITCHYARD_LEDGER_SYNC") or "full").upper()
        if self.sync not in ("FULL", "NORMAL"):
            raise ValueError("ledger sync must be 'full' or 'normal'")
        self.max_batch = max_batch
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(self.url, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            event.listen(self.engine, "connect", self._sqlite_pragmas)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._raw: Any = None  # the writer thread's own DB-API connection
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_sql = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"

    def _sqlite_pragmas(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={self.sync}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        # Several gateway processes may start at once: only one may migrate at a time.
        if not self.is_sqlite:
            yield
            return
        lock_path = Path(self.url.split("///", 1)[-1] + ".migrate.lock")
        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._migration_lock(), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7446201)")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def start(self) -> None:
        self.migrate()
        if self._thread is None:
            self._thread = threading.Thread(target=self._writer, name="ledger-writer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self.engine.dispose()

    async def record(self, row: LedgerRow) -> None:
        """Return once the row is committed; raise LedgerUnavailable if it could not be."""
        if self._thread is None:
            raise LedgerUnavailable("the ledger is not running")
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put((row, done, loop))
        await done

    def _writer(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                batch.append(more)
            error: BaseException | None = None
            try:
                self._insert([row for row, _, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting request learns of it
                error = exc
            for _, done, loop in batch:
                loop.call_soon_threadsafe(_settle, done, error)

    def _insert(self, rows: list[LedgerRow]) -> None:
        # The DB-API directly: SQLAlchemy's per-row processing cost ~0.3 ms a row here, on the
        # path every answer waits on. Values are written in the forms SQLAlchemy reads back.
        if self._raw is None:
            self._raw = self.engine.raw_connection()
        values = [self._values(row) for row in rows]
        cursor = self._raw.cursor()
        try:
            cursor.executemany(self._insert_sql, values)
            self._raw.commit()
        except BaseException:
            self._raw.rollback()
            raise
        finally:
            cursor.close()

    def _values(self, row: LedgerRow) -> tuple[Any, ...]:
        out: list[Any] = []
        for name in COLUMNS:
            value = getattr(row, name)
            if name in JSON_COLUMNS:
                value = None if value is None else orjson.dumps(value).decode()
            elif name == "created_at" and self.is_sqlite:
                value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            out.append(value)
        return tuple(out)

    def add_feedback(self, request_id: str, score: float, comment: str | None) -> bool:
        with self.engine.begin() as connection:
            exists = connection.execute(select(requests.c.request_id).where(requests.c.request_id == request_id)).first()
            if exists is None:
                return False
            connection.execute(
                insert(feedback).values(request_id=request_id, score=score, comment=comment, created_at=datetime.now(UTC))
            )
        return True

    def rows(self, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Request rows in time order with their mean feedback score, streamed in pages."""
        scores = (
            select(feedback.c.request_id, func.avg(feedback.c.score).label("feedback"))
            .group_by(feedback.c.request_id)
            .subquery()
        )
        query = select(requests, scores.c.feedback).outerjoin(scores, scores.c.request_id == requests.c.request_id)
        if since is not None:
            query = query.where(requests.c.created_at >= since)
        if until is not None:
            query = query.where(requests.c.created_at < until)
        query = query.order_by(requests.c.created_at, requests.c.request_id)
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=1000).execute(query)
            for row in result.mappings():
                yield dict(row)

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(requests)).scalar_one())


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(LedgerUnavailable(f"the ledger could not record the request: {error}"))
