"""bench/gpu_vllm.sh exits 0 with a clear message without a GPU or vLLM; its client measures a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT, Process, free_port

pytestmark = pytest.mark.timeout(60)
SCRIPT = ROOT / "bench" / "gpu_vllm.sh"


def fake_nvidia_smi(folder: Path, code: int) -> dict[str, str]:
    folder.mkdir(exist_ok=True)
    tool = folder / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\necho 'GPU 0: Fake GPU'\nexit {code}\n")
    tool.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), "/models/none"], env=env, capture_output=True, text=True, timeout=30, check=False)


def test_no_gpu_is_a_clean_skip(tmp_path: Path) -> None:
    result = run_script(fake_nvidia_smi(tmp_path / "bin", 9))
    assert result.returncode == 0, result.stderr
    assert "SKIP: no NVIDIA GPU" in result.stdout


def test_no_vllm_is_a_clean_skip(tmp_path: Path) -> None:
    env = fake_nvidia_smi(tmp_path / "bin", 0)
    env["PYTHON"] = sys.executable  # the project's venv, which has no vLLM
    result = run_script(env)
    assert result.returncode == 0, result.stderr
    assert "SKIP: vLLM is not installed" in result.stdout


def test_missing_model_argument_is_a_usage_error() -> None:
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_decode_client_measures_a_streaming_server(tmp_path: Path) -> None:
    port = free_port()
    server = Process([sys.executable, "-m", "tests.fake_vllm", "--port", str(port), "--name", "a"], port, "/health", tmp_path / "fake.log")
    try:
        result = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "vllm_decode.py"), "--url", server.url, "--model", "fake-model", "--max-tokens", "12"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["requests"] == 8 and report["completion_tokens"] == 8 * 12
    assert report["decode_tokens_per_s"] > 0
    assert report["acceptance_rate"] is None  # the fake drafted nothing during the run
