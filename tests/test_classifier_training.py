"""Training on a small labeled subset, the artifact format and its safety checks, scoring,
calibration, and the shipped default artifact's behaviour on hand-written prompts."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from classifiers.base import Classifier
from classifiers.rules import LengthRuleClassifier
from classifiers.scoring import calibrate, classify_file
from classifiers.trained import (
    DEFAULT_ARTIFACT,
    ArtifactError,
    TrainedClassifier,
    load_artifact,
    load_default_classifier,
)
from classifiers.training import near_duplicate_groups, read_labeled, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "routing" / "mmlu-train.jsonl"
WEAK = "mixtral-8x7b-instruct-v0.1"
STRONG = "gpt-4-1106-preview"


def _synthetic(path: Path, n: int = 400) -> None:
    """Labeled traffic where legal and maths questions need the strong model, trivia does not."""
    rng = np.random.default_rng(0)
    kinds = {
        "law": ("Under the doctrine of {x}, is the contract enforceable against the buyer?", 0.45, 0.8),
        "math": ("Compute the integral of x^{x} times sin(x) from 0 to pi, step by step.", 0.35, 0.7),
        "trivia": ("What is the capital city of country number {x}?", 0.9, 0.92),
    }
    with path.open("w") as fh:
        for i in range(n):
            domain = list(kinds)[i % 3]
            template, pw, ps = kinds[domain]
            rec = {
                "id": f"syn-{i}",
                "messages": [{"role": "user", "content": template.format(x=i)}],
                "scores": {WEAK: float(rng.random() < pw), STRONG: float(rng.random() < ps)},
                "meta": {"domain": domain},
            }
            fh.write(json.dumps(rec) + "\n")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    if SHARED.is_file():
        # Every 16th question: ~600 rows spanning all subjects, small enough for a fast test.
        lines = SHARED.read_text().splitlines()[::16]
        path.write_text("\n".join(lines) + "\n")
    else:
        _synthetic(path)
    return path


@pytest.fixture(scope="module")
def trained(data_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("artifact") / "small"
    report = train(data_file, out, folds=3, progress=False)
    return out, report


def test_report_and_artifact_files(trained: tuple[Path, dict]) -> None:
    out, report = trained
    assert report["weak"] == WEAK and report["strong"] == STRONG
    cv = report["cv"]
    assert len(cv["per_fold"]) == 3
    for key in ("apgr", "cpt50", "cpt80"):
        assert math.isfinite(cv["mean"][key]["mean"])
    # Even ~600 rows carry signal: better than a random router.
    assert cv["pooled_oof"]["apgr"] > 0.5
    meta = json.loads((out / "metadata.json").read_text())
    for key in ("artifact_version", "embedder", "feature_version", "training_data", "metrics", "files"):
        assert key in meta
    assert meta["weak"] == WEAK and meta["strong"] == STRONG
    assert len(meta["training_data"]["sha256"]) == 64
    assert set(meta["files"]) == {"params.npz"}


def test_load_and_predict(trained: tuple[Path, dict]) -> None:
    clf = load_artifact(trained[0])
    assert isinstance(clf, Classifier)
    assert set(clf.models()) == {WEAK, STRONG}
    texts = ["hi, how are you?", "Prove that sqrt(2) is irrational.", "x" * 10000]
    preds = clf.predict(texts)
    assert len(preds) == 3
    for p in preds:
        assert set(p.quality) == {WEAK, STRONG}
        assert all(0.0 <= q <= 1.0 for q in p.quality.values())
        assert 0.0 <= p.difficulty <= 1.0
        assert p.difficulty == pytest.approx((1 + p.quality[STRONG] - p.quality[WEAK]) / 2)
    again = clf.predict_embedded(texts, clf.embed(texts))
    assert [p.difficulty for p in again] == pytest.approx([p.difficulty for p in preds])
    assert clf.predict([]) == []
    with pytest.raises(ValueError):
        clf.predict_embedded(texts, np.zeros((2, 5), dtype=np.float32))


def test_tampered_params_are_rejected(trained: tuple[Path, dict], tmp_path: Path) -> None:
    copy = tmp_path / "tampered"
    shutil.copytree(trained[0], copy)
    blob = bytearray((copy / "params.npz").read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (copy / "params.npz").write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(copy)


def test_malformed_metadata_is_rejected(trained: tuple[Path, dict], tmp_path: Path) -> None:
    copy = tmp_path / "meta"
    shutil.copytree(trained[0], copy)
    meta = json.loads((copy / "metadata.json").read_text())
    del meta["files"]
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError):
        load_artifact(copy)
    meta["files"] = {"params.npz": "0" * 64}
    meta["feature_version"] = "something-else"
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="feature version"):
        load_artifact(copy)
    with pytest.raises(ArtifactError):
        load_artifact(tmp_path / "does-not-exist")


def test_default_falls_back_to_length_rule(tmp_path: Path) -> None:
    clf = load_default_classifier(tmp_path / "missing")
    assert isinstance(clf, LengthRuleClassifier)


def test_classify_file(trained: tuple[Path, dict], data_file: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = data_file.read_text().splitlines()[:25]
    recs = [json.loads(line) for line in lines]
    recs[0]["scores"] = {WEAK: 1.0, STRONG: 0.0}  # must be ignored
    recs.append({"id": "no-scores", "messages": [{"role": "user", "content": "hello"}]})
    src.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    out = tmp_path / "out.jsonl"
    assert classify_file(src, out, classifier_dir=trained[0]) == len(recs)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in recs]
    for row in rows:
        assert set(row) == {"id", "predicted", "route_score"}
        assert set(row["predicted"]) == {WEAK, STRONG}
        assert 0.0 <= row["route_score"] <= 1.0


def test_calibrate_share_and_quality(trained: tuple[Path, dict], data_file: Path) -> None:
    share = calibrate(data_file, strong_share=0.3, classifier_dir=trained[0])
    assert share["strong_share"] == pytest.approx(0.3, abs=0.02)
    assert {"threshold", "quality_routed", "pgr", "apgr"} <= set(share)
    qual = calibrate(data_file, quality_target=0.95, classifier_dir=trained[0])
    assert qual["quality_fraction_of_strong"] >= 0.95 - 1e-9
    assert 0.0 <= qual["strong_share"] <= 1.0
    with pytest.raises(ValueError):
        calibrate(data_file, classifier_dir=trained[0])


def test_graded_scores_and_pair_choice(tmp_path: Path) -> None:
    path = tmp_path / "graded.jsonl"
    rng = np.random.default_rng(1)
    with path.open("w") as fh:
        for i in range(120):
            text = f"Explain topic {i % 4} in detail, case {i}."
            scores = {"small": float(rng.random() * 0.6), "big": float(0.4 + rng.random() * 0.6), "mid": 0.5}
            fh.write(json.dumps({"id": str(i), "messages": [{"role": "user", "content": text}], "scores": scores}) + "\n")
    report = train(path, tmp_path / "art", folds=2, progress=False)
    assert (report["weak"], report["strong"]) == ("small", "big")
    clf = load_artifact(tmp_path / "art")
    assert set(clf.models()) == {"small", "mid", "big"}
    assert read_labeled(path).scores.shape == (120, 3)


def test_near_duplicate_groups() -> None:
    passage = "The following passage describes the economic history of the region in great detail " * 2
    template = "For which of these two scenarios does the main character do something clearly wrong? "
    texts = [
        passage + "Question one?",
        passage + "Question two?",
        template + "Scenario 1 | I ate an apple. Scenario 2 | I stole a bike.",
        template + "Scenario 1 | I paid my taxes. Scenario 2 | I lied to a judge.",
        template + "Scenario 1 | I fed the cat. Scenario 2 | I kicked the dog.",
        template + "Scenario 1 | I sang loudly. Scenario 2 | I cheated at cards.",
        "unrelated",
    ]
    groups = near_duplicate_groups(texts, max_df=3)
    assert groups[0] == groups[1]
    # A template shared by more than max_df prompts is boilerplate, not a duplicate.
    assert len({int(g) for g in groups[2:]}) == 5
    assert groups[0] not in set(groups[2:].tolist())


@pytest.mark.skipif(not (DEFAULT_ARTIFACT / "metadata.json").is_file(), reason="no default artifact")
def test_default_artifact_ranks_hand_written_prompts_sensibly() -> None:
    clf = load_default_classifier()
    assert isinstance(clf, TrainedClassifier)
    chat = ["hi, how are you?", "thanks, that's all!", "good morning :)"]
    hard = [
        "A tank holds 1200 litres. Pipe A fills it in 6 hours and pipe B in 4 hours, while a leak "
        "drains it in 12 hours. Starting empty with all three open, after 2 hours pipe A breaks. "
        "How long in total until the tank is full? Show each step.",
        "Prove that every finite integral domain is a field.",
        "Prove that there are infinitely many primes of the form 4k + 3.",
    ]
    chat_scores = [p.difficulty for p in clf.predict(chat)]
    hard_scores = [p.difficulty for p in clf.predict(hard)]
    assert max(chat_scores) < min(hard_scores), (chat_scores, hard_scores)
    meta = clf.metadata
    assert meta["metrics"]["mean"]["apgr"]["mean"] >= 0.65
