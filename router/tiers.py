"""The engine for each enabled tier of a policy (engines.factory), and the routing classifier it names."""

from __future__ import annotations

import logging
from pathlib import Path

from classifiers.base import Classifier
from classifiers.rules import LengthRuleClassifier

log = logging.getLogger("switchyard")


def load_classifier(spec: str, long_prompt_words: int) -> tuple[Classifier, str]:
    """The classifier a policy names, and a sentence on what was loaded and why."""
    rules = LengthRuleClassifier(long_prompt_words)
    if spec == "rules":
        return rules, "length rule (policy asks for rules)"
    try:
        from classifiers import trained
    except ImportError as exc:
        return rules, f"length rule (trained classifier unavailable: {exc})"
    try:
        if spec == "default":
            classifier = trained.load_artifact(trained.DEFAULT_ARTIFACT)
        else:
            classifier = trained.load_artifact(Path(spec))
        classifier.embedder.warmup()  # the tokenizer loads now, not on the first request (which may predict on the event loop)
    except Exception as exc:  # noqa: BLE001 - any load failure falls back, loudly
        log.warning("classifier %s did not load, using the length rule: %s", spec, exc)
        return rules, f"length rule (artifact {spec!r} did not load: {exc})"
    return classifier, f"trained classifier {classifier.name} from {spec}"
