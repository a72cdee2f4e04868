"""The learning loop behind `switchyard learn`: labeled traffic -> candidate router -> gate -> promote.

One run (:func:`learn_once`), given the operator's labeled traffic (exported from the ledger and
labeled by ``eval_harness.label``, or a file):

1. **coverage**: refuse below ``min_coverage`` (labels of a few easy requests describe nothing);
2. **split** the labeled requests by distinct prompt into a training part and a held-back part
   (``holdout``); the held-back part is never seen while training or calibrating;
3. **train** a candidate with ``classifiers.training.train`` on the shipped data plus the
   training part, the operator's rows weighted ``operator_weight``;
4. **calibrate** the strong tier's threshold on the training part so that routed quality reaches
   ``quality_target`` x the strong model's (the policy's ``routing.quality_target``, else 0.95);
5. **replay** current and candidate on the held-back part (``eval_harness.replay``, with the
   baselines every report carries);
6. **gate**: promote only if the candidate's APGR beats the current router's by ``min_gain`` and it
   keeps at least the current router's quality retained minus ``max_quality_drop``;
7. **promote**: the policy file is rewritten to point at the candidate artifact with the new
   threshold, the old file kept under ``workdir/rollback/`` (:func:`rollback` restores it), and
   the gateway reloads it (its file watcher, or ``POST /admin/policy/reload`` when a URL is given).

Every run writes an HTML report (``eval_harness.report`` style) saying what changed and why.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from eval_harness import metrics
from eval_harness.coverage import DEFAULT_MIN_COVERAGE, Coverage, coverage
from eval_harness.replay import ReplayReport, ReplaySpec, load_classifier, predict_columns, replay
from eval_harness.report import render_html
from eval_harness.traffic import TrafficError, TrafficRecord, load_columns, read_records, write_records
from policies.loader import load_policy
from policies.schema import Policy

DEFAULT_QUALITY_TARGET = 0.95
ROLLBACK_DIR = "rollback"


class LearnRefused(Exception):
    """The loop stopped before training: too little or untrustworthy data. Nothing changed."""


@dataclass
class LearnConfig:
    policy_path: Path
    workdir: Path
    shipped_data: Path | None = None
    operator_weight: float = 3.0
    holdout: float = 0.4
    min_coverage: float = DEFAULT_MIN_COVERAGE
    min_gain: float = 0.0
    max_quality_drop: float = 0.01
    quality_target: float | None = None
    weak: str | None = None
    strong: str | None = None
    n_boot: int = 200
    seed: int = 0
    # Replaces classifiers.training.train (tests build a router worse by construction this way).
    trainer: Callable[[list[tuple[Path, float]], Path, str, str], Path] | None = None


@dataclass
class LearnOutcome:
    promoted: bool
    reasons: list[str]
    coverage: Coverage
    candidate_artifact: Path | None = None
    old_classifier: str = ""
    new_classifier: str = ""
    old_thresholds: dict[str, float] = field(default_factory=dict)
    new_thresholds: dict[str, float] = field(default_factory=dict)
    report: ReplayReport | None = None
    html_path: Path | None = None
    backup: Path | None = None

    def summary(self) -> str:
        verdict = "promoted" if self.promoted else "not promoted"
        return f"{verdict}: " + "; ".join(self.reasons)


# --------------------------------------------------------------------------- steps


def split_by_prompt(records: Sequence[TrafficRecord], holdout: float, seed: int = 0) -> tuple[list[TrafficRecord], list[TrafficRecord]]:
    """(train, held back): whole distinct prompts go to one side, chosen by a seeded hash of the text."""
    train, held = [], []
    for r in records:
        digest = hashlib.sha256(f"{seed}\x00{r.text()}".encode("utf-8", "surrogatepass")).digest()
        (held if int.from_bytes(digest[:8], "big") / 2**64 < holdout else train).append(r)
    return train, held


def _pair(policy: Policy, models: Sequence[str], weak: str | None, strong: str | None) -> tuple[str, str, str]:
    """(weak model, strong model, the strong tier's name) the loop calibrates for."""
    by_cost = [t for t in policy.by_cost() if (policy.tiers[t].quality_model or policy.tiers[t].model) in models]
    if len(by_cost) < 2:
        raise LearnRefused(f"fewer than two of the policy's tiers have labels in the traffic (models: {', '.join(models)})")
    name = {t: policy.tiers[t].quality_model or policy.tiers[t].model for t in by_cost}
    weak = weak or name[by_cost[0]]
    strong = strong or name[by_cost[-1]]
    strong_tier = next(t for t in by_cost if name[t] == strong)
    return weak, strong, strong_tier


def train_with_classifiers(datasets: list[tuple[Path, float]], out_dir: Path, weak: str, strong: str) -> Path:
    """``classifiers.training.train`` on weighted files (or, for its single-file form, one merged file)."""
    from classifiers import training

    params = inspect.signature(training.train).parameters
    if "datasets" in params:
        training.train(datasets, out_dir, weak=weak, strong=strong, folds=0, progress=False)  # type: ignore[call-arg]
        return out_dir
    # The single-file form: weight by repeating the operator's rows (rounded) in one merged file.
    merged = out_dir.with_name(out_dir.name + "-data.jsonl")
    with merged.open("wb") as handle:
        for path, weight in datasets:
            data = path.read_bytes()
            for _ in range(max(1, round(weight))):
                handle.write(data if data.endswith(b"\n") else data + b"\n")
    training.train(merged, out_dir, weak=weak, strong=strong, folds=0, progress=False)  # type: ignore[call-arg]
    return out_dir


def calibrate_threshold(artifact: Path, train_path: Path, weak: str, strong: str, target: float) -> tuple[float, float]:
    """(threshold, strong share) on the training part: routed quality >= ``target`` x the strong model's."""
    traffic = load_columns(train_path)
    keep = ~np.isnan(traffic.scores[:, [traffic.column(weak), traffic.column(strong)]]).any(axis=1)
    traffic = traffic.take(np.flatnonzero(keep))
    classifier, description = load_classifier(str(artifact), 400)
    if not description.startswith("trained"):
        raise LearnRefused(f"the candidate artifact did not load: {description}")
    route = predict_columns(classifier, traffic.texts).difficulty[traffic.prompt_index]
    w, s = traffic.scores[:, traffic.column(weak)], traffic.scores[:, traffic.column(strong)]
    threshold, share = metrics.threshold_for_quality(route, w, s, target)
    # Thresholds live in [0, 1]: "never strong" is 1.0 and "always" the lowest score, clipped.
    return float(min(1.0, max(0.0, threshold))) if math.isfinite(threshold) else 1.0, share


def candidate_policy(current: dict[str, Any], artifact: Path, strong_tier: str, threshold: float) -> dict[str, Any]:
    """The current policy's YAML data with the candidate classifier and the strong tier's new threshold."""
    data = json.loads(json.dumps(current))  # a deep copy of plain data
    routing = data.setdefault("routing", {})
    routing["classifier"] = str(artifact)
    routing.pop("quality_target", None)
    thresholds = dict(routing.get("thresholds") or {})
    thresholds[strong_tier] = round(threshold, 6)
    routing["thresholds"] = thresholds
    return data


def gate(report: ReplayReport, min_gain: float, max_quality_drop: float) -> tuple[bool, list[str]]:
    """Whether the candidate may replace the current router, and why, from the held-back replay."""
    cur = next(e for e in report.entries if e.name == "current")
    cand = next(e for e in report.entries if e.name == "candidate")
    reasons, ok = [], True
    a_cur = cur.pair.apgr if cur.pair else None
    a_cand = cand.pair.apgr if cand.pair else None
    if a_cur is None or a_cand is None:
        return False, ["no APGR on the held-back traffic (the strong model is not better there): nothing to rank by"]
    if a_cand >= a_cur + min_gain:
        reasons.append(f"candidate ranks better: APGR {a_cand:.3f} vs {a_cur:.3f} (needed +{min_gain:.3f})")
    else:
        ok = False
        reasons.append(f"candidate ranks worse: APGR {a_cand:.3f} vs current {a_cur:.3f} (needed +{min_gain:.3f})")
    floor = cur.quality_retained - max_quality_drop
    if cand.quality_retained >= floor:
        reasons.append(f"keeps {cand.quality_retained:.1%} of the best tier's quality (current {cur.quality_retained:.1%})")
    else:
        ok = False
        reasons.append(f"keeps only {cand.quality_retained:.1%} of the best tier's quality, below {floor:.1%}")
    reasons.append(f"cost ${cand.cost_per_1k:.4g} vs ${cur.cost_per_1k:.4g} per 1k requests")
    return ok, reasons


def _write_yaml_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load_policy(tmp)  # never promote a file the gateway would refuse
    tmp.replace(path)


def promote(policy_path: Path, new_data: dict[str, Any], workdir: Path) -> Path:
    """Keep the current policy file for rollback, then write the candidate over it; returns the backup."""
    backups = workdir / ROLLBACK_DIR
    backups.mkdir(parents=True, exist_ok=True)
    backup = backups / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{policy_path.name}"
    shutil.copy2(policy_path, backup)
    try:
        _write_yaml_atomically(policy_path, new_data)
    except Exception:
        backup.unlink(missing_ok=True)
        raise
    return backup


def rollback(policy_path: Path, workdir: Path) -> Path:
    """Restore the policy file saved by the latest promotion (and forget that backup); returns it."""
    backups = sorted((workdir / ROLLBACK_DIR).glob(f"*-{policy_path.name}"))
    if not backups:
        raise LearnRefused(f"nothing to roll back: no earlier policy kept under {workdir / ROLLBACK_DIR}")
    latest = backups[-1]
    load_policy(latest)
    tmp = policy_path.with_name(policy_path.name + ".tmp")
    shutil.copy2(latest, tmp)
    tmp.replace(policy_path)
    latest.unlink()
    return latest


def reload_gateway(url: str, admin_key: str, timeout: float = 30.0) -> dict[str, Any]:
    """``POST /admin/policy/reload``; raises on a refusal (the running policy then stays)."""
    import httpx

    response = httpx.post(url.rstrip("/") + "/admin/policy/reload", headers={"Authorization": f"Bearer {admin_key}"}, timeout=timeout)
    body = response.json()
    if response.status_code != 200:
        raise RuntimeError(f"gateway refused the reload ({response.status_code}): {body}")
    return body


# --------------------------------------------------------------------------- one run


def learn_once(labeled: Path, cfg: LearnConfig, promote_ok: bool = True) -> LearnOutcome:
    """Steps 1-7 on one labeled-traffic file; the policy file changes only when the gate passes."""
    run_dir = cfg.workdir / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    policy = load_policy(cfg.policy_path)
    current_data = yaml.safe_load(cfg.policy_path.read_text(encoding="utf-8"))
    records = read_records(labeled)
    if not records:  # load_columns would say "<records>: no records", naming no file
        raise TrafficError(str(labeled), None, "no records")
    traffic = load_columns(records)
    weak, strong, strong_tier = _pair(policy, traffic.models, cfg.weak, cfg.strong)
    cov = coverage(traffic, [weak, strong])
    refusal = cov.refusal(cfg.min_coverage)
    if refusal is not None:
        raise LearnRefused(f"{cov.line()}\n{refusal}")
    complete = [r for r in records if weak in r.scores and strong in r.scores]
    train_part, held = split_by_prompt(complete, cfg.holdout, cfg.seed)
    if len({r.text() for r in held}) < 10 or len(train_part) < 10:
        raise LearnRefused(f"too few labeled prompts to train and check a candidate ({len(train_part)} to train, {len(held)} held back)")
    # Made once the input is known good: a refused run left an empty run folder behind.
    run_dir.mkdir(parents=True, exist_ok=True)
    train_path, held_path = run_dir / "train.jsonl", run_dir / "heldout.jsonl"
    write_records(train_path, train_part)
    write_records(held_path, held)

    datasets: list[tuple[Path, float]] = ([(cfg.shipped_data, 1.0)] if cfg.shipped_data else []) + [(train_path, cfg.operator_weight)]
    trainer = cfg.trainer or train_with_classifiers
    artifact = trainer(datasets, run_dir / "artifact", weak, strong)
    target = cfg.quality_target or policy.routing.quality_target or DEFAULT_QUALITY_TARGET
    threshold, share = calibrate_threshold(artifact, train_path, weak, strong, target)
    new_data = candidate_policy(current_data, artifact, strong_tier, threshold)
    candidate = Policy.model_validate(new_data)

    report = replay(
        load_columns(held_path),
        ReplaySpec(policies=[("current", policy), ("candidate", candidate)], weak=weak, strong=strong, n_boot=cfg.n_boot, seed=cfg.seed),
    )
    ok, reasons = gate(report, cfg.min_gain, cfg.max_quality_drop)
    calibrated = f"threshold for {strong_tier} calibrated to {threshold:.3f} ({share:.0%} strong on the training part, target {target:.0%})"
    reasons.insert(0, calibrated)
    outcome = LearnOutcome(
        promoted=False,
        reasons=reasons,
        coverage=cov,
        candidate_artifact=artifact,
        old_classifier=policy.routing.classifier,
        new_classifier=str(artifact),
        old_thresholds=dict(policy.routing.thresholds or {}),
        new_thresholds=dict(new_data["routing"]["thresholds"]),
        report=report,
    )
    if ok and promote_ok:
        outcome.backup = promote(cfg.policy_path, new_data, cfg.workdir)
        outcome.promoted = True
    elif ok:
        reasons.append("gate passed; not promoted (--dry-run)")
    outcome.html_path = run_dir / "learn.html"
    outcome.html_path.write_text(learn_html(outcome, train_rows=len(train_part), held_rows=len(held)), encoding="utf-8")
    (run_dir / "outcome.json").write_text(
        json.dumps(
            {
                "promoted": outcome.promoted,
                "reasons": reasons,
                "coverage": cov.model_dump(mode="json"),
                "old_classifier": outcome.old_classifier,
                "new_classifier": outcome.new_classifier,
                "old_thresholds": outcome.old_thresholds,
                "new_thresholds": outcome.new_thresholds,
                "backup": str(outcome.backup) if outcome.backup else None,
                "finished": time.time(),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return outcome


def learn_html(outcome: LearnOutcome, train_rows: int, held_rows: int) -> str:
    import html

    verdict = "Promoted" if outcome.promoted else "Not promoted"
    changes = [f"classifier: {outcome.old_classifier} -> {outcome.new_classifier}"]
    for tier in sorted(set(outcome.old_thresholds) | set(outcome.new_thresholds)):
        old, new = outcome.old_thresholds.get(tier), outcome.new_thresholds.get(tier)
        if old != new:
            changes.append(f"threshold {tier}: {old if old is not None else '-'} -> {new}")
    if outcome.backup:
        changes.append(f"previous policy kept at {outcome.backup} (switchyard learn --rollback restores it)")
    preface = (
        f"<h2 style='font-size:16px'>{verdict}</h2>"
        f"<p>Trained on {train_rows:,} labeled requests; compared on {held_rows:,} held-back requests it never saw.</p>"
        "<p><b>Why</b></p><ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in outcome.reasons) + "</ul>"
        "<p><b>What changes</b>"
        + ("" if outcome.promoted else " (if it had been promoted)")
        + "</p><ul>"
        + "".join(f"<li>{html.escape(c)}</li>" for c in changes)
        + "</ul>"
    )
    assert outcome.report is not None
    # The first line is the coverage of everything labeled, not only of the held-back part.
    report = outcome.report.model_copy(update={"coverage": outcome.coverage})
    return render_html(report, None, title="Switchyard learn report", preface=preface)
