"""The generated routing family (bench/routing_tasks.py): references checked by independent computation.

A wrong reference would make every label of that task wrong and the unseen-family figures in the
README meaningless, so each task type's answer is recomputed here from the prompt text alone.
"""

from __future__ import annotations

import calendar
import contextlib
import io
import json
import re
import string
from pathlib import Path

import pytest

from bench.routing_label import vote
from bench.routing_tasks import (
    DEV_TYPES,
    DEV_TYPES3,
    MAKERS,
    MAKERS3,
    REPORT_TYPES,
    REPORT_TYPES3,
    SPLIT_OF,
    Task,
    answer_key,
    generate,
    generate3,
    grade,
)

ROOT = Path(__file__).resolve().parents[1]
LABELED = ROOT / "bench/data/routing_tasks-labeled.jsonl"
LABELED3 = ROOT / "bench/data/routing_tasks3-labeled.jsonl"
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
# Number words the other way round from the generator: parsed, not spelled.
UNIT_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine".split())}
TEEN_WORDS = {w: 10 + i for i, w in enumerate("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split())}
TEN_WORDS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}


def words_to_number(text: str) -> int:
    parts = text.split("-")
    if len(parts) == 2:
        return TEN_WORDS[parts[0]] + UNIT_WORDS[parts[1]]
    return UNIT_WORDS.get(text, TEEN_WORDS.get(text, TEN_WORDS.get(text, -1)))


def shifted(names: list[str], p: str) -> str:
    """The day / month / letter the prompt asks for, from the standard library's own lists."""
    name = next(n for n in names if re.search(rf"\b{re.escape(n)}\b", p))
    k = names.index(name)
    step = 2 if "two" in p else -1 if "before" in p else 1
    return names[(k + step) % len(names)]


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
    if task.type in ("day_after", "month_after"):
        names = list(calendar.day_name) if task.type == "day_after" else list(calendar.month_name)[1:]
        return shifted(names, p)
    if task.type == "letter_after":
        letter = re.search(r"\b([A-Z])\b in the alphabet", p).group(1).lower()  # type: ignore[union-attr]
        k = string.ascii_lowercase.index(letter)
        return string.ascii_lowercase[k + (2 if "two letters" in p else -1 if "before" in p else 1)]
    if task.type == "parity":
        return ("odd", "even")[int(re.search(r"\d+", p).group()) % 2 == 0]  # type: ignore[union-attr]
    if task.type == "number_words":
        return str(words_to_number(re.search(r"(?:number |')([a-z-]+)(?: in digits|')", p).group(1)))  # type: ignore[union-attr]
    if task.type == "successor":
        n = int(re.search(r"\d+", p).group())  # type: ignore[union-attr]
        return str(n + 1 if "after" in p else n - 1)
    if task.type == "double":
        n = int(re.search(r"\d+", p).group())  # type: ignore[union-attr]
        return str(n // 2 if p.startswith("What is half") else n * 2)
    if task.type == "copy":
        if p.startswith("Repeat this word: "):
            return p.removeprefix("Repeat this word: ")
        if p.startswith("Say the word"):
            return p.split("'")[1]
        words = p.split(": ", 1)[1].rstrip("?").split(", ")
        return words[-1] if "last" in p else sorted(words, key=len)[-1]
    raise AssertionError(f"no independent check for {task.type}")


def test_every_reference_matches_an_independent_computation() -> None:
    tasks = generate()
    assert {t.type for t in tasks} == set(MAKERS)
    for task in tasks:
        assert recompute(task) == task.answer, task


def test_the_larger_familys_references_match_an_independent_computation() -> None:
    tasks = generate3()
    assert {t.type for t in tasks} == set(MAKERS3)
    assert len(tasks) >= 1600  # room for a 1,000-label learning-curve point beside a test fold
    assert len({t.id for t in tasks}) == len(tasks) and len({t.prompt for t in tasks}) == len(tasks)
    for task in tasks:
        assert recompute(task) == task.answer, task
        wrong = task.answer + ("1" if task.numeric else "x")  # a longer number / word is not the answer
        assert grade(task.answer, task) == 1.0 and grade(wrong, task) == 0.0, task


def test_the_original_family_is_unchanged_by_the_larger_one() -> None:
    """The 528 committed labels (and the README figures on them) were made from generate()."""
    if not LABELED.is_file():
        pytest.skip("labels not built")
    tasks = {t.id: t for t in generate()}
    for line in LABELED.open():
        row = json.loads(line)
        assert tasks[row["id"]].prompt == row["messages"][0]["content"] and tasks[row["id"]].answer == row["meta"]["answer"]


def test_generation_is_deterministic_distinct_and_graded_in_difficulty() -> None:
    a, b = generate(), generate()
    assert [t.prompt for t in a] == [t.prompt for t in b]
    assert len({t.id for t in a}) == len(a)
    for kind in MAKERS:
        assert len({t.prompt for t in a if t.type == kind}) == sum(t.type == kind for t in a)
        assert {t.level for t in a if t.type == kind} == {1, 2, 3}


def test_splits_are_whole_task_types_and_disjoint() -> None:
    assert not set(DEV_TYPES) & set(REPORT_TYPES)
    assert set(DEV_TYPES) | set(REPORT_TYPES) == set(MAKERS)
    assert not set(DEV_TYPES3) & set(REPORT_TYPES3) and not (set(DEV_TYPES3) | set(REPORT_TYPES3)) & set(MAKERS)
    assert set(MAKERS3) == set(SPLIT_OF) == set(MAKERS) | set(DEV_TYPES3) | set(REPORT_TYPES3)
    assert {SPLIT_OF[t] for t in DEV_TYPES + DEV_TYPES3} == {"dev"} and {SPLIT_OF[t] for t in REPORT_TYPES + REPORT_TYPES3} == {"report"}


def test_answer_key_reads_what_grade_reads() -> None:
    num, word = Task("t", "x", 1, "q", "12", True), Task("t", "x", 1, "q", "river", False)
    assert answer_key(" 1,200 apples", num) == "1200" and answer_key("none", num) is None
    assert answer_key("\n 'River'. yes", word) == "river" and answer_key("  \n", word) is None


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


@pytest.mark.parametrize(("path", "make", "least"), [(LABELED, generate, 500), (LABELED3, generate3, 1000)])
def test_shipped_labels_regrade_to_their_scores(path: Path, make: object, least: int) -> None:
    """Every label in the committed file is what grade() gives its recorded answer."""
    if not path.is_file():
        pytest.skip("labels not built (bench/routing_label.py)")
    assert callable(make)
    tasks = {t.id: t for t in make()}
    rows = [json.loads(line) for line in path.open()]
    assert len(rows) > least
    for row in rows:
        task = tasks[row["id"]]
        assert row["messages"] == [{"role": "user", "content": task.prompt}]
        assert row["meta"]["answer"] == task.answer and row["meta"]["split"] == SPLIT_OF[task.type]
        for tier, text in row["responses"].items():
            assert row["scores"][tier] == grade(text, task), (row["id"], tier)
        for tier, texts in row.get("samples", {}).items():
            # Self-consistency: the greedy answer first, and the vote is what the row says.
            assert texts[0] == row["responses"][tier.rsplit("-sc", 1)[0]] and row["responses"][tier] == vote(texts, task)


def test_vote_takes_the_most_frequent_answer_and_the_earliest_on_a_tie() -> None:
    num = Task("t", "x", 1, "q", "5", True)
    assert vote([" 4", " 5", " 5 apples", "x"], num) == " 5"
    assert vote([" 4", " 5", "", " 5", " 4"], num) == " 4"  # 2-2: the greedy (first) answer's side
    assert vote(["none", "", " 7"], num) == " 7"  # texts without an answer do not vote
    assert vote(["none", ""], num) == "none"


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
