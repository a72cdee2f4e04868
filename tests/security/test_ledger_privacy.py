"""Defects 8, 11 and the file-mode part of 12: what the ledger keeps, where, and who may read it.

- 8: a damaged line in a dead gateway's journal is quarantined (kept in a side file, logged,
  counted in /metrics) and the gateway starts, with the good rows replayed.
- 11: a refused request (429, 4xx) leaves a row without its prompt: a stranger must not be able to
  fill the ledger with megabytes by sending requests that are refused.
- 12: the SQLite ledger, its WAL files, the journals and their folders are private to the
  gateway's user (0600 files, 0700 folders), whatever the umask.

Real gateway processes on 127.0.0.1; tests/faulty_upstream.py is the only upstream.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from router.cli import app as cli
from router.ledger.store import COLUMNS, LedgerRow
from tests.faulty_upstream import FaultyUpstream
from tests.servers import Process, start_gateway

MESSAGES = [{"role": "user", "content": "Say hello."}]
BIG = "a confidential prompt " * 20_000  # ~440 KB: what a refused request must not leave in the ledger


def policy_text(upstream: str) -> str:
    return f"""
version: 1
name: privacy
tiers:
  only:
    engine: openai
    model: only
    upstream_model: only
    base_url: {upstream}/v1
    max_output_tokens: 16
    # Room for BIG: this test's refusals are the rate limit's and validation's, not the context window's.
    context_window: 1000000
    prices: {{input_per_mtok: 1, output_per_mtok: 1}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
"""


def _line(request_id: str) -> bytes:
    row = LedgerRow(request_id=request_id, tenant="t", team="x", status="ok", http_status=200, cost_nanousd=7)
    return orjson.dumps({name: getattr(row, name) for name in COLUMNS}) + b"\n"


def _start(work: Path, upstream: FaultyUpstream, env: dict[str, str]) -> Process:
    policy = work / "policy.yaml"
    policy.write_text(policy_text(upstream.url))
    old = os.umask(0o022)  # the usual umask: the gateway itself must keep its files private
    try:
        return start_gateway(policy, work, env=env)
    finally:
        os.umask(old)


def _key(url: str, tenant: str, budget_usd: str) -> str:
    old = os.umask(0o022)  # the CLI creates the ledger here: it too must keep it private
    try:
        args = ["keys", "create", "--tenant", tenant, "--team", "x", "--budget-usd", budget_usd, "--period", "total", "--json"]
        created = CliRunner().invoke(cli, args, env={"SWITCHYARD_DATABASE_URL": url})
    finally:
        os.umask(old)
    assert created.exit_code == 0, created.output
    return str(json.loads(created.output)["key"])


@pytest.fixture(scope="module")
def gw(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """A gateway on a ledger whose folder does not exist yet, with a key that has no money (every
    call is a 429) and one that has."""
    work: Path = tmp_path_factory.mktemp("privacy")
    url = f"sqlite:///{work}/state/ledger.db"
    broke, payer = _key(url, "broke", "0"), _key(url, "payer", "100")
    server = _start(work, upstream, {"SWITCHYARD_DATABASE_URL": url})
    server.database_url = url
    server.broke, server.payer = broke, payer  # type: ignore[attr-defined]
    yield server
    server.stop()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _rows(database: Path) -> list[dict[str, object]]:
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(r) for r in connection.execute("select request_id, status, http_status, messages, response from requests")]


def _wait_for_rows(database: Path, wanted: set[str]) -> dict[str, dict[str, object]]:
    """The rows by request id once `wanted` are all committed (journaled rows commit within ~50 ms)."""
    deadline = time.monotonic() + 10
    while True:
        rows = {str(r["request_id"]): r for r in _rows(database)}
        if wanted <= set(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_refused_requests_do_not_store_the_prompt(gw: Process, upstream: FaultyUpstream) -> None:
    work = Path(gw.database_url.split("///", 1)[1]).parent  # type: ignore[union-attr]
    database = work / "ledger.db"
    auth = {"authorization": f"Bearer {gw.broke}"}  # type: ignore[attr-defined]
    big = [{"role": "user", "content": BIG}]
    refused: dict[str, int] = {}
    for _ in range(5):
        response = httpx.post(gw.url + "/v1/chat/completions", json={"model": "only", "messages": big, "max_tokens": 4},
                              headers=auth, timeout=20)
        assert response.status_code == 429, response.text
        refused[response.headers["x-switchyard-request-id"]] = 429
    invalid = httpx.post(gw.url + "/v1/chat/completions", json={"model": "only", "messages": big, "max_tokens": 10**9},
                         headers=auth, timeout=20)
    assert invalid.status_code == 400, invalid.text
    refused[invalid.headers["x-switchyard-request-id"]] = 400
    rows = _wait_for_rows(database, set(refused))
    for request_id, status in refused.items():
        row = rows[request_id]
        assert row["http_status"] == status and row["status"] == "rejected", row
        assert row["messages"] is None and row["response"] is None, f"a refused request's prompt was stored ({status})"
    stored = sum(len(str(r["messages"] or "")) for r in rows.values())
    assert stored < len(BIG), f"{stored} bytes of prompts stored for requests that were all refused"


def test_an_answered_request_still_stores_its_prompt(gw: Process) -> None:
    response = httpx.post(gw.url + "/v1/chat/completions", json={"model": "only", "messages": MESSAGES, "max_tokens": 4},
                          headers={"authorization": f"Bearer {gw.payer}"}, timeout=20)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    request_id = response.headers["x-switchyard-request-id"]
    rows = _wait_for_rows(Path(gw.database_url.split("///", 1)[1]), {request_id})  # type: ignore[union-attr]
    assert json.loads(str(rows[request_id]["messages"])) == MESSAGES


def test_ledger_files_are_private(gw: Process) -> None:
    httpx.get(gw.url + "/healthz", timeout=5)
    database = Path(gw.database_url.split("///", 1)[1])  # type: ignore[union-attr]
    state = database.parent
    assert _mode(state) == 0o700, f"{state} is {oct(_mode(state))}"
    files = [p for p in state.iterdir() if p.is_file()]
    assert database in files
    for path in files:
        assert _mode(path) & 0o077 == 0, f"{path.name} is {oct(_mode(path))}: readable by others"
    journals = Path(str(database) + ".ledger-journal")
    assert journals.is_dir() and _mode(journals) == 0o700, oct(_mode(journals))
    for path in journals.iterdir():
        assert _mode(path) & 0o077 == 0, f"{path.name} is {oct(_mode(path))}"


def test_a_damaged_journal_line_is_quarantined_and_the_gateway_starts(upstream: FaultyUpstream, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    journals = tmp_path / "journals"
    journals.mkdir(mode=0o755)
    garbage = b'{"request_id": "torn-by-a-disk-error", "tenant": \x00\x17garbage'
    not_a_row = b'{"request_id": "wrong-shape", "no_such_column": 1}'
    wrong_type = orjson.dumps({**orjson.loads(_line("wrong-type")), "created_at": 12})
    dead = journals / "4242-deadbeef.journal"
    dead.write_bytes(_line("good-1") + garbage + b"\n" + not_a_row + b"\n" + _line("good-2") + wrong_type + b"\n" + _line("good-3"))
    env = {"SWITCHYARD_DATABASE_URL": url, "SWITCHYARD_LEDGER_JOURNAL_DIR": str(journals)}
    server = _start(tmp_path, upstream, env)
    try:
        assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200
        rows = {r["request_id"] for r in _rows(tmp_path / "ledger.db")}
        assert {"good-1", "good-2", "good-3"} <= rows
        assert not rows & {"wrong-shape", "wrong-type"}
        assert not dead.exists()
        kept = list(journals.glob("*.quarantine"))
        assert len(kept) == 1, list(journals.iterdir())
        lines = kept[0].read_bytes().splitlines()
        assert lines == [garbage, not_a_row, wrong_type]
        assert _mode(kept[0]) & 0o077 == 0
        metrics = httpx.get(server.url + "/metrics", timeout=5).text
        counted = [line for line in metrics.splitlines() if line.startswith("switchyard_ledger_quarantined_rows_total ")]
        assert counted == ["switchyard_ledger_quarantined_rows_total 3.0"], counted
        assert "quarantined" in server.output()
    finally:
        server.stop()
    # The quarantine file is not replayed again on the next start.
    again = _start(tmp_path, upstream, env)
    try:
        metrics = httpx.get(again.url + "/metrics", timeout=5).text
        assert "switchyard_ledger_quarantined_rows_total 0.0" in metrics
        assert len(list(journals.glob("*.quarantine"))) == 1
    finally:
        again.stop()
