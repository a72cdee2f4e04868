"""The real gateway process driven by the real openai SDK (and litellm as a client)."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from tests.servers import Process

pytestmark = pytest.mark.slow

SHORT = [{"role": "user", "content": "Say hello in one word."}]
# 40 words: the e2e policy's length rule sends it to the self-hosted tier (threshold 30 words).
MEDIUM = [
    {"role": "user", "content": " ".join(["Explain briefly why the sky looks blue to people on a clear day."] * 3 + ["Use simple words."])}
]


def client(gateway: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0)


def test_chat_completion_answered_by_bundled_local_model(gateway: Process) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=SHORT, max_tokens=8, temperature=0, seed=1
    )
    completion = raw.parse()
    assert raw.headers["x-switchyard-tier"] == "local"
    assert raw.headers["x-switchyard-model"] == "smollm2-135m-instruct"
    for header in ("request-id", "route-score", "cache", "cost-usd", "overhead-ms"):
        assert raw.headers[f"x-switchyard-{header}"]
    assert completion.model == "smollm2-135m-instruct"
    assert completion.choices[0].message.content
    usage = completion.usage
    expected = (usage.prompt_tokens * 0.01 + usage.completion_tokens * 0.02) / 1e6
    assert float(raw.headers["x-switchyard-cost-usd"]) == pytest.approx(expected, abs=1e-8)
    assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_with_usage_from_local_model(gateway: Process) -> None:
    stream = client(gateway).chat.completions.create(
        model="local", messages=SHORT, max_tokens=8, temperature=0, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    final = chunks[-1]
    assert final.choices == [] and final.usage is not None
    assert final.usage.completion_tokens == sum(1 for c in chunks if c.choices and c.choices[0].delta.content)
    assert final.usage.prompt_tokens > 0
    assert final.model_extra["switchyard"]["tier"] == "local"


def test_stream_without_usage_has_no_usage_chunk(gateway: Process) -> None:
    chunks = list(client(gateway).chat.completions.create(model="local", messages=SHORT, max_tokens=4, stream=True))
    assert chunks and all(c.usage is None for c in chunks)
    assert any(c.choices[0].finish_reason for c in chunks if c.choices)


def test_async_client(gateway: Process) -> None:
    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0) as aclient:
            results = await asyncio.gather(
                *[aclient.chat.completions.create(model="auto", messages=SHORT, max_tokens=4) for _ in range(3)]
            )
            stream = await aclient.chat.completions.create(model="auto", messages=SHORT, max_tokens=4, stream=True)
            streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return [r.choices[0].message.content for r in results] + [streamed]

    assert all(asyncio.run(run()))


def test_routed_to_second_tier_over_http_engine(gateway: Process) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model="auto", messages=MEDIUM, max_tokens=8)
    assert raw.headers["x-switchyard-tier"] == "self_hosted"
    completion = raw.parse()
    assert completion.model == "smollm2-vllm-standin"
    assert completion.choices[0].message.content
    assert completion.usage.prompt_tokens > 0
    expected = (completion.usage.prompt_tokens * 0.2 + completion.usage.completion_tokens * 0.8) / 1e6
    assert float(raw.headers["x-switchyard-cost-usd"]) == pytest.approx(expected, abs=1e-8)


def test_logprobs_pass_through_to_the_upstream(gateway: Process) -> None:
    asked = client(gateway).chat.completions.create(model="self_hosted", messages=SHORT, max_tokens=4, logprobs=True, top_logprobs=2)
    tokens = asked.choices[0].logprobs.content
    assert tokens and all(t.logprob <= 0 and t.top_logprobs for t in tokens)
    plain = client(gateway).chat.completions.create(model="self_hosted", messages=SHORT, max_tokens=4)
    assert plain.choices[0].logprobs is None


def test_stream_over_http_engine(gateway: Process) -> None:
    stream = client(gateway).chat.completions.create(
        model="smollm2-vllm-standin", messages=SHORT, max_tokens=8, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert chunks[-1].usage.completion_tokens > 0
    assert all(c.model == "smollm2-vllm-standin" for c in chunks)


def test_litellm_engine_reaches_the_same_server(gateway: Process) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model="frontier", messages=SHORT, max_tokens=8)
    assert raw.headers["x-switchyard-tier"] == "frontier"
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.usage.completion_tokens > 0
    stream = client(gateway).chat.completions.create(
        model="frontier-standin", messages=SHORT, max_tokens=8, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert chunks[-1].usage.total_tokens > 0


def test_litellm_as_a_client(gateway: Process) -> None:
    import litellm

    response = litellm.completion(
        model="openai/auto", api_base=gateway.url + "/v1", api_key="sk-anything", messages=SHORT, max_tokens=4
    )
    assert response.choices[0].message.content
    assert response.usage.total_tokens > 0


def test_models_lists_auto_tiers_and_models(gateway: Process) -> None:
    ids = {m.id for m in client(gateway).models.list()}
    assert {"auto", "local", "self_hosted", "frontier", "smollm2-135m-instruct", "smollm2-vllm-standin"} <= ids


def test_route_explains_without_generating(gateway: Process) -> None:
    body = {"model": "auto", "messages": MEDIUM}
    decision = httpx.post(gateway.url + "/v1/route", json=body).json()
    assert decision["tier"] == "self_hosted" and decision["model"] == "smollm2-vllm-standin"
    assert decision["threshold"] == 0.3 and decision["route_score"] == pytest.approx(0.42)
    assert set(decision["predicted_quality"]) == {"local", "self_hosted", "frontier", "broken"}
    assert "0.300" in decision["reason"] and decision["classifier"] == "length-rule"
    short = httpx.post(gateway.url + "/v1/route", json={"model": "auto", "messages": SHORT}).json()
    assert short["tier"] == "local"


def test_upstream_failure_falls_back_or_fails_cleanly(gateway: Process) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client(gateway).chat.completions.create(model="broken", messages=SHORT, max_tokens=4)
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_unavailable"
    assert "Traceback" not in caught.value.response.text


def test_metrics_count_requests_per_tier(gateway: Process) -> None:
    client(gateway).chat.completions.create(model="local", messages=SHORT, max_tokens=2)
    text = httpx.get(gateway.url + "/metrics").text
    assert 'switchyard_requests_total{cache="off",model="smollm2-135m-instruct",status="ok",tier="local"}' in text
    assert "switchyard_request_latency_seconds_bucket" in text
    assert 'switchyard_tokens_total{kind="completion",tier="local"}' in text
    assert "switchyard_cost_usd_total" in text


def test_health_and_readiness(gateway: Process) -> None:
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gateway.url + "/readyz").json()
    assert ready["ready"] is True and ready["tiers"]["local"] is True and ready["tiers"]["broken"] is False


def test_startup_banner_says_what_is_enabled(gateway: Process) -> None:
    out = gateway.output()
    assert "tier local" in out and "ENABLED" in out
    assert "length rule" in out


def test_streamed_and_plain_requests_cost_the_same(gateway: Process) -> None:
    # The in-process engine counts tokens the same way on both paths. (An HTTP upstream that sends
    # no usage in its streams, like llama_cpp.server, gets its prompt tokens estimated there.)
    kwargs = {"model": "local", "messages": SHORT, "max_tokens": 6, "temperature": 0, "seed": 7}
    plain = client(gateway).chat.completions.with_raw_response.create(**kwargs)
    chunks = list(client(gateway).chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == plain.parse().usage.completion_tokens
    assert chunks[-1].model_extra["switchyard"]["cost_usd"] == plain.headers["x-switchyard-cost-usd"]
    assert float(plain.headers["x-switchyard-cost-usd"]) > 0


def test_assistant_tool_call_turns_without_content_reach_an_http_tier(gateway: Process) -> None:
    # OpenAI clients send an assistant turn that called a tool with content null; llama_cpp.server's
    # chat template reads message.content and failed (a 502) when the gateway dropped the key.
    history = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C"},
    ]
    answer = client(gateway).chat.completions.create(model="self_hosted", messages=history, max_tokens=4)
    assert answer.choices[0].message.role == "assistant"


def test_logprobs_on_the_local_tier_are_a_clear_400(gateway: Process) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client(gateway).chat.completions.create(model="local", messages=SHORT, max_tokens=2, logprobs=True)
    assert "logprobs" in str(refused.value)
    assert client(gateway).chat.completions.create(model="local", messages=SHORT, max_tokens=2).choices  # the tier still serves
