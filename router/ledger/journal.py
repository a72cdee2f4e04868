"""A local append-only journal of ledger rows that the database has not committed yet.

In `journal` durability an answer waits only for its row to be appended here (one write(2) to
the page cache: a few microseconds, and it survives the gateway process crashing); the ledger's
writer thread commits rows to the database in the background. A gateway that starts finds the
journals of processes that are gone and replays them; inserts ignore request ids already
present, so a row committed before the crash is not counted twice.

Each process appends to a file of its own and holds an exclusive flock on it while it lives:
an unlocked journal is an orphan. The file is truncated whenever every row in it has been
committed, so a live journal that is empty means "nothing pending": other processes on the
machine (reports, exports) wait for that before reading. It is removed on a clean shutdown.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("switchyard.ledger")

SUFFIX = ".journal"
QUARANTINE = ".quarantine"


def private_dir(directory: Path) -> None:
    """Create `directory`, if missing, readable by this user only (0700): journals and ledgers hold
    prompts. An existing folder is left as it is (it may be shared); the files in it are 0600."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def quarantine(journal: Path, lines: list[bytes]) -> Path:
    """Keep journal lines that cannot be replayed in a side file next to the journal (0600, never
    replayed), for a person to inspect; returns that file."""
    kept = journal.with_suffix(QUARANTINE)
    with os.fdopen(os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())
    return kept


class Journal:
    def __init__(self, directory: Path) -> None:
        private_dir(directory)
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock = threading.Lock()
        self._size = 0
        self._pending = 0
        self._drained = threading.Condition(self._lock)

    def append(self, line: bytes) -> None:
        """Write one row (a JSON line). Raises OSError if it could not be written whole."""
        with self._lock:
            written = os.write(self._fd, line)
            if written != len(line):
                # A short write (disk full) leaves a torn line, which replay skips; undo it.
                os.ftruncate(self._fd, self._size)
                raise OSError(f"short write to the ledger journal {self.path}")
            self._size += written
            self._pending += 1

    def committed(self, count: int) -> None:
        """`count` appended rows are now in the database."""
        with self._lock:
            self._pending -= count
            if self._pending == 0:
                os.ftruncate(self._fd, 0)
                self._size = 0
                self._drained.notify_all()

    def wait_drained(self, timeout: float) -> bool:
        with self._lock:
            return self._drained.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Remove the file if every row reached the database; otherwise leave it for replay."""
        with self._lock:
            if self._pending == 0:
                self.path.unlink(missing_ok=True)
            else:
                log.error("ledger journal %s keeps %d uncommitted rows; the next start replays them", self.path, self._pending)
            os.close(self._fd)


def orphans(directory: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """Journals no live process holds, with their complete lines; a torn last line is dropped.

    The caller removes each file once its rows are committed (`release`)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive and will commit its own rows
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read()
            lines = data.split(b"\n")
            if lines and lines[-1]:
                log.warning("ledger journal %s ends with a torn row (a crash mid-write); it is skipped", path)
            yield path, [line for line in lines[:-1] if line]
        finally:
            os.close(fd)


def _held(path: Path) -> bool:
    """Whether a live process holds this journal."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops a lock just taken
    return False


def wait_for_live(directory: Path, timeout: float) -> bool:
    """Wait until no live gateway's journal in `directory` holds uncommitted rows (they are
    committed within the writer's linger); False if some still do after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        busy = [p for p in directory.glob(f"*{SUFFIX}") if _size(p) > 0 and _held(p)] if directory.is_dir() else []
        if not busy:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
