"""The trained quality classifier and its artifact format.

An artifact is a directory::

    metadata.json   format/artifact version, embedder spec (+ static table sha256), feature
                    version, models, the weak/strong pair, training-data sha256, CV metrics,
                    and the sha256 of every parameter file
    params.npz      numpy arrays only (loaded with ``allow_pickle=False``)

Nothing is unpickled: loading parses JSON, verifies each file's sha256 against the metadata,
then reads plain arrays. A tampered or truncated file is rejected before any array is used.

Model (``model_kind`` "lr+domain+knn/v3"; "lr+domain/v2" artifacts still load and predict as
they did, without the last step), per model ``m`` with embedding ``e`` (L2-normalised):

- ``p_lr[m] = sigmoid(e . W[m] + b[m])``: a strongly regularised logistic regression on the
  embedding, the *generic* part (it transfers to task families the data never had);
- ``p_dom[m] = softmax(e . Wd + bd) . prior[:, m]``: a topic posterior times each topic's
  smoothed accuracy for the model (topics are the training data's ``meta.domain`` when it has
  them, else k-means clusters of the embeddings): the *subject-specific* part;
- ``lam`` in [0, 1]: how close the prompt is to labeled training prompts, the mean cosine of its
  ``K`` nearest stored training prompts mapped linearly between two quantiles of the training
  prompts' own (leave-self-out) values;
- ``q0[m] = (1 - lam / 2) p_lr[m] + (lam / 2) p_dom[m]``;
- the nearest-neighbour correction (v3): the ``k`` most similar stored training prompts ``j``
  (the same matrix product as ``lam``) carry their labels ``y[j, m]`` (uint8, 255 = no label) and
  row weights ``w[j]``; each gets ``a_j = w[j] exp((s_j - hi) / (tau (hi - lo)))`` (``s_j`` its
  cosine, ``lo``/``hi`` the gate's bounds; a stored copy of the prompt itself, cosine >= 0.9999,
  weighs 0) and
  ``q[m] = (A q0[m] + sum_j a_j y[j, m]) / (A + sum_j a_j [y[j, m] labeled])``:
  the neighbours' own outcomes, shrunk toward ``q0`` by the prior strength ``A`` so that a few
  distant neighbours move it little and many close ones a lot. ``k``, ``tau`` and ``A`` are
  stored in the artifact (``knn_cfg``) and were chosen on development splits only
  (``bench/routing_knn_select.py``).

- the unseen-family fallback (v4, ``model_kind`` "lr+domain+knn+ood/v4"; ``ood_cfg`` =
  ``(k, b_far, b_near)``): ``q[m] <- (1 - beta) q[m] + beta q_nn[m]`` with
  ``beta = b_far + (b_near - b_far) lam`` and ``q_nn[m]`` the row-weighted mean label of the ``k``
  nearest stored prompts (equal votes whatever their similarity; a stored copy of the prompt
  itself does not vote; where none of them has a label for ``m``, ``q_nn[m] = q[m]``): the kNN
  router's estimate, which only interpolates labels it has, takes over from the regression,
  which extrapolates, as the prompt gets farther from every training prompt. The constants were
  chosen on development splits only (``bench/routing_ood_select.py``).

Why: a topic prior is most of the in-distribution gain but ranks whole unseen subject groups
worse than the plain embedding regression (grouped CV, ``classifiers/training.py``), so the
subject part shrinks to nothing away from the training data and the fallback *is* the plain
embedding regression. An operator's labeled traffic adds its rows to the stored neighbours and
its domains to the topics, which is how a few hundred labels of a new family move the router.
Small talk (:func:`classifiers.features.is_small_talk`) is answered by rule:
``q_prior[m] = 1 - (1 - base[m]) * 2h`` with ``h`` = :func:`classifiers.features.heuristic_difficulty`.

Route score for the artifact's weak/strong pair: ``(1 + q[strong] - q[weak]) / 2`` in [0, 1], the
expected quality gain of sending the request to the strong model, rescaled. It ranked better
than ``1 - q[weak]`` under cross-validation (``classifiers/training.py``). ``Prediction.difficulty``
is this route score.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from classifiers.base import Classifier, Prediction
from classifiers.embed import Embedder, EmbedderSpec, get_embedder, load_static_table, sha256_file
from classifiers.features import FEATURE_VERSION, heuristic_difficulty, is_small_talk

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_KIND = "lr+domain+knn/v3"
# v3 plus the unseen-family fallback (``ood_cfg``); written only when training is asked for it.
MODEL_KIND_V4 = "lr+domain+knn+ood/v4"
# Older kinds this code still reads (the learning loop keeps the previous artifact for rollback).
READABLE_KINDS = ("lr+domain/v2", MODEL_KIND, MODEL_KIND_V4)
KNN_K = 10  # neighbours whose mean cosine is the in-domain gate
KNN_MISSING = 255  # knn_y code for "this stored prompt has no label for this model"
SELF_COSINE = 0.9999  # at or above: the same text (float16 storage rounds a copy to ~0.99999)
DEFAULT_ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "default"
PARAM_FILE = "params.npz"
_REQUIRED_ARRAYS = (
    "lr_w",
    "lr_b",
    "dom_w",
    "dom_b",
    "dom_prior",
    "base_rate",
    "knn_emb",
    "knn_bounds",
)
_KNN_ARRAYS = ("knn_y", "knn_wt", "knn_cfg")  # v3: the correction's labels, row weights and constants
OOD_ARRAY = "ood_cfg"  # v4: (k, b_far, b_near) of the unseen-family fallback


class ArtifactError(RuntimeError):
    """The artifact directory is missing, malformed, tampered with or incompatible."""


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def _softmax(x: NDArray[np.float64]) -> NDArray[np.float64]:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class QualityModel:
    """The numeric part of the classifier: arrays in, qualities out (no I/O, no embedder)."""

    def __init__(self, arrays: dict[str, NDArray[Any]]) -> None:
        missing = [k for k in _REQUIRED_ARRAYS if k not in arrays]
        if missing:
            raise ArtifactError(f"parameter arrays missing: {missing}")
        self.lr_w = np.asarray(arrays["lr_w"], dtype=np.float64)  # (models, dim)
        self.lr_b = np.asarray(arrays["lr_b"], dtype=np.float64)  # (models,)
        self.dom_w = np.asarray(arrays["dom_w"], dtype=np.float64)  # (topics, dim)
        self.dom_b = np.asarray(arrays["dom_b"], dtype=np.float64)  # (topics,)
        self.dom_prior = np.asarray(arrays["dom_prior"], dtype=np.float64)  # (topics, models)
        self.knn_emb = np.asarray(arrays["knn_emb"], dtype=np.float32)  # (stored rows, dim)
        self.base_rate = np.asarray(arrays["base_rate"], dtype=np.float64)  # (models,)
        lo, hi = (float(v) for v in np.asarray(arrays["knn_bounds"]).ravel()[:2])
        self.ood_lo, self.ood_hi = lo, max(hi, lo + 1e-6)
        n_models, dim = self.lr_w.shape
        shapes_ok = (
            self.lr_b.shape == (n_models,)
            and self.dom_w.shape[1] == dim
            and self.dom_b.shape == (self.dom_w.shape[0],)
            and self.dom_prior.shape == (self.dom_w.shape[0], n_models)
            and self.knn_emb.ndim == 2
            and self.knn_emb.shape[1] == dim
            and len(self.knn_emb) >= 1
            and self.base_rate.shape == (n_models,)
        )
        if not shapes_ok:
            raise ArtifactError("parameter arrays have inconsistent shapes")
        self.dim = dim
        self.n_models = n_models
        # Unit rows, float32, C-contiguous once at load: one gemv per request serves the gate and
        # the correction (the file keeps float16 to stay small).
        norms = np.linalg.norm(self.knn_emb, axis=1, keepdims=True)
        self.knn_emb = np.ascontiguousarray(self.knn_emb / np.where(norms > 0, norms, 1.0), dtype=np.float32)
        self.knn_y: NDArray[np.uint8] | None = None
        self.knn_wt: NDArray[np.float64] | None = None
        self.knn_k, self.knn_tau, self.knn_prior = KNN_K, 1.0, 0.0
        present = [k for k in _KNN_ARRAYS if k in arrays]
        if present:
            if len(present) != len(_KNN_ARRAYS):
                raise ArtifactError(f"nearest-neighbour arrays incomplete: have {present}")
            self.knn_y = np.ascontiguousarray(arrays["knn_y"], dtype=np.uint8)
            self.knn_wt = np.asarray(arrays["knn_wt"], dtype=np.float64)
            cfg = np.asarray(arrays["knn_cfg"], dtype=np.float64).ravel()
            if (
                self.knn_y.shape != (len(self.knn_emb), n_models)
                or self.knn_wt.shape != (len(self.knn_emb),)
                or len(cfg) != 3
                or not np.all(np.isfinite(cfg))
                or cfg[0] < 1
                or cfg[1] <= 0
                or cfg[2] < 0
                or not np.all(np.isfinite(self.knn_wt)) or np.any(self.knn_wt < 0)
            ):
                raise ArtifactError("nearest-neighbour arrays have inconsistent shapes or values")
            self.knn_k, self.knn_tau, self.knn_prior = int(cfg[0]), float(cfg[1]), float(cfg[2])
        self.ood: tuple[int, float, float] | None = None
        if OOD_ARRAY in arrays:
            ood = np.asarray(arrays[OOD_ARRAY], dtype=np.float64).ravel()
            if (
                self.knn_y is None
                or len(ood) != 3
                or not np.all(np.isfinite(ood))
                or ood[0] < 1
                or not np.all((ood[1:] >= 0) & (ood[1:] <= 1))
            ):
                raise ArtifactError("unseen-family fallback needs neighbour labels and (k >= 1, two weights in [0, 1])")
            self.ood = (int(ood[0]), float(ood[1]), float(ood[2]))

    @property
    def has_knn(self) -> bool:
        return self.knn_y is not None

    @property
    def has_ood(self) -> bool:
        return self.ood is not None

    @property
    def neighbour_k(self) -> int:
        """How many neighbours one prediction looks at: the correction's and the fallback's."""
        return max(self.knn_k, self.ood[0]) if self.ood else self.knn_k

    def neighbours(self, emb: NDArray[np.float32], k: int | None = None) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Cosines and indices of each row's ``k`` most similar stored prompts, most similar first."""
        e = np.asarray(emb, dtype=np.float32)
        norms = np.linalg.norm(e, axis=1, keepdims=True)
        e = e / np.where(norms > 0, norms, 1.0)
        sims = e @ self.knn_emb.T
        k = min(max(k or self.knn_k, KNN_K), sims.shape[1])
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else np.tile(np.arange(sims.shape[1]), (len(e), 1))
        top = np.take_along_axis(sims, idx, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1).astype(np.float64), np.take_along_axis(idx, order, axis=1)

    def gate(self, top_sims: NDArray[np.float64]) -> NDArray[np.float64]:
        """lam from sorted neighbour cosines: the mean of the best ``KNN_K`` between the two bounds."""
        sim = top_sims[:, :KNN_K].mean(axis=1)
        return np.clip((sim - self.ood_lo) / (self.ood_hi - self.ood_lo), 0.0, 1.0)

    def knn_correct(
        self,
        q0: NDArray[np.float64],
        top_sims: NDArray[np.float64],
        top_idx: NDArray[np.int64],
        k: int | None = None,
        tau: float | None = None,
        prior: float | None = None,
    ) -> NDArray[np.float64]:
        """Shrink ``q0`` toward the labels of the ``k`` nearest stored prompts (see the module doc).

        ``k``/``tau``/``prior`` default to the artifact's; the development search passes others
        to score many settings from one matrix product.
        """
        if self.knn_y is None or self.knn_wt is None:
            return q0
        k = self.knn_k if k is None else k
        tau = self.knn_tau if tau is None else tau
        prior = self.knn_prior if prior is None else prior
        sims, idx = top_sims[:, :k], top_idx[:, :k]
        # Clipped: with (nearly) equal gate bounds the exponent overflows and inf / inf made the quality NaN.
        a = self.knn_wt[idx] * np.exp(np.clip((sims - self.ood_hi) / (tau * (self.ood_hi - self.ood_lo)), -60.0, 60.0))
        # A stored copy of the prompt itself is left out: scoring training prompts (the learning
        # loop calibrates its threshold on them) must see what an unseen prompt would, not its own label.
        a = np.where(sims >= SELF_COSINE, 0.0, a)
        codes = self.knn_y[idx]  # (n, k, models)
        have = codes != KNN_MISSING
        y = np.where(have, codes.astype(np.float64) / (KNN_MISSING - 1), 0.0)
        num = np.einsum("nk,nkm->nm", a, y)
        den = np.einsum("nk,nkm->nm", a, have.astype(np.float64))
        return (prior * q0 + num) / np.maximum(prior + den, 1e-12)

    def neighbour_quality(
        self, q: NDArray[np.float64], top_sims: NDArray[np.float64], top_idx: NDArray[np.int64], k: int
    ) -> NDArray[np.float64]:
        """The kNN router's qualities: the row-weighted mean label of the ``k`` nearest stored prompts.

        Every neighbour votes alike whatever its similarity (far from the training data all of
        them are far); a stored copy of the prompt itself does not vote; ``q`` where no neighbour
        has a label for that model.
        """
        if self.knn_y is None or self.knn_wt is None:
            return q
        sims, idx = top_sims[:, :k], top_idx[:, :k]
        a = np.where(sims >= SELF_COSINE, 0.0, self.knn_wt[idx])
        codes = self.knn_y[idx]
        have = codes != KNN_MISSING
        y = np.where(have, codes.astype(np.float64) / (KNN_MISSING - 1), 0.0)
        num = np.einsum("nk,nkm->nm", a, y)
        den = np.einsum("nk,nkm->nm", a, have.astype(np.float64))
        return np.where(den > 0, num / np.maximum(den, 1e-12), q)

    def ood_blend(
        self, q: NDArray[np.float64], lam: NDArray[np.float64], top_sims: NDArray[np.float64], top_idx: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """v4: blend ``q`` toward the kNN router's qualities, by ``b_far`` far from the data and ``b_near`` in it."""
        if self.ood is None:
            return q
        k, b_far, b_near = self.ood
        beta = (b_far + (b_near - b_far) * lam)[:, None]
        return (1.0 - beta) * q + beta * self.neighbour_quality(q, top_sims, top_idx, k)

    def generic_quality(self, emb: NDArray[np.float32]) -> NDArray[np.float64]:
        """The generic part alone: the plain embedding regression."""
        return _sigmoid(np.asarray(emb, dtype=np.float64) @ self.lr_w.T + self.lr_b)

    def subject_quality(self, emb: NDArray[np.float32]) -> NDArray[np.float64]:
        """The subject-specific part alone: topic posterior times per-topic accuracy."""
        return _softmax(np.asarray(emb, dtype=np.float64) @ self.dom_w.T + self.dom_b) @ self.dom_prior

    def ood_weight(self, emb: NDArray[np.float32]) -> NDArray[np.float64]:
        """1 for prompts like the labeled training prompts, falling to 0 for unlike ones."""
        return self.gate(self.neighbours(emb, KNN_K)[0])

    def prior_quality(self, difficulty: Sequence[float]) -> NDArray[np.float64]:
        h = np.asarray(difficulty, dtype=np.float64)[:, None]
        return np.clip(1.0 - (1.0 - self.base_rate[None, :]) * 2.0 * h, 0.0, 1.0)

    def base_quality(
        self, emb: NDArray[np.float32], texts: Sequence[str], top_sims: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """(the v2 blend q0, lam, small-talk mask): everything before the neighbour correction."""
        lam = self.gate(top_sims)
        # Static embeddings of a greeting can sit close to some topic centroid ("hi, how are
        # you?" ~ formal_logic at cos 0.73), so small talk is taken out of domain by rule.
        talk = np.array([is_small_talk(t) for t in texts], dtype=bool)
        lam = np.where(talk, 0.0, lam)
        q = (1.0 - lam[:, None] / 2.0) * self.generic_quality(emb) + (lam[:, None] / 2.0) * self.subject_quality(emb)
        return q, lam, talk

    def finish(self, q: NDArray[np.float64], texts: Sequence[str], talk: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Small talk is answered by rule, whatever its neighbours say."""
        if np.any(talk):
            prior = self.prior_quality([heuristic_difficulty(t) for t in texts])
            q = np.where(talk[:, None], prior, q)
        return q

    def quality(self, emb: NDArray[np.float32], texts: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(quality per model, OOD weight lam) for a batch."""
        top_sims, top_idx = self.neighbours(emb, self.neighbour_k)
        q, lam, talk = self.base_quality(emb, texts, top_sims)
        q = self.ood_blend(self.knn_correct(q, top_sims, top_idx), lam, top_sims, top_idx)
        return self.finish(q, texts, talk), lam


def knn_similarity(emb: NDArray[np.float32], stored: NDArray[np.float32], k: int = KNN_K) -> NDArray[np.float64]:
    """Mean cosine of each row's ``k`` most similar stored rows (rows are unit vectors)."""
    sim = emb @ stored.T
    k = min(k, sim.shape[1])
    return np.partition(sim, sim.shape[1] - k, axis=1)[:, -k:].mean(axis=1).astype(np.float64)


def route_score_from_quality(q_weak: NDArray[np.float64], q_strong: NDArray[np.float64]) -> NDArray[np.float64]:
    """Expected gain of the strong model, rescaled to [0, 1] (0.5 = no expected gain)."""
    return np.clip((1.0 + q_strong - q_weak) / 2.0, 0.0, 1.0)


class TrainedClassifier(Classifier):
    """Predicts per-model quality from a prompt embedding; see the module docstring."""

    def __init__(
        self,
        model: QualityModel,
        metadata: dict[str, Any],
        embedder: Embedder | None = None,
    ) -> None:
        self.model = model
        self.metadata = metadata
        self._models: list[str] = list(metadata["models"])
        self.weak: str = metadata["weak"]
        self.strong: str = metadata["strong"]
        self._wi = self._models.index(self.weak)
        self._si = self._models.index(self.strong)
        self.spec = EmbedderSpec.from_dict(metadata["embedder"])
        self.name = f"trained:{metadata.get('artifact_version', 'unknown')}"
        self._embedder = embedder
        self._lock = threading.Lock()
        # Static embeddings cost a tokenisation and a gather (the text is clipped first): cheaper than a
        # hop to a worker thread and back, so the gateway predicts on its event loop (router/gateway.py).
        self.cheap = self.spec.backend == "static"

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = get_embedder(self.spec)
        return self._embedder

    def models(self) -> list[str]:
        return list(self._models)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed with the embedder this artifact was trained with (share it with caches)."""
        return self.embedder.embed(list(texts))

    def predict(self, texts: list[str]) -> list[Prediction]:
        if not texts:
            return []
        return self.predict_embedded(texts, self.embed(texts))

    def predict_embedded(self, texts: Sequence[str], embeddings: NDArray[np.float32]) -> list[Prediction]:
        """Predict from embeddings computed by :meth:`embed` (or an embedder of the same spec)."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape != (len(texts), self.model.dim):
            raise ValueError(f"embeddings must have shape ({len(texts)}, {self.model.dim}), got {emb.shape}")
        q, lam = self.model.quality(emb, texts)
        route = route_score_from_quality(q[:, self._wi], q[:, self._si])
        out = []
        for i in range(len(texts)):
            quality = {m: float(q[i, j]) for j, m in enumerate(self._models)}
            out.append(
                Prediction(
                    quality=quality,
                    difficulty=float(route[i]),
                    explanation=(
                        f"{self.name}: P({self.strong})={q[i, self._si]:.3f} P({self.weak})={q[i, self._wi]:.3f} in-domain={lam[i]:.2f}"
                    ),
                    extras={"route_score": float(route[i]), "in_domain": float(lam[i])},
                )
            )
        return out

    def route_scores(self, texts: Sequence[str], embeddings: NDArray[np.float32] | None = None) -> NDArray[np.float64]:
        emb = self.embed(texts) if embeddings is None else embeddings
        return np.array([p.difficulty for p in self.predict_embedded(texts, emb)])


def artifact_kind(arrays: dict[str, NDArray[Any]]) -> str:
    """The model kind a set of parameter arrays is: v4 with the fallback, v3 with neighbour labels, else v2."""
    if not all(k in arrays for k in _KNN_ARRAYS):
        return "lr+domain/v2"
    return MODEL_KIND_V4 if OOD_ARRAY in arrays else MODEL_KIND


def save_artifact(out_dir: Path, arrays: dict[str, NDArray[Any]], metadata: dict[str, Any]) -> Path:
    """Write params + metadata (with the params' sha256) into ``out_dir``; returns the dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    QualityModel(arrays)  # refuse to write something that would not load
    params = out_dir / PARAM_FILE
    np.savez_compressed(params, **{k: np.asarray(v) for k, v in arrays.items()})
    meta = dict(metadata)
    meta["format_version"] = FORMAT_VERSION
    meta["model_kind"] = artifact_kind(arrays)
    meta["files"] = {PARAM_FILE: sha256_file(params)}
    (out_dir / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out_dir


def load_artifact(path: str | Path, embedder: Embedder | None = None) -> TrainedClassifier:
    """Load and verify an artifact directory. Raises :class:`ArtifactError` on any problem."""
    directory = Path(path)
    meta_path = directory / "metadata.json"
    if not meta_path.is_file():
        raise ArtifactError(f"no metadata.json in {directory}")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"unreadable metadata.json in {directory}: {exc}") from exc
    if meta.get("format_version") != FORMAT_VERSION or meta.get("model_kind") not in READABLE_KINDS:
        raise ArtifactError(
            f"unsupported artifact {meta.get('model_kind')!r} v{meta.get('format_version')!r}"
            f" (this code reads {', '.join(READABLE_KINDS)} v{FORMAT_VERSION})"
        )
    if meta.get("feature_version") != FEATURE_VERSION:
        raise ArtifactError(f"feature version {meta.get('feature_version')!r} != {FEATURE_VERSION!r}; retrain")
    for key in ("models", "weak", "strong", "embedder"):
        if key not in meta:
            raise ArtifactError(f"metadata lacks {key!r}")
    if meta["weak"] not in meta["models"] or meta["strong"] not in meta["models"]:
        raise ArtifactError("weak/strong models are not among the artifact's models")
    files = meta.get("files") or {}
    if PARAM_FILE not in files:
        raise ArtifactError("metadata records no checksum for params.npz")
    params = directory / PARAM_FILE
    if not params.is_file():
        raise ArtifactError(f"missing {params}")
    if sha256_file(params) != files[PARAM_FILE]:
        raise ArtifactError(f"checksum mismatch for {params}: refusing to load")
    spec = EmbedderSpec.from_dict(meta["embedder"])
    want_table = meta["embedder"].get("table_sha256")
    if spec.backend == "static" and want_table and embedder is None:
        try:
            have = load_static_table().sha256
        except RuntimeError as exc:
            raise ArtifactError(str(exc)) from exc
        if have != want_table:
            raise ArtifactError("artifact was trained on a different static embedding table")
    try:
        with np.load(params, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {params}: {exc}") from exc
    if embedder is not None and embedder.spec != spec:
        raise ArtifactError(f"embedder {embedder.name} does not match the artifact's {spec.name}")
    model = QualityModel(arrays)
    if model.has_knn != (meta["model_kind"] in (MODEL_KIND, MODEL_KIND_V4)):
        raise ArtifactError(f"{meta['model_kind']!r} artifact with{'' if model.has_knn else 'out'} neighbour labels")
    if model.has_ood != (meta["model_kind"] == MODEL_KIND_V4):
        raise ArtifactError(f"{meta['model_kind']!r} artifact with{'' if model.has_ood else 'out'} an unseen-family fallback")
    return TrainedClassifier(model, meta, embedder=embedder)


def load_default_classifier(path: str | Path | None = None) -> Classifier:
    """The gateway's classifier: the default artifact, or the length rule if it cannot load."""
    from classifiers.rules import LengthRuleClassifier

    target = Path(path) if path is not None else DEFAULT_ARTIFACT
    try:
        clf = load_artifact(target)
        clf.embedder.warmup()
        return clf
    except Exception as exc:  # noqa: BLE001 - any failure means: serve with the fallback
        log.warning(
            "trained classifier unavailable, using the length rule",
            extra={"artifact": str(target), "reason": f"{type(exc).__name__}: {exc}"},
        )
        return LengthRuleClassifier()
