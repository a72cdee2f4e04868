"""How the gateway runs its classifier: on the event loop when cheap, with one BLAS thread."""

from __future__ import annotations

import pytest

from classifiers.embed import limit_blas_threads
from classifiers.trained import DEFAULT_ARTIFACT, load_artifact


def test_serving_runs_blas_on_one_thread() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    assert limit_blas_threads()
    blas = [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)


def test_the_static_classifier_predicts_on_the_event_loop() -> None:
    clf = load_artifact(DEFAULT_ARTIFACT)
    assert clf.spec.backend == "static" and clf.cheap  # router/gateway.py predicts without a thread hop


def test_one_text_tokenises_as_it_does_in_a_batch() -> None:
    """The gateway tokenises one prompt at a time (without tokenizers' thread pool): the same word pieces
    as a batch gives, so routing decisions do not depend on the path."""
    from classifiers.embed import Embedder

    embedder = Embedder()
    texts = ["What is the capital of France?", "déjà vu: naïve café " * 40, "x" * 5000, "def f(x):\n    return x ** 2\n"]
    together = embedder.token_ids(texts)
    assert [embedder.token_ids([t])[0] for t in texts] == together
