from __future__ import annotations

import pytest

from eval_harness import graders
from eval_harness.graders import extract_choice, extract_number, feedback_grade, parse_rating, parse_verdict, reference_grade

Q = "What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer:"


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("B", "B"),
        ("B. 4", "B"),
        ("(B) because 2+2 is 4", "B"),
        ("The answer is C.", "C"),
        ("Answer: **D**", "D"),
        ("I think the correct option is (A).", "A"),
        ("2 + 2 = 4", "B"),  # quotes exactly one option's text
        ("A cat sat on the mat", None),  # an article, not an answer
        ("It is either 3 or 5", None),  # quotes two options
        ("E", None),  # not an option of this question
        ("", None),
    ],
)
def test_extract_choice(response: str, letter: str | None) -> None:
    assert extract_choice(response, Q) == letter


@pytest.mark.parametrize(
    ("response", "number"),
    [
        ("#### 42", 42.0),
        ("She pays $1,250.50 in total.", 1250.5),
        ("First 3 apples, then 4 more: the answer is 7.", 7.0),
        ("x = -3", -3.0),
        ("half of it, 1/2", 0.5),
        ("no digits here", None),
    ],
)
def test_extract_number(response: str, number: float | None) -> None:
    assert extract_number(response) == number


def test_reference_grade_infers_the_grader() -> None:
    assert reference_grade({"answer": "B"}, "The answer is B", Q).score == 1.0
    assert reference_grade({"answer": "(b)"}, "A. 3", Q).score == 0.0
    assert reference_grade({"answer": 7}, "A week has 7 days.").score == 1.0
    assert reference_grade({"answer": "7.0"}, "7").grader == "reference:numeric"
    assert reference_grade({"reference": "Paris"}, "paris.").score == 1.0
    assert reference_grade({"reference": "Paris"}, "It is Paris, I think").score == 0.0
    assert reference_grade({"reference": ["NYC", "New York"]}, "Working...\nNew York").score == 1.0
    assert reference_grade({"reference_regex": r"\bblue\b"}, "The sky is Blue.").score == 1.0
    assert reference_grade({"answer": "x", "answer_type": "regex"}, "y").score == 0.0
    assert reference_grade({"answer_type": "regex", "reference": "("}, "y").score is None
    assert reference_grade({"domain": "math"}, "anything") is None


def test_feedback_grade() -> None:
    assert feedback_grade({"feedback": 0.8, "model": "m"}, "m", None).score == 0.8
    assert feedback_grade({"feedback": 0.8}, "m", served_by="m").score == 0.8
    assert feedback_grade({"feedback": 0.8}, "other", served_by="m") is None
    assert feedback_grade({"feedback": {"m": 0.0, "n": 1.0}}, "n", None).score == 1.0
    assert feedback_grade({"feedback": 1.5}, "m", served_by="m").score is None
    assert feedback_grade({}, "m", "m") is None


@pytest.mark.parametrize(
    ("text", "rating"),
    [("Rating: [[8]] good", 8), ("[[10]]", 10), ("Rating: 3", 3), ("I'd give it 6/10.", 6), ("5", 5), ("[[11]]", None), ("great", None)],
)
def test_parse_rating(text: str, rating: int | None) -> None:
    assert parse_rating(text) == rating


@pytest.mark.parametrize(
    ("text", "verdict"), [("[[A]] because", "A"), ("[[C]]", "C"), ("It's a tie.", "C"), ("Assistant B is better", "B"), ("hmm", None)]
)
def test_parse_verdict(text: str, verdict: str | None) -> None:
    assert parse_verdict(text) == verdict


def test_judge_prompts_carry_the_inputs() -> None:
    single = graders.single_messages("Q?", "ans", reference="ref")
    assert single[0]["role"] == "system" and "Q?" in single[1]["content"] and "ans" in single[1]["content"]
    assert "reference answer is provided: ref" in single[1]["content"] and "[[5]]" in single[1]["content"]
    pair = graders.pairwise_messages("Q?", "first", "second")[1]["content"]
    assert pair.index("first") < pair.index("second") and "reference answer" not in pair
