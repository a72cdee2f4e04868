"""Quality vs cost over three real tiers, the third added with a handful of labels (issue #14).

Reproduce (after ``bench/routing_label.py --family 3`` wrote the labels)::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m bench.routing_three_tiers --part three --split report all dev --seeds 2
    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m bench.routing_three_tiers --part curve --seeds 2

(The first ~3 minutes on a quiet 2-core machine, the second ~7. The router's settings, labels
300 / 30, 3 folds, weight 3, were fixed before the report types' figures were first printed; the
evaluation was corrected after that first print: targets 0 and 1 added, so every router has an
all-cheapest point, seeds averaged instead of the best seed taken, costs in units of the cheapest
tier on the rows reported.)

Data: the shipped MMLU file and the larger generated family (``routing_tasks.generate3``:
1,730 tasks of 20 types, exact references) answered by local models,
``bench/data/routing_tasks3-labeled.jsonl``. Tiers, cheapest first by a compute proxy (model
parameters x tokens processed, per request, from the recorded usage):

- the family's two greedy tiers, SmolLM2-135M-Instruct and Gemma 3 270M, each well labeled (they
  take the shipped pair's two columns, the weaker one by mean score the weak column, as
  ``bench/routing_unseen.py`` does);
- ``TOP`` (the new tier): SmolLM2 with self-consistency over five answers (the greedy answer and
  four sampled at temperature 0.8, majority vote), by default. Until a larger instruct model was
  found on PyPI (2026-12-02: ``--top qwen2.5-coder-0.5b``, see ``bench/routing_label.py``) it was
  the only third tier: a configuration an operator could run that costs more per request than
  SmolLM2 alone (by the proxy, less than Gemma: its extra
  samples are a few tokens each). SmolLM2 rather than Gemma was sampled for labeling throughput
  (Gemma's answers cost twice as much), decided before any label was seen.

The new tier is "a model just added to the policy": it gets only ``--top-labels`` labels (default
30), so ``classifiers/tiers.py`` calibrates it (one IRT ability against a well-labeled tier)
instead of regressing it. Everything is scored out of fold: the family is dealt into ``--folds``
folds, each scored by a model trained on MMLU plus ``--labels`` labels of the other folds (of
which ``--top-labels`` carry the top tier's score), and the figures are computed on the chosen
split's out-of-fold rows.

Routing: ``quality_target`` through the policies' own decision function (``policies.decide``:
the cheapest tier predicted to meet the target, else the best predicted), swept over targets.
Beside it on the same rows: each fixed tier, the cost-matched random router (the best random mix
of fixed tiers at the router's cost: the upper hull of their points) and a kNN router (each
tier's mean score over the 50 nearest labeled training prompts, through the same rule).

Then the 2-tier learning curve on the bigger family (``routing_unseen.crossfit_curve``: APGR vs
n labels of the family, 0-1,000), which the 528-row family had no room for.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.routing_generalization import CURVE, embeddings  # noqa: E402
from bench.routing_unseen import TIERS, combined, crossfit_curve  # noqa: E402
from classifiers.base import Prediction  # noqa: E402
from classifiers.trained import QualityModel  # noqa: E402
from classifiers.training import LabeledData, _topics, fit_quality_model, pick_pair, read_labeled  # noqa: E402
from policies.decide import decide  # noqa: E402
from policies.loader import load_policy_text  # noqa: E402
from policies.schema import Policy  # noqa: E402

TASKS3 = ROOT / "bench/data/routing_tasks3-labeled.jsonl"
PARAMS = {"smollm2-135m": 135e6, "gemma3-270m": 268e6, "qwen2.5-coder-0.5b": 494e6}  # the cost proxy's weights (parameter counts)
TOP = "smollm2-135m-sc5"
# 0: every request to the cheapest tier; 1: none meets it, so each goes to its best predicted tier.
TARGETS = tuple(round(t, 2) for t in np.arange(0.0, 1.0001, 0.05))
KNN_K = 50


def base_model(tier: str) -> str:
    return tier.rsplit("-sc", 1)[0]


def row_costs(path: Path, ids: list[str], tiers: list[str]) -> NDArray[np.float64]:
    """Per request and tier: parameters x (prompt + completion tokens), in units of 1e9.

    The self-consistency tier's usage counts its prompt once (cached, or billed once with n=)
    and all of its samples' completion tokens."""
    by_id: dict[str, dict[str, Any]] = {}
    with path.open() as fh:
        for line in fh:
            rec = json.loads(line)
            by_id[rec["id"]] = rec["usage"]
    out = np.zeros((len(ids), len(tiers)))
    for i, rid in enumerate(ids):
        for j, tier in enumerate(tiers):
            u = by_id[rid][tier]
            out[i, j] = PARAMS[base_model(tier)] * (int(u["prompt_tokens"]) + int(u["completion_tokens"])) / 1e9
    return out


def policy_for(tiers: list[str], costs: NDArray[np.float64]) -> Policy:
    """A real policy whose tiers are priced by the measured mean cost (so ``by_cost`` orders them)."""
    lines = ["version: 1", "name: three-tier-bench", "tiers:"]
    for tier, cost in zip(tiers, costs, strict=True):
        lines += [
            f"  {tier}:",
            "    engine: openai",
            f"    model: {tier}",
            "    base_url: http://127.0.0.1:9/v1",
            f"    prices: {{input_per_mtok: {cost:.6f}, output_per_mtok: {cost:.6f}}}",
        ]
    lines += ["routing:", "  quality_target: 0.5"]
    return load_policy_text("\n".join(lines) + "\n")


def route_by_target(policy: Policy, q: NDArray[np.float64], tiers: list[str], target: float) -> NDArray[np.int64]:
    """Each request's tier index under ``quality_target = target``, decided by ``policies.decide``."""
    pol = policy.model_copy(update={"routing": policy.routing.model_copy(update={"quality_target": target})})
    out = np.zeros(len(q), dtype=np.int64)
    for i in range(len(q)):
        pred = Prediction(quality={t: float(q[i, j]) for j, t in enumerate(tiers)}, difficulty=0.0)
        out[i] = tiers.index(decide(pol, pred, tiers).tier)
    return out


def knn_quality(
    emb_tr: NDArray[np.float32], y_tr: NDArray[np.float64], emb_te: NDArray[np.float32], k: int = KNN_K
) -> NDArray[np.float64]:
    """Per test row and tier, the mean score of the ``k`` most similar training rows labeled for that tier."""
    sims = emb_te @ emb_tr.T
    out = np.zeros((len(emb_te), y_tr.shape[1]))
    for j in range(y_tr.shape[1]):
        have = ~np.isnan(y_tr[:, j])
        s, y = sims[:, have], y_tr[have, j]
        kk = min(k, int(have.sum()))
        top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        out[:, j] = y[top].mean(axis=1)
    return out


def hull_quality(cost: float, fixed: list[tuple[float, float]]) -> float:
    """The best quality a random mix of fixed tiers reaches at mean cost ``cost`` (upper hull)."""
    pts = sorted(fixed)
    best = max(q for c, q in pts if c <= cost + 1e-12) if any(c <= cost + 1e-12 for c, _ in pts) else pts[0][1]
    for a in range(len(pts)):
        for b in range(a + 1, len(pts)):
            (c0, q0), (c1, q1) = pts[a], pts[b]
            if c0 <= cost <= c1 and c1 > c0:
                best = max(best, q0 + (q1 - q0) * (cost - c0) / (c1 - c0))
    return best


def seed_mean_points(per: list[tuple[float, float, float, list[float]]], seeds: int) -> list[tuple[float, float]]:
    """One operating point per target, its cost and quality averaged over the seeds (not the best seed's).

    ``per`` holds (target, cost, quality, shares) for every target, seed after seed."""
    k = len(per) // seeds
    return [
        (float(np.mean([per[s * k + i][1] for s in range(seeds)])), float(np.mean([per[s * k + i][2] for s in range(seeds)])))
        for i in range(k)
    ]


def curve_at(points: list[tuple[float, float]], cost: float) -> float:
    """A router's quality at a cost budget: the best of its operating points that cost no more."""
    ok = [q for c, q in points if c <= cost + 1e-12]
    return max(ok) if ok else float("nan")


def three_tier_data(
    path: Path, new_tier: str, tiers: tuple[str, str] = TIERS
) -> tuple[LabeledData, NDArray[np.int64], NDArray[np.int64], list[str]]:
    """MMLU rows and the family's rows; the columns are MMLU's pair (the family's two greedy tiers
    in them, the weaker by mean in the weak column) plus the new tier (no MMLU labels)."""
    data, mmlu_rows, fam_rows, splits = combined(path, tiers)
    fam = read_labeled(path)
    assert fam.ids == [data.ids[i] for i in fam_rows]
    top = np.full(len(data), np.nan)
    top[fam_rows] = fam.scores[:, fam.models.index(new_tier)]
    data = LabeledData(data.ids, data.texts, [*data.models, new_tier], np.column_stack([data.scores, top]), data.domains)
    return data, mmlu_rows, fam_rows, splits


def crossfit_three(
    data: LabeledData,
    emb: NDArray[np.float32],
    mmlu_rows: NDArray[np.int64],
    fam_rows: NDArray[np.int64],
    labels: int,
    top_labels: int,
    folds: int,
    weight: float,
    seed: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[dict[str, float]]]:
    """Out-of-fold predicted quality per family row (router and kNN), columns as ``data.models``."""
    fold = np.random.default_rng(300 + seed).permutation(len(fam_rows)) % folds
    q_router = np.zeros((len(fam_rows), len(data.models)))
    q_knn = np.zeros_like(q_router)
    topics, names = _topics(data.domains, emb)
    fits = []
    for f in range(folds):
        rest = np.random.default_rng([seed, f]).permutation(fam_rows[fold != f])[:labels]
        tr = np.concatenate([mmlu_rows, rest])
        scores = data.scores[tr].copy()
        scores[len(mmlu_rows) + top_labels :, -1] = np.nan  # the new tier: only its first few labels
        wts = np.concatenate([np.ones(len(mmlu_rows)), np.full(len(rest), weight)])
        arrays = fit_quality_model(emb[tr], scores, topics[tr], len(names), wts)
        te = fam_rows[fold == f]
        q, _ = QualityModel(arrays).quality(emb[te], [data.texts[i] for i in te])
        q_router[fold == f] = q
        # kNN over the family's labeled rows only: the MMLU columns hold other models' scores.
        fam_tr = np.arange(len(mmlu_rows), len(tr))
        q_knn[fold == f] = knn_quality(emb[tr][fam_tr], scores[fam_tr], emb[te])
        top_i = len(data.models) - 1
        fits.append({"fold": float(f), "top_labels": float(np.sum(~np.isnan(scores[:, top_i]))),
                     "top_lr_b": float(arrays["lr_b"][top_i])})
    return q_router, q_knn, fits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("report", "dev", "all"), nargs="+", default=["report"])
    parser.add_argument("--tasks", type=Path, default=TASKS3)
    parser.add_argument("--top", default=TOP, help="the new tier's column in the labeled file (few labels)")
    parser.add_argument("--tiers", nargs=2, default=list(TIERS), metavar="TIER", help="the two well-labeled tiers")
    parser.add_argument("--labels", type=int, default=300, help="family labels (well-labeled tiers) in each fold's training")
    parser.add_argument("--top-labels", type=int, default=30, help="of which this many carry the top tier's score")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--weight", type=float, default=3.0)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--part", choices=("three", "curve", "both"), default="both", help="the 3-tier table, the 2-tier curve, or both")
    parser.add_argument("--curve-counts", type=int, nargs="+", default=list(CURVE), help="labels of the family per curve point")
    parser.add_argument("--curve-extra", type=Path, nargs="*", default=[],
                        help="more labeled rows of the same two tiers for the curve (e.g. the 528-row family): a bigger pool")
    args = parser.parse_args()

    if args.part in ("three", "both"):
        three_tiers(args)
    if args.part in ("curve", "both"):
        curve(args)
    return 0


def three_tiers(args: argparse.Namespace) -> None:
    fam = read_labeled(args.tasks)
    ids = fam.ids
    new_tier = args.top
    # All three tiers, cheapest first by mean cost; the new tier is the one with few labels.
    well = tuple(args.tiers)
    cost_all = row_costs(args.tasks, ids, [*well, new_tier])
    tiers = [[*well, new_tier][j] for j in np.argsort(cost_all.mean(axis=0), kind="stable")]
    data, mmlu_rows, fam_rows, splits = three_tier_data(args.tasks, new_tier, well)
    weak, strong = pick_pair(data.subset(mmlu_rows), None, None)
    # Column of each tier in ``data``: the greedy tiers sit in MMLU's weak/strong columns.
    lo = min(well, key=lambda t: float(np.nanmean(fam.scores[:, fam.models.index(t)])))
    hi = next(t for t in well if t != lo)
    col = {lo: data.models.index(weak), hi: data.models.index(strong), new_tier: len(data.models) - 1}
    cols = [col[t] for t in tiers]
    emb = embeddings(data)
    costs = row_costs(args.tasks, ids, tiers)
    dense = [t for t in tiers if t != new_tier]
    y = data.scores[fam_rows][:, cols]
    # The fits do not depend on the split reported: every family row is scored out of fold.
    runs = [crossfit_three(data, emb, mmlu_rows, fam_rows, args.labels, args.top_labels, args.folds, args.weight, seed)
            for seed in range(args.seeds)]
    for split in args.split:
        want = np.array([split in (sp, "all") for sp in splits])
        n_want = int(want.sum())
        mean_cost = costs[want].mean(axis=0)
        unit = mean_cost[0]  # the cheapest tier's mean cost on these rows is 1
        policy = policy_for(tiers, mean_cost / unit)
        policy2 = policy_for(dense, np.array([mean_cost[tiers.index(t)] for t in dense]) / unit)
        print(f"\n# three tiers on the generated family, {split} types (n={n_want} of {len(fam_rows)}), {args.folds}-fold out of fold,"
              f" {args.labels} family labels per fold ({args.top_labels} with {new_tier}'s score), {args.seeds} seed(s)")
        print("tiers, cheapest first (cost = params x tokens, relative to the cheapest):")
        for j, t in enumerate(tiers):
            print(f"  {t:22s} cost {mean_cost[j] / unit:5.2f}  quality {y[want, j].mean():.3f}"
                  + ("  <- the new tier, few labels" if t == new_tier else ""))
        names = ("router", "kNN router (k=50)", "router, 2 tiers (without the new one)")
        rows: dict[str, list[tuple[float, float, float, list[float]]]] = {n: [] for n in names}
        sel = np.arange(n_want)
        for seed, (q_r, q_k, fits) in enumerate(runs):
            if seed == 0:
                pred = q_r[want][:, cols].mean(axis=0)
                print("predicted mean quality per tier (out of fold) vs actual: "
                      + ", ".join(f"{t} {pred[j]:.3f} vs {y[want, j].mean():.3f}" for j, t in enumerate(tiers))
                      + f"; {new_tier} from {int(fits[0]['top_labels'])} labels per fold")
            for name, q, pol, use in ((names[0], q_r, policy, tiers), (names[1], q_k, policy, tiers), (names[2], q_r, policy2, dense)):
                qq = q[want][:, [col[t] for t in use]]
                for target in TARGETS:
                    pick = np.array([tiers.index(use[i]) for i in route_by_target(pol, qq, use, target)])
                    got = y[want][sel, pick]
                    cost = costs[want][sel, pick]
                    share = [float(np.mean(pick == j)) for j in range(3)]
                    rows[name].append((target, float(cost.mean() / unit), float(got.mean()), share))

        fixed = [(float(c / unit), float(y[want, j].mean())) for j, c in enumerate(mean_cost)]

        knn_points, two_points, router_points = (seed_mean_points(rows[n], len(runs)) for n in (names[1], names[2], names[0]))
        print(f"\nquality_target sweep (seed 0; the @cost columns: seed means); shares: the router's requests per tier,"
              f" cheapest first ({' / '.join(tiers)})")
        print(f"{'target':>6s} {'router cost':>11s} {'quality':>8s} {'shares':>20s} {'random@cost':>11s} {'kNN@cost':>9s}"
              f" {'2-tier@cost':>11s}")
        for target, c, q, share in rows[names[0]][: len(TARGETS)]:
            shares = "/".join(f"{s:.2f}" for s in share)
            print(f"{target:6.2f} {c:11.2f} {q:8.3f} {shares:>20s} {hull_quality(c, fixed):11.3f} "
                  f"{curve_at(knn_points, c):9.3f} {curve_at(two_points, c):11.3f}")
        print("\nat matched cost budgets (each router's best target whose seed-averaged cost is within the budget):")
        print(f"{'budget':>7s} {'router':>7s} {'kNN':>7s} {'2-tier':>7s} {'random':>7s} {'best fixed tier within budget':>30s}")
        top_cost = max(c for c, _ in fixed)
        budgets = sorted({c for c, _q in fixed} | {float(b) for b in np.linspace(min(c for c, _ in fixed), top_cost, 6)[1:-1]})
        for b in budgets:
            within = [q for c, q in fixed if c <= b + 1e-9]
            print(f"{b:7.2f} {curve_at(router_points, b):7.3f} {curve_at(knn_points, b):7.3f} {curve_at(two_points, b):7.3f} "
                  f"{hull_quality(b, fixed):7.3f} {(max(within) if within else float('nan')):30.3f}")


def curve(args: argparse.Namespace) -> None:
    tasks = args.tasks
    if args.curve_extra:
        tasks = Path("/tmp/switchyard-three-tiers-curve.jsonl")
        seen: set[str] = set()
        with tasks.open("w") as out:
            for part in (args.tasks, *args.curve_extra):
                for line in part.open():
                    text = json.loads(line)["messages"][0]["content"]
                    if text not in seen:  # a prompt in both families would sit in train and test folds at once
                        seen.add(text)
                        out.write(line)
    data2, mmlu2, fam2, _sp = combined(tasks, tuple(args.tiers))
    emb2 = embeddings(data2)
    pool = len(fam2) * (args.folds - 1) // args.folds
    counts = tuple(n for n in args.curve_counts if n <= pool)
    print(f"\n## 2-tier learning curve, family rows n={len(fam2)} ({', '.join(str(p.name) for p in (args.tasks, *args.curve_extra))}):"
          f" APGR vs labels added to MMLU at weight {args.weight}; {args.folds}-fold out-of-fold, mean of {args.seeds} seeds")
    print(f"{'labels':>7s} {'router APGR':>12s} {'plain LR':>9s} {'kNN':>7s}")
    for n, row in crossfit_curve(data2, emb2, mmlu2, fam2, counts, args.folds, args.seeds, args.weight).items():
        print(f"{n:7d} {row['router']:12.3f} {row['plain LR on embeddings']:9.3f} {row['kNN router (k=50)']:7.3f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
