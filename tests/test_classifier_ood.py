"""The v4 unseen-family fallback on a tiny hand-built artifact (classifiers/trained.py).

Far from every stored prompt the prediction is the kNN router's (the neighbours' mean label, by
``b_far``); among them it is v3's (by ``b_near``). Every assertion is about which estimate a
prediction equals or which way it moves, on labels of 0 and 1, so no float detail or BLAS matters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.embed import EmbedderSpec
from classifiers.features import FEATURE_VERSION, heuristic_difficulty
from classifiers.trained import (
    KNN_MISSING,
    MODEL_KIND,
    MODEL_KIND_V4,
    ArtifactError,
    QualityModel,
    load_artifact,
    save_artifact,
)

WEAK, STRONG = "weak-model", "strong-model"
DIM = 4
# Two clusters of stored prompts: around axis 0 only the strong model answers, around axis 1
# only the weak one. The regression says the opposite everywhere (weak 0.88, strong 0.12), so
# the two estimates disagree and it shows which one a prediction follows.
NEAR_0 = [[1.0, 0.05 * i, 0.0, 0.0] for i in range(3)]
NEAR_1 = [[0.05 * i, 1.0, 0.0, 0.0] for i in range(3)]
LABELS = [[0, 254]] * 3 + [[254, 0]] * 3  # (weak, strong); 255 = no label
# In the strong-only cluster (in domain: the gate's lam is 1 there), and far from every stored
# prompt but nearest that cluster (lam 0). The gate is the mean cosine of up to 10 neighbours.
IN_DOMAIN = np.array([[1.0, 0.02, 0.01, 0.0]], dtype=np.float32)
FAR = np.array([[0.1, 0.0, 1.0, 0.0]], dtype=np.float32)
TEXT = ["Derive the formula for the volume."]


def _arrays(ood: tuple[float, float, float] | None, labels: list[list[int]] | None = None, prior: float = 30.0) -> dict[str, Any]:
    stored = np.array(NEAR_0 + NEAR_1, dtype=np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    arrays: dict[str, Any] = {
        "lr_w": np.zeros((2, DIM), dtype=np.float32),
        "lr_b": np.array([2.0, -2.0], dtype=np.float32),
        "dom_w": np.zeros((1, DIM), dtype=np.float32),
        "dom_b": np.zeros(1, dtype=np.float32),
        "dom_prior": np.array([[0.88, 0.12]], dtype=np.float32),
        "base_rate": np.full(2, 0.5, dtype=np.float32),
        "knn_emb": stored.astype(np.float16),
        "knn_bounds": np.array([0.1, 0.45], dtype=np.float32),
        "knn_y": np.array(labels or LABELS, dtype=np.uint8),
        "knn_wt": np.ones(len(stored), dtype=np.float16),
        "knn_cfg": np.array([3, 1.0, prior], dtype=np.float32),
    }
    if ood is not None:
        arrays["ood_cfg"] = np.array(ood, dtype=np.float32)
    return arrays


def _meta() -> dict[str, Any]:
    spec = EmbedderSpec().to_dict()  # no table_sha256: the tiny artifact never embeds text
    return {"models": [WEAK, STRONG], "weak": WEAK, "strong": STRONG, "embedder": spec, "feature_version": FEATURE_VERSION}


def _q(arrays: dict[str, Any], emb: np.ndarray, texts: list[str] = TEXT) -> tuple[np.ndarray, np.ndarray]:
    return QualityModel(arrays).quality(emb, texts)


def test_the_fixture_is_what_the_tests_assume() -> None:
    _q_in, lam_in = _q(_arrays(None), IN_DOMAIN)
    q_far, lam_far = _q(_arrays(None), FAR)
    assert lam_in[0] == 1.0 and lam_far[0] == 0.0
    # v3 far from the data follows the regression: weak model ahead.
    assert q_far[0, 0] > 0.8 and q_far[0, 1] < 0.2


def test_far_from_the_training_data_the_prediction_is_the_knn_routers() -> None:
    # b_far = 1: the three nearest stored prompts (the strong-only cluster) decide alone.
    q, _ = _q(_arrays((3, 1.0, 0.0)), FAR)
    assert q[0] == pytest.approx([0.0, 1.0])


def test_in_domain_with_b_near_zero_the_prediction_is_v3s() -> None:
    v3, _ = _q(_arrays(None), IN_DOMAIN)
    v4, _ = _q(_arrays((3, 1.0, 0.0)), IN_DOMAIN)
    assert v4 == pytest.approx(v3, rel=1e-9, abs=1e-12)


def test_zero_weights_are_v3_everywhere() -> None:
    for emb in (IN_DOMAIN, FAR):
        assert _q(_arrays((3, 0.0, 0.0)), emb)[0] == pytest.approx(_q(_arrays(None), emb)[0], rel=1e-9, abs=1e-12)


def test_a_larger_far_weight_moves_the_far_prediction_further_toward_the_neighbours() -> None:
    routes = [float(np.diff(_q(_arrays((3, b, 0.0)), FAR)[0][0])[0]) for b in (0.0, 0.3, 0.6, 1.0)]
    assert routes == sorted(routes) and routes[0] < 0 < routes[-1]  # strong minus weak rises to the neighbours' +1


def test_neighbours_without_a_label_leave_that_model_at_v3() -> None:
    labels = [[0, KNN_MISSING]] * 3 + [[254, KNN_MISSING]] * 3
    v3, _ = _q(_arrays(None, labels), FAR)
    v4, _ = _q(_arrays((3, 1.0, 1.0), labels), FAR)
    assert v4[0, 1] == pytest.approx(v3[0, 1])  # no neighbour knows the strong model
    assert v4[0, 0] == pytest.approx(0.0)  # the weak one: all three nearest say wrong


def test_a_stored_copy_of_the_prompt_does_not_vote_in_the_fallback() -> None:
    # The prompt is stored row 0, whose label contradicts its two cluster mates.
    own = np.array([NEAR_0[0]], dtype=np.float32)
    flipped = [[254, 0]] + [[0, 254]] * 2 + [[254, 0]] * 3
    unlabeled = [[KNN_MISSING, KNN_MISSING]] + [[0, 254]] * 2 + [[254, 0]] * 3
    q_self, _ = _q(_arrays((3, 1.0, 1.0), flipped), own)
    q_none, _ = _q(_arrays((3, 1.0, 1.0), unlabeled), own)
    assert q_self == pytest.approx(q_none)
    assert q_self[0, 1] > q_self[0, 0]


def test_small_talk_is_still_answered_by_rule() -> None:
    model = QualityModel(_arrays((3, 1.0, 1.0)))
    q, lam = model.quality(IN_DOMAIN, ["hi, how are you?"])
    assert lam[0] == 0.0
    assert q[0] == pytest.approx(model.prior_quality([heuristic_difficulty("hi, how are you?")])[0])


def test_v4_round_trip_and_v3_still_loads(tmp_path: Path) -> None:
    v4 = save_artifact(tmp_path / "v4", _arrays((3, 1.0, 0.0)), _meta())
    assert json.loads((v4 / "metadata.json").read_text())["model_kind"] == MODEL_KIND_V4
    clf = load_artifact(v4)
    assert clf.model.has_ood and clf.model.ood == (3, 1.0, 0.0)
    assert clf.predict_embedded(TEXT, FAR)[0].difficulty == pytest.approx(1.0)  # (1 + 1 - 0) / 2

    v3 = save_artifact(tmp_path / "v3", _arrays(None), _meta())
    assert json.loads((v3 / "metadata.json").read_text())["model_kind"] == MODEL_KIND
    old = load_artifact(v3)
    assert old.model.has_knn and not old.model.has_ood
    assert old.predict_embedded(TEXT, FAR)[0].difficulty < 0.5


def test_kind_and_fallback_must_agree(tmp_path: Path) -> None:
    out = save_artifact(tmp_path / "a", _arrays(None), _meta())
    meta = json.loads((out / "metadata.json").read_text())
    meta["model_kind"] = MODEL_KIND_V4  # claims v4 but carries no fallback
    (out / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="without an unseen-family fallback"):
        load_artifact(out)


@pytest.mark.parametrize("cfg", [(0, 0.5, 0.5), (3, 1.5, 0.0), (3, 0.0, -0.1), (3, float("nan"), 0.0), (3, 0.5)])
def test_malformed_fallback_constants_are_rejected(cfg: tuple[float, ...]) -> None:
    arrays = _arrays(None)
    arrays["ood_cfg"] = np.array(cfg, dtype=np.float32)
    with pytest.raises(ArtifactError):
        QualityModel(arrays)


def test_the_fallback_needs_neighbour_labels() -> None:
    arrays = _arrays((3, 1.0, 0.0))
    for key in ("knn_y", "knn_wt", "knn_cfg"):
        del arrays[key]
    with pytest.raises(ArtifactError):
        QualityModel(arrays)


def test_training_writes_v3_unless_asked_and_v4_when_asked() -> None:
    from classifiers import training

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(120, DIM)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    scores = rng.integers(0, 2, size=(120, 2)).astype(np.float64)
    topics = np.zeros(120, dtype=np.int64)
    assert training.OOD_FALLBACK is None  # the shipped default stays v3 until the fallback ships
    assert "ood_cfg" not in training.fit_quality_model(emb, scores, topics, 1)
    arrays = training.fit_quality_model(emb, scores, topics, 1, ood_cfg=training.OOD_FALLBACK_CHOSEN)
    model = QualityModel(arrays)
    assert model.has_ood and model.ood == pytest.approx(training.OOD_FALLBACK_CHOSEN)  # stored as float32
