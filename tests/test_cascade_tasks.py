"""The cascade benchmark's question set: references right by construction, grading strict enough."""

from __future__ import annotations

import re

from bench.cascade_tasks import generate, grade, messages


def test_the_set_is_deterministic_with_unique_ids_and_prompts() -> None:
    first, again = generate(), generate()
    assert first == again
    assert len({t.id for t in first}) == len(first) == len({t.prompt for t in first})
    assert len({t.family for t in first}) == 13


def test_arithmetic_references_are_right() -> None:
    ops = {"+": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b}
    for task in generate():
        if task.family in ("add", "subtract", "multiply"):
            a, op, b = re.match(r"What is (\d+) (\+|minus|times) (\d+)\?", task.prompt).groups()  # type: ignore[union-attr]
            assert task.answers == (str(ops[op](int(a), int(b))),)
        elif task.family == "larger":
            a, b = map(int, re.findall(r"\d+", task.prompt))
            assert task.answers == (str(max(a, b)),)


def test_grading_reads_the_first_line_and_whole_words() -> None:
    task = next(t for t in generate() if t.family == "add")
    assert grade(f"{task.answers[0]}\nand more", task) == 1.0
    assert grade(f"The answer is {task.answers[0]}.", task) == 1.0
    assert grade(f"\nI think\n{task.answers[0]}", task) == 0.0  # the first non-empty line decides
    assert grade(f"{int(task.answers[0]) + 1}", task) == 0.0
    capital = next(t for t in generate() if t.family == "capital" and t.answers == ("Rome",))
    assert grade("Rome.", capital) == 1.0
    assert grade("Romewards", capital) == 0.0
    assert grade("Paris", capital) == 0.0


def test_every_question_comes_after_the_same_worked_examples() -> None:
    task = generate()[0]
    turns = messages(task)
    assert [m["role"] for m in turns] == ["user", "assistant"] * 3 + ["user"]
    assert turns[-1]["content"] == task.prompt
