"""The ledger journal sheds committed rows without holding appends up, and a crash at any point loses
or doubles no row (router/ledger/journal.py).

A committed journal used to be truncated under the append lock: with a large journal (steady traffic
never lets it drain, so it grows) every answer waited for the kernel to free its pages, ~180 ms at 1 GiB.
Now a large segment is swapped for a fresh one under the lock and removed outside it. These tests are
structural: they watch which file-system calls run, and where, with Python's profiler, and crash a
process right before each of them; nothing is timed."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from router.ledger import Ledger, LedgerRow
from router.ledger.journal import ROTATE_BYTES, STAGING, SUFFIX, Journal, orphans
from router.ledger.tables import requests, requests_hourly

ROOT = Path(__file__).resolve().parents[1]


def _line(i: int, size: int = 100) -> bytes:
    head = f'{{"request_id":"r{i:05d}","pad":"'.encode()
    return head + b"x" * (size - len(head) - 3) + b'"}\n'


def _id(line: bytes) -> str:
    return str(orjson.loads(line)["request_id"])


def _left(directory: Path) -> list[str]:
    """The row ids a crash leaves for the next start, read as the next start reads them."""
    return [_id(line) for _, lines in orphans(directory) for line in lines]


def test_an_append_made_while_a_large_journal_goes_is_neither_held_up_nor_lost(tmp_path: Path) -> None:
    """Committing a large journal makes no file-system call with the append lock held (the new segment is made
    before, the old one removed after), and at each call that frees its pages (ftruncate, unlink) an append
    from another thread, made right then, completes before that call does and is kept."""
    journal = Journal(tmp_path)
    big = 64 * 1024
    rows = ROTATE_BYTES // big + 8  # past the size at which a segment is swapped rather than truncated
    for i in range(rows):
        journal.append(_line(i, big))
    calls: list[tuple[str, bool]] = []
    appended: list[bytes] = []

    def during(frame: Any, event: str, arg: Any) -> None:
        if event != "c_call" or arg not in (os.open, os.write, os.ftruncate, os.rename, os.unlink, os.close, fcntl.flock):
            return
        held = journal._lock.locked()  # this thread is the only other user of the journal
        calls.append((arg.__name__, held))
        if held or arg not in (os.ftruncate, os.unlink):
            return  # held: an append now would wait for this very call, the hold being ruled out
        line = _line(10_000 + len(appended))
        appender = threading.Thread(target=journal.append, args=(line,))
        appender.start()
        appender.join(60)  # a guard against hanging the suite, never reached when the lock is free
        if not appender.is_alive():
            appended.append(line)

    sys.setprofile(during)
    try:
        journal.committed(rows)
    finally:
        sys.setprofile(None)
    releases = [name for name, _ in calls if name in ("ftruncate", "unlink")]
    assert releases, "the committed journal's pages were never freed"
    assert [held for _, held in calls] == [False] * len(calls), calls
    assert len(appended) == len(releases)
    # The rows appended meanwhile are the live journal's, and a crash now leaves exactly them to replay.
    live = b"".join(path.read_bytes() for path in tmp_path.glob(f"*{SUFFIX}"))
    assert live == b"".join(appended)
    journal.close()  # with rows pending: the files stay, as after a crash
    assert Counter(_left(tmp_path)) == Counter(_id(line) for line in appended)


def test_a_journal_that_never_drains_still_sheds_its_committed_rows(tmp_path: Path) -> None:
    """Steady traffic: a row is always pending when a batch commits, so the journal is never empty. It used
    to grow until the first lull (then be truncated whole, under the lock); segments now go as they empty."""
    journal = Journal(tmp_path, rotate_bytes=10 * 100)
    batch: list[Any] = []
    largest = 0
    for i in range(1000):
        batch.append(journal.append(_line(i)))
        if len(batch) == 4:
            journal.committed(batch[:3])  # the last row of each batch waits for the next commit
            batch = batch[3:]
        largest = max(largest, sum(p.stat().st_size for p in tmp_path.iterdir()))
    assert largest <= 3 * 10 * 100  # 100 kB appended, never more than a few segments' worth on disk
    journal.close()
    left = _left(tmp_path)  # the pending row, with at most a segment's worth of committed ones beside it
    assert left[-1] == "r00999" and len(left) <= 10 + 3 and left == sorted(left)


CRASHING_DRIVER = r"""
import fcntl, json, os, signal, sys
from pathlib import Path
from router.ledger.journal import Journal

base = Path(sys.argv[1])
LINE = 100
CALLS = {os.open, os.write, os.ftruncate, os.rename, os.unlink, os.close, fcntl.flock}


def line(i):
    head = f'{{"request_id":"r{i:05d}","pad":"'.encode()
    return head + b"x" * (LINE - len(head) - 3) + b'"}\n'


def scenario(directory):
    acked = open(directory / "acked", "w", buffering=1)
    database = open(directory / "database", "w", buffering=1)  # what the ledger's database holds
    journal = Journal(directory / "journal", rotate_bytes=3 * LINE)
    segments = {}

    def append(*ids):
        for i in ids:
            segments[i] = journal.append(line(i))
            acked.write(f"r{i:05d}\n")

    def commit(*ids):
        database.write("".join(f"r{i:05d}\n" for i in ids))  # the database commits before the journal hears of it
        journal.committed([segments[i] for i in ids])

    append(0, 1); commit(0)                  # a row still pending: nothing goes
    append(2); commit(1, 2)                  # drained at the rotation size: swapped, the old one goes at once
    append(3, 4, 5, 6); commit(3, 4)         # past the size with rows pending: swapped, the old one kept
    append(7); commit(5, 6)                  # the kept one's last rows: it goes
    commit(7)                                # drained and small: truncated in place
    append(8, 9, 10); commit(8, 9, 10)
    append(11, 12); commit(11)
    journal.close()                          # row 12 pending: its segment stays


for k in range(1, 1000):
    directory = base / f"k{k}"
    (directory / "journal").mkdir(parents=True)
    pid = os.fork()
    if pid == 0:
        calls = []

        def crash_before(frame, event, arg):
            if event == "c_call" and arg in CALLS:
                calls.append(arg.__name__)
                if len(calls) == k:
                    os.kill(os.getpid(), signal.SIGKILL)

        sys.setprofile(crash_before)
        scenario(directory)
        sys.setprofile(None)
        (directory / "calls").write_text(" ".join(calls))  # the run that outlived every k: what it called
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    print(json.dumps({"k": k, "dir": str(directory), "killed": killed}), flush=True)
    if not killed:
        break
"""


def test_a_crash_before_any_file_system_call_loses_and_doubles_no_row(tmp_path: Path) -> None:
    """A process appends and commits rows through every path (truncation in place, a swap with rows pending,
    one when drained, a segment going once its rows are in, a clean close) and is killed right before its
    k-th file-system call, for every k. What it leaves is read as the next start reads it: every row whose
    append returned is in the database or in exactly one orphan journal, and nothing else is."""
    done = subprocess.run([sys.executable, "-c", CRASHING_DRIVER, str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [json.loads(line) for line in done.stdout.splitlines()]
    assert not runs[-1]["killed"] and all(run["killed"] for run in runs[:-1])
    calls = (Path(runs[-1]["dir"]) / "calls").read_text().split()
    assert len(calls) == len(runs) - 1  # a crash before every one of them
    assert {"rename", "unlink", "ftruncate", "flock"} <= set(calls), calls  # swaps, segments going, truncation
    for run in runs:
        directory = Path(run["dir"])
        acked = set((directory / "acked").read_text().split())
        database = set((directory / "database").read_text().split())
        left = _left(directory / "journal")
        where = f"killed before file-system call {run['k']}" if run["killed"] else "run to the end"
        assert acked <= database | set(left), (where, sorted(acked - database - set(left)))
        assert len(left) == len(set(left)), (where, left)  # each row is in one file: replay applies it once
        assert set(left) <= {f"r{i:05d}" for i in range(13)}, (where, left)
        # The next start found every file: replayed journals go (the ledger unlinks them), and a segment the
        # crash caught before it was named went with its dead process.
        assert not list((directory / "journal").glob(f"*{STAGING}")), where
    # A clean close keeps only the pending row's segment (with row 11 beside it: the database has it, replay skips it).
    assert _left(Path(runs[-1]["dir"]) / "journal") == ["r00011", "r00012"]


WRITING_GATEWAY = r"""
import asyncio, sys
from router.ledger import Ledger, LedgerRow

ledger = Ledger(sys.argv[1])
ledger.start()


async def main():
    i = 0
    while True:
        row = LedgerRow(request_id=f"q{i:06d}", tenant="t", team="x", status="ok", http_status=200, tier="fast",
                        cost_nanousd=1000 + i, messages=[{"role": "user", "content": "y" * 20_000}])
        await ledger.record(row)
        print(row.request_id, flush=True)
        i += 1
        if i % 50 == 0:
            await asyncio.sleep(0.01)  # lets the writer commit between bursts, as traffic does


asyncio.run(main())
"""


def test_a_gateway_killed_while_its_journal_turns_over_loses_and_doubles_no_spend(tmp_path: Path) -> None:
    """The real ledger writing 20 kB rows (a segment fills every ~50) is SIGKILLed mid-stream; the next start
    replays what it left: every acknowledged row is in the ledger once, and the rollups the spend reports
    read hold each row's cost once."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    child = subprocess.Popen([sys.executable, "-c", WRITING_GATEWAY, url], stdout=subprocess.PIPE, cwd=ROOT, text=True)
    acked: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acked.append(line.strip())
            if len(acked) == 600:
                break
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert len(acked) == 600, "the writer stopped early"
    ledger = Ledger(url)
    ledger.start()
    try:
        journal_dir = ledger.journal_dir
        assert journal_dir is not None
        rows = {r["request_id"]: r["cost_nanousd"] for r in ledger.rows()}
        assert set(acked) <= set(rows)
        assert all(cost == 1000 + int(request_id[1:]) for request_id, cost in rows.items())
        with ledger.engine.connect() as connection:
            count, spend = connection.execute(select(func.count(), func.sum(requests.c.cost_nanousd))).one()
            rolled = connection.execute(select(func.sum(requests_hourly.c.requests),
                                               func.sum(requests_hourly.c.cost_nanousd))).one()
        assert (count, spend) == (len(rows), sum(rows.values()))
        assert tuple(rolled) == (len(rows), sum(rows.values()))
        # The dead process's segments were all replayed and removed; only the new ledger's own is there.
        assert [p for p in journal_dir.iterdir() if not _held(p)] == []
    finally:
        ledger.close()


def _held(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_drained_ledger_leaves_one_empty_segment_after_its_journal_turned_over(tmp_path: Path) -> None:
    """3 MB of rows through the real ledger (its writer hands each committed row's segment back): once
    drained, the segments filled meanwhile are gone and the live one is empty, which readers wait for."""
    ledger = Ledger(f"sqlite:///{tmp_path}/l.db")
    ledger.start()
    try:
        async def write() -> None:
            for i in range(150):
                await ledger.record(LedgerRow(request_id=f"s{i:04d}", tenant="t", team="x", status="ok", http_status=200,
                                              messages=[{"role": "user", "content": "z" * 20_000}]))

        asyncio.run(write())
        assert ledger.count() == 150
        assert ledger.journal_dir is not None
        files = list(ledger.journal_dir.glob(f"*{SUFFIX}"))
        assert len(files) == 1 and files[0].stat().st_size == 0  # drained: the one live segment, empty
    finally:
        ledger.close()


# --- Two gateways sharing a journal volume from different PID namespaces (containers) -------------------

REPLAYER = r"""
import os, sys
from pathlib import Path
from router.ledger.journal import orphans

creator = int(sys.argv[2])
try:
    os.kill(creator, 0)
    print("creator visible")
except ProcessLookupError:
    print("creator invisible")
list(orphans(Path(sys.argv[1])))  # this gateway's start
"""

UNSHARE = ["unshare", "--user", "--map-root-user", "--pid", "--fork"]


def _namespaces_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _start_in_another_pid_namespace(directory: Path) -> None:
    """Another gateway's start, as from a container of its own sharing the journal volume: our pids are not its."""
    done = subprocess.run([*UNSHARE, sys.executable, "-c", REPLAYER, str(directory), str(os.getpid())],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[0] == "creator invisible", done.stdout  # really another namespace


def _start_here(directory: Path) -> None:
    list(orphans(directory))


def _before_first(call: Any, action: Any) -> Any:
    """A profile hook that runs `action` right before this thread's first call of the builtin `call`."""
    fired: list[bool] = []

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and arg is call and not fired:
            fired.append(True)
            action()  # profiling is off while a hook runs: the action's own calls are not caught

    return hook


@pytest.mark.parametrize("where", ["here", pytest.param("another pid namespace", marks=pytest.mark.skipif(
    not _namespaces_available(), reason="unshare --user --pid is not permitted here"))])
@pytest.mark.parametrize("window", ["before it is locked", "locked, before it is named"])
def test_a_start_elsewhere_while_a_segment_is_being_made_does_not_fail_it(tmp_path: Path, where: str, window: str) -> None:
    """Another gateway starts (and clears leftover staging files) while this one makes a segment (at its start, or
    at a rotation). Before the new segment is locked, the other may remove it as a crash's leftover: this one makes
    another. Once it is locked, the other must leave it. Run in another PID namespace (two containers on one volume)
    the other gateway sees this process as dead; it used to remove the segment in either window, and the rename
    that names it failed (FileNotFoundError: the gateway did not start)."""
    other = _start_in_another_pid_namespace if where != "here" else _start_here
    call = fcntl.flock if window == "before it is locked" else os.rename
    sys.setprofile(_before_first(call, lambda: other(tmp_path)))
    try:
        journal = Journal(tmp_path)
    finally:
        sys.setprofile(None)
    try:
        assert journal.path.exists() and _held(journal.path)
        assert [p.name for p in tmp_path.iterdir()] == [journal.path.name]  # nothing else: no staging file left
        journal.append(_line(1))
    finally:
        journal.close()
    assert _left(tmp_path) == ["r00001"]


def test_a_staging_file_no_one_holds_is_cleared_whatever_pid_its_name_carries(tmp_path: Path) -> None:
    """A crash's leftover staging file is cleared at the next start even when the pid in its name is alive here
    (another container's process, whose number a process of ours has): whether a process is making it is told by
    its lock, not by the pid. One that is locked (a live process making it, wherever) is left."""
    leftover = tmp_path / f"{os.getpid()}-0badc0de{STAGING}"
    leftover.touch()
    being_made = tmp_path / f"1-0000beef{STAGING}"
    fd = os.open(being_made, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert _left(tmp_path) == []
        assert not leftover.exists()
        assert being_made.exists()
    finally:
        os.close(fd)
    assert _left(tmp_path) == [] and not being_made.exists()  # its maker died without naming it


# --- Removing committed segments: one failure is that segment's alone ---------------------------------

def _open_inodes() -> set[tuple[int, int]]:
    inodes = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            st = os.fstat(int(name))
        except OSError:
            continue  # the listing's own descriptor, closed by now
        inodes.add((st.st_dev, st.st_ino))
    return inodes


def test_a_committed_segment_that_cannot_be_removed_leaks_nothing_and_stops_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Three full segments are released by one commit and the second cannot be unlinked (a directory now stands at
    its path: EISDIR, a real error from the real call, as EACCES or EROFS would be; an already removed file is no
    error at all). It used to raise out of `committed`, into the ledger's writer, which died, and leave its own
    descriptor and the third segment's open. Now each segment is released on its own: logged, closed, the rest
    released, and the journal goes on."""
    journal = Journal(tmp_path, rotate_bytes=3 * 100)
    segments: list[Any] = []
    for first in (0, 3, 6):
        segments += [journal.append(_line(i)) for i in range(first, first + 3)]
        journal.committed([])  # full: swapped for a fresh segment, kept while its rows are pending
    held = sorted({(s.path, s.fd) for s in segments})
    assert len(held) == 3
    inodes = {(os.fstat(fd).st_dev, os.fstat(fd).st_ino) for _, fd in held}
    stuck = held[1][0]
    stuck.unlink()
    stuck.mkdir()
    with caplog.at_level(logging.ERROR, logger="switchyard.ledger"):
        journal.committed(segments)
    assert str(stuck) in caplog.text
    assert not held[0][0].exists() and not held[2][0].exists()
    assert not inodes & _open_inodes()  # every released segment's descriptor closed, the stuck one's included
    assert journal.wait_drained(0)
    journal.committed([journal.append(_line(9))])
    journal.close()
    assert [p.name for p in tmp_path.iterdir()] == [stuck.name]  # the directory, which is not ours to remove
    assert _left(tmp_path) == []  # and which the next start passes over rather than failing on


def test_the_ledger_writer_outlives_a_segment_it_cannot_remove(tmp_path: Path) -> None:
    """The real ledger: its journal fills a segment (1 MiB) while the database is locked by another connection, and a
    directory takes the segment's path. Once the database is free the writer commits the rows and fails to remove
    the segment; it used to die of it, and no row after was ever written to the database."""
    db = tmp_path / "ledger.db"
    ledger = Ledger(f"sqlite:///{db}")
    ledger.start()
    try:
        assert ledger.journal_dir is not None
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the writer's inserts wait (then fail and are retried) until it ends
        try:
            async def write(first: int, n: int) -> None:
                for i in range(first, first + n):
                    await ledger.record(LedgerRow(request_id=f"w{i:04d}", tenant="t", team="x", status="ok",
                                                  http_status=200, messages=[{"role": "user", "content": "z" * 20_000}]))

            asyncio.run(write(0, 60))  # past ROTATE_BYTES, all in one segment: nothing committed yet
            [segment] = ledger.journal_dir.glob(f"*{SUFFIX}")
            assert segment.stat().st_size >= ROTATE_BYTES
            segment.unlink()
            segment.mkdir()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert ledger.flush(60)
        asyncio.run(write(60, 5))
        assert ledger.flush(60), "the writer stopped"
        assert ledger.count() == 65
    finally:
        ledger.close()


# --- A journal closed while its writer is still out (Ledger.close's join timed out) -------------------

@pytest.mark.parametrize("rotate_bytes", [ROTATE_BYTES, 50], ids=["truncated in place", "swapped"])
def test_a_closed_journal_touches_no_descriptor_number_again(tmp_path: Path, rotate_bytes: int) -> None:
    """Ledger.close gives up on a writer stuck past its join (a slow database or volume) and closes the journal; the
    writer hands its rows back later. The segment's descriptor number is by then another file's (the lowest free
    number is reused at once): the late commit used to truncate that file or close its descriptor, and an append
    racing the close to write into it. A closed journal now touches no descriptor: the rows are in the database,
    and what the segment holds is replayed (and skipped as already there) at the next start."""
    journal = Journal(tmp_path / "journal", rotate_bytes=rotate_bytes)
    segment = journal.append(_line(1))
    journal.close()  # row 1 pending: its segment stays, for replay
    other = tmp_path / "other"
    other.write_bytes(b"someone else's data\n")
    reused = os.open(other, os.O_RDWR)  # the lowest free number: the segment's, unless this test's threads took it
    if reused != segment.fd:
        os.dup2(reused, segment.fd)
        os.close(reused)
    try:
        journal.committed([segment])  # the late writer
        with pytest.raises(OSError):
            journal.append(_line(2))
        os.fstat(segment.fd)  # still open
        assert os.pread(segment.fd, 100, 0) == b"someone else's data\n"
    finally:
        os.close(segment.fd)
    assert [p.name for p in (tmp_path / "journal").iterdir()] == [segment.path.name]  # no segment made after close
    assert _left(tmp_path / "journal") == ["r00001"]
