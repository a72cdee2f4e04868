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
