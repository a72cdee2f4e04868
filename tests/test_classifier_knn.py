"""The v3 nearest-neighbour correction on a tiny hand-built artifact, and old v2 artifacts.

Every assertion is about direction or ordering (a prediction moves toward its neighbours'
labels, more with a weaker prior, not at all for a model its neighbours have no label for), so
no float detail or BLAS matters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.embed import EmbedderSpec, sha256_file
from classifiers.features import FEATURE_VERSION, heuristic_difficulty
from classifiers.trained import (
    KNN_MISSING,
    MODEL_KIND,
    ArtifactError,
    QualityModel,
    load_artifact,
    save_artifact,
)

WEAK, STRONG = "weak-model", "strong-model"
DIM = 4
# Two clusters of stored prompts: around axis 0 only the strong model answers; around axis 1 only
# the weak one does. The regression and the topic prior know nothing (every q0 is 0.5).
NEAR_0 = [[1.0, 0.05 * i, 0.0, 0.0] for i in range(3)]
NEAR_1 = [[0.05 * i, 1.0, 0.0, 0.0] for i in range(3)]


def _arrays(knn: bool, prior: float = 1.0, k: int = 3, labels: list[list[int]] | None = None) -> dict[str, Any]:
    stored = np.array(NEAR_0 + NEAR_1, dtype=np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    arrays: dict[str, Any] = {
        "lr_w": np.zeros((2, DIM), dtype=np.float32),
        "lr_b": np.zeros(2, dtype=np.float32),
        "dom_w": np.zeros((1, DIM), dtype=np.float32),
        "dom_b": np.zeros(1, dtype=np.float32),
        "dom_prior": np.full((1, 2), 0.5, dtype=np.float32),
        "base_rate": np.full(2, 0.5, dtype=np.float32),
        "knn_emb": stored.astype(np.float16),
        "knn_bounds": np.array([0.5, 0.99], dtype=np.float32),
    }
    if knn:
        # columns: (weak, strong); 255 = no label
        codes = labels or [[0, 254]] * 3 + [[254, 0]] * 3
        arrays |= {
            "knn_y": np.array(codes, dtype=np.uint8),
            "knn_wt": np.ones(len(stored), dtype=np.float16),
            "knn_cfg": np.array([k, 1.0, prior], dtype=np.float32),
        }
    return arrays


def _meta() -> dict[str, Any]:
    spec = EmbedderSpec().to_dict()  # no table_sha256: the tiny artifact never embeds text
    return {"models": [WEAK, STRONG], "weak": WEAK, "strong": STRONG, "embedder": spec, "feature_version": FEATURE_VERSION}


QUERIES = np.array([[1.0, 0.02, 0.01, 0.0], [0.02, 1.0, 0.0, 0.01], [0.0, 0.0, 1.0, 0.0]], dtype=np.float32)
TEXTS = ["Derive the formula for the volume.", "Name the capital of the region.", "Summarise the treaty's terms."]


def _route(arrays: dict[str, Any]) -> np.ndarray:
    model = QualityModel(arrays)
    q, _ = model.quality(QUERIES, TEXTS)
    return (1.0 + q[:, 1] - q[:, 0]) / 2.0


def test_correction_moves_predictions_toward_the_neighbours_labels() -> None:
    plain = _route(_arrays(knn=False))
    assert plain == pytest.approx([0.5, 0.5, 0.5])  # the v2 parts know nothing here
    corrected = _route(_arrays(knn=True))
    # Near the strong-only cluster the strong model is worth more; near the weak-only one less.
    assert corrected[0] > 0.6 and corrected[1] < 0.4
    # A prompt far from every stored one moves little (its neighbours weigh exp(-large)).
    assert abs(corrected[2] - 0.5) < min(corrected[0] - 0.5, 0.5 - corrected[1])


def test_a_stronger_prior_moves_the_prediction_less() -> None:
    weak_prior, strong_prior = _route(_arrays(knn=True, prior=0.5)), _route(_arrays(knn=True, prior=20.0))
    assert weak_prior[0] > strong_prior[0] > 0.5
    assert weak_prior[1] < strong_prior[1] < 0.5


def test_missing_labels_leave_that_model_alone() -> None:
    # The strong model has no stored label anywhere: its quality stays at q0, the weak one moves.
    labels = [[0, KNN_MISSING]] * 3 + [[254, KNN_MISSING]] * 3
    q, _ = QualityModel(_arrays(knn=True, labels=labels)).quality(QUERIES, TEXTS)
    assert q[:, 1] == pytest.approx([0.5, 0.5, 0.5])
    assert q[0, 0] < 0.4 and q[1, 0] > 0.6


def test_small_talk_is_answered_by_rule_whatever_its_neighbours_say() -> None:
    model = QualityModel(_arrays(knn=True))
    q, lam = model.quality(QUERIES[:1], ["hi, how are you?"])
    assert lam[0] == 0.0
    assert q[0] == pytest.approx(model.prior_quality([heuristic_difficulty("hi, how are you?")])[0])
    assert (1.0 + q[0, 1] - q[0, 0]) / 2.0 < _route(_arrays(knn=True))[0]


def test_v3_round_trip_and_v2_artifacts_still_load(tmp_path: Path) -> None:
    v3 = save_artifact(tmp_path / "v3", _arrays(knn=True), _meta())
    assert json.loads((v3 / "metadata.json").read_text())["model_kind"] == MODEL_KIND
    clf = load_artifact(v3)
    assert clf.model.has_knn and clf.model.knn_k == 3
    preds = clf.predict_embedded(TEXTS, QUERIES)
    assert preds[0].difficulty > 0.6 and preds[1].difficulty < 0.4

    v2 = save_artifact(tmp_path / "v2", _arrays(knn=False), _meta())
    assert json.loads((v2 / "metadata.json").read_text())["model_kind"] == "lr+domain/v2"
    old = load_artifact(v2)
    assert not old.model.has_knn
    assert [p.difficulty for p in old.predict_embedded(TEXTS, QUERIES)] == pytest.approx([0.5, 0.5, 0.5])


def test_kind_and_arrays_must_agree(tmp_path: Path) -> None:
    out = save_artifact(tmp_path / "a", _arrays(knn=False), _meta())
    meta = json.loads((out / "metadata.json").read_text())
    meta["model_kind"] = MODEL_KIND  # claims v3 but carries no neighbour labels
    (out / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="without neighbour labels"):
        load_artifact(out)


def test_malformed_neighbour_arrays_are_rejected(tmp_path: Path) -> None:
    bad = _arrays(knn=True)
    bad["knn_y"] = bad["knn_y"][:, :1]
    with pytest.raises(ArtifactError):
        QualityModel(bad)
    partial = _arrays(knn=True)
    del partial["knn_cfg"]
    with pytest.raises(ArtifactError, match="incomplete"):
        QualityModel(partial)
    negative = _arrays(knn=True)
    negative["knn_cfg"] = np.array([3, 1.0, -1.0], dtype=np.float32)
    with pytest.raises(ArtifactError):
        QualityModel(negative)
    not_finite = _arrays(knn=True)
    not_finite["knn_wt"] = np.array([1, 1, np.inf, 1, 1, 1], dtype=np.float16)
    with pytest.raises(ArtifactError):
        QualityModel(not_finite)
    # and the file checksum still guards the v3 arrays
    out = save_artifact(tmp_path / "ok", _arrays(knn=True), _meta())
    assert json.loads((out / "metadata.json").read_text())["files"]["params.npz"] == sha256_file(out / "params.npz")


def test_a_stored_copy_of_the_prompt_does_not_vote_for_itself() -> None:
    # Stored row 0 says the opposite of its two neighbours. Asked about row 0's exact text, the
    # model answers as if row 0 had no label (the learning loop calibrates on training prompts).
    flipped = [[254, 0]] + [[0, 254]] * 2 + [[254, 0]] * 3
    unlabeled = [[KNN_MISSING, KNN_MISSING]] + [[0, 254]] * 2 + [[254, 0]] * 3
    own = np.array([NEAR_0[0]], dtype=np.float32)
    q_self, _ = QualityModel(_arrays(knn=True, labels=flipped)).quality(own, TEXTS[:1])
    q_none, _ = QualityModel(_arrays(knn=True, labels=unlabeled)).quality(own, TEXTS[:1])
    assert q_self == pytest.approx(q_none)
    assert q_self[0, 1] > q_self[0, 0]  # its neighbours' verdict: the strong model gains


def test_equal_gate_bounds_give_finite_quality() -> None:
    # Found by a review: with lo == hi the neighbours' weights overflowed and inf / inf made q NaN.
    arrays = _arrays(knn=True)
    arrays["knn_bounds"] = np.array([0.5, 0.5], dtype=np.float32)
    q, _ = QualityModel(arrays).quality(QUERIES, TEXTS)
    assert np.all(np.isfinite(q)) and np.all((q >= 0) & (q <= 1)), q
