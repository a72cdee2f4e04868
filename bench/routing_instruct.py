"""A chat-like task family for routing: instructions whose compliance code can check (IFEval-style).

The hidden sets the router is judged on include open-ended chat, and every local family so far was
arithmetic or lookups answered in a few tokens. This one is instructions a chat user gives (use these
words, exactly n words, JSON with this key, capitals, a list, repeat this, avoid a letter), each with
a checker here, at three levels (more or longer constraints). A model answers in its own chat
template, up to ``MAX_TOKENS`` tokens, greedily; the grade is 1 when every constraint holds.

Splits fixed here, committed before any model was asked (2026-12-02): five development types and
five report types; no choice may look at the report types.

Reproduce (about 15 minutes on the shared 2 cores with 2 shards a tier)::

    .venv/bin/pip install -e '.[bench]'
    nice -n 5 .venv/bin/python -m bench.routing_instruct --tier smollm2-135m --shard 0/2 --out /tmp/i-s0.jsonl
    (... shard 1/2, and the same for --tier qwen2.5-coder-0.5b ...)
    .venv/bin/python -m bench.routing_instruct --merge /tmp/i-*.jsonl

then ``python -m bench.routing_unseen --tasks bench/data/routing_instruct-labeled.jsonl --tiers smollm2-135m
qwen2.5-coder-0.5b``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEV_TYPES = ("caps", "count_words", "json_key", "include", "reverse")
REPORT_TYPES = ("lowercase_list", "start_with", "repeat", "no_letter", "number_range")
SPLIT_OF = {t: "dev" for t in DEV_TYPES} | {t: "report" for t in REPORT_TYPES}
FAMILY = "gen-instruct"
OUT = ROOT / "bench/data/routing_instruct-labeled.jsonl"
MAX_TOKENS = 48
PER_TYPE = 40

TOPICS = ("the sea", "a city", "winter", "music", "a dog", "coffee", "the moon", "trains", "gardens", "rain",
          "books", "the desert", "a market", "bicycles", "the sky", "bread")
WORDS = ("apple", "river", "stone", "cloud", "tiger", "paper", "garden", "window", "silver", "orange",
         "candle", "forest", "pencil", "bottle", "mirror", "rocket", "castle", "violin", "button", "planet",
         "ladder", "summer", "harbor", "meadow", "lantern", "pepper", "marble", "thunder", "blanket", "lamp",
         "fish", "bird", "tree", "rose", "ship", "road", "cake", "door", "milk", "sand", "star", "wolf", "moon", "leaf",
         "kite", "bell")
CATEGORIES = ("fruits", "colors", "animals", "countries", "vegetables", "musical instruments", "sports", "trees", "birds",
              "flowers", "tools", "drinks", "vehicles", "insects", "metals", "games")
KEYS = ("name", "count", "city", "color", "score", "label")
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@dataclass(frozen=True)
class Task:
    id: str
    type: str
    level: int
    prompt: str
    spec: dict[str, Any]


def _caps(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    words = rng.sample(WORDS, level)
    quoted = " ".join(words)
    return (f"Write '{quoted}' in capital letters. Reply with only that, nothing else.", {"exact": quoted.upper()})


def _count_words(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    n = (3, 5, 8)[level - 1]
    return (f"Write one sentence about {rng.choice(TOPICS)} that has exactly {n} words.", {"n_words": n})


def _json_key(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    keys = rng.sample(KEYS, 1 if level < 3 else 2)
    want: dict[str, Any] = {}
    for k in keys:
        want[k] = rng.randint(2, 99) if level == 1 or k in ("count", "score") else rng.choice(WORDS)
    parts = " and ".join(f'the key "{k}" set to {json.dumps(v)}' for k, v in want.items())
    return (f"Reply with a JSON object only, with {parts}.", {"json": want})


def _include(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    words = rng.sample(WORDS, level)
    listed = ", ".join(f"'{w}'" for w in words)
    return (f"Write one sentence about {rng.choice(TOPICS)} that uses the word{'s' if level > 1 else ''} {listed}.",
            {"include": words})


def _reverse(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    if level == 3:  # two words, reversed as one string
        text = " ".join(rng.sample([w for w in WORDS if len(w) <= 6], 2))
        return (f"Write '{text}' backwards, letter by letter. Reply with the reversed text only.", {"exact": text[::-1]})
    word = rng.choice([w for w in WORDS if (len(w) <= 4, 5 <= len(w) <= 6)[level - 1]])
    return (f"Spell the word '{word}' backwards. Reply with the reversed word only.", {"exact": word[::-1]})


def _lowercase_list(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    n = (2, 3, 5)[level - 1]
    return (f"List {n} {rng.choice(CATEGORIES)} in lowercase, separated by commas, and nothing else.", {"list": n})


def _start_with(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    first, last = rng.sample(WORDS, 2)
    spec: dict[str, Any] = {"start": first}
    text = f"Begin your reply with the word '{first}', then say something about {rng.choice(TOPICS)} in one sentence"
    if level >= 2:
        spec["end"] = last
        text += f", and end it with the word '{last}'"
    if level == 3:
        k = rng.randint(10, 99)
        spec["include_number"] = k
        text += f", and include the number {k}"
    return text + ".", spec


def _repeat(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    n = (3, 6, 10)[level - 1]
    phrase = " ".join(rng.choice(WORDS) for _ in range(n))
    return (f"Repeat this text exactly, and nothing else: {phrase}", {"exact": phrase})


def _no_letter(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    letter, m = (("z", 3), ("s", 4), ("e", 6))[level - 1]
    return (f"Write a sentence of at least {m} words about {rng.choice(TOPICS)} without using the letter '{letter}'.",
            {"avoid": letter, "min_words": m})


def _number_range(rng: random.Random, level: int) -> tuple[str, dict[str, Any]]:
    lo = rng.randint(10, 60)
    hi = lo + rng.randint(15, 40)
    prop = ("", " that is even", " that is a multiple of 7")[level - 1]
    return (f"Reply with a whole number between {lo} and {hi}{prop}, and nothing else.",
            {"range": [lo, hi], "multiple": (1, 2, 7)[level - 1]})


MAKERS = {"caps": _caps, "count_words": _count_words, "json_key": _json_key, "include": _include, "reverse": _reverse,
          "lowercase_list": _lowercase_list, "start_with": _start_with, "repeat": _repeat, "no_letter": _no_letter,
          "number_range": _number_range}


def generate(per_type: int = PER_TYPE, seed: int = 1202) -> list[Task]:
    rng = random.Random(seed)
    tasks: list[Task] = []
    for kind in (*DEV_TYPES, *REPORT_TYPES):
        seen: set[str] = set()
        k = tries = 0
        while k < per_type:
            tries += 1
            if tries > 100 * per_type:
                raise RuntimeError(f"{kind}: cannot make {per_type} distinct prompts")
            level = 1 + k % 3
            prompt, spec = MAKERS[kind](rng, level)
            if prompt in seen:
                continue
            seen.add(prompt)
            k += 1
            tasks.append(Task(f"ifx-{kind}-{k:03d}", kind, level, prompt, spec))
    return tasks


def _clean(text: str) -> str:
    return text.strip().strip("\"'`").strip()


def grade(output: str, task: Task) -> float:
    """1.0 when the reply meets every constraint of the task, else 0.0."""
    spec, text = task.spec, _clean(output)
    words = WORD.findall(text)
    lower = [w.lower() for w in words]
    ok = True
    if "exact" in spec:
        ok &= text.rstrip(".") == spec["exact"]
    if "n_words" in spec:
        ok &= len(words) == spec["n_words"]
    if "json" in spec:
        found = re.search(r"\{.*\}", text, re.S)
        try:
            obj = json.loads(found.group(0)) if found else None
        except ValueError:
            obj = None
        ok &= isinstance(obj, dict) and all(obj.get(k) == v for k, v in spec["json"].items())
    if "include" in spec:
        ok &= all(w in lower for w in spec["include"])
    if "list" in spec:
        items = [i.strip().rstrip(".") for i in text.split(",")]
        ok &= (len(items) == spec["list"] and all(i and i == i.lower() and re.fullmatch(r"[a-z][a-z ]*", i) for i in items)
               and len(set(items)) == len(items))
    if "start" in spec:
        ok &= bool(lower) and lower[0] == spec["start"]
    if "end" in spec:
        ok &= bool(lower) and lower[-1] == spec["end"]
    if "include_number" in spec:
        ok &= str(spec["include_number"]) in re.findall(r"\d+", text)
    if "avoid" in spec:
        ok &= spec["avoid"] not in text.lower() and len(words) >= spec["min_words"]
    if "range" in spec:
        number = re.fullmatch(r"(\d+)\.?", text)
        lo, hi = spec["range"]
        ok &= number is not None and lo <= int(number.group(1)) <= hi and int(number.group(1)) % spec["multiple"] == 0
    return 1.0 if ok else 0.0


def label_tier(tier: str, out: Path, shard: tuple[int, int]) -> None:
    from llama_cpp import Llama

    from bench.routing_label import model_path

    done = {json.loads(line)["id"] for line in out.open()} if out.is_file() else set()
    k_of, n_of = shard
    tasks = [t for i, t in enumerate(generate()) if i % n_of == k_of and t.id not in done]
    # One token at a time: this portable llama.cpp build evaluates batches far slower (bench/routing_label.py).
    llm = Llama(model_path=model_path(tier), n_ctx=512, n_threads=1, n_batch=1, verbose=False, seed=0)
    started = time.perf_counter()
    with out.open("a", encoding="utf-8") as fh:
        for k, task in enumerate(tasks, 1):
            t0 = time.perf_counter()
            reply: Any = llm.create_chat_completion([{"role": "user", "content": task.prompt}], max_tokens=MAX_TOKENS, temperature=0.0)
            text = str(reply["choices"][0]["message"]["content"] or "")
            usage = dict(reply.get("usage", {}))
            fh.write(json.dumps({"id": task.id, "tier": tier, "response": text, "score": grade(text, task), "usage": usage,
                                 "latency_s": round(time.perf_counter() - t0, 4)}) + "\n")
            fh.flush()
            if k % 50 == 0:
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
        for task in generate():
            per = answers.get(task.id, {})
            if len(per) < len(tiers):
                continue
            fh.write(json.dumps({
                "id": task.id,
                "messages": [{"role": "user", "content": task.prompt}],
                "scores": {t: r["score"] for t, r in sorted(per.items())},
                "responses": {t: r["response"] for t, r in sorted(per.items())},
                "usage": {t: r["usage"] for t, r in sorted(per.items())},
                "meta": {"source": FAMILY, "domain": f"ifx:{task.type}", "split": SPLIT_OF[task.type], "level": task.level,
                         "spec": task.spec, "latency_s": {t: r["latency_s"] for t, r in sorted(per.items())}},
            }) + "\n")
            rows += 1
    print(f"{rows} labeled rows ({', '.join(tiers)}) -> {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tier", choices=("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--shard", default="0/1")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="PART")
    args = parser.parse_args()
    if args.merge:
        merge(args.merge, args.out or OUT)
        return 0
    if not (args.tier and args.out):
        parser.error("--tier and --out (or --merge)")
    k, n = (int(x) for x in args.shard.split("/"))
    label_tier(args.tier, args.out, (k, n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
