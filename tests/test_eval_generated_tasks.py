"""The generated routing family (bench/routing_tasks.py): references checked by independent computation.

A wrong reference would make every label of that task wrong and the unseen-family figures in the
README meaningless, so each task type's answer is recomputed here from the prompt text alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from bench.routing_tasks import DEV_TYPES, MAKERS, REPORT_TYPES, SPLIT_OF, Task, generate, grade

ROOT = Path(__file__).resolve().parents[1]
LABELED = ROOT / "bench/data/routing_tasks-labeled.jsonl"
FACTORS = {
    "minutes": 60,
    "seconds": 60,
    "hours": 24,
    "days": 7,
    "centimeters": 100,
    "grams": 1000,
    "meters": 1000,
    "items": 12,
    "months": 12,
    "milliliters": 1000,
}  # small unit -> per big unit, as the prompts pair them
ORDINAL = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "sixth": 5, "seventh": 6, "eighth": 7}


def recompute(task: Task) -> str:
    p = task.prompt
    if task.type in ("add", "subtract", "multiply", "chain"):
        expr = p.removeprefix("What is ").removesuffix("?").replace("times", "*")
        assert re.fullmatch(r"[\d +*-]+", expr), p
        return str(eval(expr))
    if task.type == "code":
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(p.split("\n", 1)[1])
        return out.getvalue().strip()
    if task.type == "units":
        n, small = re.fullmatch(r"How many (\w+) are in (\d+) \w+\?", p).group(2, 1)  # type: ignore[union-attr]
        return str(int(n) * FACTORS[small])
    if task.type == "compare":
        nums = [int(x) for x in re.findall(r"\d+", p)]
        return str(max(nums) if "largest" in p else min(nums))
    if task.type == "count":
        return str(len(p.split(": ", 1)[1].rstrip("?").split(", ")))
    if task.type == "list_index":
        words = p.split(": ", 1)[1].rstrip("?").split(", ")
        if "second-to-last" in p:
            return words[-2]
        return words[ORDINAL[p.split()[3]]]
    if task.type == "letters":
        word = p.split("'")[1]
        return word[0] if "first letter" in p else word[-1] if "last letter" in p else str(len(word))
    if task.type == "sequence":
        a, b, c, d = (int(x) for x in re.findall(r"\d+", p))
        return str(d + (d - c) if b - a == c - b == d - c else d * (d // c))
    if task.type == "word_problem":
        have = int(re.search(r"has (\d+)", p).group(1))  # type: ignore[union-attr]
        for verb, n in re.findall(r"(gives away|gets) (\d+)", p):
            have += int(n) if verb == "gets" else -int(n)
        return str(have)
    raise AssertionError(f"no independent check for {task.type}")


def test_every_reference_matches_an_independent_computation() -> None:
    tasks = generate()
    assert {t.type for t in tasks} == set(MAKERS)
    for task in tasks:
        assert recompute(task) == task.answer, task


def test_generation_is_deterministic_distinct_and_graded_in_difficulty() -> None:
    a, b = generate(), generate()
    assert [t.prompt for t in a] == [t.prompt for t in b]
    assert len({t.id for t in a}) == len(a)
    for kind in MAKERS:
        assert len({t.prompt for t in a if t.type == kind}) == sum(t.type == kind for t in a)
        assert {t.level for t in a if t.type == kind} == {1, 2, 3}


def test_splits_are_whole_task_types_and_disjoint() -> None:
    assert not set(DEV_TYPES) & set(REPORT_TYPES)
    assert set(DEV_TYPES) | set(REPORT_TYPES) == set(MAKERS) == set(SPLIT_OF)


@pytest.mark.parametrize(
    ("output", "answer", "numeric", "expected"),
    [
        ("12", "12", True, 1.0),
        (" 12 apples\nQ: next", "12", True, 1.0),
        ("1,200", "1200", True, 1.0),
        ("120", "12", True, 0.0),  # a number that merely starts with the reference
        ("-3", "3", True, 0.0),
        ("", "3", True, 0.0),
        ("\n\n 7", "7", True, 1.0),  # the first non-empty line
        ("River.", "river", False, 1.0),
        ("r", "river", False, 0.0),
        ("the river", "river", False, 0.0),  # the answer must lead
    ],
)
def test_grade(output: str, answer: str, numeric: bool, expected: float) -> None:
    assert grade(output, Task("t", "x", 1, "q", answer, numeric)) == expected


def test_shipped_labels_regrade_to_their_scores() -> None:
    """Every label in the committed file is what grade() gives its recorded answer."""
    if not LABELED.is_file():
        pytest.skip("labels not built (bench/routing_label.py)")
    tasks = {t.id: t for t in generate()}
    rows = [json.loads(line) for line in LABELED.open()]
    assert len(rows) > 500
    for row in rows:
        task = tasks[row["id"]]
        assert row["messages"] == [{"role": "user", "content": task.prompt}]
        assert row["meta"]["answer"] == task.answer and row["meta"]["split"] == SPLIT_OF[task.type]
        for tier, text in row["responses"].items():
            assert row["scores"][tier] == grade(text, task), (row["id"], tier)


def test_the_familys_weaker_tier_takes_the_shipped_weak_column(tmp_path: Path) -> None:
    """bench.routing_unseen scores the family's weaker tier (by mean) as the shipped pair's weak model, whichever it is."""
    from bench.routing_unseen import DATA, combined

    if not DATA.is_file():
        pytest.skip("shared MMLU routing data absent")
    better = [1.0, 1.0, 0.0, 1.0]  # 3/4
    worse = [0.0, 1.0, 0.0, 0.0]  # 1/4
    for strong_tier, weak_tier in (("gemma3-270m", "smollm2-135m"), ("smollm2-135m", "gemma3-270m")):
        path = tmp_path / f"{strong_tier}.jsonl"
        with path.open("w") as fh:
            for i in range(4):
                rec = {
                    "id": f"gen-add-{i}",
                    "messages": [{"role": "user", "content": f"What is {i} + 1?"}],
                    "scores": {strong_tier: better[i], weak_tier: worse[i]},
                    "meta": {"domain": "gen:add"},
                }
                fh.write(json.dumps(rec) + "\n")
        data, mmlu_rows, fam_rows, splits = combined(path)
        assert len(fam_rows) == 4 and splits == ["dev"] * 4 and len(mmlu_rows) + 4 == len(data)
        assert list(data.scores[fam_rows, data.models.index("gpt-4-1106-preview")]) == better
        assert list(data.scores[fam_rows, data.models.index("mixtral-8x7b-instruct-v0.1")]) == worse
