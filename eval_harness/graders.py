"""Graders: turn a model's response into a quality score in [0, 1].

Three sources, used by ``eval_harness.label`` in this order of trust:

1. Reference graders, when the record carries an answer (``meta.reference`` or ``meta.answer``):
   multiple-choice letter, numeric answer, exact match (normalised), or a regular expression.
   ``meta.answer_type`` ("choice", "numeric", "exact", "regex") picks one; otherwise it is
   inferred: a single letter A-J -> choice, a number -> numeric, else exact.
2. User feedback from the gateway's feedback endpoint, stored as ``meta.feedback``: a score in
   [0, 1] for the model that served the request (``meta.model``, or the only model in
   ``responses``), or a mapping ``{model: score}``.
3. LLM-as-judge through a configured tier: a 1-10 rating of one answer (``SINGLE_JUDGE_PROMPT``)
   or a pairwise verdict between two answers (``PAIRWISE_JUDGE_PROMPT``, asked in both orders to
   cancel position bias). Ratings map to (rating - 1) / 9; pairwise wins to 1, ties 0.5, losses 0.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "PAIRWISE_JUDGE_PROMPT",
    "PAIRWISE_JUDGE_SYSTEM",
    "SINGLE_JUDGE_PROMPT",
    "SINGLE_JUDGE_SYSTEM",
    "Grade",
    "extract_choice",
    "extract_number",
    "feedback_grade",
    "grade_choice",
    "grade_exact",
    "grade_numeric",
    "grade_regex",
    "pairwise_messages",
    "parse_rating",
    "parse_verdict",
    "reference_grade",
    "single_messages",
]

AnswerType = Literal["choice", "numeric", "exact", "regex"]


@dataclass(frozen=True)
class Grade:
    """A score in [0, 1] (None: the grader could not decide) with the grader's name and evidence."""

    score: float | None
    grader: str
    detail: str = ""

    def as_meta(self) -> dict[str, Any]:
        return {"grader": self.grader, "score": self.score, "detail": self.detail[:300]}


# --------------------------------------------------------------------------- multiple choice

_OPTION_LINE = re.compile(r"(?m)^\s*\(?([A-J])[.)]\s+(.+?)\s*$")
_CHOICE_PATTERNS = (
    # "The answer is (B)", "Answer: B", "correct option is C."
    re.compile(r"(?i:answer|option|choice)\s*(?i:is|would be|:)?\s*[:\-]?\s*\(?\**([A-J])\**\)?(?![A-Za-z])"),
    # A response that starts with the letter: "B", "B.", "(B) Paris", "B: because ..."
    re.compile(r"^\s*\**\(?([A-J])\)?\**(?:[.):,]|\s|$)"),
    # "(C)" anywhere
    re.compile(r"\(([A-J])\)"),
)


def _options(prompt: str | None) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _OPTION_LINE.finditer(prompt or "")}


def extract_choice(response: str, prompt: str | None = None) -> str | None:
    """The answer letter a response gives, or None.

    Letters are limited to the options listed in ``prompt`` when it lists any ("A. ...").
    Explicit forms win ("answer is B", a leading "B."), then a parenthesised letter; last, a
    response that quotes exactly one option's text picks that option.
    """
    options = _options(prompt)
    allowed = set(options) or set("ABCDEFGHIJ")
    text = response.strip()
    for pattern in _CHOICE_PATTERNS:
        for match in pattern.finditer(text):
            letter = match.group(1)
            if letter in allowed:
                # "A" as an article ("A cat ...") is not an answer unless punctuation marks it.
                if pattern is _CHOICE_PATTERNS[1] and letter == "A" and re.match(r"^\s*A\s+[a-z]", text):
                    continue
                return letter
    # Whole-word matches only, and only when exactly one option is quoted: "2 + 2 = 4" picks the
    # option "4" but not "22", and a response naming two options decides nothing.
    quoted = [
        letter
        for letter, option in options.items()
        if re.search(r"(?<!\w)" + re.escape(option.strip().rstrip(".")) + r"(?!\w)", text, flags=re.IGNORECASE)
    ]
    return quoted[0] if len(quoted) == 1 else None


def grade_choice(response: str, reference: str, prompt: str | None = None) -> Grade:
    expected = str(reference).strip().strip("()").upper()[:1]
    got = extract_choice(response, prompt)
    if got is None:
        return Grade(0.0, "reference:choice", f"no answer letter found (expected {expected})")
    return Grade(1.0 if got == expected else 0.0, "reference:choice", f"answered {got}, expected {expected}")


# --------------------------------------------------------------------------- numeric

_NUMBER = re.compile(r"(?<![\w.])-?\$?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?%?")


def _to_float(token: str) -> float | None:
    token = token.replace("$", "").replace(",", "").replace(" ", "").rstrip("%")
    try:
        if "/" in token:
            num, den = token.split("/", 1)
            return float(num) / float(den) if float(den) else None
        return float(token)
    except ValueError:
        return None


def extract_number(response: str) -> float | None:
    """The final numeric answer: after '####' or 'answer is' when present, else the last number."""
    for marker in (r"####\s*", r"(?i:answer)\s*(?i:is|:)?\s*[:=]?\s*"):
        found = re.search(marker + r"(" + _NUMBER.pattern + r")", response)
        if found:
            return _to_float(found.group(1))
    numbers = _NUMBER.findall(response)
    return _to_float(numbers[-1]) if numbers else None


def grade_numeric(response: str, reference: Any, rel_tol: float = 1e-4, abs_tol: float = 1e-6) -> Grade:
    expected = reference if isinstance(reference, (int, float)) else _to_float(str(reference).strip())
    if expected is None:
        return Grade(None, "reference:numeric", f"reference {reference!r} is not a number")
    got = extract_number(response)
    if got is None:
        return Grade(0.0, "reference:numeric", f"no number found (expected {expected:g})")
    ok = math.isclose(got, float(expected), rel_tol=rel_tol, abs_tol=abs_tol)
    return Grade(1.0 if ok else 0.0, "reference:numeric", f"answered {got:g}, expected {float(expected):g}")


# --------------------------------------------------------------------------- exact / regex

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    """SQuAD-style: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    return " ".join(_ARTICLES.sub(" ", text).split())


def grade_exact(response: str, reference: Any) -> Grade:
    refs = reference if isinstance(reference, list) else [reference]
    got = normalize(response)
    # The last line often carries the answer after some working; accept either.
    last = normalize(response.strip().splitlines()[-1]) if response.strip() else ""
    ok = any(normalize(str(r)) in (got, last) for r in refs)
    return Grade(1.0 if ok else 0.0, "reference:exact", f"normalised response {got[:60]!r}")


def grade_regex(response: str, pattern: str) -> Grade:
    try:
        ok = re.search(pattern, response, flags=re.IGNORECASE | re.MULTILINE) is not None
    except re.error as exc:
        return Grade(None, "reference:regex", f"bad pattern {pattern!r}: {exc}")
    return Grade(1.0 if ok else 0.0, "reference:regex", f"pattern {pattern!r} {'matched' if ok else 'not found'}")


def _infer_type(reference: Any) -> AnswerType:
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        return "numeric"
    text = str(reference).strip()
    if re.fullmatch(r"\(?[A-Ja-j]\)?", text):
        return "choice"
    if _to_float(text) is not None and _NUMBER.fullmatch(text):
        return "numeric"
    return "exact"


def reference_grade(meta: Mapping[str, Any], response: str, prompt: str | None = None) -> Grade | None:
    """Grade against the record's reference answer; None when the record has none."""
    reference = meta.get("reference", meta.get("answer"))
    answer_type = meta.get("answer_type")
    if answer_type == "regex" or (reference is None and meta.get("reference_regex")):
        return grade_regex(response, str(meta.get("reference_regex") or reference))
    if reference is None:
        return None
    kind = answer_type if answer_type in ("choice", "numeric", "exact") else _infer_type(reference)
    if kind == "choice":
        return grade_choice(response, str(reference), prompt)
    if kind == "numeric":
        return grade_numeric(response, reference)
    return grade_exact(response, reference)


# --------------------------------------------------------------------------- feedback


def feedback_grade(meta: Mapping[str, Any], model: str, served_by: str | None) -> Grade | None:
    """User feedback for ``model``: a mapping per model, or one score for the model that served the request."""
    feedback = meta.get("feedback")
    if served_by is None and isinstance(meta.get("model"), str):
        served_by = meta["model"]
    if isinstance(feedback, Mapping):
        value = feedback.get(model)
        if value is None and isinstance(feedback.get("score"), (int, float)):
            value = feedback["score"] if model == (feedback.get("model") or served_by) else None
    elif isinstance(feedback, (int, float)) and not isinstance(feedback, bool):
        value = feedback if model == served_by else None
    else:
        value = None
    if value is None:
        return None
    score = float(value)
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        return Grade(None, "feedback", f"feedback {value!r} is outside [0, 1]")
    return Grade(score, "feedback", "user feedback")


# --------------------------------------------------------------------------- LLM-as-judge

# After MT-bench's single-answer grading prompt (Zheng et al. 2023), with an optional reference.
SINGLE_JUDGE_SYSTEM = "You are a helpful assistant who grades answers strictly and fairly."
SINGLE_JUDGE_PROMPT = """Please act as an impartial judge and evaluate the quality of the response provided by an AI
assistant to the user question displayed below. Consider correctness first, then helpfulness, relevance and level
of detail. Be as objective as possible.{reference_block} Begin with the rating, then a short explanation. Rate the
response on a scale of 1 to 10 strictly in this format: "Rating: [[5]]".

[Question]
{question}

[The Start of Assistant's Answer]
{answer}
[The End of Assistant's Answer]"""

# After MT-bench's pairwise comparison prompt; [[C]] is a tie.
PAIRWISE_JUDGE_SYSTEM = SINGLE_JUDGE_SYSTEM
PAIRWISE_JUDGE_PROMPT = """Please act as an impartial judge and evaluate the quality of the responses provided by two AI
assistants to the user question displayed below. Choose the assistant that answers the question better, considering
correctness first, then helpfulness, relevance and level of detail. Do not let the order of the responses, their
length or the assistants' names influence you.{reference_block} Begin with your verdict, strictly in this format:
"[[A]]" if assistant A is better, "[[B]]" if assistant B is better, "[[C]]" for a tie; then explain briefly.

[User Question]
{question}

[The Start of Assistant A's Answer]
{answer_a}
[The End of Assistant A's Answer]

[The Start of Assistant B's Answer]
{answer_b}
[The End of Assistant B's Answer]"""

_REFERENCE_BLOCK = " A reference answer is provided: {reference}."


def _reference_block(reference: Any) -> str:
    return _REFERENCE_BLOCK.format(reference=reference) if reference is not None else ""


def single_messages(question: str, answer: str, reference: Any = None) -> list[dict[str, str]]:
    prompt = SINGLE_JUDGE_PROMPT.format(question=question, answer=answer, reference_block=_reference_block(reference))
    return [{"role": "system", "content": SINGLE_JUDGE_SYSTEM}, {"role": "user", "content": prompt}]


def pairwise_messages(question: str, answer_a: str, answer_b: str, reference: Any = None) -> list[dict[str, str]]:
    prompt = PAIRWISE_JUDGE_PROMPT.format(
        question=question, answer_a=answer_a, answer_b=answer_b, reference_block=_reference_block(reference)
    )
    return [{"role": "system", "content": PAIRWISE_JUDGE_SYSTEM}, {"role": "user", "content": prompt}]


def parse_rating(text: str) -> int | None:
    """The 1-10 rating of a judge's verdict: '[[7]]' or 'Rating: 7', else the first bare 1-10."""
    for pattern in (
        r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]",
        r"(?i:rating)\s*[:=]?\s*\[?\s*(\d+(?:\.\d+)?)",
        r"(?<![\d.])(\d+(?:\.\d+)?)\s*/\s*10\b",
    ):
        found = re.search(pattern, text)
        if found:
            value = float(found.group(1))
            return round(value) if 1 <= value <= 10 else None
    # Small judges often skip the format; a lone number from 1 to 10 is still a rating.
    bare = re.search(r"(?<![\d.])(10|[1-9])(?![\d.])", text)
    return int(bare.group(1)) if bare else None


def rating_score(rating: int) -> float:
    return (rating - 1) / 9.0


def parse_verdict(text: str) -> Literal["A", "B", "C"] | None:
    found = re.search(r"\[\[\s*([ABC])\s*\]\]", text)
    if found:
        return found.group(1)  # type: ignore[return-value]
    lowered = text.lower()
    if re.search(r"\btie\b", lowered):
        return "C"
    found = re.search(r"(?i:assistant)\s*([AB])\b", text) or re.search(r"^\s*\(?([AB])\)?(?![a-z])", text)
    return found.group(1).upper() if found else None  # type: ignore[return-value]
