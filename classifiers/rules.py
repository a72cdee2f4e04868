"""Rule-based fallback classifier: a transparent prompt-length rule.

Used when no trained artifact loads. Difficulty grows with prompt length and saturates at
`long_words`; each tier's predicted quality is its prior from the policy, discounted more for
weaker tiers as difficulty rises (q = prior ** (1 + 2 * difficulty)).
"""

from __future__ import annotations

from classifiers.base import Prediction


class LengthRuleClassifier:
    name = "length-rule"
    cheap = True  # microseconds: runs on the event loop, no thread hop

    def __init__(self, long_words: int = 400) -> None:
        if long_words <= 0:
            raise ValueError("long_words must be positive")
        self.long_words = long_words

    def models(self) -> list[str]:
        return []

    def predict(self, texts: list[str]) -> list[Prediction]:
        out = []
        for text in texts:
            words = len(text.split())
            difficulty = min(1.0, words / self.long_words)
            out.append(
                Prediction(
                    quality={},
                    difficulty=difficulty,
                    explanation=f"length rule: {words} words / {self.long_words} = {difficulty:.3f}",
                )
            )
        return out
