"""A local append-only journal of ledger rows that the database has not committed yet.

In `journal` durability an answer waits only for its row to be appended here (one write(2) to
the page cache: a few microseconds, and it survives the gateway process crashing); the ledger's
writer thread commits rows to the database in the background. A gateway that starts finds the
journals of processes that are gone and replays them; inserts ignore request ids already
present, so a row committed before the crash is not counted twice.

Each process appends to a file of its own (a segment) and holds an exclusive flock on it while it
lives: an unlocked journal is an orphan. Once every row in the segment has been committed, a small
one is truncated in place; one past :data:`ROTATE_BYTES` is swapped for a fresh segment, made
beforehand (the swap under the append lock is an assignment), and removed outside the lock once its
last row is committed. So an append never waits while a large file's pages are released (truncating
1 GiB in place held the lock ~180 ms), and under steady traffic, when the journal is never empty,
segments still go. A live journal that is empty means "nothing pending": other processes on the
machine (reports, exports) wait for that before reading. It is removed on a clean shutdown.

Every row is in exactly one segment, and a segment goes only once all its rows are committed, so a
crash at any point leaves each uncommitted row in exactly one orphan: replayed once, never lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("switchyard.ledger")

SUFFIX = ".journal"
QUARANTINE = ".quarantine"
# A segment is made under this name, locked, then renamed to its SUFFIX name: a replaying process
# never sees an unlocked (and so "orphaned") segment of a live process.
STAGING = ".journal-new"
# Another gateway's start may remove a staging file in the instant between its creation and its lock
# (_clear_staging cannot tell it from a crash's leftover): the maker then makes another. Each try loses
# only to a start landing in that window, so a few suffice.
STAGING_TRIES = 8
# A segment this large is swapped for a fresh one rather than truncated in place under the append lock;
# truncating up to 1 MiB of page cache took 0.06-0.3 ms here, the bound on how long an append can wait.
ROTATE_BYTES = 1 << 20


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


@dataclass(eq=False)
class Segment:
    """One journal file of this process: what `Journal.append` returns, handed back to `committed`."""

    path: Path
    fd: int
    size: int = 0
    pending: int = 0  # rows appended here that the database has not committed


def _open_segment(directory: Path) -> Segment:
    for attempt in range(1, STAGING_TRIES + 1):
        try:
            return _try_open_segment(directory)
        except (FileNotFoundError, BlockingIOError) as exc:
            # Another process's start took this unlocked staging file for a crash's leftover: it holds its lock
            # to remove it (BlockingIOError), or has removed it (the rename finds no file). A new name, again.
            if attempt == STAGING_TRIES or not directory.is_dir():
                raise
            log.info("ledger journal: a new segment was removed by another process before it was locked (%s); "
                     "making another", exc)
    raise AssertionError("unreachable")


def _try_open_segment(directory: Path) -> Segment:
    name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging = directory / (name + STAGING)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = directory / (name + SUFFIX)
        os.rename(staging, path)  # the same inode, still locked: visible to replayers only once held
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staging)  # ours still, or gone: staging names are never reused
        os.close(fd)
        raise
    return Segment(path, fd)


def _release(segment: Segment, unlink: bool = True) -> None:
    """Remove a segment whose rows are all in the database, then close it. Each failure is logged and
    is this segment's alone: its descriptor is closed all the same, and the caller goes on to the next.
    A file left behind is replayed at the next start, which skips rows the database already has."""
    if unlink:
        try:
            segment.path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("ledger journal: could not remove %s, whose rows are all in the database (%s); "
                      "the next start replays it and skips them", segment.path, exc)
    try:
        os.close(segment.fd)
    except OSError as exc:
        log.error("ledger journal: could not close %s: %s", segment.path, exc)


class Journal:
    def __init__(self, directory: Path, rotate_bytes: int = ROTATE_BYTES) -> None:
        private_dir(directory)
        self.directory = directory
        self.rotate_bytes = rotate_bytes
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._pending = 0
        self._releasing = 0  # segments taken off the books and not yet removed: not drained until they are
        # Set by close(), under the lock: from then on no descriptor of the journal is touched (a writer that
        # outlived Ledger.close's wait may still hand rows back), as their numbers may be other files' by then.
        self._closed = False
        self._current = _open_segment(directory)
        self._sealed: list[Segment] = []  # earlier segments holding uncommitted rows, oldest first

    @property
    def path(self) -> Path:
        """The segment appends go to now."""
        return self._current.path

    def append(self, line: bytes) -> Segment:
        """Write one row (a JSON line); returns its segment, for `committed`. Raises OSError if it
        could not be written whole."""
        with self._lock:
            if self._closed:
                raise OSError("the ledger journal is closed")
            segment = self._current
            written = os.write(segment.fd, line)
            if written != len(line):
                # A short write (disk full) leaves a torn line, which replay skips; undo it.
                os.ftruncate(segment.fd, segment.size)
                raise OSError(f"short write to the ledger journal {segment.path}")
            segment.size += written
            segment.pending += 1
            self._pending += 1
            return segment

    def committed(self, rows: int | Iterable[Segment]) -> None:
        """These appended rows are now in the database: the segments `append` returned for them, one per
        row, or a count, taken from the oldest segments first (right when rows commit in append order)."""
        spare: Segment | None = None
        # Read unlocked: appends only make it larger meanwhile, and a close meanwhile is seen under the lock.
        if not self._closed and self._current.size >= self.rotate_bytes:
            try:
                spare = _open_segment(self.directory)  # made before the lock: the swap under it is an assignment
            except OSError as exc:
                log.warning("ledger journal: could not start a new segment after %s: %s", self._current.path, exc)
        with self._lock:
            if self._closed:
                # Too late (a writer that outlived Ledger.close's wait): close() has closed every segment, and
                # their files stay for replay, which skips rows the database has. Only the spare, made here and
                # known to no one else, is still this call's to remove.
                released, counted = ([spare] if spare is not None else []), False
            else:
                released, counted = self._commit_locked(rows, spare), True
                self._releasing += len(released)
                self._notify_if_drained()
        if not released:
            return
        # Out of the lock: freeing a large file's pages takes time, and nothing in it is needed any more.
        # Unlinked before its lock goes with the descriptor, so no other process replays it for nothing.
        # These segments are off the books: this call alone holds their descriptors, even past a close().
        try:
            for segment in released:
                _release(segment)
        finally:
            if counted:
                with self._lock:
                    self._releasing -= len(released)
                    self._notify_if_drained()

    def _commit_locked(self, rows: int | Iterable[Segment], spare: Segment | None) -> list[Segment]:
        """`committed`'s book-keeping, under the lock; returns the segments to remove, now off the books."""
        if isinstance(rows, int):
            left = rows
            for segment in (*self._sealed, self._current):
                take = min(left, segment.pending)
                segment.pending -= take
                self._pending -= take
                left -= take
        else:
            for segment in rows:
                segment.pending -= 1
                self._pending -= 1
        current = self._current
        if spare is not None:
            self._current = spare
            self._sealed.append(current)
        elif current.pending == 0 and current.size > 0:
            # Under rotate_bytes, a short and bounded hold; past it only when no new segment could be
            # made (slow for a large file, but an empty live journal must mean that nothing is pending).
            try:
                os.ftruncate(current.fd, 0)
                current.size = 0
            except OSError as exc:  # the rows are in the database; the next commit tries again
                log.error("ledger journal: could not empty %s: %s", current.path, exc)
        released = [segment for segment in self._sealed if segment.pending == 0]
        if released:
            self._sealed = [segment for segment in self._sealed if segment.pending > 0]
        return released

    def _notify_if_drained(self) -> None:
        if self._pending == 0 and self._releasing == 0:
            self._drained.notify_all()

    def wait_drained(self, timeout: float) -> bool:
        """Wait until every appended row is in the database and the segments that held only such rows are gone."""
        with self._lock:
            return self._drained.wait_for(lambda: self._pending == 0 and self._releasing == 0, timeout)

    def close(self) -> None:
        """Remove the segments whose rows all reached the database; leave the others for replay."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for segment in (*self._sealed, self._current):
                _release(segment, unlink=segment.pending == 0)
            if self._pending:
                log.error("ledger journal %s keeps %d uncommitted rows; the next start replays them", self.path, self._pending)
            self._sealed = []


def orphans(directory: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """Journals no live process holds, with their complete lines; a torn last line is dropped.

    The caller removes each file once its rows are committed (`release`)."""
    if not directory.is_dir():
        return
    _clear_staging(directory)
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                log.warning("ledger journal: %s is not a file; it is left as it is", path)
                continue
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


def _clear_staging(directory: Path) -> None:
    """Remove the segments a crash left before they were named (never written to: empty); one a live process
    holds is its to rename. Told by its lock, not by the pid in its name: gateways in other containers sharing
    the volume have pids this one cannot see, and were taken for dead. One whose maker has not locked it yet
    may go too: the maker then makes another (_open_segment)."""
    for path in directory.glob(f"*{STAGING}"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # named or removed meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Locked, the path is still this inode: its maker renames it only once it holds the lock.
            held = os.fstat(fd)
            if stat.S_ISREG(held.st_mode) and held.st_size == 0:
                path.unlink(missing_ok=True)
        except BlockingIOError:
            continue  # being made
        finally:
            os.close(fd)  # drops the lock; the maker of one removed while it waited finds it gone


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
