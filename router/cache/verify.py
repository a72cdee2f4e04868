"""The semantic cache's verifier: decides on the WHOLE text whether a candidate found by cosine may answer.

Cosine similarity finds candidates; it cannot tell "the cat beats the dog" from "the dog beats the
cat", and the cache's embedding reads only a prompt's head and tail. A candidate is accepted only
when, on the full text of both prompts:

1. the meaning guards (:mod:`router.cache.guards`: numbers, units, operators, negation, direction
   words, named things, quoted strings, case-significant tokens, the function words this
   alignment drops but an answer depends on: deixis, persons and their places, roles; code
   symbols) find no difference; and
2. the *alignment* of their content words (lower-cased, stemmed, function words dropped) in order,
   difflib's ratio ``2 * matched / (len_a + len_b)``, is at least ``min_alignment``: a swapped role,
   an antonym or a changed scope moves words the guards have no list for; and
3. when either prompt is longer than :data:`LONG_CHARS` (past what the embedding reads), the content
   words must be the same sequence: a long prompt's middle (a RAG context, a document) is never
   matched by meaning, only by its words.

Every check is exact (string and set operations on the text), so a decision never depends on a
model's floating point. ``min_alignment`` is calibrated against ``cache.max_false_hit_rate`` by
:mod:`router.cache.calibration` on the calibration half of bench/data/semantic_eval.jsonl.

Step 2's score comes from a :data:`Scorer`, :func:`alignment` unless another is given: a pair model
(a cross-encoder or an NLI model scoring "means the same" in [0, 1]) plugs in there, behind the
same guards and the same long-text rule, which no score can overrule. The index's shortcut that
decides a miss from a hash of the content words (``SemanticIndex.may_match``) is exact only for
:func:`alignment` at 1.0. No packaged cross-encoder or NLI model that ships its weights was found
on PyPI (README, "Semantic cache"), so the shipped rule uses :func:`alignment`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from difflib import SequenceMatcher
from functools import lru_cache

from router.cache.guards import STOP_WORDS, _stem, incompatibility, wording_difference

# About 90 word pieces of English: below the 96 + 32 the cache's embedding reads, so a prompt up to
# here is seen whole by the embedding; a longer one may differ where the embedding did not look.
LONG_CHARS = 360

_WORD_RE = re.compile(r"[a-z0-9_#+.]+(?:'[a-z]+)?")
# Function words and politeness: dropping them lets "how do I sort a list" meet "how can i sort my list?".
# The guards check the ones an answer depends on (question word, tense, persons, deixis, roles).
_STOP = STOP_WORDS


# (query, cached) -> how surely they mean the same, in [0, 1].
Scorer = Callable[[str, str], float]


@lru_cache(maxsize=32768)
def content_words(text: str) -> tuple[str, ...]:
    """Stems of a text's content words, in order (memoised: cached prompts recur)."""
    words = (w.strip(".") for w in _WORD_RE.findall(text.lower()))
    # "what's" and "it's" are function words too: the stop list is checked on the part before the apostrophe.
    return tuple(_stem(w) for w in words if w and w.split("'")[0] not in _STOP)


def content_key(text: str) -> bytes:
    """A digest of the content words: two texts with alignment 1.0 have the same key."""
    words = content_words(text)
    basis = "\x1f".join(words) if words else "\x00" + text.strip().lower()
    return hashlib.blake2b(basis.encode("utf-8", "surrogatepass"), digest_size=12).digest()


def alignment(a: str, b: str) -> float:
    """Order-aware overlap of the two texts' content words, in [0, 1] (1: the same sequence)."""
    wa, wb = content_words(a), content_words(b)
    if not wa and not wb:
        return 1.0 if a.strip().lower() == b.strip().lower() else 0.0
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def verdict(query: str, cached: str, min_alignment: float, scorer: Scorer = alignment) -> tuple[bool, float, str]:
    """(accepted, score, reason) for serving ``cached``'s answer to ``query``: the guards and the
    long-text rule first, then ``scorer`` (alignment by default) at ``min_alignment``."""
    if query == cached:
        return True, 1.0, "same text"
    why = incompatibility(query, cached) or wording_difference(query, cached)
    if why is not None:
        return False, 0.0, why
    if max(len(query), len(cached)) > LONG_CHARS:
        if content_words(query) != content_words(cached):
            return False, 0.0, "long text differs"
        return True, 1.0, "same words"
    score = scorer(query, cached)
    if score < min_alignment:
        return False, score, "alignment" if scorer is alignment else "score"
    return True, score, "aligned" if scorer is alignment else "scored"
