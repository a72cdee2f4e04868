"""Routing decision latency: embed + classify, as the gateway does it per request.

Reproduce (prints a table and one JSON line; ~1 minute with the default static backend)::

    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python bench/routing_latency.py
    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python bench/routing_latency.py --backend onnx-int8

For prompts of 20, 200 and 2,000 words it measures, with every prompt unique (no cache hits):

- p50 / p99 of one decision at concurrency 1 (``Embedder.embed`` + ``predict_embedded``);
- decisions per second at concurrency 32: 32 threads, each issuing decisions through a
  :class:`~classifiers.embed.BatchingEmbedder` (micro-batches), then classifying;
- the same through asyncio: 32 tasks on :class:`~classifiers.embed.AsyncBatcher`;
- the latency of a repeated prompt (embedding cache hit), once.

With ``--backend onnx-int8|onnx|torch`` the classifier step is skipped (the shipped artifact
is trained on the static embedder's vectors), so those rows time the embedding alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from classifiers.embed import AsyncBatcher, BatchingEmbedder, Embedder, EmbedderSpec
from classifiers.trained import TrainedClassifier, load_artifact

_WORDS = (
    "the court held that a contract requires consideration while the defendant argued that "
    "the integral of a continuous function over a closed interval equals the area under its "
    "curve and photosynthesis converts light energy into chemical energy in plant cells which "
    "economists model supply and demand with elasticity estimates for inflation unemployment "
    "trade policy an enzyme lowers the activation energy of a reaction proof by induction shows "
    "that every natural number satisfies the property if the base case holds and the step "
    "preserves it history records the treaty signed after the war ended between the empires"
).split()


class PromptMaker:
    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.counter = 0
        self.lock = threading.Lock()

    def make(self, words: int) -> str:
        with self.lock:
            self.counter += 1
            tag = f"request {self.counter}:"
            body = " ".join(self.rng.choice(_WORDS) for _ in range(words - 2))
        return f"{tag} {body}?"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run(backend: str, n_single: int, n_concurrent: int, concurrency: int) -> dict[str, object]:
    spec = EmbedderSpec() if backend == "static" else EmbedderSpec(backend=backend, head_tokens=96, tail_tokens=32)  # type: ignore[arg-type]
    embedder = Embedder(spec, cache_size=100_000)
    embedder.warmup()
    clf: TrainedClassifier | None = None
    if backend == "static":
        clf = load_artifact(Path(__file__).resolve().parents[1] / "classifiers" / "artifacts" / "default", embedder=embedder)

    def decide_batch(texts: list[str], vecs: np.ndarray) -> None:
        if clf is not None:
            clf.predict_embedded(texts, vecs)

    maker = PromptMaker()
    results: dict[str, object] = {
        "backend": spec.name,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "sizes": {},
    }
    for words in (20, 200, 2000):
        # Concurrency 1: one uncached decision at a time.
        lat = []
        for _ in range(10):  # warm the code paths for this size
            t = maker.make(words)
            decide_batch([t], embedder.embed([t]))
        for _ in range(n_single):
            t = maker.make(words)
            start = time.perf_counter()
            decide_batch([t], embedder.embed([t]))
            lat.append((time.perf_counter() - start) * 1000)
        # Cache hit: the same prompt again.
        hit = []
        for _ in range(50):
            start = time.perf_counter()
            decide_batch([t], embedder.embed([t]))
            hit.append((time.perf_counter() - start) * 1000)

        # Concurrency N with threads + micro-batching.
        batcher = BatchingEmbedder(embedder, max_batch=concurrency, max_wait_ms=1.0)
        prompts = [maker.make(words) for _ in range(n_concurrent)]

        def one(text: str, batcher: BatchingEmbedder = batcher) -> None:
            vec = batcher.embed_one(text)
            decide_batch([text], vec[None, :])

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, prompts))
        thread_rate = n_concurrent / (time.perf_counter() - start)
        batcher.close()

        # Concurrency N with asyncio tasks.
        prompts = [maker.make(words) for _ in range(n_concurrent)]

        async def async_run(prompts: list[str] = prompts) -> float:
            ab = AsyncBatcher(embedder, max_batch=concurrency, max_wait_ms=1.0)
            sem = asyncio.Semaphore(concurrency)

            async def task(text: str) -> None:
                async with sem:
                    vec = await ab.embed(text)
                    decide_batch([text], vec[None, :])

            t0 = time.perf_counter()
            await asyncio.gather(*(task(p) for p in prompts))
            elapsed = time.perf_counter() - t0
            await ab.aclose()
            return n_concurrent / elapsed

        async_rate = asyncio.run(async_run())
        results["sizes"][str(words)] = {  # type: ignore[index]
            "p50_ms": round(statistics.median(lat), 3),
            "p99_ms": round(_pct(lat, 99), 3),
            "mean_ms": round(statistics.fmean(lat), 3),
            "cache_hit_p50_ms": round(statistics.median(hit), 4),
            f"threads_c{concurrency}_per_s": round(thread_rate, 1),
            f"asyncio_c{concurrency}_per_s": round(async_rate, 1),
            "tokens_used": len(embedder.token_ids([maker.make(words)])[0]),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="static", choices=["static", "onnx-int8", "onnx", "torch"])
    parser.add_argument("--n-single", type=int, default=300, help="decisions timed at concurrency 1")
    parser.add_argument("--n-concurrent", type=int, default=2000, help="decisions in the throughput run")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    res = run(args.backend, args.n_single, args.n_concurrent, args.concurrency)
    c = args.concurrency
    print(f"routing decision latency, embedder {res['backend']}, {res['cpu_count']} CPUs")
    header = (
        f"{'words':>6} {'tokens':>6} {'p50 ms':>8} {'p99 ms':>8} {'hit p50 ms':>10} {'thr/s c' + str(c):>11} {'async/s c' + str(c):>12}"
    )
    print(header)
    for words, row in res["sizes"].items():  # type: ignore[union-attr]
        print(
            f"{words:>6} {row['tokens_used']:>6} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['cache_hit_p50_ms']:>10.3f} {row[f'threads_c{c}_per_s']:>11.0f} {row[f'asyncio_c{c}_per_s']:>12.0f}"
        )
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
