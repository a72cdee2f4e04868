"""The replay pieces on their own: a kept answer turned into stream deltas and merged back is the same
answer (text, tool calls, refusal, logprobs), and the never-cache rules and their reasons."""

from __future__ import annotations

from typing import Any

import pytest

from engines.deltas import StreamedAnswer
from policies.schema import CacheSettings
from router.cache.responses import cache_control, never_cached
from router.schemas import ChatRequest
from router.streaming import replay_deltas
from tests.test_cache_replay import ANSWERS, model_answer


@pytest.mark.parametrize("logprobs", [False, True])
@pytest.mark.parametrize("scenario", list(ANSWERS))
def test_replayed_deltas_merge_back_to_the_kept_answer(scenario: str, logprobs: bool) -> None:
    kept = model_answer(scenario, logprobs, 1)
    message = {k: v for k, v in kept["message"].items() if v is not None}
    text = message.get("content") or ""
    answer = StreamedAnswer()
    for delta, lp in replay_deltas(message, text, kept["logprobs"]):
        answer.add({"delta": delta, "logprobs": lp, "finish_reason": None})
    answer.add({"delta": {}, "finish_reason": kept["finish_reason"]})
    merged = answer.message()
    assert merged.get("content") == kept["message"]["content"]
    assert merged.get("refusal") == kept["message"]["refusal"]
    assert merged.get("tool_calls") == kept["message"].get("tool_calls")
    assert answer.finish_reason == kept["finish_reason"]
    assert answer.choice_logprobs() == kept["logprobs"]


def test_logprobs_that_do_not_spell_the_text_ride_on_the_first_piece() -> None:
    entries = [{"token": "x", "logprob": -1.0, "bytes": None, "top_logprobs": []}]
    deltas = replay_deltas({"role": "assistant", "content": "two words"}, "two words", {"content": entries, "refusal": None})
    assert [d for d, _ in deltas] == [{"role": "assistant", "content": "two "}, {"content": "words"}]
    assert deltas[0][1] == {"content": entries, "refusal": None} and deltas[1][1] is None


def _chat(**extra: Any) -> ChatRequest:
    return ChatRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra})


def _tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def test_never_cached_rules() -> None:
    settings = CacheSettings(max_temperature=0.5, side_effect_tools=["send_email"])
    assert never_cached(_chat(), settings) is None  # the provider's default temperature is cached
    assert never_cached(_chat(temperature=0.5), settings) is None  # at the limit: cached
    assert never_cached(_chat(temperature=0.51), settings) == "temperature"
    assert never_cached(_chat(temperature=0.51), CacheSettings(max_temperature=2)) is None
    assert never_cached(_chat(tools=[_tool("get_time")]), settings) is None
    assert never_cached(_chat(tools=[_tool("get_time"), _tool("send_email")]), settings) == "side-effect-tools"
    assert never_cached(_chat(tools=[_tool("get_time")]), CacheSettings(side_effect_tools=["*"])) == "side-effect-tools"
    assert never_cached(_chat(tools=[_tool("send_email")]), CacheSettings()) is None  # nothing marked by default


def test_cache_control_says_why_it_bypassed() -> None:
    settings = CacheSettings(max_temperature=0.5)
    hot = cache_control({"cache-control": "no-cache"}, settings, _chat(temperature=1.0))
    assert (hot.lookup, hot.store, hot.bypass) == (False, False, "temperature")  # the rule wins over the header
    assert cache_control({"cache-control": "no-store"}, settings, _chat()).bypass == "no-store"
    no_cache = cache_control({"cache-control": "no-cache"}, settings, _chat())
    assert (no_cache.lookup, no_cache.store, no_cache.bypass) == (False, True, "no-cache")
    assert cache_control({}, settings, _chat()).bypass is None
