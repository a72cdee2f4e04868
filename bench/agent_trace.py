"""What routing an agent's steps saves, on a recorded (scripted) multi-step agent trace.

Reproduce (seconds; `--generate` rewrites the trace, deterministically)::

    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python bench/agent_trace.py --generate
    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python bench/agent_trace.py

The trace (bench/data/agent_trace.jsonl, one line per conversation, replayed as every request it made) is 40 conversations of a coding-agent
harness: a ~1,100-token system prompt and four tool schemas repeated at every step, one human task, 2 to
8 tool steps (each an assistant call and a tool result of 150 to 1,200 tokens), a final answer, and in a
quarter of them a follow-up human turn with more steps. Each conversation carries the tier its task
needs (`needs`: local, self_hosted or frontier; scripted with the task, never read by routing).

Priced with policies/default.yaml's tiers (frontier's cached input at $1.25/Mtok, OpenAI's published
discount for gpt-4o; the others give no cached price), prompt tokens estimated as the gateway does
(router/capabilities.estimate_prompt_tokens); a prefix the same tier saw at the previous step is billed
at its cached price. Strategies:

- all-strong: every step on frontier;
- per-conversation: the first human message routed once, the whole conversation on that tier;
- per-step, naive: each step routed on the whole request's text, as a router that knows nothing of agents
  would (the harness's boilerplate and tool results included);
- per-step, Switchyard: each step routed on the human's last turn, tool chains kept on their tier, a
  switch at a human turn weighed against the prompt cache (router/planning.py's rules).

Reported per strategy: total cost, saving against all-strong, and the share of steps answered by a tier
below the one the conversation needs (a quality risk the cost figure hides). Routing uses the policy's
classifier (the trained default) through policies.decide, as the gateway does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from policies.decide import decide
from policies.loader import load_policy_text
from router.capabilities import estimate_prompt_tokens
from router.conversations import switch_loses
from router.tiers import load_classifier

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "bench" / "data" / "agent_trace.jsonl"
FRONTIER_CACHED = Decimal("1.25")

SYSTEM = ("You are an autonomous coding agent working in a git repository. Use the tools to read, search and edit files, "
          "and run the test suite before you finish. Keep changes minimal, follow the repository's conventions, never "
          "invent APIs, explain what you changed. ") * 12
TOOLS = [{"type": "function", "function": {"name": name, "description": desc, "parameters": {
    "type": "object", "properties": {"path": {"type": "string"}, "pattern": {"type": "string"}, "text": {"type": "string"}}}}}
    for name, desc in (("read_file", "Read a file."), ("search", "Search the repository with a regular expression."),
                       ("edit_file", "Replace text in a file."), ("run_tests", "Run the test suite and return its output."))]
TASKS = {
    "local": ["Rename the variable tmp to buffer in utils.py.", "Fix the typo 'recieve' in the README.",
              "Add a trailing newline to setup.cfg.", "Change the default port from 8000 to 8080 in config.py.",
              "Remove the unused import of os in cli.py."],
    "self_hosted": ["Add a --verbose flag to the CLI that sets the log level to debug and document it.",
                    "Write unit tests for the slugify function, covering unicode and empty input.",
                    "Make the HTTP client retry on 503 with exponential backoff, at most three times.",
                    "Convert the settings module from a dict of globals to a pydantic settings class."],
    "frontier": ["The payment reconciliation job double-counts refunds when a webhook is retried after a partial "
                 "database failure; find the race between the webhook handler and the nightly batch, prove it with a "
                 "failing test, and fix it without breaking idempotency guarantees for the other event types.",
                 "Our async task scheduler deadlocks under load when a task awaits a result from another worker pool; "
                 "trace the lock ordering across the three pools, redesign the hand-off so no cycle can form, and "
                 "keep the public API and its cancellation semantics unchanged.",
                 "Migrate the storage layer from a single SQLite file to sharded PostgreSQL with online resharding; "
                 "design the key scheme, the dual-write period and the backfill, and implement the first phase."],
}
FOLLOW_UPS = ["Also update the changelog.", "Now add a test for the edge case you found.", "Please also run the linter."]


def _words(rng: random.Random, tokens: int) -> str:
    vocab = ["def", "return", "self", "value", "import", "class", "if", "for", "in", "None", "path", "data", "test", "error"]
    return " ".join(rng.choice(vocab) for _ in range(tokens * 4 // 5))  # ~1.25 tokens a word of code


def generate(seed: int = 7, conversations: int = 40) -> list[dict[str, Any]]:
    """The trace as recorded: one line per conversation, its human turns and, after each, the tool calls
    (name, result size in tokens) the agent made and the final answer's size. `expand` replays it as requests."""
    rng = random.Random(seed)
    kinds = ["local"] * 16 + ["self_hosted"] * 14 + ["frontier"] * 10
    rng.shuffle(kinds)
    trace = []
    for c, needs in enumerate(kinds[:conversations]):
        turns = []
        for t in range(1 + (rng.random() < 0.25)):
            human = rng.choice(TASKS[needs]) if t == 0 else rng.choice(FOLLOW_UPS)
            steps = rng.randint(2, 8) if t == 0 else rng.randint(1, 4)
            calls = [[rng.choice(TOOLS)["function"]["name"], rng.randint(150, 1200)] for _ in range(steps)]
            turns.append({"human": human, "calls": calls, "answer_tokens": rng.randint(150, 600)})
        trace.append({"conversation": f"conv-{c:02d}", "needs": needs, "turns": turns})
    return trace


def expand(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every request the agent sent: the growing conversation at each step, in order."""
    rng = random.Random(0)  # tool results' text is filler: only its size matters
    rows: list[dict[str, Any]] = []
    for conv in trace:
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
        for t, turn in enumerate(conv["turns"]):
            messages.append({"role": "user", "content": turn["human"]})
            for s, (name, size) in enumerate(turn["calls"]):
                rows.append({"conversation": conv["conversation"], "needs": conv["needs"], "messages": list(messages), "output_tokens": 60})
                call = {"id": f"call_{t}_{s}", "type": "function", "function": {"name": name, "arguments": '{"path": "src/app.py"}'}}
                messages += [{"role": "assistant", "content": "", "tool_calls": [call]},
                             {"role": "tool", "tool_call_id": call["id"], "content": _words(rng, size)}]
            rows.append({"conversation": conv["conversation"], "needs": conv["needs"], "messages": list(messages),
                         "output_tokens": turn["answer_tokens"]})
            messages.append({"role": "assistant", "content": _words(rng, turn["answer_tokens"])})
    return rows


def _human(messages: list[dict[str, Any]]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def _whole(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages)


def run(rows: list[dict[str, Any]]) -> dict[str, Any]:
    policy = load_policy_text((ROOT / "policies" / "default.yaml").read_text())
    tiers = dict(policy.tiers)
    frontier = tiers["frontier"]
    cheaper_cached = frontier.prices.model_copy(update={"cached_input_per_mtok": FRONTIER_CACHED})
    tiers["frontier"] = frontier.model_copy(update={"prices": cheaper_cached})
    classifier, _ = load_classifier(policy.routing.classifier, policy.routing.long_prompt_words)
    enabled = list(policy.tiers)
    memo: dict[str, str] = {}

    def route(text: str) -> str:
        key = hashlib.sha256(text.encode()).hexdigest()
        if key not in memo:
            memo[key] = decide(policy, classifier.predict([text])[0], enabled, classifier.name).tier
        return memo[key]

    order = policy.by_cost()
    results: dict[str, Any] = {}
    for strategy in ("all-strong", "per-conversation", "per-step naive", "per-step switchyard"):
        cost, under, last, first = Decimal(0), 0, {}, {}
        for row in rows:
            conv, messages = row["conversation"], row["messages"]
            prompt = estimate_prompt_tokens(messages, TOOLS)
            if strategy == "all-strong":
                tier = "frontier"
            elif strategy == "per-conversation":
                tier = first.setdefault(conv, route(_human(messages)))
            elif strategy == "per-step naive":
                tier = route(_whole(messages))
            else:
                tier = route(_human(messages))
                prior = last.get(conv, (None, 0))[0]
                chain = messages[-1]["role"] == "tool"
                if prior and prior != tier:
                    dearer = order.index(tier) > order.index(prior)
                    if chain or (not dearer and switch_loses(tiers[prior], tiers[tier], prompt, row["output_tokens"])):
                        tier = prior
            prior_tier, prior_prompt = last.get(conv, (None, 0))
            cached = min(prior_prompt, prompt) if prior_tier == tier and tiers[tier].prices.cached_input_per_mtok is not None else 0
            prices = tiers[tier].prices
            cost += (Decimal(prompt - cached) * prices.input_per_mtok + Decimal(cached) * (prices.cached_input_per_mtok or 0)
                     + Decimal(row["output_tokens"]) * prices.output_per_mtok) / 1_000_000
            under += order.index(tier) < order.index(row["needs"])
            last[conv] = (tier, prompt)
        results[strategy] = {"cost_usd": float(round(cost, 4)), "steps_below_need": under}
    strong = results["all-strong"]["cost_usd"]
    for figures in results.values():
        figures["saving_vs_all_strong"] = round(1 - figures["cost_usd"] / strong, 3)
    return {"requests": len(rows), "conversations": len({r["conversation"] for r in rows}), "classifier": classifier.name,
            "strategies": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generate", action="store_true", help="rewrite bench/data/agent_trace.jsonl (seeded)")
    args = parser.parse_args()
    if args.generate:
        TRACE.write_text("".join(json.dumps(row) + "\n" for row in generate()))
        print(f"wrote {TRACE}")
        return
    rows = expand([json.loads(line) for line in TRACE.read_text().splitlines()])
    report = run(rows)
    print(f"{report['requests']} requests in {report['conversations']} conversations; classifier {report['classifier']}")
    print(f"{'strategy':<22} {'cost $':>9} {'saving':>8} {'steps below need':>17}")
    for name, figures in report["strategies"].items():
        print(f"{name:<22} {figures['cost_usd']:>9.4f} {figures['saving_vs_all_strong']:>8.1%} "
              f"{figures['steps_below_need']:>9} / {report['requests']}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
