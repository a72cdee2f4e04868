"""Semantic cache benchmark: hit rate, false-hit rate and lookup latency of SemanticIndex.

Reproduce (CPU only, ~1-2 minutes on the 2-core dev machine):

    HF_HUB_OFFLINE=1 .venv/bin/python bench/semantic_cache.py

Quality uses ``bench/data/paraphrases.jsonl``: hand-written pairs labelled ``paraphrase`` (same
meaning, five domains) or ``different`` (near-duplicates that change the meaning: negation,
numbers, entities, comparison direction). The pairs are split into a calibration half and a
held-out half (alternating within each domain/kind). For each half, the ``a`` side of every
pair goes into one scope of a fresh index and the ``b`` side is looked up:

- a *good hit* is a paraphrase query that returns its own pair's entry;
- a *false hit* is any other hit (a "different" query that returns its partner, or any query
  that returns another pair's entry): the cache would have served a wrong answer.

The default threshold is the lowest one whose false-hit share on the calibration half is at
most ``--max-false`` (1%) with the guards on; the held-out half then says how well that choice
transfers. Latency is measured with ``--entries`` vectors in ONE scope (the worst case): random
unit vectors plus the real embeddings, queried with real and with random vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.embed import Embedder, default_spec
from router.cache.guards import compatible, features, incompatibility
from router.cache.semantic import SemanticIndex

DATA = Path(__file__).parent / "data" / "paraphrases.jsonl"
SCOPE = "tenant-a|model-x|ctx0|t0"


def load_pairs(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def split_pairs(pairs: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Alternate within each (label, domain/kind) group so both halves cover every kind."""
    calib: list[dict[str, str]] = []
    held: list[dict[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for pair in pairs:
        group = (pair["label"], pair.get("domain") or pair.get("kind", ""))
        k = seen.get(group, 0)
        seen[group] = k + 1
        (calib if k % 2 == 0 else held).append(pair)
    return calib, held


def meaning_classes(pairs: list[dict[str, str]]) -> dict[str, str]:
    """Texts joined by a paraphrase label share a class (union-find); everything else differs."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        ra, rb = find(pair["a"]), find(pair["b"])
        if pair["label"] == "paraphrase" and ra != rb:
            parent[ra] = rb
    return {text: find(text) for text in list(parent)}


def evaluate(
    pairs: list[dict[str, str]], vecs: dict[str, np.ndarray], thresholds: list[float], guarded: bool, show_false_at: float | None = None
) -> list[dict[str, float]]:
    dim = len(next(iter(vecs.values())))
    index = SemanticIndex(dim=dim, guard=compatible if guarded else None)
    cls = meaning_classes(pairs)
    for pair in pairs:
        # The value is the cached prompt itself, so a hit can be judged by its meaning class:
        # the same prompt may be the "a" side of a paraphrase pair and of a near-duplicate pair.
        index.add(SCOPE, vecs[pair["a"]], pair["a"], pair["a"])
    n_para = sum(1 for p in pairs if p["label"] == "paraphrase")
    rows = []
    for t in thresholds:
        good = correct = false = 0
        for pair in pairs:
            hit = index.lookup(SCOPE, vecs[pair["b"]], pair["b"], threshold=t)
            if hit is None:
                continue
            if cls[hit[0]] == cls[pair["b"]]:
                correct += 1
                good += pair["label"] == "paraphrase"
            else:
                false += 1
                if show_false_at is not None and abs(t - show_false_at) < 1e-9:
                    print(f"    false hit at {t:.2f} ({hit[1]:.3f}): {pair['b']!r} -> cached {hit[0]!r}")
        hits = correct + false
        rows.append(
            {
                "threshold": t,
                "hit_rate": good / n_para,
                "hits": hits,
                "false_hits": false,
                "false_share": false / hits if hits else 0.0,
            }
        )
    return rows


def choose(rows: list[dict[str, float]], max_false: float) -> float | None:
    ok = [r for r in rows if r["false_share"] <= max_false and r["hits"] > 0]
    return min(r["threshold"] for r in ok) if ok else None


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def latency(real: np.ndarray, real_texts: list[str], queries_real: np.ndarray, entries: int, n_queries: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Real prompts repeat across pairs and the index keeps one entry per (scope, text).
    n_real = len(set(real_texts))
    synth = rng.standard_normal((entries - n_real, real.shape[1])).astype(np.float32)
    synth /= np.linalg.norm(synth, axis=1, keepdims=True)
    index = SemanticIndex(dim=real.shape[1], max_entries=entries)
    t0 = time.perf_counter()
    for i, vec in enumerate(synth):
        index.add(SCOPE, vec, f"synthetic prompt {i}", "v")
    for text, vec in zip(real_texts, real, strict=True):
        index.add(SCOPE, vec, text, text)
    build_s = time.perf_counter() - t0
    per_add = build_s / len(index) * 1e6
    print(f"\nlatency: {len(index):,} entries in one scope, built in {build_s:.1f} s ({per_add:.0f} us/add incl. retraining)")

    rand_q = rng.standard_normal((n_queries, real.shape[1])).astype(np.float32)
    rand_q /= np.linalg.norm(rand_q, axis=1, keepdims=True)
    reps = max(1, n_queries // len(queries_real))
    real_q = np.concatenate([queries_real] * reps)
    # Exact reference for the real queries: the best match by brute force over every entry.
    all_vecs = np.concatenate([synth, real])
    for name, qs in (("real queries (paraphrase set b side)", real_q), ("random unit-vector queries", rand_q)):
        capped0 = index.stats()["capped"]
        times = []
        for q in qs:
            t = time.perf_counter_ns()
            index.lookup(SCOPE, q, "query")
            times.append((time.perf_counter_ns() - t) / 1e6)
        capped = index.stats()["capped"] - capped0
        print(
            f"  {name:38s} n={len(qs):5d}  p50 {pct(times, 0.5):.3f} ms  p99 {pct(times, 0.99):.3f} ms"
            f"  mean {statistics.fmean(times):.3f} ms  capped (approximate) {capped / len(qs):.0%}"
        )
    # Recall of the bounded search against exact brute force, on the real queries (guards off,
    # so the comparison is about the index alone).
    index.guard = None
    agree = total = 0
    thr = index.threshold
    for q in queries_real:
        sims = all_vecs @ q
        best = int(np.argmax(sims))
        exact = float(sims[best]) if sims[best] >= thr else None
        got = index.lookup(SCOPE, q, "query")
        total += 1
        agree += (exact is None and got is None) or (exact is not None and got is not None and abs(got[1] - exact) < 1e-5)
    print(f"  agreement with exact brute force on real queries at {thr:.2f}: {agree}/{total}")
    times = []
    for q in rand_q[:200]:
        t = time.perf_counter_ns()
        int(np.argmax(all_vecs @ q))
        times.append((time.perf_counter_ns() - t) / 1e6)
    shape = f"{len(all_vecs):,} x {all_vecs.shape[1]}"
    print(f"  (reference: numpy brute force over {shape} float32: p50 {pct(times, 0.5):.2f} ms, p99 {pct(times, 0.99):.2f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--max-false", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--show-false-at", type=float, default=None, help="print the false hits at this threshold")
    ap.add_argument(
        "--backend",
        choices=["static", "onnx-int8", "onnx", "torch"],
        default=os.environ.get("SWITCHYARD_EMBED_BACKEND", "onnx-int8"),
        help="embedder backend (thresholds are specific to it; default: onnx-int8, the contextual MiniLM)",
    )
    args = ap.parse_args()

    pairs = load_pairs(args.data)
    calib, held = split_pairs(pairs)
    n_para = sum(p["label"] == "paraphrase" for p in pairs)
    print(f"pairs: {len(pairs)} ({n_para} paraphrase, {len(pairs) - n_para} different); calibration {len(calib)}, held-out {len(held)}")

    os.environ["SWITCHYARD_EMBED_BACKEND"] = args.backend
    embedder = Embedder(default_spec())
    texts = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
    t0 = time.perf_counter()
    matrix = embedder.embed(texts)
    print(f"embedder: {embedder.name}, {len(texts)} texts in {time.perf_counter() - t0:.1f} s")
    vecs = dict(zip(texts, matrix, strict=True))

    thresholds = [round(0.75 + 0.01 * i, 2) for i in range(23)]
    results = {}
    for half_name, half in (("calibration", calib), ("held-out", held)):
        for guarded in (True, False):
            results[(half_name, guarded)] = evaluate(half, vecs, thresholds, guarded, args.show_false_at if guarded else None)

    print("\nthreshold sweep (hit rate = paraphrase queries answered with their own pair; false = wrong-meaning hits / all hits)")
    header = f"{'thr':>5} | {'calib+guards':^24} | {'held-out+guards':^24} | {'calib, no guards':^24} | {'held-out, no guards':^24}"
    print(header)
    print(f"{'':>5} | " + " | ".join(f"{'hit':>6} {'false':>7} {'(n/hits)':>9}" for _ in range(4)))
    for i, t in enumerate(thresholds):
        cells = []
        for key in (("calibration", True), ("held-out", True), ("calibration", False), ("held-out", False)):
            r = results[key][i]
            frac = f"({r['false_hits']}/{r['hits']})"
            cells.append(f"{r['hit_rate']:6.1%} {r['false_share']:7.1%} {frac:>9}")
        print(f"{t:5.2f} | " + " | ".join(cells))

    chosen = choose(results[("calibration", True)], args.max_false)
    if chosen is None:
        print(f"\nno threshold keeps false hits <= {args.max_false:.0%} on the calibration half")
    else:
        i = thresholds.index(chosen)
        c, h = results[("calibration", True)][i], results[("held-out", True)][i]
        print(
            f"\nchosen threshold (lowest with false hits <= {args.max_false:.0%} of hits on calibration, guards on): {chosen:.2f}\n"
            f"  calibration: hit rate {c['hit_rate']:.1%}, false {c['false_hits']}/{c['hits']} = {c['false_share']:.1%}\n"
            f"  held-out:    hit rate {h['hit_rate']:.1%}, false {h['false_hits']}/{h['hits']} = {h['false_share']:.1%}"
        )

    # Which guard vetoes what, on the whole set (does it catch the near-duplicates and spare the paraphrases?).
    vetoes: dict[str, dict[str, int]] = {}
    for pair in pairs:
        why = incompatibility(pair["b"], pair["a"]) or "pass"
        group = "paraphrase" if pair["label"] == "paraphrase" else f"different/{pair['kind']}"
        vetoes.setdefault(group, {}).setdefault(why, 0)
        vetoes[group][why] += 1
    print("\nguard verdicts on all pairs (pass = guards allow the match):")
    for group, counts in sorted(vetoes.items()):
        print(f"  {group:22s} " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))
    sims_para = [float(vecs[p["a"]] @ vecs[p["b"]]) for p in pairs if p["label"] == "paraphrase"]
    sims_diff = [float(vecs[p["a"]] @ vecs[p["b"]]) for p in pairs if p["label"] != "paraphrase"]
    print(
        f"pair cosine: paraphrase median {statistics.median(sims_para):.3f} (min {min(sims_para):.3f}); "
        f"different median {statistics.median(sims_diff):.3f} (max {max(sims_diff):.3f})"
    )

    t0 = time.perf_counter()
    for text in texts:
        features.__wrapped__(text)
    per_text = (time.perf_counter() - t0) / len(texts) * 1e6
    t0 = time.perf_counter()
    for pair in pairs * 20:
        incompatibility(pair["b"], pair["a"])
    per_check = (time.perf_counter() - t0) / (len(pairs) * 20) * 1e6
    print(f"guard cost: feature extraction {per_text:.0f} us per new text, check with memoised features {per_check:.1f} us")

    if not args.skip_latency:
        real_a = np.stack([vecs[p["a"]] for p in pairs])
        real_b = np.stack([vecs[p["b"]] for p in pairs])
        latency(real_a, [p["a"] for p in pairs], real_b, args.entries, args.queries, args.seed)
    print(f"\nreproduce: HF_HUB_OFFLINE=1 .venv/bin/python bench/semantic_cache.py --backend {args.backend}")


if __name__ == "__main__":
    main()
