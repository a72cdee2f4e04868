"""Semantic cache benchmark: correctness on a hard set, the calibrated rule, and lookup latency.

Reproduce (CPU only, a few minutes on the 2-core dev machine):

    .venv/bin/python bench/semantic_eval_gen.py            # (re)generates bench/data/semantic_eval.jsonl
    HF_HUB_OFFLINE=1 .venv/bin/python bench/semantic_cache.py --calibrate   # writes router/cache/calibration.json
    HF_HUB_OFFLINE=1 .venv/bin/python bench/semantic_cache.py --skip-latency

Quality uses ``bench/data/semantic_eval.jsonl`` (see bench/semantic_eval_gen.py): pairs labelled
``same`` or ``different``, grouped by template family, each family wholly in the ``calib`` or the
``report`` split. For a split, the ``a`` side of every pair goes into a fresh index (its scope is the
pair's earlier turns, as the gateway's scope is) and the ``b`` side is looked up, with the embedder the
gateway uses (MiniLM int8 reading 96 + 32 word pieces):

- a *good hit* is a ``same`` query answered with its own pair's entry;
- a *false hit* is any hit whose cached prompt does not mean the same (its partner in a
  ``different`` pair, or any other pair's entry): the cache would have served a wrong answer.

Settings: ``cosine`` (threshold only), ``guards`` (cosine >= 0.93 + the meaning guards alone)
and ``verifier`` (candidates at the policy's cosine threshold, then router.cache.verify on the whole
text with the calibrated ``min_alignment``; the gateway's rule), with the verifier's time per
candidate. The rule is calibrated on the calib split only (``--calibrate``); the report split is
measured with the rule as shipped (``--no-report`` leaves it out while tuning; ``--calibrate``
records it for ``serve``, never reading it back to choose). Intervals: Wilson 95%
(two-sided) and the one-sided 95% Clopper-Pearson upper bound the gateway uses.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.embed import Embedder, EmbedderSpec
from policies.schema import CacheSettings
from router.cache.calibration import ARTIFACT, choose, clopper_pearson, clopper_pearson_upper, load, wilson
from router.cache.guards import compatible
from router.cache.semantic import SemanticIndex
from router.cache.verify import verdict

DATA = Path(__file__).parent / "data" / "semantic_eval.jsonl"
SCOPE = "tenant-a|model-x|ctx0|t0"  # the latency test's one scope


GRID = [round(0.5 + 0.05 * i, 2) for i in range(11)]  # min_alignment values the calibration tries
# Independent red-team sets whose false hits were found and fixed: no longer checks of the verifier (its
# authors have seen them), so the calibration counts them with the calib half (v6 found none: not spent). Before this, a rule that
# let their attacks through (alignment 0.95: articles, plurals, a sign) was certified on the calib half alone.
SPENT = [Path(__file__).parent / "data" / f"semantic_redteam{n}.jsonl" for n in ("", "2", "3", "4", "5", "7", "8")]
GUARDS_THRESHOLD = 0.93  # today's (pre-verifier) default rule


def load_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _key(text: str, ctx: list[dict[str, str]] | None) -> str:
    return json.dumps([ctx or [], text])


def meaning_classes(pairs: list[dict[str, Any]]) -> dict[str, str]:
    """Prompts (with their earlier turns) joined by a ``same`` label share a class; everything else differs."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        ra, rb = find(_key(pair["a"], pair.get("ctx_a"))), find(_key(pair["b"], pair.get("ctx_b")))
        if pair["label"] == "same" and ra != rb:
            parent[ra] = rb
    return {k: find(k) for k in list(parent)}


def evaluate(
    pairs: list[dict[str, Any]],
    vecs: dict[str, np.ndarray],
    *,
    threshold: float,
    guarded: bool,
    min_alignment: float | None,
    show_false: bool = False,
) -> dict[str, Any]:
    """Store every ``a``, look up every ``b``; counts overall and per kind of the query's pair."""
    dim = len(next(iter(vecs.values())))
    took_us: list[float] = []

    def timed(query: str, cached: str, need: float) -> tuple[bool, float, str]:
        # As the gateway calls it: the cached side's features are memoised, the query's are not yet.
        t = time.perf_counter_ns()
        out = verdict(query, cached, need)
        took_us.append((time.perf_counter_ns() - t) / 1e3)
        return out

    index = SemanticIndex(
        dim=dim,
        threshold=threshold,
        guard=compatible if guarded else None,
        verifier=timed if min_alignment is not None else None,
        min_alignment=min_alignment or 1.0,
    )
    cls = meaning_classes(pairs)
    for pair in pairs:
        key = _key(pair["a"], pair.get("ctx_a"))
        index.add("ctx:" + json.dumps(pair.get("ctx_a") or []), vecs[pair["a"]], pair["a"], key)
    out: dict[str, Any] = {"same": 0, "good": 0, "hits": 0, "false": 0, "kinds": {}, "verify_us": took_us}
    for pair in pairs:
        kind = out["kinds"].setdefault(pair["kind"], {"n": 0, "good": 0, "hits": 0, "false": 0})
        kind["n"] += 1
        out["same"] += pair["label"] == "same"
        key = _key(pair["b"], pair.get("ctx_b"))
        hit = index.match("ctx:" + json.dumps(pair.get("ctx_b") or []), vecs[pair["b"]], pair["b"])
        if hit is None:
            continue
        out["hits"] += 1
        kind["hits"] += 1
        if cls[hit.value] == cls[key]:
            if pair["label"] == "same":
                out["good"] += 1
                kind["good"] += 1
        else:
            out["false"] += 1
            kind["false"] += 1
            if show_false:
                cached = json.loads(hit.value)[1]
                print(f"    false hit ({hit.similarity:.3f}, align {hit.score:.2f}): {pair['b'][:90]!r} -> {cached[:90]!r}")
    return out


def summary(r: dict[str, Any]) -> str:
    lo, hi = wilson(r["false"], r["hits"])
    cp_lo, cp_hi = clopper_pearson(r["false"], r["hits"])
    upper = clopper_pearson_upper(r["false"], r["hits"])
    share = r["false"] / r["hits"] if r["hits"] else 0.0
    line = (
        f"hit rate on same-meaning {r['good']}/{r['same']} = {r['good'] / max(1, r['same']):5.1%}; "
        f"false {r['false']}/{r['hits']} = {share:5.1%} (Wilson 95% {lo:.1%}-{hi:.1%}; Clopper-Pearson 95% {cp_lo:.1%}-{cp_hi:.1%};"
        f" one-sided upper {upper:.1%})"
    )
    if r["verify_us"]:
        line += (
            f"; verify per candidate p50 {pct(r['verify_us'], 0.5):.0f} us, p99 {pct(r['verify_us'], 0.99):.0f} us"
            f" ({len(r['verify_us'])} candidates)"
        )
    return line


def per_kind(r: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}: {v['false']}F/{v['hits']}h" + (f" ({v['good']}/{v['n']} good)" if k in ("paraphrase", "reworded") else "")
        for k, v in sorted(r["kinds"].items())
    )


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


GATEWAY_POLICY = """
version: 1
name: bench-semantic
tiers:
  fast:
    engine: openai
    model: fast
    base_url: {upstream}/v1
    prices: {{input_per_mtok: 0.1, output_per_mtok: 0.4}}
routing: {{classifier: default}}
cache: {{exact: true, semantic: {semantic}}}
"""


async def _flood(url: str, prompts: list[str], concurrency: int = 64) -> list[float]:
    """Every prompt once, ``concurrency`` in flight: end-to-end latencies in ms."""
    import asyncio

    import httpx

    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(prompt: str) -> float:
            async with gate:
                t = time.perf_counter()
                r = await client.post(
                    "/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": prompt}], "max_tokens": 16}
                )
                assert r.status_code == 200, r.text[:200]
                return (time.perf_counter() - t) * 1000

        return list(await asyncio.gather(*(one(p) for p in prompts)))


def miss_path(n: int, concurrency_n: int) -> None:
    """Requests that miss both caches, through real gateways (routing, caches, budgets, ledger) in
    front of bench/fast_upstream.py: the default (semantic off) against semantic on; distinct prompts."""
    import asyncio
    import subprocess
    import tempfile

    import httpx

    from tests.servers import Process, free_port

    root = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="switchyard-semcache-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    port = free_port()
    upstream = Process(
        [sys.executable, str(root / "bench/fast_upstream.py"), "--port", str(port)], port, "/v1/models", work / "upstream.log", env=env
    )
    # Distinct, realistic prompts: the eval set's texts, each asked once with its own case number.
    base = [p["b"] for p in load_pairs(DATA) if len(p["b"]) < 300]
    prompts = [f"{base[i % len(base)]} (case {i})" for i in range(n + concurrency_n + 40)]
    print(f"\nmiss path through the real gateway ({os.cpu_count()} cores; fast upstream; every prompt distinct)")
    print(f"{'configuration':<34}{'conc':>5}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'overhead p50':>14}{'overhead p99':>14}")
    try:
        for semantic in ("false", "true"):
            policy = work / f"policy-{semantic}.yaml"
            policy.write_text(GATEWAY_POLICY.format(upstream=upstream.url, semantic=semantic))
            gport = free_port()
            gw = Process(
                [sys.executable, "-m", "router.cli", "serve", "--policy", str(policy), "--port", str(gport), "--log-level", "warning"],
                gport,
                "/readyz",
                work / f"gateway-{semantic}.log",
                env={**env, "SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger-{semantic}.db"},
            )
            name = "default (exact only)" if semantic == "false" else "exact + semantic"
            try:
                with httpx.Client(base_url=gw.url, timeout=30) as client:

                    def ask(text: str) -> tuple[float, float]:
                        t = time.perf_counter()
                        r = client.post(
                            "/v1/chat/completions",
                            json={"model": "auto", "messages": [{"role": "user", "content": text}], "max_tokens": 16},
                        )
                        took = (time.perf_counter() - t) * 1000
                        assert r.status_code == 200 and r.headers["x-switchyard-cache"] == "miss", (r.status_code, r.text[:200])
                        return took, float(r.headers.get("x-switchyard-overhead-ms", "nan"))

                    for text in prompts[:40]:
                        ask(text)  # warm-up: connections, lazy imports, the embedder's first batches
                    got = [ask(text) for text in prompts[40 : 40 + n]]
                lat, over = [g[0] for g in got], [g[1] for g in got]
                print(f"{name:<34}{1:>5}{n:>6}{pct(lat, 0.5):>9.2f}{pct(lat, 0.99):>9.2f}{pct(over, 0.5):>14.2f}{pct(over, 0.99):>14.2f}")

                try:
                    lat64 = asyncio.run(_flood(gw.url, prompts[40 + n :]))
                except Exception:
                    print(gw.output()[-3000:])
                    raise
                print(
                    f"{name:<34}{64:>5}{len(lat64):>6}{pct(lat64, 0.5):>9.2f}{pct(lat64, 0.99):>9.2f}{'':>14}{'':>14}"
                    f"  max {max(lat64):.0f} ms"
                )
            finally:
                gw.stop()
    finally:
        upstream.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


def maintenance(n: int, seed: int = 0) -> None:
    """The longest an add waits while one scope grows to ``n`` entries (partitions at 8,192, then at
    every doubling): with the k-means inline (the index's default) and off the lock (the gateway's)."""
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    print(f"\nindex maintenance: {n:,} adds into one scope")
    for background in (False, True):
        index = SemanticIndex(dim=384, max_entries=2 * n, guard=None, background_training=background)
        took = []
        for i, vec in enumerate(vecs):
            t = time.perf_counter()
            index.add(SCOPE, vec, f"p{i}", "v")
            took.append((time.perf_counter() - t) * 1000)
        time.sleep(3)  # let a last background partition finish before the next run
        where = "off the lock (gateway)" if background else "inline"
        print(f"  partition {where:24s} add p99 {pct(took, 0.99):.3f} ms, p99.9 {pct(took, 0.999):.2f} ms, max {max(took):.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--calibrate", action="store_true", help="choose the rule on the calib split and write router/cache/calibration.json")
    ap.add_argument("--threshold", type=float, default=CacheSettings().semantic_threshold, help="cosine a candidate needs")
    ap.add_argument("--max-false", type=float, default=CacheSettings().max_false_hit_rate)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--maintenance", type=int, default=0, metavar="N", help="also time adds while one scope grows to N entries")
    ap.add_argument(
        "--gateway",
        type=int,
        default=0,
        metavar="N",
        help="also time N misses at concurrency 1 (and 4N at 64) through real gateways, semantic off and on",
    )
    ap.add_argument(
        "--show-false", action="store_true", help="print the false hits of the report split (calib with --no-report) under the shipped rule"
    )
    ap.add_argument("--no-report", action="store_true", help="measure the calib split only (while tuning features or grids)")
    ap.add_argument(
        "--backend",
        choices=["static", "onnx-int8", "onnx", "torch"],
        default="onnx-int8",
        help="embedder backend (the gateway's is onnx-int8, reading 96 + 32 word pieces)",
    )
    args = ap.parse_args()

    pairs = load_pairs(args.data)
    halves = {name: [p for p in pairs if p["split"] == name] for name in ("calib", "report")}
    if args.calibrate and (args.data != DATA or not halves["calib"]):
        # The shipped rule is calibrated on the team's calibration half only: a red-team or other outside set
        # (all report split) would overwrite calibration.json from nothing, or tune on data meant to check it.
        ap.error(f"--calibrate writes the shipped rule from {DATA.name}'s calib split; not with --data {args.data}")
    print(
        f"pairs: {len(pairs)}; "
        + "; ".join(
            f"{k} {len(v)} ({sum(p['label'] == 'same' for p in v)} same, {len({p['group'] for p in v})} families)"
            for k, v in halves.items()
        )
    )
    embedder = Embedder(EmbedderSpec(backend=args.backend, head_tokens=96, tail_tokens=32))  # what the gateway embeds with
    spent = [(path.name, load_pairs(path)) for path in SPENT if path.exists()] if args.calibrate else []
    texts = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs} | {p[k] for _, ps in spent for p in ps for k in ("a", "b")})
    t0 = time.perf_counter()
    vecs = dict(zip(texts, embedder.embed(texts), strict=True))
    print(f"embedder: {embedder.name}, {len(texts)} texts in {time.perf_counter() - t0:.1f} s")
    digest = hashlib.sha256(args.data.read_bytes()).hexdigest()[:16]

    if args.calibrate:
        table = []
        for m in GRID:
            counts = {"hits": 0, "false": 0, "good": 0, "same": 0}
            for part in [halves["calib"], *(ps for _, ps in spent)]:
                r = evaluate(part, vecs, threshold=args.threshold, guarded=True, min_alignment=m)
                for k in counts:
                    counts[k] += r[k]
            table.append({"min_alignment": m, "hits": counts["hits"], "false_hits": counts["false"], "good": counts["good"],
                          "same": counts["same"]})
        artifact = {
            "embedder": embedder.name,
            "threshold": args.threshold,
            "data": str(args.data.name),
            "data_sha256": digest,
            "split": "calib",
            "spent": {name: hashlib.sha256((Path(__file__).parent / "data" / name).read_bytes()).hexdigest()[:16] for name, _ in spent},
            "table": table,
        }
        ARTIFACT.write_text(json.dumps(artifact, indent=1) + "\n")
        print(f"\ncalibration sweep on the calib split and the spent red-team sets {[n for n, _ in spent]}"
              f" (cosine >= {args.threshold}), written to {ARTIFACT}:")
        for row in table:
            upper = clopper_pearson_upper(row["false_hits"], row["hits"])
            print(
                f"  min_alignment {row['min_alignment']:.2f}: good {row['good']}/{row['same']}, false {row['false_hits']}/{row['hits']},"
                f" upper {upper:.1%}"
            )

    rule = choose(load(ARTIFACT).get("table", []), args.max_false)
    print(f"\nshipped rule for max_false_hit_rate {args.max_false:.1%}: {rule.describe(args.max_false)}")
    settings = [
        (f"cosine >= {GUARDS_THRESHOLD} only", {"threshold": GUARDS_THRESHOLD, "guarded": False, "min_alignment": None}),
        (f"guards only (cosine >= {GUARDS_THRESHOLD})", {"threshold": GUARDS_THRESHOLD, "guarded": True, "min_alignment": None}),
        (
            f"verifier (cosine >= {args.threshold}, align >= {rule.min_alignment:.2f})",
            {"threshold": args.threshold, "guarded": True, "min_alignment": rule.min_alignment},
        ),
    ]
    report_result = None
    shown = "calib" if args.no_report else "report"  # whose false hits --show-false prints
    for half in ("calib",) if args.no_report else ("calib", "report"):
        if not halves[half]:
            continue  # an outside set (bench/semantic_redteam_gen.py) is all report: nothing in it was tuned on
        print(f"\n{half} split:")
        for name, kw in settings:
            r = evaluate(halves[half], vecs, **kw, show_false=args.show_false and half == shown and kw["min_alignment"] is not None)
            print(f"  {name:45s} {summary(r)}")
            print(f"  {'':45s} per kind: {per_kind(r)}")
            if half == "report" and kw["min_alignment"] is not None:
                report_result = r
    if args.calibrate and report_result is not None:
        # Recorded for `serve`'s explanation; never read back to choose the rule.
        artifact = load(ARTIFACT)
        upper = clopper_pearson_upper(report_result["false"], report_result["hits"])
        artifact["report"] = {
            "max_false_hit_rate": args.max_false,
            "min_alignment": rule.min_alignment,
            "hits": report_result["hits"],
            "false_hits": report_result["false"],
            "good": report_result["good"],
            "same": report_result["same"],
            "upper": round(upper, 4),
        }
        ARTIFACT.write_text(json.dumps(artifact, indent=1) + "\n")

    if not args.skip_latency:
        real_a = np.stack([vecs[p["a"]] for p in pairs])
        real_b = np.stack([vecs[p["b"]] for p in pairs])
        latency(real_a, [p["a"] for p in pairs], real_b, args.entries, args.queries, args.seed)
    if args.maintenance:
        maintenance(args.maintenance, args.seed)
    if args.gateway:
        miss_path(args.gateway, 4 * args.gateway)
    flags = " --calibrate" if args.calibrate else ""
    flags += f" --data {args.data}" if args.data != DATA else ""
    print(f"\nreproduce: HF_HUB_OFFLINE=1 .venv/bin/python bench/semantic_cache.py --backend {args.backend}{flags}")


if __name__ == "__main__":
    main()
