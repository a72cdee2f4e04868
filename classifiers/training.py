"""Train the quality classifier on labeled traffic, cross-validate it, write a versioned artifact.

Reproduce the shipped default artifact (about 11 minutes on the 2 busy cores, CV included)::

    HF_HUB_OFFLINE=1 python -m classifiers.training \\
        ../shared/data/routing/mmlu-train.jsonl classifiers/artifacts/default

(``scripts/train_default_classifier.sh`` runs exactly this.)

API for the learning loop (``switchyard learn``) and ``switchyard train --extra PATH:WEIGHT``::

    train(datasets: path | list[path | (path, weight)], out_dir, weak=None, strong=None,
          folds=5, progress=True, limit=None, embedder=None, grouped=True) -> report dict

writes the artifact to ``out_dir`` and returns ``{"cv": random-fold CV, "grouped_cv":
leave-family-out CV, "artifact", "weak", "strong", "rows"}``. The first file is the shipped
data, the others an operator's labeled traffic (same JSONL format), each row weighing ``weight``
in every fitted piece. ``folds=0`` skips CV (fast refits). The embedder is the shipped static
MiniLM table (``classifiers/embed.py``), so training needs neither torch nor a network.

Cross-validation is what the report's numbers mean: ``folds``-fold StratifiedGroupKFold with
shuffling (seed 0), stratified by topic (``meta.domain`` when present, else the weak/strong
outcome) so every subject appears in training and test folds, as in the held-out MMLU split;
grouped so near-duplicate prompts (the same passage with different questions, found by shared
word 8-grams after dropping boilerplate 8-grams) never straddle a fold. Every learned piece,
the topic prior included, is fitted inside the training fold only. The same model is then
refitted on all the data for the artifact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from classifiers.embed import Embedder, EmbedderSpec, get_embedder, load_static_table, sha256_file
from classifiers.families import family_of
from classifiers.features import FEATURE_VERSION, prompt_text
from classifiers.tiers import MIN_OWN_LABELS, calibrate_sparse_tiers
from classifiers.trained import (
    KNN_K,
    KNN_MISSING,
    OOD_ARRAY,
    QualityModel,
    artifact_kind,
    route_score_from_quality,
    save_artifact,
)
from eval_harness.baselines import knn_route_scores
from eval_harness.metrics import routing_summary  # pure numpy, imports nothing of ours

log = logging.getLogger(__name__)

LR_C = 0.3  # chosen by CV on the MMLU data (0.3 > 1 > 3 for the gain ranking)
TOPIC_C = 10.0
PRIOR_SMOOTHING = 2.0  # pseudo-counts toward the model's overall accuracy
KNN_STORE = 6000  # neighbours kept in the artifact (float16: ~3 MB at 256 dims)
KNN_QUANTILES = (0.6, 0.98)  # of the training rows' own neighbour similarity: lam 0 below, 1 above (--dev runs)
# The neighbour correction's (k, tau, prior strength A), classifiers/trained.py: chosen by
# bench/routing_knn_select.py on development splits only (MMLU dev groups, the generated family's dev types).
# Chosen 2026-12-01 by its rule (largest worst-case margin over the kNN router across five dev
# figures, in-distribution not below v2's); storing 12,000 instead of 6,000 was not compared.
KNN_CORRECTION = (10, 2.0, 30.0)
# The unseen-family fallback's (k, b_far, b_near) (classifiers/trained.py, v4), chosen 2026-12-01 by
# bench/routing_ood_select.py's rule on development splits only (dev figures v3 -> this: generated
# family's dev types 0.738 -> 0.804, kNN 0.814; MMLU stem 0.423 -> 0.418, humanities 0.594 -> 0.595,
# social sciences 0.504 -> 0.496, dev random folds 0.675 -> 0.672). Not switched on: artifacts stay
# v3 (OOD_FALLBACK None) until the fallback ships; set OOD_FALLBACK = OOD_FALLBACK_CHOSEN to ship it.
OOD_FALLBACK_CHOSEN: tuple[float, float, float] = (25.0, 0.1, 0.2)
OOD_FALLBACK: tuple[float, float, float] | None = None


@dataclass
class LabeledData:
    ids: list[str]
    texts: list[str]
    models: list[str]
    scores: NDArray[np.float64]  # (n, models), NaN where a model has no score
    domains: list[str | None]
    weights: NDArray[np.float64] | None = None  # per-row training weight (None: all 1)
    sources: list[str] | None = None  # per-row name of the file it came from

    def __len__(self) -> int:
        return len(self.texts)

    def row_weights(self) -> NDArray[np.float64]:
        return np.ones(len(self)) if self.weights is None else self.weights

    def subset(self, rows: NDArray[np.int64]) -> LabeledData:
        idx = [int(i) for i in rows]
        return LabeledData(
            [self.ids[i] for i in idx],
            [self.texts[i] for i in idx],
            list(self.models),
            self.scores[idx],
            [self.domains[i] for i in idx],
            None if self.weights is None else self.weights[idx],
            None if self.sources is None else [self.sources[i] for i in idx],
        )


Dataset = str | Path | tuple[str | Path, float]


def read_datasets(datasets: str | Path | Sequence[Dataset], limit: int | None = None) -> LabeledData:
    """Read one or several labeled-traffic files, each with a training weight (default 1).

    Rows of a file without ``meta.domain`` get the domain ``file:<name>``: an operator's file is
    then one family with its own topic prior, which its labels update quickly. ``limit`` applies
    to the first file only (the shipped data), never to an operator's labels.
    """
    items: list[tuple[Path, float]] = []
    for item in [datasets] if isinstance(datasets, str | Path) else datasets:
        path, weight = (item, 1.0) if isinstance(item, str | Path) else (item[0], float(item[1]))
        if not weight > 0:
            raise ValueError(f"{path}: weight must be positive, got {weight}")
        items.append((Path(path), weight))
    if not items:
        raise ValueError("no labeled data given")
    parts = [read_labeled(path, limit=limit if k == 0 else None) for k, (path, _w) in enumerate(items)]
    models = sorted({m for part in parts for m in part.models})
    blocks, ids, texts, domains, weights, sources = [], [], [], [], [], []
    for (path, weight), part in zip(items, parts, strict=True):
        mat = np.full((len(part), len(models)), np.nan)
        for j, m in enumerate(part.models):
            mat[:, models.index(m)] = part.scores[:, j]
        blocks.append(mat)
        ids += part.ids
        texts += part.texts
        domains += [d if d is not None else f"file:{path.stem}" for d in part.domains]
        weights += [weight] * len(part)
        sources += [path.name] * len(part)
    return LabeledData(ids, texts, models, np.vstack(blocks), domains, np.asarray(weights), sources)


def read_labeled(path: str | Path, limit: int | None = None) -> LabeledData:
    """Read labeled-traffic JSONL (docs/ARCHITECTURE.md format); rows without scores are skipped."""
    ids: list[str] = []
    texts: list[str] = []
    per_row: list[dict[str, float]] = []
    domains: list[str | None] = []
    with Path(path).open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{line_no}: invalid JSON: {exc}") from exc
            scores = rec.get("scores") or {}
            if not scores:
                continue
            text = prompt_text(rec.get("messages") or [])
            ids.append(str(rec.get("id", line_no)))
            texts.append(text)
            per_row.append({str(k): float(v) for k, v in scores.items()})
            domains.append((rec.get("meta") or {}).get("domain"))
            if limit is not None and len(texts) >= limit:
                break
    models = sorted({m for row in per_row for m in row})
    mat = np.full((len(per_row), len(models)), np.nan)
    for i, row in enumerate(per_row):
        for j, m in enumerate(models):
            if m in row:
                mat[i, j] = row[m]
    return LabeledData(ids, texts, models, mat, domains)


def pick_pair(data: LabeledData, weak: str | None, strong: str | None) -> tuple[str, str]:
    """Default pair: the models with the lowest and highest mean score."""
    # A tier with a handful of labels (calibrated, classifiers/tiers.py) is never a default end.
    counts = (~np.isnan(data.scores)).sum(axis=0)
    dense = [j for j in range(len(data.models)) if counts[j] >= MIN_OWN_LABELS]
    pool = dense if len(dense) >= 2 else list(range(len(data.models)))
    means = {data.models[j]: float(np.nanmean(data.scores[:, j])) for j in pool}
    for name in (weak, strong):
        if name is not None and name in data.models and name not in means:
            means[name] = float(np.nanmean(data.scores[:, data.models.index(name)]))
    for name in (weak, strong):
        if name is not None and name not in means:
            raise ValueError(f"model {name!r} not in the data (have {sorted(means)})")
    if len(means) < 2:
        raise ValueError("need scores for at least two models")
    ranked = sorted(means, key=lambda m: means[m])
    weak = weak or (ranked[0] if ranked[0] != strong else ranked[1])
    strong = strong or (ranked[-1] if ranked[-1] != weak else ranked[-2])
    if weak == strong:
        raise ValueError("weak and strong must differ")
    return weak, strong


# --- grouping of near-duplicates --------------------------------------------------------------


def near_duplicate_groups(texts: Sequence[str], n: int = 8, max_df: int = 50, overlap: float = 0.5) -> NDArray[np.int64]:
    """Group ids: prompts sharing >= ``overlap`` of their distinctive word ``n``-grams.

    n-grams found in more than ``max_df`` prompts are boilerplate (an instruction template) and
    ignored, so a shared template does not make two different questions duplicates while a
    shared passage does.
    """
    grams: list[set[int]] = []
    df: dict[int, int] = defaultdict(int)
    for text in texts:
        words = text.lower().split()
        # A stable hash (not hash(), which is salted per process) keeps folds reproducible.
        g = {
            int.from_bytes(hashlib.blake2b(" ".join(words[i : i + n]).encode(), digest_size=8).digest(), "little")
            for i in range(max(len(words) - n + 1, 0))
        }
        grams.append(g)
        for h in g:
            df[h] += 1
    grams = [{h for h in g if df[h] <= max_df} for g in grams]
    index: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(grams):
        for h in g:
            index[h].append(i)
    parent = list(range(len(texts)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, g in enumerate(grams):
        if not g:
            continue
        shared: dict[int, int] = defaultdict(int)
        for h in g:
            for j in index[h]:
                if j > i:
                    shared[j] += 1
        for j, count in shared.items():
            if count >= overlap * min(len(g), len(grams[j])):
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[ri] = rj
    roots = np.array([find(i) for i in range(len(texts))], dtype=np.int64)
    # Name each group by its first member so labels do not depend on union order.
    _, first = np.unique(roots, return_index=True)
    label_of_root = {int(roots[i]): int(i) for i in first}
    return np.array([label_of_root[int(r)] for r in roots], dtype=np.int64)


# --- fitting ----------------------------------------------------------------------------------


def _topics(data_domains: Sequence[str | None], emb: NDArray[np.float32], seed: int = 0) -> tuple[NDArray[np.int64], list[str]]:
    """Topic label per row: meta.domain when (almost) every row has one, else k-means."""
    have = sum(d is not None for d in data_domains)
    if have >= 0.9 * len(data_domains):
        names = sorted({d if d is not None else "_none" for d in data_domains})
        lookup = {name: i for i, name in enumerate(names)}
        return np.array([lookup[d if d is not None else "_none"] for d in data_domains]), names
    k = int(np.clip(len(emb) // 150, 2, 64))
    labels = _kmeans(emb, k, seed)
    return labels, [f"cluster-{i}" for i in range(k)]


def _kmeans(x: NDArray[np.float32], k: int, seed: int, iters: int = 25) -> NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    centres = x[rng.choice(len(x), size=k, replace=False)].copy()
    labels = np.zeros(len(x), dtype=np.int64)
    for _ in range(iters):
        labels = np.argmax(x @ centres.T, axis=1)
        for c in range(k):
            members = x[labels == c]
            if len(members):
                v = members.mean(axis=0)
                centres[c] = v / max(float(np.linalg.norm(v)), 1e-12)
    return labels


def _fit_binary_lr(
    x: NDArray[np.float32], y: NDArray[np.float64], c: float, weights: NDArray[np.float64] | None = None
) -> tuple[NDArray[np.float64], float]:
    from sklearn.linear_model import LogisticRegression

    keep = ~np.isnan(y)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    x, y, w = x[keep], y[keep], w[keep]
    if len(np.unique(y)) < 2 and np.all(np.isin(y, (0.0, 1.0))):
        # One class only: a constant model at the (smoothed) observed rate.
        rate = (float(np.sum(w * y)) + 1.0) / (float(w.sum()) + 2.0)
        return np.zeros(x.shape[1]), float(np.log(rate / (1 - rate)))
    # Graded qualities: each row counts as a success with weight y and a failure with 1 - y
    # (for 0/1 labels this is the plain weighted regression).
    xx = np.vstack([x, x])
    yy = np.concatenate([np.ones(len(y)), np.zeros(len(y))]).astype(int)
    ww = np.concatenate([y * w, (1.0 - y) * w])
    # sklearn's C multiplies the summed loss: rescale so C means the same for any total weight.
    ww = ww * (len(y) / max(float(w.sum()), 1e-12))
    model = LogisticRegression(C=c, max_iter=1000).fit(xx[ww > 0], yy[ww > 0], sample_weight=ww[ww > 0])
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def _knn_store(emb: NDArray[np.float32], weights: NDArray[np.float64], seed: int) -> NDArray[np.int64]:
    """Rows kept as neighbours for the OOD gate: every up-weighted (operator) row, then a sample."""
    n = len(emb)
    if n <= KNN_STORE:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    first = np.flatnonzero(weights != 1.0)[:KNN_STORE]
    rest = np.setdiff1d(np.arange(n), first)
    fill = rng.choice(rest, size=max(KNN_STORE - len(first), 0), replace=False)
    return np.sort(np.concatenate([first, fill]))


def fit_quality_model(
    emb: NDArray[np.float32],
    scores: NDArray[np.float64],
    topics: NDArray[np.int64],
    n_topics: int,
    weights: NDArray[np.float64] | None = None,
    seed: int = 0,
    knn_cfg: tuple[float, float, float] | None = None,
    ood_cfg: tuple[float, float, float] | None = None,
) -> dict[str, NDArray[Any]]:
    """Fit all parameter arrays of :class:`QualityModel` on one training set.

    ``weights`` (per row, default 1) weigh the regressions, the topic classifier and the topic
    priors alike, so an operator's up-weighted labels count more everywhere. ``ood_cfg`` (default
    ``OOD_FALLBACK``) adds the v4 unseen-family fallback; None writes a v3 model.
    """
    from sklearn.linear_model import LogisticRegression

    from classifiers.trained import knn_similarity

    n_models = scores.shape[1]
    dim = emb.shape[1]
    w = np.ones(len(emb)) if weights is None else np.asarray(weights, dtype=np.float64)
    lr_w = np.zeros((n_models, dim))
    lr_b = np.zeros(n_models)
    for m in range(n_models):
        lr_w[m], lr_b[m] = _fit_binary_lr(emb, scores[:, m], LR_C, w)
    base = np.array([np.nansum(scores[:, m] * w) / max(float(w[~np.isnan(scores[:, m])].sum()), 1e-12) for m in range(n_models)])

    present = np.unique(topics)
    dom_w = np.zeros((n_topics, dim))
    dom_b = np.full(n_topics, -30.0)  # topics absent from this training set get no mass
    if len(present) >= 2:
        clf = LogisticRegression(C=TOPIC_C, max_iter=300, tol=1e-3).fit(emb, topics, sample_weight=w * len(w) / w.sum())
        dom_w[clf.classes_] = clf.coef_
        dom_b[clf.classes_] = clf.intercept_
    else:
        dom_b[present] = 0.0
    prior = np.tile(base, (n_topics, 1))
    for t in present:
        rows = topics == t
        for m in range(n_models):
            y = scores[rows, m]
            ok = ~np.isnan(y)
            prior[t, m] = (float(np.sum(y[ok] * w[rows][ok])) + PRIOR_SMOOTHING * base[m]) / (float(w[rows][ok].sum()) + PRIOR_SMOOTHING)
    # Tiers with a handful of labels: one ability each against a well-labeled model (IRT).
    calibrate_sparse_tiers(emb, scores, w, lr_w, lr_b, prior, base)
    stored = emb[_knn_store(emb, w, seed)].astype(np.float32)  # the same rows as ``keep`` below
    # The gate's scale: each stored row's similarity to its neighbours, itself left out.
    probe = stored[np.random.default_rng(seed).choice(len(stored), size=min(len(stored), 2000), replace=False)]
    sims = probe @ stored.T
    sims[sims > 0.9999] = -1.0  # the row itself (and exact duplicates) are not neighbours
    own = np.sort(sims, axis=1)[:, -KNN_K:].mean(axis=1) if sims.shape[1] > KNN_K else knn_similarity(probe, stored)
    lo, hi = np.quantile(own, KNN_QUANTILES)
    keep = _knn_store(emb, w, seed)
    labels = scores[keep]
    # uint8 quarters the file and keeps 1/254 resolution, enough for 0/1 or judge-graded labels.
    codes = np.where(np.isnan(labels), KNN_MISSING, np.rint(np.clip(np.nan_to_num(labels), 0.0, 1.0) * (KNN_MISSING - 1)))
    arrays: dict[str, NDArray[Any]] = {
        "lr_w": lr_w.astype(np.float32),
        "lr_b": lr_b.astype(np.float32),
        "dom_w": dom_w.astype(np.float32),
        "dom_b": dom_b.astype(np.float32),
        "dom_prior": prior.astype(np.float32),
        "base_rate": base.astype(np.float32),
        "knn_emb": stored.astype(np.float16),
        "knn_bounds": np.array([lo, hi], dtype=np.float32),
        "knn_y": codes.astype(np.uint8),
        "knn_wt": w[keep].astype(np.float16),
        "knn_cfg": np.array(knn_cfg if knn_cfg is not None else KNN_CORRECTION, dtype=np.float32),
    }
    ood = ood_cfg if ood_cfg is not None else OOD_FALLBACK
    if ood is not None:
        arrays[OOD_ARRAY] = np.array(ood, dtype=np.float32)
    return arrays


# --- evaluation -------------------------------------------------------------------------------


def _calibration(p: NDArray[np.float64], y: NDArray[np.float64], bins: int = 10) -> dict[str, float]:
    keep = ~np.isnan(y)
    p, y = np.clip(p[keep], 1e-6, 1 - 1e-6), y[keep]
    edges = np.minimum((p * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = edges == b
        if np.any(sel):
            ece += sel.mean() * abs(float(p[sel].mean() - y[sel].mean()))
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "ece": ece,
    }


def _agg(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = rows[0].keys()
    return {k: {"mean": float(np.mean([r[k] for r in rows])), "std": float(np.std([r[k] for r in rows]))} for k in keys}


def _score_splits(
    data: LabeledData,
    emb: NDArray[np.float32],
    weak: str,
    strong: str,
    splits: Sequence[tuple[NDArray[np.int64], NDArray[np.int64]]],
    on_fold: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fit on each split's training rows, score its test rows; per-fold and pooled metrics."""
    wi, si = data.models.index(weak), data.models.index(strong)
    topics, names = _topics(data.domains, emb)
    weights = data.row_weights()
    both = ~np.isnan(data.scores[:, wi]) & ~np.isnan(data.scores[:, si])
    oof_q = np.full_like(data.scores, np.nan)
    oof_v2 = np.full_like(data.scores, np.nan)  # the same models without the neighbour correction
    fold_rows: list[dict[str, float]] = []
    v2_rows: list[dict[str, float]] = []
    generic_rows: list[dict[str, float]] = []
    knn_rows: list[dict[str, float]] = []  # the baseline a router must beat (eval_harness/baselines.py)
    for k, (tr, te) in enumerate(splits):
        model = QualityModel(fit_quality_model(emb[tr], data.scores[tr], topics[tr], len(names), weights[tr]))
        texts = [data.texts[i] for i in te]
        sims, idx = model.neighbours(emb[te], model.neighbour_k)
        q0, lam, talk = model.base_quality(emb[te], texts, sims)
        q = model.ood_blend(model.knn_correct(q0, sims, idx), lam, sims, idx)
        oof_q[te] = model.finish(q, texts, talk)  # = model.quality(...)
        oof_v2[te] = model.finish(q0, texts, talk)
        te_b = te[both[te]]
        w, s = data.scores[te_b, wi], data.scores[te_b, si]
        qb = oof_q[te_b]
        if len(te_b) and s.mean() > w.mean():
            fold_rows.append({"fold": float(k), **routing_summary(route_score_from_quality(qb[:, wi], qb[:, si]), w, s)})
            v2 = oof_v2[te_b]
            v2_rows.append(routing_summary(route_score_from_quality(v2[:, wi], v2[:, si]), w, s))
            g = model.generic_quality(emb[te_b])
            generic_rows.append(routing_summary(route_score_from_quality(g[:, wi], g[:, si]), w, s))
            tr_b = tr[both[tr]]
            gain = data.scores[tr_b, si] - data.scores[tr_b, wi]
            knn_rows.append(routing_summary(knn_route_scores(emb[tr_b], gain, emb[te_b], k=50), w, s))
        else:  # PGR is undefined where the strong model gains nothing (a family both models ace)
            log.warning("fold %d: strong model no better than weak on its %d test rows; not scored", k, len(te_b))
        if on_fold:
            on_fold(k)
    scored = both & ~np.isnan(oof_q[:, wi])
    pooled = routing_summary(
        route_score_from_quality(oof_q[scored, wi], oof_q[scored, si]), data.scores[scored, wi], data.scores[scored, si]
    )
    calib = {m: _calibration(oof_q[scored, j], data.scores[scored, j]) for j, m in enumerate(data.models)}
    if not fold_rows:
        raise ValueError("no test fold has a quality gap between the weak and strong model")
    return {
        "per_fold": fold_rows,
        "mean": _agg(fold_rows),
        "pooled_oof": pooled,
        "generic_part_only": _agg(generic_rows),
        "without_knn_correction": _agg(v2_rows),
        "knn_baseline_k50": _agg(knn_rows),
        "calibration": calib,
    }


def random_splits(
    data: LabeledData, emb: NDArray[np.float32], folds: int = 5, seed: int = 0
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """StratifiedGroupKFold: stratified by topic, near-duplicate passages kept in one fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    topics, names = _topics(data.domains, emb, seed)
    groups = near_duplicate_groups(data.texts)
    strat = topics if len(names) > 1 else np.zeros(len(data), dtype=np.int64)
    # Topics too small to stratify (fewer members than folds) fall back to one shared stratum.
    counts = np.bincount(strat - strat.min())
    strat = np.where(counts[strat - strat.min()] >= folds, strat, -1)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(emb, strat, groups)]


def family_splits(data: LabeledData, max_folds: int = 5) -> tuple[list[tuple[NDArray[np.int64], NDArray[np.int64]]], list[list[str]]]:
    """Whole task families held out: each fold's test rows share no family with its training rows.

    Families are :func:`classifiers.families.family_of` of each row's domain (the MMLU subject
    groups for MMLU data). With more families than ``max_folds`` they are dealt into
    ``max_folds`` folds by size. Returns the splits and each fold's held-out family names.
    """
    fams = np.array([family_of(d) for d in data.domains])
    names, counts = np.unique(fams, return_counts=True)
    if len(names) < 2:
        return [], []
    n_folds = min(max_folds, len(names))
    buckets: list[list[str]] = [[] for _ in range(n_folds)]
    sizes = [0] * n_folds
    for idx in np.argsort(-counts, kind="stable"):  # largest first into the emptiest fold
        f = int(np.argmin(sizes))
        buckets[f].append(str(names[idx]))
        sizes[f] += int(counts[idx])
    splits = []
    for bucket in buckets:
        test = np.isin(fams, bucket)
        splits.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return splits, buckets


def cross_validate(
    data: LabeledData,
    emb: NDArray[np.float32],
    weak: str,
    strong: str,
    folds: int = 5,
    seed: int = 0,
    on_fold: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Random-fold CV (the in-distribution figure): every subject on both sides of each split."""
    splits = random_splits(data, emb, folds, seed)
    out = _score_splits(data, emb, weak, strong, splits, on_fold)
    _topic_ids, names = _topics(data.domains, emb, seed)
    return {
        "scheme": (
            f"{folds}-fold StratifiedGroupKFold(shuffle, seed={seed}), stratified by topic, "
            "grouped by near-duplicate passages; all fitting inside training folds"
        ),
        "n": len(data),
        "n_groups": len(np.unique(near_duplicate_groups(data.texts))),
        "topics": len(names),
        "route_score": "(1 + q_strong - q_weak) / 2",
        **out,
    }


def grouped_cross_validate(
    data: LabeledData,
    emb: NDArray[np.float32],
    weak: str,
    strong: str,
    max_folds: int = 5,
    on_fold: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Family-holdout CV (the unseen-family figure): whole subject groups / families left out."""
    splits, held_out = family_splits(data, max_folds)
    if not splits:
        return {}
    out = _score_splits(data, emb, weak, strong, splits, on_fold)
    for row in out["per_fold"]:
        row["held_out"] = ", ".join(held_out[int(row["fold"])])  # type: ignore[assignment]
    if out["per_fold"]:
        out["mean"] = _agg([{k: v for k, v in r.items() if k != "held_out"} for r in out["per_fold"]])
    return {"scheme": f"leave-family-out, {len(splits)} folds: {held_out}", "n": len(data), **out}


# --- entry point ------------------------------------------------------------------------------


def train(
    datasets: str | Path | Sequence[Dataset],
    out_dir: str | Path,
    weak: str | None = None,
    strong: str | None = None,
    folds: int = 5,
    progress: bool = True,
    limit: int | None = None,
    embedder: Embedder | None = None,
    grouped: bool = True,
) -> dict[str, Any]:
    """Cross-validate, fit on all data and write the artifact; returns the report dict.

    ``datasets``: one labeled-traffic JSONL path, or a list of ``path`` / ``(path, weight)``: the
    shipped data first, then an operator's labeled traffic, each row counting ``weight`` times.
    ``folds=0`` skips cross-validation (the report then has no CV metrics); ``grouped`` adds the
    leave-family-out CV (``report["grouped_cv"]``) beside the random folds (``report["cv"]``).
    The learning loop calls this same function.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, quiet=not progress)
    started = time.time()
    data = read_datasets(datasets, limit=limit)
    if len(data) < max(folds, 2) * 2:
        raise ValueError(f"too few labeled rows ({len(data)}) to train")
    weak, strong = pick_pair(data, weak, strong)
    embedder = embedder or get_embedder(EmbedderSpec())
    n_family_folds = len(family_splits(data)[0]) if grouped and folds >= 2 else 0
    steps = 2 + max(folds, 0) + n_family_folds
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    ) as bar:
        task = bar.add_task("embedding prompts", total=steps)
        emb = embedder.embed(data.texts)
        bar.advance(task)
        report: dict[str, Any] = {}
        if folds >= 2:
            bar.update(task, description=f"{folds}-fold cross-validation")
            report["cv"] = cross_validate(data, emb, weak, strong, folds=folds, on_fold=lambda _k: bar.advance(task))
        if n_family_folds:
            bar.update(task, description="leave-family-out cross-validation")
            report["grouped_cv"] = grouped_cross_validate(data, emb, weak, strong, on_fold=lambda _k: bar.advance(task))
        bar.update(task, description="fitting on all data")
        topics, names = _topics(data.domains, emb)
        arrays = fit_quality_model(emb, data.scores, topics, len(names), data.row_weights())
        bar.advance(task)
    paths = [Path(d if isinstance(d, str | Path) else d[0]) for d in ([datasets] if isinstance(datasets, str | Path) else datasets)]
    data_hash = hashlib.sha256("".join(sha256_file(p) for p in paths).encode()).hexdigest() if len(paths) > 1 else sha256_file(paths[0])
    created = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    embedder_meta = embedder.spec.to_dict()
    if embedder.spec.backend == "static":
        embedder_meta["table_sha256"] = load_static_table().sha256
    metadata = {
        "artifact_version": f"{artifact_kind(arrays).replace('/', '-')}-{data_hash[:8]}-{created}",
        "created": created,
        "embedder": embedder_meta,
        "embedder_name": embedder.name,
        "feature_version": FEATURE_VERSION,
        "models": data.models,
        "weak": weak,
        "strong": strong,
        "topics": names,
        "training_data": {
            "path": paths[0].name,
            "sha256": data_hash,
            "rows": len(data),
            "limit": limit,
            "files": [
                {
                    "path": p.name,
                    "sha256": sha256_file(p),
                    "weight": float(w),
                    "rows": int(sum(src == p.name for src in data.sources or [])),
                }
                for p, w in zip(paths, _weights_of(datasets), strict=True)
            ],
        },
        "metrics": report.get("cv", {}),
        "grouped_metrics": report.get("grouped_cv", {}),
        "train_seconds": round(time.time() - started, 1),
    }
    save_artifact(Path(out_dir), arrays, metadata)
    report.update({"artifact": str(out_dir), "weak": weak, "strong": strong, "rows": len(data)})
    if progress:
        _print_report(console, report)
    return report


def _weights_of(datasets: str | Path | Sequence[Dataset]) -> list[float]:
    items = [datasets] if isinstance(datasets, str | Path) else list(datasets)
    return [1.0 if isinstance(d, str | Path) else float(d[1]) for d in items]


def _print_report(console: Any, report: dict[str, Any]) -> None:
    from rich.table import Table

    console.print(f"artifact written to [bold]{report['artifact']}[/] ({report['rows']} rows)")
    for key, title in (("cv", "random folds (in-distribution)"), ("grouped_cv", "whole families held out (unseen families)")):
        cv = report.get(key)
        if not cv:
            continue
        table = Table(title=f"CV, {title}: {cv['scheme']}")
        # Short headers: a narrow terminal wraps long ones mid-word.
        cols = ("metric", "mean", "std", "pooled", "v2 (no kNN fix)", "plain LR", "kNN router")
        for col in cols:
            table.add_column(col)
        for metric in ("apgr", "cpt50", "cpt80", "pgr_at_30pct"):
            table.add_row(
                metric,
                f"{cv['mean'][metric]['mean']:.4f}",
                f"{cv['mean'][metric]['std']:.4f}",
                f"{cv['pooled_oof'][metric]:.4f}",
                f"{cv['without_knn_correction'][metric]['mean']:.4f}" if "without_knn_correction" in cv else "-",
                f"{cv['generic_part_only'][metric]['mean']:.4f}",
                f"{cv['knn_baseline_k50'][metric]['mean']:.4f}" if "knn_baseline_k50" in cv else "-",
            )
        console.print(table)
        console.print(
            "  columns: router mean/std over folds, pooled out-of-fold; the same router without its nearest-neighbour"
            " correction (v2); its generic part alone (= plain LR on the embeddings); the kNN router (k=50)"
        )
        console.print("  baselines: cost-matched random router APGR 0.5000, best single fixed tier 0.5000 (PGR 0 below 100% strong calls)")
        if key == "grouped_cv":
            for row in cv["per_fold"]:
                console.print(f"  held out {row['held_out']}: APGR {row['apgr']:.4f} (n={int(row['n'])})")
    cv = report.get("cv")
    if cv:
        for model, c in cv["calibration"].items():
            console.print(f"  {model}: brier={c['brier']:.4f} log_loss={c['log_loss']:.4f} ece={c['ece']:.4f}")


def parse_dataset(spec: str) -> tuple[Path, float]:
    """``PATH`` or ``PATH:WEIGHT`` (the CLI's form of a weighted file)."""
    path, sep, weight = spec.rpartition(":")
    if sep and path:
        try:
            return Path(path), float(weight)
        except ValueError:
            pass
    return Path(spec), 1.0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m classifiers.training", description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="labeled traffic JSONL (the shipped data)")
    parser.add_argument("out", type=Path, help="artifact directory to write")
    parser.add_argument("--weak")
    parser.add_argument("--strong")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--extra", action="append", default=[], metavar="PATH[:WEIGHT]", help="operator labeled traffic, weight default 1")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report = train(
        [args.data, *(parse_dataset(x) for x in args.extra)],
        args.out,
        args.weak,
        args.strong,
        folds=args.folds,
        progress=not args.quiet,
        limit=args.limit,
    )
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
