"""Hostile bodies against the real gateway as `make run` serves it (the default policy, the bundled
llama.cpp model, its HTTP tiers pointed at a local stand-in provider): no answer is a 5xx, the
process never dies, and nothing it logs is a traceback. Seeded and bounded in count and time;
bench/reliability.py runs the same generator longer for README's figure."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faulty_upstream import FaultyUpstream
from tests.hostile import DOOR_BODIES, hostile_body, hostile_door_body
from tests.servers import ROOT, Process, free_port, start_gateway

pytestmark = pytest.mark.slow
REQUESTS, LIMIT_S = 600, 90.0


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    upstream = FaultyUpstream(free_port())
    work: Path = tmp_path_factory.mktemp("fuzz-gateway")
    env = {
        "SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db",
        "SWITCHYARD_SELF_HOSTED_URL": upstream.url + "/v1",
        "SWITCHYARD_FRONTIER_API_BASE": upstream.url + "/v1",
        "OPENAI_API_KEY": "sk-local-standin",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    server = start_gateway(ROOT / "policies" / "default.yaml", work, env=env)
    yield server
    server.stop()
    upstream.stop()


@pytest.mark.parametrize(("seed", "focus"), [(11, None), (12, None), (13, "schema")])
def test_hostile_bodies_never_get_a_5xx_nor_kill_the_gateway(gw: Process, seed: int, focus: str | None) -> None:
    rng = random.Random(seed)
    started, sent, served = time.monotonic(), 0, 0
    with httpx.Client(timeout=30) as client:
        while sent < REQUESTS and time.monotonic() - started < LIMIT_S:
            content, headers = hostile_body(rng, focus)
            answer = client.post(gw.url + "/v1/chat/completions", content=content, headers=headers)
            sent += 1
            assert answer.status_code < 500, (content[:300], answer.text[:300])
            served += answer.status_code == 200
    assert gw.proc.poll() is None
    assert sent >= 100 and served > 0  # it really ran, and some of it was answered for real
    log = gw.output()
    assert "Traceback" not in log and "unhandled error" not in log


@pytest.mark.parametrize("path", list(DOOR_BODIES))
def test_hostile_bodies_at_every_front_door(gw: Process, path: str) -> None:
    rng = random.Random(path)
    started, sent = time.monotonic(), 0
    with httpx.Client(timeout=30) as client:
        while sent < 250 and time.monotonic() - started < LIMIT_S:
            content = hostile_door_body(rng, path)
            answer = client.post(gw.url + path, content=content, headers={"content-type": "application/json"})
            sent += 1
            assert answer.status_code < 500, (content[:300], answer.text[:300])
    assert gw.proc.poll() is None
    log = gw.output()
    assert "Traceback" not in log and "unhandled error" not in log
