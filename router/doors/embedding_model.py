"""The embedding tier's model: the bundled all-MiniLM-L6-v2 (classifiers/embed.py), loaded on the first
request to /v1/embeddings and kept for the process (a policy reload keeps it while the backend is the same).

Unlike the semantic cache's embedder, which reads a 96 + 32 word-piece window of a prompt, this one reads
what sentence-transformers reads: the first 256 word pieces, [CLS] and [SEP] included (MiniLM's
max_seq_length); longer inputs are truncated there, as sentence-transformers truncates them."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from router.errors import APIError, log

MAX_SEQ_TOKENS = 256  # MiniLM's max_seq_length, the two markers included
_models: dict[str, Any] = {}
_lock = threading.Lock()


def _load(backend: str) -> Any:
    with _lock:  # one load however many first requests arrive together
        embedder = _models.get(backend)
        if embedder is None:
            from classifiers.embed import Embedder, EmbedderSpec

            embedder = Embedder(EmbedderSpec(backend=backend, head_tokens=MAX_SEQ_TOKENS - 2, tail_tokens=0))  # type: ignore[arg-type]
            embedder.warmup()
            _models[backend] = embedder
        return embedder


async def embedder(backend: str) -> Any:
    """The loaded model for `backend`; a 503 when it cannot be loaded (the package is not installed)."""
    loaded = _models.get(backend)
    if loaded is not None:
        return loaded
    try:
        return await asyncio.get_running_loop().run_in_executor(None, _load, backend)
    except Exception as exc:  # noqa: BLE001 - a missing model is the server's state, not the client's fault
        log.warning("embedding model unavailable: %s", exc)
        raise APIError(503, "the embedding model could not be loaded; the gateway logged why", code="model_unavailable") from None


async def count_tokens(model: Any, texts: list[str]) -> int:
    """Word pieces the model will read for `texts`, after truncation (what rate limits and prices count)."""
    ids = await asyncio.get_running_loop().run_in_executor(None, model.token_ids, texts)
    return sum(len(i) for i in ids)


async def embed(model: Any, texts: list[str]) -> NDArray[np.float32]:
    """Unit-length rows, one per text, computed off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, model.embed, texts)
