"""One gateway per ledger when budgets are counted in memory.

Without Redis each gateway process counts reservations and spend in its own memory, seeded from the
ledger only when a budget window is first touched; two such processes on one ledger would each let
a tenant spend the whole budget (issue 11, defect 13). So a gateway with the in-process quota store
holds an exclusive lease on its ledger for its whole life: a lock file next to a SQLite database, a
session advisory lock on PostgreSQL. Both vanish with the process, even after kill -9, so a crashed
gateway never blocks its successor.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

# The lock's key is derived from the database and schema, so schemas of one server lease apart.
_PG_LOCK_KEY = "hashtextextended(current_database() || '.' || current_schema(), 7446211)"
_PG_TRY_LOCK = f"SELECT pg_try_advisory_lock({_PG_LOCK_KEY})"
_PG_UNLOCK = f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})"


class LedgerLease:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._file: IO[str] | None = None
        self._connection: Any = None

    def acquire(self) -> bool | None:
        """True if this process now holds the ledger, False if another does, None where the database
        offers no way to tell (an in-memory SQLite database is private to its process anyway)."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                return None
            path = Path(url.database + ".quota.lock")
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self._file = handle
            return True
        if url.get_backend_name() == "postgresql":
            connection = self.engine.connect()
            held = bool(connection.execute(text(_PG_TRY_LOCK)).scalar_one())
            connection.commit()
            if not held:
                connection.close()
                return False
            self._connection = connection
            return True
        return None

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.execute(text(_PG_UNLOCK))
            with contextlib.suppress(Exception):
                # Closing would only hand the session back to the pool: end it, so nothing of it lingers.
                self._connection.invalidate()
            self._connection = None
