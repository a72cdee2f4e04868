"""Decode speed of one running vLLM (or any OpenAI-compatible) server, for bench/gpu_vllm.sh.

Sends the same prompts one at a time (speculative decoding pays most at low batch), streamed with
temperature 0, and measures decode tokens/s per request as (completion tokens - 1) / (time of last
token - time of first token), so prefill and queueing are left out. Reads the server's
speculative-decoding counters before and after to report the acceptance rate of exactly this run.
Standard library only: it runs in whatever Python has vLLM installed.

    python bench/vllm_decode.py --url http://127.0.0.1:8000 --model bench [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import urllib.request

SOURCE = '''def merge_intervals(intervals):
    intervals = sorted(intervals, key=lambda pair: pair[0])
    merged = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def total_covered(intervals):
    return sum(end - start for start, end in merge_intervals(intervals))
'''

# Edits that copy most of the prompt into the answer: where n-gram speculation has material.
PROMPTS = [
    f"Add type hints to every function below. Output only the complete code.\n\n{SOURCE}",
    f"Rename `intervals` to `spans` everywhere in this code. Output only the complete code.\n\n{SOURCE}",
    f"Add a docstring to each function below, changing nothing else. Output only the complete code.\n\n{SOURCE}",
    "List the numbers from 1 to 60, one per line, each followed by a full stop.",
]
COUNTERS = ("vllm:spec_decode_num_draft_tokens_total", "vllm:spec_decode_num_accepted_tokens_total")


def counters(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    totals = dict.fromkeys(COUNTERS, 0.0)
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+)", line)
        if match and match.group(1) in totals:
            totals[match.group(1)] += float(match.group(3))
    return totals


def one(url: str, model: str, prompt: str, max_tokens: int) -> tuple[int, float]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    request = urllib.request.Request(
        url + "/v1/chat/completions", data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    first = last = None
    tokens = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        for raw in response:
            line = raw.strip()
            if not line.startswith(b"data:") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            if chunk.get("usage"):
                tokens = int(chunk["usage"]["completion_tokens"])
            if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                now = time.perf_counter()
                first = first or now
                last = now
    if first is None or last is None or last <= first or tokens < 2:
        return tokens, 0.0
    return tokens, (tokens - 1) / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="server root, e.g. http://127.0.0.1:8000")
    parser.add_argument("--model", required=True)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    url = args.url.rstrip("/")
    one(url, args.model, PROMPTS[0], 16)  # warm-up: CUDA graphs, caches
    before = counters(url)
    rates, tokens = [], 0
    for _ in range(args.rounds):
        for prompt in PROMPTS:
            count, rate = one(url, args.model, prompt, args.max_tokens)
            tokens += count
            if rate > 0:
                rates.append(rate)
    after = counters(url)
    drafted = after[COUNTERS[0]] - before[COUNTERS[0]]
    accepted = after[COUNTERS[1]] - before[COUNTERS[1]]
    if not rates:
        sys.exit("no request produced two or more tokens; nothing to measure")
    result = {
        "requests": len(rates),
        "completion_tokens": tokens,
        "decode_tokens_per_s": round(statistics.median(rates), 2),
        "acceptance_rate": round(accepted / drafted, 4) if drafted else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
