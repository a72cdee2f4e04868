"""Routing on a task family the router never trained on, and how fast its labels move it.

Reproduce (after ``bench/routing_label.py`` wrote the labels; a few minutes on 2 busy cores)::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m bench.routing_unseen          # report split
    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m bench.routing_unseen --split dev    # development

Data: the shipped MMLU file (weak mixtral-8x7b, strong gpt-4) to train on, and the generated
family of ``bench/routing_tasks.py`` (arithmetic, word problems, code output, list and string
tasks with exact references) labeled by two local models, ``bench/data/routing_tasks-labeled.jsonl``.
The family's test rows are its *report* task types (fixed in ``routing_tasks.py`` before any
labeling); ``--split dev`` tests on the development types instead, which is what design choices
looked at.

Tier roles: the family's weaker tier (of SmolLM2-135M-Instruct and Gemma 3 270M, by mean score
over the whole family) plays the shipped pair's weak model and the other the strong one; its
rows are written into those two columns. The
question measured is the issue's: does what makes a request worth the stronger tier on MMLU
rank an unfamiliar family's requests, and how many of the family's own labels fix it. (The
family's pair is not the shipped one: the issue's hidden set keeps the pair, this one cannot,
no local model is a mixtral.)

Printed beside the router: the shipped artifact itself, plain LR on the same embeddings, the
kNN router (k=50), a cost-matched random router, the best fixed tier, and the generator's own
difficulty knob (its level 1-3, a router that knows how the tasks were made: a reference,
not a baseline). Learning curve (``crossfit_curve``): the whole family is dealt into
``--folds`` folds, each scored by routers trained on MMLU plus ``n`` labels from the other folds,
and APGR is computed once over all out-of-fold scores (a 528-row family has no room for a
separate 1,000-label pool). Measured figures and their reading: README, "Routing quality".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.routing_generalization import CURVE, DATA, V2, _summary, embeddings, print_table, route_scores  # noqa: E402
from bench.routing_tasks import SPLIT_OF  # noqa: E402
from classifiers.trained import DEFAULT_ARTIFACT, load_artifact, route_score_from_quality  # noqa: E402
from classifiers.training import LabeledData, pick_pair, read_labeled  # noqa: E402
from eval_harness.baselines import knn_route_scores  # noqa: E402
from eval_harness.metrics import routing_summary  # noqa: E402

TASKS = ROOT / "bench/data/routing_tasks-labeled.jsonl"
TIERS = ("smollm2-135m", "gemma3-270m")


def combined(
    tasks: Path = TASKS, tiers: tuple[str, str] = TIERS
) -> tuple[LabeledData, NDArray[np.int64], NDArray[np.int64], list[str]]:
    """MMLU rows, then the family's rows with its tiers in the shipped pair's columns.

    Returns the data, the MMLU rows, the family rows and each family row's split.
    """
    mmlu = read_labeled(DATA)
    fam = read_labeled(tasks)
    weak, strong = pick_pair(mmlu, None, None)
    # The family's weaker tier (lower mean score over all its rows) plays the shipped weak model.
    lo, hi = sorted((fam.models.index(t) for t in tiers), key=lambda j: float(np.nanmean(fam.scores[:, j])))
    role = {weak: lo, strong: hi}
    block = np.full((len(fam), len(mmlu.models)), np.nan)
    for j, m in enumerate(mmlu.models):
        block[:, j] = fam.scores[:, role[m]]
    data = LabeledData(
        mmlu.ids + fam.ids, mmlu.texts + fam.texts, list(mmlu.models), np.vstack([mmlu.scores, block]), mmlu.domains + fam.domains
    )
    # Each row's split as its file records it (fixed by the family's generator before labeling), else, for the
    # arithmetic families' types, as bench/routing_tasks.py fixed it.
    split_of = {}
    with tasks.open() as fh:
        for line in fh:
            rec = json.loads(line)
            split_of[rec["id"]] = rec["meta"].get("split") or SPLIT_OF[str(rec["meta"]["domain"]).removeprefix("gen:")]
    splits = [split_of[i] for i in fam.ids]
    assert all(SPLIT_OF[str(d).removeprefix("gen:")] == sp for d, sp in zip(fam.domains, splits, strict=True) if str(d).startswith("gen:"))
    return data, np.arange(len(mmlu)), np.arange(len(mmlu), len(data)), splits


def levels(tasks: Path, ids: list[str]) -> NDArray[np.float64]:
    by_id = {}
    with tasks.open() as fh:
        for line in fh:
            rec = json.loads(line)
            by_id[rec["id"]] = float(rec["meta"]["level"])
    return np.array([by_id[i] for i in ids])


def shipped_scores(
    data: LabeledData, emb: NDArray[np.float32], mmlu_rows: NDArray[np.int64], rows: NDArray[np.int64]
) -> dict[str, NDArray[np.float64]]:
    """Zero labels of the family: the shipped artifact (fitted on all of MMLU) and the baselines beside it.

    The artifact is what ``route_scores`` would refit on the MMLU rows (same code and data), so
    it is used as is: its full prediction, its generic part (= plain LR on the embeddings), and
    the kNN router over the MMLU prompts.
    """
    clf = load_artifact(DEFAULT_ARTIFACT)
    texts = [data.texts[i] for i in rows]
    e = clf.embed(texts)
    weak, strong = clf.weak, clf.strong
    wi, si = clf.models().index(weak), clf.models().index(strong)
    g = clf.model.generic_quality(e)
    gain = data.scores[mmlu_rows, data.models.index(strong)] - data.scores[mmlu_rows, data.models.index(weak)]
    sims, _idx = clf.model.neighbours(e)
    q0, _lam, talk = clf.model.base_quality(e, texts, sims)
    q0 = clf.model.finish(q0, texts, talk)
    return {
        "router = shipped artifact": clf.route_scores(texts, e),
        V2: route_score_from_quality(q0[:, wi], q0[:, si]),
        "plain LR on embeddings": g[:, si] - g[:, wi],
        "kNN router (k=50)": knn_route_scores(emb[mmlu_rows], gain, e, k=50),
        "random, cost-matched": np.zeros(len(rows)),
    }


def bootstrap_apgr(
    scores: dict[str, NDArray[np.float64]], w: NDArray[np.float64], s: NDArray[np.float64], n_boot: int = 1000, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95% percentile interval of each router's APGR, all routers on the same resamples of the prompts."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in scores}
    for _ in range(n_boot):
        idx = rng.integers(0, len(w), len(w))
        if s[idx].mean() <= w[idx].mean():
            continue  # PGR undefined on a resample where the stronger tier gains nothing
        for name, r in scores.items():
            draws[name].append(routing_summary(r[idx], w[idx], s[idx])["apgr"])
    return {name: (float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))) for name, v in draws.items()}


def crossfit_curve(
    data: LabeledData,
    emb: NDArray[np.float32],
    base_rows: NDArray[np.int64],
    family_rows: NDArray[np.int64],
    counts: tuple[int, ...],
    folds: int,
    seeds: int,
    weight: float,
) -> dict[int, dict[str, float]]:
    """APGR on the whole family vs ``n`` of its labels in training, scored out of fold.

    Per seed the family's rows are dealt into ``folds`` folds; each fold is scored by routers
    trained on the base rows plus ``n`` labels drawn from the other folds, and APGR is computed
    once over all the family's out-of-fold scores. Small families (a few hundred rows) get a
    curve this way without a test set too small to rank on.
    """
    weak, strong = pick_pair(data.subset(base_rows), None, None)
    w, s = data.scores[family_rows, data.models.index(weak)], data.scores[family_rows, data.models.index(strong)]
    out: dict[int, dict[str, list[float]]] = {n: {} for n in counts}
    for seed in range(seeds):
        fold = np.random.default_rng(200 + seed).permutation(len(family_rows)) % folds
        for n in counts:
            if n == 0:  # MMLU only: the shipped artifact, the same fit as a refit would give
                zero = shipped_scores(data, emb, base_rows, family_rows)
                zero["router"] = zero.pop("router = shipped artifact")
                for name, r in zero.items():
                    out[n].setdefault(name, []).append(routing_summary(r, w, s)["apgr"])
                continue
            oof: dict[str, NDArray[np.float64]] = {}
            for f in range(folds):
                rest = np.random.default_rng([seed, f]).permutation(family_rows[fold != f])[:n]
                tr = np.concatenate([base_rows, rest])
                wts = np.concatenate([np.ones(len(base_rows)), np.full(len(rest), weight)])
                for name, r in route_scores(data, emb, tr, family_rows[fold == f], wts).items():
                    oof.setdefault(name, np.zeros(len(family_rows)))[fold == f] = r
            for name, r in oof.items():
                out[n].setdefault(name, []).append(routing_summary(r, w, s)["apgr"])
    return {n: {name: float(np.mean(v)) for name, v in rows.items()} for n, rows in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("report", "dev", "all"), default="report", help="which task types to test on")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--weight", type=float, default=3.0, help="training weight of the family's labels")
    parser.add_argument("--no-curve", action="store_true")
    parser.add_argument("--tasks", type=Path, default=TASKS)
    parser.add_argument("--tiers", nargs=2, default=list(TIERS), metavar="TIER",
                        help="the family's two tiers (columns of the labeled file); the weaker by mean plays weak")
    args = parser.parse_args()
    data, mmlu_rows, fam_rows, splits = combined(args.tasks, tuple(args.tiers))
    emb = embeddings(data)
    want = args.split
    target = fam_rows[np.array([want in (sp, "all") for sp in splits])]
    weak, strong = pick_pair(data.subset(mmlu_rows), None, None)
    wi, si = data.models.index(weak), data.models.index(strong)
    w, s = data.scores[target, wi], data.scores[target, si]

    raw = shipped_scores(data, emb, mmlu_rows, target)
    raw["generator's level (reference)"] = levels(args.tasks, [data.ids[i] for i in target])
    res: dict[str, dict[str, float]] = {name: _summary(r, w, s) for name, r in raw.items()}
    res["_qualities"] = {"weak": float(w.mean()), "strong": float(s.mean()), "n": float(len(target))}
    print_table(f"unseen family, {want} types, trained on MMLU only (weak/strong: the family's weaker/stronger tier)", res)
    for name, (lo, hi) in bootstrap_apgr(raw, w, s).items():
        print(f"  {name:32s} APGR 95% bootstrap interval [{lo:.3f}, {hi:.3f}]")
    per_type: dict[str, list[int]] = {}
    for i in target:
        per_type.setdefault(str(data.domains[i]), []).append(int(i))
    print(f"\n{'type':18s} {'n':>5s} {'weak tier':>10s} {'strong tier':>12s} {'only strong right':>18s}")
    for name, rows in sorted(per_type.items()):
        r = np.array(rows)
        print(
            f"{name:18s} {len(r):5d} {np.mean(data.scores[r, wi]):10.3f} {np.mean(data.scores[r, si]):12.3f}"
            f" {np.mean(data.scores[r, si] > data.scores[r, wi]):18.3f}"
        )
    if args.no_curve:
        return 0
    family = fam_rows  # the curve adapts to the whole family: its labels come from all its types
    pool = len(family) * (args.folds - 1) // args.folds
    counts = tuple(n for n in CURVE if n <= pool)
    print(
        f"\n## learning curve: whole family (n={len(family)}), n of its labels added to MMLU at weight {args.weight};"
        f" {args.folds}-fold out-of-fold APGR, mean of {args.seeds} seeds"
    )
    print(f"{'labels':>7s} {'router APGR':>12s} {'v2':>7s} {'plain LR':>9s} {'kNN':>7s}")
    for n, row in crossfit_curve(data, emb, mmlu_rows, family, counts, args.folds, args.seeds, args.weight).items():
        print(
            f"{n:7d} {row['router']:12.3f} {row[V2]:7.3f} {row['plain LR on embeddings']:9.3f} {row['kNN router (k=50)']:7.3f}", flush=True
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
