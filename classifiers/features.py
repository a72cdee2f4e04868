"""Cheap, model-free prompt features: length, structure and task cues.

They feed the trained classifier next to the embedding, and the out-of-distribution prior
(:func:`heuristic_difficulty`) that takes over for prompts unlike anything in the training
data (a greeting is not an MMLU question). Everything here is pure Python + numpy and costs
microseconds; ``FEATURE_VERSION`` changes whenever a feature's definition does, and artifacts
record it so a mismatch is caught at load time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

FEATURE_VERSION = "sy-feat-1"

FEATURE_NAMES: tuple[str, ...] = (
    "log_words",
    "log_chars_per_word",
    "log_lines",
    "digit_frac",
    "math_symbol_frac",
    "has_choices",
    "has_code",
    "question_marks",
    "reasoning_cue",
    "proof_cue",
    "chat_cue",
)

_CHOICES = re.compile(r"(?m)^\s*[A-D][.)]\s")
_CODE = re.compile(r"```|\bdef \w+\(|\bclass \w+[:(]|#include|\bfunction\s*\(|;\s*$|\{\s*$", re.M)
_MATH = re.compile(r"[=+\-*/^<>≤≥∑∫√π]")
_REASONING = re.compile(
    r"\b(how many|calculate|compute|solve|find the|what is the (value|probability|number)|"
    r"step[- ]by[- ]step|if .{0,80} then|derive|estimate|optimi[sz]e|algorithm|complexity)\b",
    re.I,
)
_PROOF = re.compile(r"\b(prove|proof|show that|demonstrate that|theorem|lemma|rigorous)\b", re.I)
_CHAT = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|good (morning|evening|night)|how are you|what's up|"
    r"ok|okay|cool|great|bye)\b",
    re.I,
)


def prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text the classifier sees for an OpenAI-style message list.

    User turns joined by blank lines (system prompts are operator boilerplate and would make
    every request of a tenant look alike). Content given as a list of parts contributes its
    text parts. Falls back to all turns when there is no user turn.
    """

    def content_text(msg: Mapping[str, Any]) -> str:
        content = msg.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
        return ""

    user = [content_text(m) for m in messages if m.get("role") == "user"]
    parts = user if user else [content_text(m) for m in messages]
    return "\n\n".join(p for p in parts if p)


def text_features(text: str) -> list[float]:
    """One row of :data:`FEATURE_NAMES` for a prompt."""
    words = text.split()
    n_words = len(words)
    n_chars = max(len(text), 1)
    digits = sum(c.isdigit() for c in text)
    math_syms = len(_MATH.findall(text))
    return [
        math.log1p(n_words),
        math.log(max(n_chars / max(n_words, 1), 1.0)),
        math.log1p(text.count("\n")),
        digits / n_chars,
        min(math_syms / n_chars * 10.0, 1.0),
        1.0 if len(_CHOICES.findall(text)) >= 2 else 0.0,
        1.0 if _CODE.search(text) else 0.0,
        min(text.count("?"), 5) / 5.0,
        1.0 if _REASONING.search(text) else 0.0,
        1.0 if _PROOF.search(text) else 0.0,
        1.0 if (_CHAT.search(text) and n_words <= 12) else 0.0,
    ]


def feature_matrix(texts: Iterable[str]) -> NDArray[np.float32]:
    rows = [text_features(t) for t in texts]
    return np.asarray(rows, dtype=np.float32).reshape(-1, len(FEATURE_NAMES))


def is_small_talk(text: str) -> bool:
    """Greetings, thanks and similar short social turns: no task, any model answers well."""
    return len(text.split()) <= 12 and bool(_CHAT.search(text))


def heuristic_difficulty(text: str) -> float:
    """A transparent difficulty prior in [0, 1] for prompts the trained model has not seen.

    Small talk scores near 0; long prompts, proofs, multi-step quantitative reasoning and code
    score higher. Used only through the out-of-distribution gate, never on in-domain prompts.
    """
    f = dict(zip(FEATURE_NAMES, text_features(text), strict=True))
    if f["chat_cue"]:
        return 0.05
    words = math.expm1(f["log_words"])
    score = 0.15 + 0.25 * min(words / 300.0, 1.0)
    score += 0.25 * f["proof_cue"] + 0.2 * f["reasoning_cue"] + 0.1 * f["has_code"]
    score += 0.1 * min(f["digit_frac"] * 10.0, 1.0) + 0.1 * f["math_symbol_frac"]
    return float(min(score, 1.0))
