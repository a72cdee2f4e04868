"""The learning loop (eval_harness/learn.py) on an operator's labeled traffic: a candidate that ranks
the operator's task families is promoted; one built to be worse (trained on inverted labels) is
refused; low coverage is refused before training; rollback restores the file byte for byte.

The current router is the length rule, and prompt length here says nothing about difficulty; the
families differ in what they ask (proofs only the strong model solves; greetings both do)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from eval_harness.learn import LearnConfig, LearnRefused, learn_once, rollback, train_with_classifiers
from eval_harness.traffic import TrafficRecord, read_records, write_records
from policies.loader import load_policy

WEAK, STRONG = "weak-m", "strong-m"
POLICY = f"""version: 1
name: operator
tiers:
  cheap:
    engine: openai
    model: cheap-model
    quality_model: {WEAK}
    base_url: http://127.0.0.1:9/v1
    prices: {{input_per_mtok: 0.2, output_per_mtok: 0.2}}
  frontier:
    engine: openai
    model: frontier-model
    quality_model: {STRONG}
    base_url: http://127.0.0.1:9/v1
    prices: {{input_per_mtok: 10, output_per_mtok: 30}}
routing:
  classifier: rules
  long_prompt_words: 60
  thresholds: {{frontier: 0.5}}
"""

HARD = ["Prove that the series of {} converges and give the limit.", "Show rigorously that the integral of {} is bounded."]
EASY = ["Say hello to {} for me.", "Write a friendly greeting for {}."]
THINGS = ["alice", "bob", "the team", "my neighbour", "x squared over n", "one over k factorial", "carol", "a polynomial"]


def _traffic(n: int = 160, unlabeled: int = 0) -> list[TrafficRecord]:
    rng = np.random.default_rng(11)
    records = []
    for i in range(n):
        hard = i % 2 == 0
        template = (HARD if hard else EASY)[int(rng.integers(0, 2))]
        filler = " and also" * int(rng.integers(0, 50))  # length unrelated to difficulty
        text = template.format(THINGS[int(rng.integers(0, len(THINGS)))]) + f" (case {i}){filler}"
        scores = {WEAK: 0.0 if hard else 1.0, STRONG: 1.0}
        if i < unlabeled:
            scores = {WEAK: scores[WEAK]}
        records.append(TrafficRecord(id=str(i), messages=[{"role": "user", "content": text}], scores=scores))
    return records


@pytest.fixture()
def setup(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    labeled = tmp_path / "labeled.jsonl"
    write_records(labeled, _traffic())
    return policy, labeled, LearnConfig(policy_path=policy, workdir=tmp_path / "learn", n_boot=50)


def _inverted_trainer(datasets, out_dir, weak, strong):
    """A worse router by construction: trained on the operator's labels with weak and strong swapped."""
    flipped = []
    for path, weight in datasets:
        rows = [r.model_copy(update={"scores": {weak: r.scores[strong], strong: r.scores[weak]}}) for r in read_records(path)]
        target = out_dir.with_name(out_dir.name + "-flipped.jsonl")
        write_records(target, rows)
        flipped.append((target, weight))
    return train_with_classifiers(flipped, out_dir, weak, strong)


def test_better_candidate_is_promoted_and_rollback_restores(setup) -> None:
    policy, labeled, cfg = setup
    before = policy.read_bytes()
    outcome = learn_once(labeled, cfg)
    assert outcome.promoted, outcome.reasons
    assert any(r.startswith("candidate ranks better") for r in outcome.reasons)
    loaded = load_policy(policy)
    assert loaded.routing.classifier == str(outcome.candidate_artifact)
    assert loaded.routing.thresholds["frontier"] == outcome.new_thresholds["frontier"]
    page = outcome.html_path.read_text()
    body = page.split("<body>", 1)[1]
    assert body.index("Coverage: 160/160") < body.index("Promoted") < body.index("<table")
    assert "classifier: rules -&gt; " in page and "kNN" in page and "best fixed tier" in page
    rollback(policy, cfg.workdir)
    assert policy.read_bytes() == before
    with pytest.raises(LearnRefused, match="nothing to roll back"):
        rollback(policy, cfg.workdir)


def test_worse_candidate_is_refused_and_nothing_changes(setup) -> None:
    policy, labeled, cfg = setup
    before = policy.read_bytes()
    cfg.trainer = _inverted_trainer
    outcome = learn_once(labeled, cfg)
    assert not outcome.promoted
    assert any(r.startswith("candidate ranks worse") for r in outcome.reasons), outcome.reasons
    assert policy.read_bytes() == before
    assert "Not promoted" in outcome.html_path.read_text()


def test_low_coverage_refuses_before_training(tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    labeled = tmp_path / "labeled.jsonl"
    write_records(labeled, _traffic(unlabeled=100))  # 60 of 160 have the strong model's label
    cfg = LearnConfig(policy_path=policy, workdir=tmp_path / "learn")
    with pytest.raises(LearnRefused, match=r"(?s)Coverage: 60/160 .*below the minimum 80%"):
        learn_once(labeled, cfg)
    assert not (tmp_path / "learn" / "rollback").exists()


def test_cli_learn_from_a_file_refuses_worse_and_rolls_back(setup) -> None:
    from router.cli import app

    policy, labeled, _ = setup
    before = policy.read_bytes()
    runner = CliRunner()
    args = [
        "learn",
        "--policy",
        str(policy),
        "--data",
        str(labeled),
        "--workdir",
        str(policy.parent / "learn"),
        "--bootstrap",
        "20",
        "--operator-only",
    ]
    promoted = runner.invoke(app, args)
    assert promoted.exit_code == 0, promoted.output
    assert "promoted" in promoted.output and "learn.html" in promoted.output
    assert policy.read_bytes() != before
    back = runner.invoke(app, ["learn", "--policy", str(policy), "--rollback", "--workdir", str(policy.parent / "learn")])
    assert back.exit_code == 0, back.output
    assert policy.read_bytes() == before


def test_schedule_runs_a_bounded_number_of_times(setup) -> None:
    from router.cli import app

    policy, labeled, _ = setup
    workdir = policy.parent / "learn"
    args = ["learn", "--policy", str(policy), "--data", str(labeled), "--workdir", str(workdir), "--bootstrap", "0", "--operator-only"]
    result = CliRunner().invoke(app, [*args, "--dry-run", "--every", "1s", "--runs", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.count("not promoted: ") == 2 and "not promoted (--dry-run)" in result.output
    assert len(list((workdir / "runs").iterdir())) == 2
    assert CliRunner().invoke(app, [*args, "--every", "6 hours"]).exit_code == 2
