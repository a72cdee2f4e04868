"""The ledger store: SQLite by default, Postgres by URL, written with group commit.

Every answered request has its row made durable before the answer leaves the gateway, in one of
three ways (`SWITCHYARD_LEDGER_SYNC`):

- `journal` (default): the row is appended to a local journal file (router/ledger/journal.py),
  which survives a crash of the gateway process, and committed to the database in the background;
  a restarted gateway replays what a dead one left. The answer does not wait for the database.
- `full`: the answer waits for the database commit (SQLite synchronous=FULL: an fsync).
- `normal`: the same without SQLite's fsync (a power loss may lose the last commits).

Rows are queued to one writer thread that commits whatever has accumulated in a single
transaction, so at high concurrency many requests share one commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import queue
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from prometheus_client.core import CounterMetricFamily
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from policies.settings import Settings
from policies.settings import current as current_settings
from router.ledger.journal import Journal, Segment, orphans, private_dir, quarantine, wait_for_live
from router.ledger.tables import feedback, requests

log = logging.getLogger("switchyard.ledger")

COLUMNS = [str(column.name) for column in requests.columns]  # plain str: orjson refuses str subclasses as keys
JSON_COLUMNS = {"decision", "messages", "params"}
# PostgreSQL's text and JSON columns refuse NUL (and JSON's \u0000): an answer or a prompt holding one would
# lose its row after the spend was settled. Written as U+FFFD instead, on every backend (an escaped
# backslash before "u0000" is the text "\u0000", not a NUL, and stays).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
NANO = Decimal(1_000_000_000)
# PostgreSQL's deadlock_detected and serialization_failure: the batch was rolled back whole and may be sent again.
RETRIED_SQLSTATES = frozenset({"40P01", "40001"})
DEADLOCK_RETRIES = 3


def journal_dir(url: str, configured: Path | None = None) -> Path | None:
    """Where this database's journals live; None for an in-memory database (nothing to survive)."""
    if configured is not None:
        return configured
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        return None if not path or path == ":memory:" else Path(path + ".ledger-journal")
    return Path(".switchyard/ledger-journal")


def to_nanousd(dollars: Decimal) -> int:
    return int((dollars * NANO).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class FeedbackTarget:
    """The request a verdict was kept for: how the cache answered it (requests.cache: "hit-semantic", "miss", ...)
    and when it was made. Always true, as the bool add_feedback returned before."""

    cache: str
    created_at: datetime


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
    excess_nanousd: int = 0  # reported cost beyond the reservation, not charged (reconciliation)
    door: str = "chat"  # the API surface the request came through
    conversation_id: str | None = None  # the conversation this request is a step of (router/conversations.py)
    step: int | None = None  # assistant turns before this request in its conversation
    cascade_nanousd: int = 0  # the cascade's earlier stages, part of cost_nanousd (router/reports.py savings)
    overhead_nanousd: int = 0  # the gateway's own classifier and embedding compute, priced (router/overhead.py)


class LedgerUnavailable(Exception):
    pass


_STOP = object()


class Ledger:
    def __init__(self, url: str | None = None, *, sync: str | None = None, max_batch: int = 512, linger_s: float = 0.05,
                 settings: Settings | None = None) -> None:
        settings = settings or current_settings()
        self.url = url or settings.database_url
        self.sync = (sync or settings.ledger_sync).upper()
        if self.sync not in ("JOURNAL", "FULL", "NORMAL"):
            raise ValueError("ledger sync must be 'journal', 'full' or 'normal'")
        self.journal_dir = journal_dir(self.url, settings.ledger_journal_dir)
        if self.sync == "JOURNAL" and self.journal_dir is None:
            self.sync = "FULL"
        self._journal: Journal | None = None
        # Journaled rows have no one waiting: the writer lets them gather for up to linger_s and
        # commits them together, so a lone stream of requests does not pay a commit (and an fsync) each.
        self.linger_s = linger_s
        self._hurry = threading.Event()
        self.max_batch = max_batch
        self.is_sqlite = self.url.startswith("sqlite")
        self.quarantined = 0  # journal rows that could not be replayed, kept aside (switchyard_ledger_quarantined_rows_total)
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                private_dir(Path(path).parent)
                _private_database(Path(path))
        self.engine: Engine = create_engine(self.url, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            event.listen(self.engine, "connect", self._sqlite_pragmas)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._raw: Any = None  # the writer thread's own DB-API connection
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_sql = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"
        # Journaled rows may already be in the database (committed just before a crash): skip those.
        self._replay_sql = self._insert_sql + " ON CONFLICT (request_id) DO NOTHING"

    def _sqlite_pragmas(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Journal mode commits in the background but then truncates the journal: its commits must be durable.
        cursor.execute(f"PRAGMA synchronous={'NORMAL' if self.sync == 'NORMAL' else 'FULL'}")
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
        with os.fdopen(os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
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
        self.replay_journals()
        if self.sync == "JOURNAL" and self._journal is None:
            assert self.journal_dir is not None
            self._journal = Journal(self.journal_dir)
        if self._thread is None:
            self._thread = threading.Thread(target=self._writer, name="ledger-writer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._hurry.set()
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                # It may still hand rows back: its journal, closed below, then touches no file (Journal.close).
                log.error("ledger: the writer did not stop within 30 s; its uncommitted rows stay journaled for the next start")
            self._thread = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self.engine.dispose()

    def replay_journals(self) -> int:
        """Commit the rows that gateways which are gone left in their journals; returns how many."""
        if self.journal_dir is None:
            return 0
        replayed = 0
        for path, lines in orphans(self.journal_dir):
            parsed: list[tuple[bytes, LedgerRow]] = []
            bad: list[tuple[bytes, str]] = []
            for line in lines:
                try:
                    parsed.append((line, _row_from_json(line)))
                except Exception as exc:  # noqa: BLE001 - whatever makes a line unreadable, it is kept aside
                    bad.append((line, f"unreadable: {exc!r}"))
            for start in range(0, len(parsed), 1000):
                bad += self._replay(parsed[start:start + 1000])
            if bad:
                # One damaged line must not keep the gateway from starting: keep it for a person, count it.
                kept = quarantine(path, [line for line, _ in bad])
                self.quarantined += len(bad)
                log.error("ledger journal %s: %d rows could not be replayed and are quarantined in %s (first: %s)",
                          path, len(bad), kept, bad[0][1])
            replayed += len(parsed) - len(bad)
            path.unlink(missing_ok=True)
            log.warning("replayed %d ledger rows from %s", len(parsed) - len(bad), path)
        return replayed

    def _replay(self, batch: list[tuple[bytes, LedgerRow]]) -> list[tuple[bytes, str]]:
        """Commit journaled rows; row by row if the batch is refused. Returns the rows the database
        refuses as data, with why; an outage (OperationalError) is raised: the gateway cannot start."""
        try:
            self._insert([row for _, row in batch], replay=True)
            return []
        except Exception as exc:
            if isinstance(exc, self.engine.dialect.dbapi.OperationalError):
                raise
            if len(batch) == 1:
                return [(batch[0][0], f"refused by the database: {exc!r}")]
        refused: list[tuple[bytes, str]] = []
        for item in batch:
            refused += self._replay([item])
        return refused

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until journaled rows are in the database, so that reads see them: this process's own
        rows, or, for a process that only reads (reports, exports), those of live gateways on this machine."""
        if self._journal is None:
            return self.journal_dir is None or wait_for_live(self.journal_dir, timeout)
        self._hurry.set()
        return self._journal.wait_drained(timeout)

    async def record(self, row: LedgerRow) -> None:
        """Return once the row is durable; raise LedgerUnavailable if it could not be made so."""
        if self._thread is None:
            raise LedgerUnavailable("the ledger is not running")
        if self._journal is not None:
            try:
                segment = self._journal.append(_json_row(row) + b"\n")
            except OSError as exc:
                raise LedgerUnavailable(f"the ledger journal could not be written: {exc}") from None
            # Its segment travels with it: a segment is removed once its own rows are in, whatever order rows commit in.
            self._queue.put((row, None, segment))
            return
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put((row, done, loop))
        await done

    def _writer(self) -> None:
        # Its own reference: close() drops self._journal, and a writer that outlived close's wait hands its
        # rows back to the closed journal, which ignores them, rather than failing on None.
        journal = self._journal
        backlog: list[tuple[LedgerRow, Segment]] = []  # journaled rows the database has not taken yet, retried first
        failures = 0
        stopping = False
        while not stopping:
            if backlog:
                time.sleep(min(5.0, 0.05 * 2**failures))
                batch: list[Any] = []
            else:
                item = self._queue.get()
                if item is _STOP:
                    return
                batch = [item]
                if item[1] is None and self.linger_s > 0 and self._queue.qsize() < self.max_batch:
                    self._hurry.wait(self.linger_s)  # whatever arrives meanwhile joins this commit
                self._hurry.clear()
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                batch.append(more)
            self._commit_waiting([item for item in batch if item[1] is not None])
            journaled = backlog + [(row, segment) for row, done, segment in batch if done is None]
            error: BaseException | None = None
            if journaled:
                try:
                    self._insert_journaled([row for row, _ in journaled], isolate=failures >= 3)
                except Exception as exc:  # noqa: BLE001 - the rows stay journaled and are retried
                    error = exc
            if journaled and error is not None:
                failures += 1
                backlog = journaled
                log.error("ledger: %d journaled rows not committed yet (attempt %d): %s", len(journaled), failures, error)
                continue
            if journaled:
                assert journal is not None
                try:
                    journal.committed([segment for _, segment in journaled])
                except Exception:  # the rows are in the database: the writer must go on writing spend
                    log.exception("ledger journal: could not shed %d committed rows", len(journaled))
            backlog, failures = [], 0

    def _commit_waiting(self, waiting: list[Any]) -> None:
        """Rows whose requests wait for the commit: each learns whether it happened."""
        if not waiting:
            return
        error: BaseException | None = None
        try:
            self._insert([row for row, _, _ in waiting])
        except Exception as exc:  # noqa: BLE001 - every waiting request learns of it
            error = exc
        for _, done, loop in waiting:
            loop.call_soon_threadsafe(_settle, done, error)

    def _insert_journaled(self, rows: list[LedgerRow], isolate: bool) -> None:
        """Commit journaled rows; after repeated failures, row by row, so one bad row cannot block the rest.

        A row the database rejects as data (not as an outage) is logged with its content and dropped
        from the journal: retrying it would never succeed."""
        if not isolate or len(rows) == 1:
            try:
                self._insert(rows, replay=True)
                return
            except Exception as exc:
                dbapi = self.engine.dialect.dbapi
                if not (isolate and isinstance(exc, dbapi.IntegrityError | dbapi.DataError)):
                    raise
                log.error("ledger: dropping a row the database refuses: %s: %s", exc, _json_row(rows[0]).decode())
                return
        for row in rows:
            self._insert_journaled([row], isolate=True)

    def _insert(self, rows: list[LedgerRow], replay: bool = False) -> None:
        # The DB-API directly: SQLAlchemy's per-row processing cost ~0.3 ms a row here, on the
        # path every answer waits on. Values are written in the forms SQLAlchemy reads back.
        # The rollup trigger (migration 0007) locks the rollup rows each insert adds to until commit; rows in
        # one order on every replica take those locks in one order, which makes deadlocks between
        # replicas' batches rare, and the few left are retried (the database rolled the batch back).
        rows = sorted(rows, key=lambda r: (r.tenant or "", r.team or "", r.key_id or "", r.tier or ""))
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                return self._insert_once(rows, replay)
            except Exception as exc:
                if attempt == DEADLOCK_RETRIES or getattr(exc, "sqlstate", None) not in RETRIED_SQLSTATES:
                    raise
                log.warning("ledger batch hit %s; retrying (%d)", type(exc).__name__, attempt + 1)
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))

    def _insert_once(self, rows: list[LedgerRow], replay: bool) -> None:
        if self._raw is None:
            self._raw = self.engine.raw_connection()
        values = [self._values(row) for row in rows]
        cursor = self._raw.cursor()
        try:
            cursor.executemany(self._replay_sql if replay else self._insert_sql, values)
            self._raw.commit()
        except BaseException:
            try:
                self._raw.rollback()
            except Exception:  # noqa: BLE001 - a dead connection: the next attempt opens a new one
                with contextlib.suppress(Exception):
                    self._raw.close()
                self._raw = None
            raise
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def _values(self, row: LedgerRow) -> tuple[Any, ...]:
        out: list[Any] = []
        for name in COLUMNS:
            value = getattr(row, name)
            if name in JSON_COLUMNS:
                value = None if value is None else _JSON_NUL.sub(r"\1\\ufffd", orjson.dumps(value).decode())
            elif isinstance(value, str):
                value = value.replace("\x00", "\ufffd")
            elif name == "created_at" and self.is_sqlite:
                value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            out.append(value)
        return tuple(out)

    def add_feedback(self, request_id: str, score: float, comment: str | None, tenant: str | None = None) -> FeedbackTarget | None:
        """Keep a verdict on a request of `tenant` (any tenant's when None); the last verdict on a request
        replaces earlier ones. The request, as far as the cache is concerned (read by the same query that finds
        it, so the caller needs no second one that could fail after this committed); None when there is no such
        request for that tenant."""
        if "\x00" in request_id:
            return None  # no request id holds one, and PostgreSQL refuses it in a query (once a 500)
        comment = None if comment is None else comment.replace("\x00", "\ufffd")
        self.flush()
        match = requests.c.request_id == request_id
        if tenant is not None:
            match = match & (requests.c.tenant == tenant)
        values = {"request_id": request_id, "score": score, "comment": comment, "created_at": datetime.now(UTC)}
        with self.engine.begin() as connection:
            row = connection.execute(select(requests.c.cache, requests.c.created_at).where(match)).first()
            if row is None:
                return None
            upsert = (postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert)(feedback).values(**values)
            connection.execute(upsert.on_conflict_do_update(index_elements=[feedback.c.request_id],
                                                            set_={k: upsert.excluded[k] for k in ("score", "comment", "created_at")}))
        made = row.created_at if row.created_at.tzinfo is not None else row.created_at.replace(tzinfo=UTC)  # SQLite: naive UTC
        return FeedbackTarget(cache=row.cache, created_at=made)

    def rows(self, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Request rows in time order with their mean feedback score, streamed in pages."""
        self.flush()
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
        self.flush()
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(requests)).scalar_one())


def _private_database(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite would (0644 less the umask: readable by every user);
    SQLite gives its -wal and -shm files the database's mode. An existing one readable by others is
    tightened where this user owns it (a reader that does not, such as a reporting account, only warns)."""
    if path.is_dir():  # a URL naming a folder: chmod 0600 below would have locked everyone out of it
        raise IsADirectoryError(errno.EISDIR, "the SQLite path is a folder, not a database file", str(path))
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = each.stat().st_mode & 0o777
            if mode & 0o077:
                each.chmod(0o600)
                log.warning("%s was readable by other users (%o); it holds prompts, so it is now 0600", each, mode)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("%s is readable by other users (%o) and is not this user's to tighten", each, mode)


class QuarantineCollector:
    """/metrics: `switchyard_ledger_quarantined_rows_total`, read from the ledger when scraped."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("switchyard_ledger_quarantined_rows",
                                  "Rows of dead gateways' journals that could not be replayed at start; kept in *.quarantine files.",
                                  value=self.ledger.quarantined)


def _json_row(row: LedgerRow) -> bytes:
    return orjson.dumps({name: getattr(row, name) for name in COLUMNS})


def _row_from_json(line: bytes) -> LedgerRow:
    values = orjson.loads(line)
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    return LedgerRow(**values)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(LedgerUnavailable(f"the ledger could not record the request: {error}"))
