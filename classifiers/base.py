"""The one small protocol every routing classifier implements.

A classifier looks at a request's prompt text and predicts, for each model it knows, the
probability that the model answers well (quality in [0, 1]). The policy's decision function
(`policies.decide`) turns those predictions into a tier; classifiers never pick tiers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Prediction:
    """Predicted quality per model for one request, plus the classifier's own difficulty score.

    `difficulty` is in [0, 1]: higher means the request needs a stronger model. For a trained
    weak/strong classifier it is the route score; for the rule fallback it is the length rule.
    """

    quality: dict[str, float]
    difficulty: float
    explanation: str = ""
    extras: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Classifier(Protocol):
    name: str

    def models(self) -> list[str]:
        """Model names this classifier predicts quality for (may be empty for rule-based ones)."""
        ...

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Predict for a batch of prompt texts (the text the router extracts from messages)."""
        ...
