"""An operator's mistakes at the command line and in a policy file: each is refused with one line that
names the file, line or field, a non-zero exit, and no traceback, hang, half-written file or row."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from router.cli import app

TIER = "version: 1\ntiers:\n  a:\n    engine: openai\n    model: m\n    base_url: http://127.0.0.1:9/v1\n"


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _refused(result: Result, code: int = 1) -> str:
    """The output of a command that stopped cleanly with `code` (typer's Exit is a SystemExit)."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.output


def _lint(tmp_path: Path, text: str | bytes, name: str = "policy.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return _refused(_invoke("policy", "lint", str(path)))


# ---------------------------------------------------------------------------- the policy loader


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    # "Billion laughs": nine levels of nine aliases each expand to 9**9 values.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    started = time.monotonic()
    output = _lint(tmp_path, "\n".join(lines) + "\ntiers: *a8\n")
    assert time.monotonic() - started < 10  # generous: refusing reads each node once (a few ms)
    assert "expand to more than" in output


def test_duplicate_key_is_refused_at_its_line(tmp_path: Path) -> None:
    # The second `a` replaced the first without a word: a pasted tier silently lost one.
    output = _lint(tmp_path, TIER + "  a:\n    engine: openai\n    model: m2\n    base_url: http://127.0.0.1:9/v1\n")
    assert "line 7, column 3: tiers.a: duplicate key 'a' (first on line 3)" in output


def test_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    output = _lint(tmp_path, b"\xff\xfe\x00\x01garbage")
    assert "policy.yaml" in output and "not UTF-8 text" in output


def test_huge_file_is_refused_unread(tmp_path: Path) -> None:
    output = _lint(tmp_path, TIER + "#" * (2 * 1024 * 1024) + "\n")
    assert "larger than" in output and "policy.yaml" in output


def test_infinite_number_is_refused(tmp_path: Path) -> None:
    # An infinite TTL passed lint, then the Redis cache's int(ttl_s * 1000) raised on every store.
    output = _lint(tmp_path, TIER + "cache: {ttl_s: .inf}\n")
    assert "line 7, column 9: cache.ttl_s: Input should be a finite number" in output


def test_a_message_is_printed_as_written_not_as_markup(tmp_path: Path) -> None:
    # Rich read `[key]` in "tiers.1.[key]" as a style tag and dropped it; `[/x]` in a name raised MarkupError.
    output = _lint(tmp_path, TIER + "fallbacks: {a: ['[/x]']}\n")
    assert "unknown tier '[/x]'" in output
    output = _lint(tmp_path, "version: 1\ntiers:\n  1:\n    engine: openai\n    model: m\n    base_url: http://127.0.0.1:9/v1\n")
    assert "tiers.1.[key]: Input should be a valid string" in output


def test_a_tenant_name_is_printed_as_written(tmp_path: Path) -> None:
    # After creating the key, printing "tenant [/x]" raised MarkupError: the key was stored and never shown.
    database = ["--database-url", f"sqlite:///{tmp_path}/ledger.db"]
    created = _invoke("keys", "create", "--tenant", "[/x]", "--team", "[b]", *database)
    assert created.exit_code == 0, repr(created.exception)
    assert "for tenant [/x], team [b]" in created.output and "sk-" in created.output
    listed = _invoke("keys", "list", *database)
    assert listed.exit_code == 0, repr(listed.exception)
    assert "[/x]" in listed.output


# ---------------------------------------------------------------------------- keys, budgets and the ledger


def _keys(tmp_path: Path) -> list[dict[str, object]]:
    import json

    listed = _invoke("keys", "list", "--json", "--all", "--database-url", f"sqlite:///{tmp_path}/ledger.db")
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.output)


def test_a_bad_budget_stores_no_key(tmp_path: Path) -> None:
    # The key was created before the amount was read: each refusal left a stored key nobody was shown.
    database = ["--database-url", f"sqlite:///{tmp_path}/ledger.db"]
    for amount in ("-5", "abc", "NaN", "sNaN", "Infinity"):
        output = _refused(_invoke("keys", "create", "--tenant", "t", "--team", "x", "--budget-usd", amount, *database), 2)
        assert "budget" in output or "amount" in output
    assert _keys(tmp_path) == []


def test_an_empty_tenant_or_team_is_refused(tmp_path: Path) -> None:
    _refused(_invoke("keys", "create", "--tenant", " ", "--team", "x", "--database-url", f"sqlite:///{tmp_path}/ledger.db"), 2)
    assert _keys(tmp_path) == []


def test_a_budget_of_nan_is_refused(tmp_path: Path) -> None:
    output = _refused(_invoke("budgets", "set", "--usd", "NaN", "--tenant", "t", "--database-url", f"sqlite:///{tmp_path}/ledger.db"), 2)
    assert "'NaN' is not an amount in dollars" in output


def test_a_budget_for_an_unknown_key_is_refused(tmp_path: Path) -> None:
    database = ["--database-url", f"sqlite:///{tmp_path}/ledger.db"]
    output = _refused(_invoke("budgets", "set", "--usd", "5", "--key", "key_nosuch", *database), 1)
    assert "no key key_nosuch" in output
    listed = _invoke("budgets", "list", "--json", *database)
    assert listed.exit_code == 0 and listed.output.strip() == "[]"
    # A tenant with no key yet is allowed (keys may come later), with a note against a misspelt name.
    tenant = _invoke("budgets", "set", "--usd", "5", "--tenant", "acme", *database)
    assert tenant.exit_code == 0, tenant.output
    assert "no key belongs to tenant acme yet" in tenant.output


BAD_URLS = {
    "no such driver": "foo://bar",
    "not a URL": "not a url",
    "nothing listening": "postgresql://user@127.0.0.1:1/x",
    "a port that is not a number": "postgresql://user:s3cret@127.0.0.1:abc/x",  # a ValueError traceback
    "a driver not installed (or nothing listening)": "mysql://user:s3cret@127.0.0.1:1/x",  # an ImportError traceback
    "SQLite in memory": "sqlite://",  # a key created there was printed and gone with the process
    "SQLite without a path": "sqlite:///",
    "SQLite's :memory:": "sqlite:///:memory:",
}


def test_a_bad_database_url_is_one_line_in_every_command(tmp_path: Path) -> None:
    commands = [
        ["keys", "list"],
        ["keys", "create", "--tenant", "t", "--team", "x"],
        ["budgets", "list"],
        ["budgets", "set", "--usd", "5", "--tenant", "t"],
        ["report", "spend"],
        ["logs", "export", "--out", str(tmp_path / "out.jsonl")],
    ]
    for name, url in BAD_URLS.items():
        for command in commands:
            output = _refused(_invoke(*command, "--database-url", url), 2)
            assert output.startswith("cannot open the ledger (--database-url or SWITCHYARD_DATABASE_URL): "), (name, command, output)
            assert len(output.strip().splitlines()) == 1, output
            assert "s3cret" not in output
    assert not (tmp_path / "out.jsonl").exists()


def test_a_database_path_that_is_a_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    # The ledger made "its file" 0600 before SQLite failed on it: a folder so chmodded locks everyone out.
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    (folder / "other.txt").write_text("someone else's")
    output = _refused(_invoke("keys", "list", "--database-url", f"sqlite:///{folder}"), 2)
    assert "cannot open the ledger" in output and "folder" in output
    assert folder.stat().st_mode & 0o777 == 0o755


# ---------------------------------------------------------------------------- train, classify, calibrate

WEAK, STRONG = "weak-model", "strong-model"


def _traffic(tmp_path: Path, extra: str = "", name: str = "traffic.jsonl") -> Path:
    import json

    rows = [
        {"id": f"r{i}", "messages": [{"role": "user", "content": f"question {i}"}], "scores": {WEAK: i % 2, STRONG: 1.0}} for i in range(12)
    ]
    path = tmp_path / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + extra)
    return path


BAD_LINES = {
    "malformed JSON": ("{not json\n", ":13: invalid JSON"),
    "wrong field types": ('{"id": 5, "messages": "hi"}\n', ":13: id: Input should be a valid string; messages: Input should be a valid"),
    "a list, not an object": ("[1, 2]\n", ":13: expected a JSON object, got list"),
    "a NaN score": ('{"id": "n", "messages": [{"role": "user", "content": "q"}], "scores": {"weak-model": NaN}}\n', ":13: invalid JSON"),
    "bytes that are not UTF-8": ("\udcff\n", ":13: invalid JSON"),
}


def test_bad_lines_are_refused_with_their_line_by_every_classifier_command(tmp_path: Path) -> None:
    # The classifier's readers take the file unvalidated: each of these was an AttributeError,
    # JSONDecodeError or UnicodeDecodeError traceback, and classify had written part of --out.
    for case, (line, expected) in BAD_LINES.items():
        data = tmp_path / "bad.jsonl"
        data.write_bytes(_traffic(tmp_path).read_bytes() + line.encode("utf-8", "surrogateescape"))
        out = tmp_path / "scores.jsonl"
        for command in (
            ["train", "--data", str(data), "--out", str(tmp_path / "artifact"), "--weak", WEAK, "--strong", STRONG],
            ["classify", "--data", str(data), "--out", str(out)],
            ["calibrate", "--data", str(data), "--strong-share", "0.3"],
        ):
            output = _refused(_invoke(*command), 2)
            assert f"error: --data: {data}{expected}" in output, (case, command[0], output)
        assert not out.exists() and not (tmp_path / "artifact").exists()


def test_what_training_refuses_is_one_line(tmp_path: Path) -> None:
    data = _traffic(tmp_path)
    unlabeled = tmp_path / "unlabeled.jsonl"
    unlabeled.write_text('{"id": "a", "messages": [{"role": "user", "content": "q"}]}\n')
    output = _refused(_invoke("train", "--data", str(unlabeled), "--out", str(tmp_path / "a"), "--weak", WEAK, "--strong", STRONG), 2)
    assert output.strip() == "error: too few labeled rows (0) to train"
    for weight in ("inf", "nan", "0", "-1"):  # an infinite weight trained NaNs into an artifact that would not load
        output = _refused(_invoke("train", "--data", str(data), "--extra", f"{data}:{weight}", "--out", str(tmp_path / "b")), 2)
    output = _refused(_invoke("train", "--data", str(data), "--limit", "0", "--out", str(tmp_path / "c")), 2)
    missing = str(tmp_path / "nope")
    output = _refused(_invoke("classify", "--data", str(data), "--out", str(tmp_path / "d.jsonl"), "--classifier", missing), 2)
    assert output.strip() == f"error: no metadata.json in {tmp_path / 'nope'}"
    output = _refused(_invoke("classify", "--data", str(data), "--out", str(tmp_path)), 2)
    assert "Is a directory" in output


def test_calibrate_without_labels_prints_valid_json(tmp_path: Path) -> None:
    import json

    unlabeled = tmp_path / "unlabeled.jsonl"
    unlabeled.write_text('{"id": "a", "messages": [{"role": "user", "content": "q"}]}\n')
    result = _invoke("calibrate", "--data", str(unlabeled), "--strong-share", "0.3")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))["threshold"] is None


# ---------------------------------------------------------------------------- what the commands write


def test_an_output_path_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    database = ["--database-url", f"sqlite:///{tmp_path}/ledger.db"]
    folder, missing = tmp_path / "reports", tmp_path / "nowhere" / "out.txt"
    folder.mkdir()
    for out in (folder, missing):
        for command in (
            ["logs", "export", "--out", str(out)],
            ["report", "spend", "--out", str(out)],
            ["report", "spend", "--format", "json", "--out", str(out)],
        ):
            output = _refused(_invoke(*command, *database), 2)
            assert output.strip().startswith(f"cannot write {out}: "), (command, output)
    assert list(folder.iterdir()) == [] and not [p.name for p in tmp_path.iterdir() if "partial" in p.name or p.name == "nowhere"]


def test_a_table_report_to_a_file_is_whole(tmp_path: Path) -> None:
    out = tmp_path / "spend.txt"
    result = _invoke("report", "spend", "--out", str(out), "--database-url", f"sqlite:///{tmp_path}/ledger.db")
    assert result.exit_code == 0, result.output
    assert "Spend" in out.read_text() and "net" in out.read_text()


def test_learn_refuses_a_workdir_that_is_a_file(tmp_path: Path) -> None:
    data, workdir = _traffic(tmp_path), tmp_path / "workdir"
    workdir.write_text("a file")
    policy = Path(__file__).resolve().parents[1] / "policies/examples/three-tier.yaml"
    output = _refused(_invoke("learn", "--policy", str(policy), "--data", str(data), "--dry-run", "--workdir", str(workdir)), 2)
    assert f"--workdir {workdir}: File exists" in output


def test_eval_run_refuses_bad_prices_thresholds_and_html_paths(tmp_path: Path) -> None:
    data = _traffic(tmp_path)
    run = ["eval", "run", "--data", str(data), "--weak", WEAK, "--strong", STRONG, "--classifier", "rules", "--bootstrap", "0"]
    for prices in ("abc", "-1,2", "nan"):  # 'abc' was decimal's InvalidOperation traceback; -1 a many-line pydantic report
        output = _refused(_invoke(*run, "--weak-prices", prices), 2)
        assert output.strip() == f"error: prices must be 'IN,OUT' dollars per Mtok, each a number of at least 0, got {prices!r}"
    for threshold in ("5", "-1"):
        _refused(_invoke(*run, "--threshold", threshold), 2)
    output = _refused(_invoke(*run, "--html", str(tmp_path / "nowhere" / "r.html")), 2)
    assert output.strip() == f"--html: no folder {tmp_path / 'nowhere'}"
    _refused(_invoke(*run, "--html", str(tmp_path)), 2)
    # An artifact that is not there was replayed as the length rule, exit 0: the report measured another router.
    asked = [a if a != "rules" else str(tmp_path / "missing-artifact") for a in run]
    assert "--classifier: no artifact at" in _refused(_invoke(*asked), 2)


# ---------------------------------------------------------------------------- serve, deploy, eval label


def test_serve_refuses_a_bad_port_or_log_level_before_it_starts(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(TIER)
    # Port -1 got as far as uvicorn's bind (exit 3 after the banner); a log level it does not know, a traceback.
    for args in (["--port", "-1"], ["--port", "70000"], ["--port", "8000", "--log-level", "verbose"]):
        output = _refused(_invoke("serve", "--policy", str(policy), *args), 2)
        assert "listening on" not in output, output


def test_deploy_refuses_a_binary_policy_and_an_out_that_is_a_file(tmp_path: Path) -> None:
    binary = tmp_path / "policy.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    output = _refused(_invoke("deploy", "render", "--policy", str(binary)), 2)
    assert f"cannot read {binary}: not UTF-8 text" in output
    example = Path(__file__).resolve().parents[1] / "policies/examples/vllm-tier.yaml"
    file = tmp_path / "out"
    file.write_text("a file")
    output = _refused(_invoke("deploy", "render", "--policy", str(example), "--out", str(file)), 2)
    assert f"--out {file} is a file" in output


def test_eval_label_refuses_outputs_it_could_not_write_before_calling_a_tier(tmp_path: Path) -> None:
    policy, data = tmp_path / "policy.yaml", _traffic(tmp_path)
    policy.write_text(TIER)
    label = ["eval", "label", "--data", str(data), "--policy", str(policy)]
    output = _refused(_invoke(*label, "--out", str(tmp_path / "nowhere" / "out.jsonl")), 2)
    assert output.strip() == f"--out: no folder {tmp_path / 'nowhere'}"
    output = _refused(_invoke(*label, "--out", str(tmp_path / "out.jsonl"), "--cache", str(data)), 2)
    assert output.strip() == f"--cache {data} is a file; give a folder"


def test_limits_and_names_the_database_cannot_hold_are_refused(tmp_path: Path) -> None:
    database = ["--database-url", f"sqlite:///{tmp_path}/ledger.db"]
    for option in ("--rpm", "--tpm"):  # OverflowError from the database driver, after the key was half made
        _refused(_invoke("keys", "create", "--tenant", "t", "--team", "x", option, str(10**20), *database), 2)
    output = _refused(_invoke("keys", "create", "--tenant", "t\x00", "--team", "x", *database), 2)
    assert "control characters are not allowed" in output
    assert _keys(tmp_path) == []


def test_an_impossible_window_is_refused(tmp_path: Path) -> None:
    database = ["--database-url", f"sqlite:///{tmp_path}/ledger.db"]
    out = tmp_path / "export.jsonl"
    for command in (["report", "spend"], ["logs", "export", "--out", str(out)]):
        output = _refused(_invoke(*command, "--since", "99999999999d", *database), 2)  # was an OverflowError traceback
        assert "'99999999999d' reaches before the year 1" in output
        output = _refused(_invoke(*command, "--since", "1d", "--until", "2d", *database), 2)  # was an empty report
        assert "--until 2d is not after --since 1d" in output
    assert not out.exists()


def test_learn_names_an_empty_file_and_leaves_no_run_behind(tmp_path: Path) -> None:
    empty, workdir = tmp_path / "empty.jsonl", tmp_path / "workdir"
    empty.write_text("")
    policy = Path(__file__).resolve().parents[1] / "policies/examples/three-tier.yaml"
    for data in (empty, _traffic(tmp_path, "{not json\n")):
        output = _refused(_invoke("learn", "--policy", str(policy), "--data", str(data), "--dry-run", "--workdir", str(workdir)), 2)
        assert output.startswith(f"error: {data}"), output
    assert not (workdir / "runs").exists() or not list((workdir / "runs").iterdir())


def test_learn_refuses_a_schedule_of_zero_or_past_a_year(tmp_path: Path) -> None:
    # --every 0s ran learn back to back for ever (each run may pay for labeling); 99999999d overflowed sleep().
    policy = Path(__file__).resolve().parents[1] / "policies/examples/three-tier.yaml"
    learn = ["learn", "--policy", str(policy), "--data", str(_traffic(tmp_path)), "--dry-run", "--workdir", str(tmp_path / "w")]
    for every in ("0s", "0.5s", "99999999d"):
        _refused(_invoke(*learn, "--every", every, "--runs", "2"), 2)


def test_serve_banner_keeps_the_database_password_out(tmp_path: Path) -> None:
    import dataclasses

    from policies.loader import load_policy_text
    from policies.settings import Settings
    from router.gateway import Gateway

    settings = dataclasses.replace(Settings.from_env(), database_url="postgresql://switchyard:s3cret@127.0.0.1:1/ledger")
    gateway = Gateway(load_policy_text(TIER + "routing: {classifier: rules}\n"), "policy.yaml", settings=settings)
    banner = "\n".join(gateway.banner())
    assert "s3cret" not in banner
    assert "ledger: postgresql://switchyard:***@127.0.0.1:1/ledger" in banner  # the user kept: it says who connects


def test_logs_export_is_private_like_the_ledger(tmp_path: Path) -> None:
    # The ledger is 0600 because it holds prompts; the export of those prompts was 0644, readable by every user.
    out = tmp_path / "export.jsonl"
    result = _invoke("logs", "export", "--out", str(out), "--database-url", f"sqlite:///{tmp_path}/ledger.db")
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600


def test_logs_export_writes_through_a_symlink_and_never_replaces_it(tmp_path: Path) -> None:
    # Renaming a finished file over --out replaced what was there: /dev/stdout (as root), a pipe, a symlink.
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    result = _invoke("logs", "export", "--out", str(link), "--database-url", f"sqlite:///{tmp_path}/ledger.db")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and real.read_text() == ""  # written through: the export is empty, the link kept
    parent_is_a_file = tmp_path / "afile"
    parent_is_a_file.write_text("x")
    output = _refused(_invoke("logs", "export", "--out", str(parent_is_a_file / "x.jsonl"), "--database-url",
                              f"sqlite:///{tmp_path}/ledger.db"), 2)
    assert output.startswith("cannot write ") and "Traceback" not in output


def test_serve_names_the_part_that_failed_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A bad Redis URL was reported as "cannot open the ledger".
    monkeypatch.setenv("SWITCHYARD_REDIS_URL", "foo://x")
    monkeypatch.setenv("SWITCHYARD_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    output = _refused(_invoke("serve", "--port", "0"), 2)
    assert output.startswith("cannot start the gateway: Redis URL must specify"), output
