"""The first five minutes: a first start with an empty model cache says in one line what it prepares
(the semantic cache's ONNX export) instead of ~40 lines of exporter warnings and quantizer logs,
and `serve` names the API and console URLs; a second start prepares nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.servers import ROOT, Process, free_port

pytestmark = pytest.mark.slow

POLICY = """
version: 1
name: first-run
tiers:
  up:
    engine: openai
    model: up
    base_url: http://127.0.0.1:{port}/v1
cache: {{exact: true, semantic: true}}
"""
# What the exporters printed on a first start before they were silenced (torch, transformers, onnxruntime).
CHATTER = ("TracerWarning", "Quantization parameters", "Ignore MatMul", "Loading weights", "pre-processing before quantization",
           "UserWarning")


def _start(policy: Path, log_dir: Path, env: dict[str, str]) -> Process:
    # /metrics, not /readyz: the tier's upstream is deliberately absent (nothing here needs an answer).
    port = free_port()
    args = [sys.executable, "-m", "router.cli", "serve", "--policy", str(policy), "--port", str(port)]
    return Process(args, port, "/metrics", log_dir / f"gateway-{port}.log", env=env)


def test_first_start_prepares_in_one_line_and_second_start_prepares_nothing(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(port=free_port()))
    env = {"SWITCHYARD_MODEL_CACHE": str(tmp_path / "models"), "SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db",
           "SWITCHYARD_CACHE_EMBED_BACKEND": "onnx-int8"}
    first = _start(policy, tmp_path, env=env)
    try:
        out = first.output()
    finally:
        first.stop()
    assert list((tmp_path / "models").rglob("model-int8.onnx")), "the first start did not export the embedder"
    preparing = [line for line in out.splitlines() if "preparing" in line]
    assert len([line for line in preparing if "semantic cache's embedder (one-time" in line]) == 1, out
    for noise in CHATTER:
        assert noise not in out, f"{noise!r} in the first start's output:\n{out}"
    assert f"listening on http://127.0.0.1:{first.port}/v1" in out
    if (ROOT / "router" / "console").is_dir():  # the console (router/console/) is mounted: serve says where
        assert f"console:     http://127.0.0.1:{first.port}/console" in out

    second = _start(policy, tmp_path, env=env)
    try:
        again = second.output()
    finally:
        second.stop()
    assert "preparing" not in again, again
