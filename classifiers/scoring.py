"""Batch scoring of labeled-traffic files and threshold calibration for a weak/strong pair.

``classify_file`` writes one JSON line per input record::

    {"id": ..., "predicted": {"<model>": p, ...}, "route_score": s}

ignoring any ``scores`` in the input. ``calibrate`` picks the route-score threshold (route to
the strong model when ``route_score >= threshold``) for a target share of strong calls, or the
highest threshold whose routed quality keeps ``quality_target`` x the strong model's quality,
and reports what that threshold achieves on the given data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.features import prompt_text
from classifiers.trained import DEFAULT_ARTIFACT, TrainedClassifier, load_artifact
from eval_harness.metrics import routing_summary, threshold_for_quality, threshold_for_share

_BATCH = 256


def _load(classifier_dir: str | Path | None) -> TrainedClassifier:
    return load_artifact(Path(classifier_dir) if classifier_dir else DEFAULT_ARTIFACT)


def _pair(clf: TrainedClassifier, weak: str | None, strong: str | None) -> tuple[str, str]:
    weak = weak or clf.weak
    strong = strong or clf.strong
    for name in (weak, strong):
        if name not in clf.models():
            raise ValueError(f"model {name!r} unknown to the classifier (has {clf.models()})")
    if weak == strong:
        raise ValueError("weak and strong must differ")
    return weak, strong


def _route(pred_quality: dict[str, float], weak: str, strong: str) -> float:
    return float(np.clip((1.0 + pred_quality[strong] - pred_quality[weak]) / 2.0, 0.0, 1.0))


def classify_file(
    in_path: str | Path,
    out_path: str | Path,
    classifier_dir: str | Path | None = None,
    weak: str | None = None,
    strong: str | None = None,
) -> int:
    """Score every record of a JSONL file; returns the number of lines written."""
    clf = _load(classifier_dir)
    weak, strong = _pair(clf, weak, strong)
    written = 0
    with Path(in_path).open(encoding="utf-8") as src, Path(out_path).open("w", encoding="utf-8") as dst:
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            nonlocal written
            if not batch:
                return
            texts = [prompt_text(rec.get("messages") or []) for rec in batch]
            for rec, pred in zip(batch, clf.predict(texts), strict=True):
                line = {
                    "id": rec.get("id"),
                    "predicted": {m: round(q, 6) for m, q in pred.quality.items()},
                    "route_score": round(_route(pred.quality, weak, strong), 6),
                }
                dst.write(json.dumps(line) + "\n")
                written += 1
            batch.clear()

        for line_no, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                batch.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{in_path}:{line_no}: invalid JSON: {exc}") from exc
            if len(batch) >= _BATCH:
                flush()
        flush()
    return written


def calibrate(
    data_path: str | Path,
    strong_share: float | None = None,
    quality_target: float | None = None,
    classifier_dir: str | Path | None = None,
    weak: str | None = None,
    strong: str | None = None,
) -> dict[str, Any]:
    """Threshold for a target strong-call share, or for keeping ``quality_target`` of the strong
    model's quality (e.g. 0.95), with what it achieves on ``data_path``.

    Exactly one of ``strong_share`` / ``quality_target`` must be given. The quality target needs
    both models' scores in the data; the share target needs no labels (metrics are added when
    labels are present).
    """
    if (strong_share is None) == (quality_target is None):
        raise ValueError("give exactly one of strong_share or quality_target")
    clf = _load(classifier_dir)
    weak, strong = _pair(clf, weak, strong)
    texts: list[str] = []
    w_scores: list[float] = []
    s_scores: list[float] = []
    with Path(data_path).open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            texts.append(prompt_text(rec.get("messages") or []))
            scores = rec.get("scores") or {}
            w_scores.append(float(scores.get(weak, math.nan)))
            s_scores.append(float(scores.get(strong, math.nan)))
    if not texts:
        raise ValueError(f"{data_path} has no records")
    route = np.array([_route(p.quality, weak, strong) for p in clf.predict(texts)])
    w = np.array(w_scores)
    s = np.array(s_scores)
    labeled = ~np.isnan(w) & ~np.isnan(s)
    result: dict[str, Any] = {"weak": weak, "strong": strong, "n": len(texts), "n_labeled": int(labeled.sum())}
    if strong_share is not None:
        threshold = threshold_for_share(route, strong_share)
        result.update(target="strong_share", strong_share_target=strong_share)
    else:
        assert quality_target is not None
        if not labeled.any():
            raise ValueError("a quality target needs scores for both models in the data")
        threshold, _ = threshold_for_quality(route[labeled], w[labeled], s[labeled], quality_target)
        result.update(target="quality", quality_target=quality_target)
    routed = route >= threshold
    result["threshold"] = threshold
    result["strong_share"] = float(routed.mean())
    if labeled.any():
        wl, sl, rl = w[labeled], s[labeled], routed[labeled]
        quality = float(np.where(rl, sl, wl).mean())
        result.update(
            quality_weak=float(wl.mean()),
            quality_strong=float(sl.mean()),
            quality_routed=quality,
            quality_fraction_of_strong=quality / float(sl.mean()) if sl.mean() > 0 else math.nan,
        )
        if sl.sum() > wl.sum():
            summary = routing_summary(route[labeled], wl, sl)
            gap = float(sl.mean() - wl.mean())
            result.update(
                pgr=(quality - float(wl.mean())) / gap,
                apgr=summary["apgr"],
                cpt50=summary["cpt50"],
                cpt80=summary["cpt80"],
            )
    return result
