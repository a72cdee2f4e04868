"""The router's embedder: shape, normalisation, truncation, caching, thread safety, batchers."""

from __future__ import annotations

import asyncio
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from classifiers.embed import (
    STATIC_TABLE_DIR,
    AsyncBatcher,
    BatchingEmbedder,
    Embedder,
    EmbedderSpec,
    get_default_embedder,
    load_static_table,
)

TEXTS = [
    "hi, how are you?",
    "Prove that every finite integral domain is a field.",
    "Which of the following best describes the Fifth Amendment?\nA. x\nB. y\nC. z\nD. w\nAnswer:",
    "",
    "naïve café — 数学 emoji 🚀",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(EmbedderSpec())


def test_shape_dtype_and_norm(embedder: Embedder) -> None:
    vecs = embedder.embed(TEXTS)
    assert vecs.shape == (len(TEXTS), embedder.dim)
    assert vecs.dtype == np.float32
    norms = np.linalg.norm(vecs[[0, 1, 2, 4]], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert np.all(np.isfinite(vecs))


def test_deterministic_and_batch_independent(embedder: Embedder) -> None:
    embedder.clear_cache()
    together = embedder.embed(TEXTS)
    embedder.clear_cache()
    alone = np.stack([embedder.embed([t])[0] for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_semantics_are_sensible(embedder: Embedder) -> None:
    a, b, c = embedder.embed(["What is the derivative of x squared?", "Differentiate x^2 with respect to x.", "hello there"])
    assert float(a @ b) > float(a @ c)


def test_truncation_keeps_head_and_tail(embedder: Embedder) -> None:
    long = "start " + "filler " * 5000 + "ending"
    ids = embedder.token_ids([long])[0]
    assert len(ids) == embedder.spec.max_tokens + 2
    assert ids[0] == 101 and ids[-1] == 102


def test_cache_hits(embedder: Embedder) -> None:
    embedder.clear_cache()
    before = embedder.cache_info()["hits"]
    embedder.embed(["cache me"])
    embedder.embed(["cache me"])
    assert embedder.cache_info()["hits"] == before + 1


def test_thread_safe(embedder: Embedder) -> None:
    texts = [f"question number {i} about topic {i % 7}" for i in range(200)]
    embedder.clear_cache()
    expected = embedder.embed(texts)
    embedder.clear_cache()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda t: embedder.embed([t])[0], texts))
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-6)


def test_batching_embedder_matches(embedder: Embedder) -> None:
    texts = [f"batched prompt {i}" for i in range(64)]
    embedder.clear_cache()
    expected = embedder.embed(texts)
    embedder.clear_cache()
    batcher = BatchingEmbedder(embedder, max_batch=16, max_wait_ms=2)
    try:
        with ThreadPoolExecutor(16) as pool:
            got = list(pool.map(batcher.embed_one, texts))
    finally:
        batcher.close()
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-6)


def test_async_batcher_matches(embedder: Embedder) -> None:
    texts = [f"async prompt {i}" for i in range(40)]
    embedder.clear_cache()
    expected = embedder.embed(texts)
    embedder.clear_cache()

    async def run() -> np.ndarray:
        batcher = AsyncBatcher(embedder, max_batch=8, max_wait_ms=1)
        try:
            return await batcher.embed_many(texts)
        finally:
            await batcher.aclose()

    np.testing.assert_allclose(asyncio.run(run()), expected, atol=1e-6)


def test_default_singleton() -> None:
    assert get_default_embedder() is get_default_embedder()


def test_static_table_checksum_is_verified(tmp_path: Path) -> None:
    copy = tmp_path / "table"
    shutil.copytree(STATIC_TABLE_DIR, copy)
    assert load_static_table(copy).sha256
    data = bytearray((copy / "table.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "table.npz").write_bytes(bytes(data))
    bad = tmp_path / "bad"
    shutil.copytree(copy, bad)  # a fresh path: the loader caches per directory
    with pytest.raises(RuntimeError, match="checksum"):
        load_static_table(bad)


def _reference_ids(texts: list[str]) -> list[list[int]]:
    """What the model's own tokenizer (its BERT normaliser included) gives, one encode() per text."""
    from tokenizers import Tokenizer

    from classifiers.embed import model_dir

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return [tokenizer.encode(t).ids for t in texts]


def test_ascii_fast_path_gives_the_tokenizers_ids(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    # ASCII text skips the tokenizer's normaliser (str methods do its work): every ASCII character,
    # control characters, whitespace runs, case and punctuation must come out as the normaliser has them.
    import random

    import classifiers.embed as embed

    rng = random.Random(7)
    alphabet = [chr(c) for c in range(128)]
    texts = [*TEXTS, "".join(alphabet), "A\tB\nC\rD\x0bE\x0cF\x1cG\x7fH\x00I  J", "Don't STOP: x=3.5e-2; [a](b) {c} <d> ~e~"]
    # Special tokens the tokenizer matches in the raw text, before it normalises (a review found these).
    texts += ["[MASK] is here", "say [CLS] and [SEP]", "[UNK]", "[PAD] x", "The capital of France is [MASK].", "[mask] [Mask]"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(300)]
    mixed = [*alphabet[32:], "\u00e9", "\u00c9", "\u6570", "\u00a0", "\u2003"]  # not ASCII: the tokenizer's own normaliser
    texts += ["".join(rng.choice(mixed) for _ in range(80)) for _ in range(100)]
    expected = _reference_ids(texts)
    assert embedder._encode(texts) == expected  # batch
    assert [embedder._encode([t])[0] for t in texts] == expected  # one at a time, on this thread
    monkeypatch.setattr(embed, "_serial_tokenizer", True)  # as the gateway runs it (limit_tokenizer_threads)
    assert [embedder._encode([t])[0] for t in texts] == expected
