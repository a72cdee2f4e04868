"""The legacy completions door (POST /v1/completions) and GET /v1/models/{id}, driven by the real openai SDK
against the real E2E gateway process (tests/conftest.py), plus unit tests of the translation."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from router.doors.completions import _chunk, chat_payload
from router.errors import APIError
from tests.servers import Process, ledger_row

SAY = "Say hello in one word."


def sdk(gateway: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0, timeout=120)


@pytest.mark.parametrize("prompt", [SAY, [SAY]])
def test_completion_through_the_pipeline(gateway: Process, prompt: str | list[str]) -> None:
    raw = sdk(gateway).completions.with_raw_response.create(model="local", prompt=prompt, max_tokens=8, temperature=0, seed=7,
                                                            stop=["\n\n"], user="tester")
    completion = raw.parse()
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    assert completion.model == "smollm2-135m-instruct" and isinstance(completion.created, int)
    (choice,) = completion.choices
    assert choice.index == 0 and isinstance(choice.text, str) and choice.logprobs is None
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage is not None and completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert raw.headers["x-switchyard-tier"] == "local"
    row = ledger_row(gateway, raw.headers["x-switchyard-request-id"])
    assert (row["door"], row["tier"], row["status"]) == ("completions", "local", "ok")
    assert row["completion_tokens"] == completion.usage.completion_tokens


def test_completion_streams_text_completion_chunks(gateway: Process) -> None:
    with sdk(gateway).completions.with_streaming_response.create(
        model="self_hosted", prompt=SAY, max_tokens=8, stream=True, stream_options={"include_usage": True}
    ) as raw:
        request_id = raw.headers["x-switchyard-request-id"]
        chunks = list(raw.parse())
    assert chunks and all(c.object == "text_completion" and c.id == f"cmpl-{request_id}" for c in chunks)
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert all(isinstance(t, str) for t in texts) and "".join(texts)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes and finishes[-1] in ("stop", "length")
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    row = ledger_row(gateway, request_id)
    assert (row["door"], row["tier"], row["status"], row["stream"]) == ("completions", "self_hosted", "ok", True)


def test_default_max_tokens_is_the_legacy_16() -> None:
    assert chat_payload({"model": "auto", "prompt": "x"})["max_tokens"] == 16


@pytest.mark.parametrize(("extra", "param"), [
    ({"echo": True}, "echo"),
    ({"suffix": "}"}, "suffix"),
    ({"logprobs": 2}, "logprobs"),
    ({"n": 2}, "n"),
    ({"best_of": 3}, "best_of"),
    ({"prompt": ["one", "two"]}, "prompt"),
    ({"prompt": [1, 2, 3]}, "prompt"),
    ({"prompt": [[1, 2]]}, "prompt"),
    ({"prompt": None}, "prompt"),
    ({"temperature": 5}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"),
])
def test_what_the_door_cannot_honour_is_a_400(gateway: Process, extra: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway).completions.create(**{"model": "local", "prompt": SAY, **extra})
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == param and body["type"] == "invalid_request_error", body


def test_unknown_model_is_a_404(gateway: Process) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(gateway).completions.create(model="no-such-model", prompt=SAY)
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_stream_chunks_translate() -> None:
    role = {"id": "c", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    assert _chunk("cmpl-x", role) is None
    text = {**role, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
    assert _chunk("cmpl-x", text) == {"id": "cmpl-x", "object": "text_completion", "created": 1, "model": "m",
                                      "choices": [{"text": "Hi", "index": 0, "finish_reason": None, "logprobs": None}]}
    usage = {**role, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
    assert _chunk("cmpl-x", usage)["usage"]["total_tokens"] == 4  # type: ignore[index]
    with pytest.raises(APIError):
        chat_payload({"model": "auto"})


# GET /v1/models/{id}

def test_models_retrieve_is_the_listed_object(gateway: Process) -> None:
    client = sdk(gateway)
    listed = {m.id: m.model_dump() for m in client.models.list()}
    for model_id in ("auto", "local", "smollm2-135m-instruct", "frontier", "all-MiniLM-L6-v2"):
        retrieved = client.models.retrieve(model_id)
        assert retrieved.id == model_id and retrieved.object == "model"
        assert retrieved.model_dump() == listed[model_id]
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "model_not_found" and error["type"] == "invalid_request_error"
    assert httpx.get(gateway.url + "/v1/models/a/b").status_code == 404
