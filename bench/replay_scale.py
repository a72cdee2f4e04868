"""Replay at scale: 1,000,000 logged requests, three policies, bootstrap intervals, on this machine.

The requests are synthesised from the shared MMLU routing data (../shared/data/routing): rows
resampled with replacement, so each keeps its real per-model correctness, with random token usage
logged for both models (prompt: chars/4 x U(0.8, 1.2); completion: log-normal, median 180 tokens
for the weak model and 240 for the strong one). Route scores are computed once per distinct prompt
(~9.8k), so the classifier runs at most ~10k times per classifier whatever the traffic volume.

Reproduce:
    HF_HUB_OFFLINE=1 .venv/bin/python bench/replay_scale.py
    HF_HUB_OFFLINE=1 .venv/bin/python bench/replay_scale.py --requests 1000000 --bootstrap 1000 --classifier default
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval_harness.replay import PredictionCache, ReplaySpec, replay  # noqa: E402
from eval_harness.report import render_html  # noqa: E402
from eval_harness.traffic import TrafficColumns, load_columns  # noqa: E402
from policies.schema import Policy  # noqa: E402

DATA = ROOT.parent / "shared/data/routing/mmlu-train.jsonl"
WEAK, STRONG = "mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"


def policy(name: str, classifier: str, routing: dict) -> Policy:
    return Policy.model_validate(
        {
            "name": name,
            "tiers": {
                "weak": {
                    "engine": "openai",
                    "model": WEAK,
                    "quality_prior": 0.7,
                    "prices": {"input_per_mtok": 0.24, "output_per_mtok": 0.24},
                },
                "strong": {
                    "engine": "openai",
                    "model": STRONG,
                    "quality_prior": 0.9,
                    "prices": {"input_per_mtok": 10, "output_per_mtok": 30},
                },
            },
            "routing": {"classifier": classifier, "long_prompt_words": 150, **routing},
        }
    )


def synthesise(base: TrafficColumns, n: int, seed: int) -> TrafficColumns:
    rng = np.random.default_rng(seed)
    traffic = base.take(rng.integers(0, base.n, size=n))
    traffic.source = f"{n:,} requests resampled from {base.source}"
    chars = traffic.text_chars[traffic.prompt_index].astype(np.float64)
    for j, median in enumerate((180.0, 240.0)):
        traffic.prompt_tokens[:, j] = np.maximum(1, np.round(chars / 4 * rng.uniform(0.8, 1.2, n)))
        traffic.completion_tokens[:, j] = np.maximum(1, np.round(rng.lognormal(np.log(median), 0.6, n)))
    return traffic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--classifier", default="rules", help="rules | default (trained artifact, falls back to rules) | a path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--html", type=Path, default=None, help="also write the HTML report here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not args.data.is_file():
        sys.exit(f"routing data not found at {args.data}")

    t0 = time.perf_counter()
    base = load_columns(args.data)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    traffic = synthesise(base, args.requests, args.seed)
    t_synth = time.perf_counter() - t0

    spec = ReplaySpec(
        policies=[
            ("thresholds-0.3", policy("thresholds-0.3", args.classifier, {"thresholds": {"strong": 0.3}})),
            ("thresholds-0.6", policy("thresholds-0.6", args.classifier, {"thresholds": {"strong": 0.6}})),
            ("quality-0.6", policy("quality-0.6", args.classifier, {"quality_target": 0.6})),
        ],
        weak=WEAK,
        strong=STRONG,
        n_boot=args.bootstrap,
        seed=args.seed,
    )
    cache = PredictionCache(traffic.texts)
    t0 = time.perf_counter()
    report = replay(traffic, spec, cache)
    t_replay = time.perf_counter() - t0
    t0 = time.perf_counter()
    page = render_html(report)
    t_html = time.perf_counter() - t0
    if args.html:
        args.html.write_text(page)

    print(f"\nReplay at scale, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(f"requests replayed        {report.evaluated:>12,}  ({len(traffic.texts):,} distinct prompts)")
    references = len(report.entries) - len(spec.policies)
    print(f"policies + references    {len(spec.policies):>12}  + {references} (random, oracle, always-weak, always-strong)")
    print(f"classifier calls (texts) {cache.classified:>12,}  ({cache.seconds:.2f}s, classifier spec {args.classifier!r})")
    print(f"bootstrap resamples      {args.bootstrap:>12,}")
    print(f"load {base.n:,} labeled rows   {t_load:>8.2f}s")
    print(f"synthesise {args.requests:,} rows {t_synth:>8.2f}s")
    print(f"replay (all of it)       {t_replay:>8.2f}s  <- target: under 60 s")
    print(f"HTML report              {t_html:>8.2f}s")
    print(f"{'router':<16}{'classifier':<28}{'quality':>9}{'retained':>10}{'$/1k req':>10}{'strong':>8}{'APGR':>7}  APGR CI")
    for e in report.entries:
        apgr = e.pair.apgr if e.pair and e.pair.apgr is not None else float("nan")
        ci = e.pair.apgr_ci if e.pair else None
        ci_text = f"[{ci.low:.3f}, {ci.high:.3f}]" if ci and ci.low is not None else "-"
        strong = e.pair.strong_share if e.pair else float("nan")
        print(
            f"{e.name:<16}{e.classifier[:27]:<28}{e.quality:>9.4f}{e.quality_retained:>10.2%}"
            f"{e.cost_per_1k:>10.4f}{strong:>8.1%}{apgr:>7.3f}  {ci_text}"
        )
    print(
        "\nreproduce: HF_HUB_OFFLINE=1 .venv/bin/python bench/replay_scale.py "
        f"--requests {args.requests} --bootstrap {args.bootstrap} --classifier {args.classifier}"
    )


if __name__ == "__main__":
    main()
