"""Process settings: read once into one typed object (policies/settings.py), and nowhere else.

The grep test walks the source tree for reads of `SWITCHYARD_*` variables outside the settings
module; its detector is itself tested on snippets, so a read in a shape it misses cannot pass
silently. The start-up tests run the real `switchyard` command in a subprocess.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policies.settings import Settings, SettingsError, current, env_name, installed, markdown_table

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_MODULE = ROOT / "policies" / "settings.py"
SKIPPED = {".venv", "tests", ".git", "node_modules", "build"}
NAME = re.compile(r"SWITCHYARD_[A-Z0-9_]+")
TEST_ONLY = "SWITCHYARD_TEST_"
POLICY = """
version: 1
name: settings
tiers:
  only:
    engine: fake
    model: fake-m
    prices: {input_per_mtok: 1, output_per_mtok: 1}
routing: {classifier: rules}
cache: {exact: false, semantic: false}
"""


def _setting_name(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value):
        name = node.value
    elif isinstance(node, ast.Name) and node.id in aliases:
        name = aliases[node.id]
    else:
        return None
    return None if name.startswith(TEST_ONLY) else name


def env_reads(source: str) -> list[tuple[int, str]]:
    """(line, variable) for each read of a SWITCHYARD_* variable in `source`: through os.environ or
    getenv (directly, through a name bound to either, or through a helper handed the name), a
    constant naming one, or a CLI option's `envvar=`. Names written into a child's environment (a
    dict's keys) and names quoted in prose are not reads."""
    tree = ast.parse(source)
    aliases = {
        target.id: node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and NAME.fullmatch(node.value.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    environs = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and "environ" in ast.unparse(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    touches_env = "environ" in source or "getenv" in source

    def is_env(node: ast.AST) -> bool:
        text = ast.unparse(node)
        return "environ" in text or "getenv" in text or (isinstance(node, ast.Name) and node.id in environs)

    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        candidates: list[ast.AST] = []
        if isinstance(node, ast.Call):
            candidates += [kw.value for kw in node.keywords if kw.arg == "envvar"]
            if touches_env:  # os.environ.get(NAME), os.getenv(NAME), and helpers such as number(NAME) over the environment
                candidates += node.args[:1]
        elif isinstance(node, ast.Subscript) and is_env(node.value):
            candidates.append(node.slice)
        elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
            if any(is_env(comparator) for comparator in node.comparators):
                candidates.append(node.left)
        for candidate in candidates:
            if (name := _setting_name(candidate, aliases)) is not None:
                found.append((node.lineno, name))
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        'import os\nurl = os.environ.get("SWITCHYARD_REDIS_URL")',
        'import os\nurl = os.getenv("SWITCHYARD_REDIS_URL", "")',
        'from os import environ\nurl = environ["SWITCHYARD_REDIS_URL"]',
        'import os\nKEY = "SWITCHYARD_ADMIN_KEY"\nkey = os.environ.get(KEY)',
        'import os\nenv = os.environ\nkey = env.get("SWITCHYARD_ADMIN_KEY")',
        'import os\ndef number(name):\n    return float(os.environ[name])\nx = number("SWITCHYARD_BODY_TIMEOUT_S")',
        'import os\non = "SWITCHYARD_OPEN_MODE" in os.environ',
        'import typer\nOption = typer.Option(envvar="SWITCHYARD_DATABASE_URL")',
    ],
)
def test_the_detector_finds_each_shape_of_read(snippet: str) -> None:
    assert env_reads(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        'import os\nchild = {**os.environ, "SWITCHYARD_DATABASE_URL": "sqlite://"}',
        'import os\n"""Set SWITCHYARD_ADMIN_KEY to turn the console on."""\nos.environ.setdefault("HF_HUB_OFFLINE", "1")',
        'import os\nsalt = os.environ.get("SWITCHYARD_TEST_SALT")',
        'names = ["SWITCHYARD_DATABASE_URL", "SWITCHYARD_REDIS_URL"]',
        "import os\nvalue = os.environ.get(tier.api_key_env)",
    ],
)
def test_the_detector_leaves_writes_prose_and_policy_named_variables(snippet: str) -> None:
    assert env_reads(snippet) == [], snippet


def _sources() -> list[Path]:
    return [path for path in ROOT.rglob("*.py") if not SKIPPED.intersection(path.relative_to(ROOT).parts) and path != SETTINGS_MODULE]


def test_only_the_settings_module_reads_switchyard_variables() -> None:
    reads = [f"{path.relative_to(ROOT)}:{line}: {name}" for path in _sources() for line, name in env_reads(path.read_text())]
    assert reads == [], "read these through policies.settings (Settings / current()) instead:\n" + "\n".join(reads)


def test_every_read_variable_is_a_setting() -> None:
    """The names the code still mentions in messages and help are names of settings (no stale ones)."""
    known = {env_name(item.name) for item in dataclasses.fields(Settings)}
    policy_named = set()
    for path in (ROOT / "policies").rglob("*.yaml"):
        policy_named |= set(NAME.findall(path.read_text()))
    mentioned = {
        name
        for path in _sources()
        if path.parts[len(ROOT.parts)] in ("router", "classifiers", "engines", "eval_harness")
        for name in NAME.findall(path.read_text())
    }
    stale = sorted(name for name in mentioned - known - policy_named if not name.startswith(TEST_ONLY))
    assert stale == [], f"mentioned but not settings: {stale}"


def test_defaults_when_nothing_is_set() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"SWITCHYARD_POLICY_POLL_S": "", "SWITCHYARD_REDIS_URL": "  "}) == Settings()


def test_values_are_parsed_to_their_types() -> None:
    settings = Settings.from_env(
        {
            "SWITCHYARD_METRICS_MAX_TEAMS": "7",
            "SWITCHYARD_POLICY_POLL_S": "0",
            "SWITCHYARD_HEADER_TIMEOUT_S": "2.5",
            "SWITCHYARD_ALLOW_UNSHARED_QUOTA": "Yes",
            "SWITCHYARD_OPEN_MODE": "1",
            "SWITCHYARD_LEDGER_SYNC": "FULL",
            "SWITCHYARD_LEDGER_JOURNAL_DIR": "/tmp/j",
            "SWITCHYARD_MAX_CONNECTIONS": "100",
            "SWITCHYARD_ADMIN_KEY": "k",
            "SWITCHYARD_CACHE_EMBED_BACKEND": "static",
        }
    )
    assert settings.metrics_max_teams == 7 and settings.policy_poll_s == 0.0 and settings.header_timeout_s == 2.5
    assert settings.allow_unshared_quota is True and settings.open_mode == "on" and settings.ledger_sync == "full"
    assert settings.ledger_journal_dir == Path("/tmp/j") and settings.max_connections == 100 and settings.admin_key == "k"
    assert settings.cache_embed_backend == "static"
    assert Settings.from_env({"SWITCHYARD_OPEN_MODE": "false"}).open_mode == "off"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SWITCHYARD_METRICS_MAX_TEAMS", "fifty", "must be a whole number"),
        ("SWITCHYARD_MAX_CONNECTIONS", "100.5", "must be a whole number"),
        ("SWITCHYARD_MAX_CONNECTIONS", "0", "must be at least 1"),
        ("SWITCHYARD_ALLOW_UNSHARED_QUOTA", "perhaps", "must be one of 1, true, yes, on, 0, false, no, off"),
        ("SWITCHYARD_OPEN_MODE", "sometimes", "must be auto, on or off"),
        ("SWITCHYARD_HEADER_TIMEOUT_S", "0", "must be more than 0"),
        ("SWITCHYARD_BODY_TIMEOUT_S", "nan", "must be a finite number of seconds"),
        ("SWITCHYARD_POLICY_POLL_S", "-1", "must be at least 0"),
        ("SWITCHYARD_CONSOLE_SESSION_S", "30", "must be at least 60"),
        ("SWITCHYARD_LEDGER_SYNC", "sometimes", "must be one of journal, full, normal"),
        ("SWITCHYARD_EMBED_BACKEND", "bert", "must be one of static, onnx-int8, onnx, torch"),
        ("SWITCHYARD_LOG_LEVEL", "loud", "must be one of debug, info, warning, error"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    assert str(raised.value) == f"invalid settings: {name}={value!r}: {says}"


def test_every_bad_value_is_reported_at_once_and_secrets_are_not_echoed() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"SWITCHYARD_METRICS_MAX_TEAMS": "x", "SWITCHYARD_OPEN_MODE": "y", "SWITCHYARD_ADMIN_KEY": "sk-secret"})
    message = str(raised.value)
    assert "SWITCHYARD_METRICS_MAX_TEAMS='x'" in message and "SWITCHYARD_OPEN_MODE='y'" in message and "\n" not in message
    settings = Settings.from_env({"SWITCHYARD_ADMIN_KEY": "sk-secret", "SWITCHYARD_DATABASE_URL": "postgresql://u:pw@h/db"})
    assert "sk-secret" not in repr(settings) and "pw@" not in repr(settings)


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().admin_key = "x"  # type: ignore[misc]


def test_current_is_what_the_cli_installed_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_METRICS_MAX_TEAMS", "3")
    assert current().metrics_max_teams == 3
    with installed(Settings(metrics_max_teams=9)):
        assert current().metrics_max_teams == 9
    assert current().metrics_max_teams == 3


def test_the_gateway_takes_what_it_is_given_not_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from policies.loader import load_policy_text
    from router.gateway import Gateway

    monkeypatch.setenv("SWITCHYARD_OPEN_MODE", "off")
    monkeypatch.setenv("SWITCHYARD_METRICS_MAX_TEAMS", "5")
    given = Settings(
        database_url=f"sqlite:///{tmp_path}/ledger.db",
        ledger_sync="normal",
        ledger_journal_dir=tmp_path / "j",
        open_mode="on",
        allow_unshared_quota=True,
        metrics_max_teams=2,
    )
    gateway = Gateway(load_policy_text(POLICY), settings=given)
    try:
        assert gateway.settings is given
        assert (gateway.ledger.url, gateway.ledger.sync, gateway.ledger.journal_dir) == (given.database_url, "NORMAL", tmp_path / "j")
        assert (gateway.tenancy.open_mode, gateway.tenancy.allow_unshared_quota) == ("on", True)
        assert gateway.metrics.team_labels.cap == 2
    finally:
        gateway.ledger.close()


def test_the_readme_table_is_the_settings_objects() -> None:
    """Regenerate with `python -m policies.settings` when a setting changes."""
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "README's settings table is stale: paste `python -m policies.settings`"
    for item in dataclasses.fields(Settings):
        assert f"| `{env_name(item.name)}` |" in readme


def test_serve_refuses_a_bad_value_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In process, as `serve` runs under a test runner that did not go through main()."""
    from router.cli import app

    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    monkeypatch.setenv("SWITCHYARD_HEADER_TIMEOUT_S", "soon")
    result = CliRunner().invoke(app, ["serve", "--policy", str(policy), "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "invalid settings: SWITCHYARD_HEADER_TIMEOUT_S='soon': must be a number of seconds" in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("command", [["serve"], ["keys", "list"]])
def test_the_switchyard_command_refuses_to_start_on_a_bad_value(command: list[str], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    args = [*command, "--policy", str(policy), "--port", "1"] if command == ["serve"] else command
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "SWITCHYARD_MAX_CONNECTIONS": "lots",
        "SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db",
    }
    done = subprocess.run([sys.executable, "-m", "router.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["invalid settings: SWITCHYARD_MAX_CONNECTIONS='lots': must be a whole number"], done.stderr
    assert not (tmp_path / "ledger.db").exists()  # stopped before it did anything
