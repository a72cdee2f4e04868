"""Does the router generalize to task families it never saw, and how fast does it adapt?

Reproduce (about 5-10 minutes on 2 busy cores; embeddings cached in /tmp)::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m bench.routing_generalization          # report split
    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m bench.routing_generalization --dev    # development

Data: ../shared/data/routing/mmlu-train.jsonl (weak mixtral-8x7b, strong gpt-4-1106), split by
the MMLU paper's four subject groups (``classifiers/families.py``). The report group ("other":
medicine, business, misc.) was fixed before any experiment and is used only here, without
``--dev``: design choices were compared with ``--dev`` (leave one of the other three groups out,
train on the remaining two). Printed per setting, beside the router:

- best single fixed tier (a constant route score: APGR 0.5 by definition, PGR 0 until 100%
  strong calls) and a cost-matched random router (PGR = share of strong calls, APGR 0.5);
- a k-nearest-neighbour router on the same embeddings (mean quality gain of the 50 nearest
  training prompts);
- a plain logistic regression on the same embeddings (the issue's reference for "never worse").

Learning curve: the report group's rows are split (per seed) into a label pool of 1,000 and a
fixed test set; the router is trained on the development groups plus ``n`` labels from the pool
(``classifiers.training`` with the operator file at ``--weight``) and scored on the test set.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from classifiers.embed import EmbedderSpec, get_embedder
from classifiers.families import DEV_GROUPS, GROUPS, REPORT_GROUP
from classifiers.trained import QualityModel, route_score_from_quality
from classifiers.training import LabeledData, _topics, fit_quality_model, pick_pair, read_labeled
from eval_harness.baselines import knn_route_scores
from eval_harness.metrics import routing_summary

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "routing" / "mmlu-train.jsonl"
CURVE = (0, 50, 100, 300, 1000)
V2 = "router without kNN correction (v2)"


def embeddings(data: LabeledData) -> NDArray[np.float32]:
    key = hashlib.sha256("\n".join(data.texts).encode()).hexdigest()[:16]
    cache = Path(f"/tmp/switchyard-emb-{key}.npy")
    if cache.is_file():
        return np.load(cache)
    emb = get_embedder(EmbedderSpec()).embed(data.texts)
    np.save(cache, emb)
    return emb


def _summary(route: NDArray[np.float64], w: NDArray[np.float64], s: NDArray[np.float64]) -> dict[str, float]:
    r = routing_summary(route, w, s)
    return {k: r[k] for k in ("apgr", "cpt50", "cpt80", "pgr_at_30pct")}


def route_scores(
    data: LabeledData, emb: NDArray[np.float32], tr: NDArray[np.int64], te: NDArray[np.int64], weights: NDArray[np.float64] | None = None
) -> dict[str, NDArray[np.float64]]:
    """Each router's route scores for the test rows, every router fitted on the training rows only."""
    weak, strong = pick_pair(data, None, None)  # the lowest and highest mean score
    wi, si = data.models.index(weak), data.models.index(strong)
    topics, names = _topics(data.domains, emb)
    wt = np.ones(len(tr)) if weights is None else weights
    model = QualityModel(fit_quality_model(emb[tr], data.scores[tr], topics[tr], len(names), wt))
    texts = [data.texts[i] for i in te]
    sims, idx = model.neighbours(emb[te])
    q0, _lam, talk = model.base_quality(emb[te], texts, sims)
    q = model.finish(model.knn_correct(q0, sims, idx), texts, talk)  # = model.quality(...), one product
    out = {"router": route_score_from_quality(q[:, wi], q[:, si])}
    # The same model without its nearest-neighbour correction: what the correction adds.
    q0 = model.finish(q0, texts, talk)
    out[V2] = route_score_from_quality(q0[:, wi], q0[:, si])
    # Plain LR on the embeddings: the router's generic part is exactly that regression (same
    # estimator, C and weights), so it is read from the fitted model instead of fitted twice.
    g = model.generic_quality(emb[te])
    out["plain LR on embeddings"] = g[:, si] - g[:, wi]
    both = ~np.isnan(data.scores[tr, wi]) & ~np.isnan(data.scores[tr, si])
    gain = data.scores[tr[both], si] - data.scores[tr[both], wi]
    out["kNN router (k=50)"] = knn_route_scores(emb[tr[both]], gain, emb[te], k=50)
    out["random, cost-matched"] = np.zeros(len(te))  # ties = random order
    return out


def evaluate(
    data: LabeledData, emb: NDArray[np.float32], tr: NDArray[np.int64], te: NDArray[np.int64], weights: NDArray[np.float64] | None = None
) -> dict[str, dict[str, float]]:
    weak, strong = pick_pair(data, None, None)
    w, s = data.scores[te, data.models.index(weak)], data.scores[te, data.models.index(strong)]
    out = {name: _summary(r, w, s) for name, r in route_scores(data, emb, tr, te, weights).items()}
    out["_qualities"] = {"weak": float(w.mean()), "strong": float(s.mean()), "n": float(len(te))}
    return out


def print_table(title: str, res: dict[str, dict[str, float]]) -> None:
    qual = res["_qualities"]
    print(
        f"\n## {title}  (n={int(qual['n'])}; best fixed tier: strong, quality {qual['strong']:.3f} at 100% strong calls;"
        f" weak {qual['weak']:.3f})"
    )
    print(f"{'router':28s} {'APGR':>7s} {'CPT50':>7s} {'CPT80':>7s} {'PGR@30%':>8s}")
    for name, r in res.items():
        if not name.startswith("_"):
            print(f"{name:28s} {r['apgr']:7.3f} {r['cpt50']:7.3f} {r['cpt80']:7.3f} {r['pgr_at_30pct']:8.3f}")
    sys.stdout.flush()


def learning_curve(
    data: LabeledData,
    emb: NDArray[np.float32],
    base_rows: NDArray[np.int64],
    family_rows: NDArray[np.int64],
    label_counts: tuple[int, ...] = CURVE,
    seeds: int = 3,
    weight: float = 3.0,
    pool_size: int = 1000,
) -> dict[int, dict[str, float]]:
    """APGR on a new family's held-back rows vs the number of its labels added to training.

    Per seed the family's rows are shuffled into a label pool (the first ``pool_size``) and a
    test set (the rest), the same test set for every count, so the curve measures the labels and
    not a changing test set. Returns ``{count: {router name: mean APGR over seeds}}``.
    """
    out: dict[int, dict[str, list[float]]] = {n: {} for n in label_counts}
    for seed in range(seeds):
        perm = np.random.default_rng(100 + seed).permutation(family_rows)
        pool, test = perm[:pool_size], np.sort(perm[pool_size:])
        for n in label_counts:
            tr = np.concatenate([base_rows, pool[:n]])
            wts = np.concatenate([np.ones(len(base_rows)), np.full(min(n, len(pool)), weight)])
            for name, r in evaluate(data, emb, tr, test, wts).items():
                if not name.startswith("_"):
                    out[n].setdefault(name, []).append(r["apgr"])
    return {n: {name: float(np.mean(v)) for name, v in rows.items()} for n, rows in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", action="store_true", help="development groups only (leave one out)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weight", type=float, default=3.0, help="training weight of the new family's labels")
    parser.add_argument("--no-curve", action="store_true")
    parser.add_argument("--curve-only", action="store_true", help="skip the holdout and random-fold tables")
    args = parser.parse_args()
    data = read_labeled(DATA)
    emb = embeddings(data)
    fam = np.array([GROUPS[d] for d in data.domains])
    dev = np.isin(fam, DEV_GROUPS)
    targets = list(DEV_GROUPS) if args.dev else [REPORT_GROUP]
    for target in [] if args.curve_only else targets:
        train_rows = np.flatnonzero(dev & (fam != target))
        test_rows = np.flatnonzero(fam == target)
        print_table(f"held out: {target} (trained on {sorted(set(fam[train_rows]))})", evaluate(data, emb, train_rows, test_rows))
    if not args.curve_only:
        # In-distribution: random 5-fold over the same training population.
        pop = np.flatnonzero(dev) if args.dev else np.arange(len(data))
        perm = np.random.default_rng(0).permutation(pop)
        folds = [evaluate(data, emb, np.setdiff1d(pop, perm[k::5]), np.sort(perm[k::5])) for k in range(5)]
        mean = {name: {m: float(np.mean([f[name][m] for f in folds])) for m in folds[0][name]} for name in folds[0]}
        print_table("random 5 folds (in-distribution, mean of folds)", mean)
    if args.no_curve:
        return 0
    target = DEV_GROUPS[0] if args.dev else REPORT_GROUP
    base_rows = np.flatnonzero(dev & (fam != target))
    group_rows = np.flatnonzero(fam == target)
    print(f"\n## learning curve: {target} held out, n of its labels added at weight {args.weight}, mean of {args.seeds} seeds")
    print(f"{'labels':>7s} {'router APGR':>12s} {'v2':>7s} {'plain LR':>9s} {'kNN':>7s}")
    for n, row in learning_curve(data, emb, base_rows, group_rows, CURVE, args.seeds, args.weight).items():
        print(
            f"{n:7d} {row['router']:12.3f} {row[V2]:7.3f} {row['plain LR on embeddings']:9.3f} {row['kNN router (k=50)']:7.3f}", flush=True
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
