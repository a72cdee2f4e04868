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
2b. at ``min_alignment`` 1.0 (the shipped rule) the two texts have the same :func:`wording`: the same
   words up to case, contractions and politeness (articles, inflections and prepositions count); and
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


# Rewordings that change nothing an answer depends on: contractions, politeness and filler. Everything
# else (articles, inflections, prepositions, word order) is kept: three independent red-team sets each
# found meaning changes in words the content-word alignment dropped or stemmed ("a"/"the", "ocean"/
# "oceans", "on"/"in" the fridge), so without a pair model the shipped rule demands the same words.
_CONTRACTIONS = {
    "what's": "what is", "it's": "it is", "that's": "that is", "there's": "there is", "here's": "here is",
    "who's": "who is", "where's": "where is", "how's": "how is", "when's": "when is", "let's": "let us",
    "i'm": "i am", "you're": "you are", "we're": "we are", "they're": "they are", "he's": "he is", "she's": "she is",
    "isn't": "is not", "aren't": "are not", "wasn't": "was not", "weren't": "were not", "don't": "do not",
    "doesn't": "does not", "didn't": "did not", "can't": "can not", "cannot": "can not", "won't": "will not",
    "shouldn't": "should not", "couldn't": "could not", "wouldn't": "would not", "i've": "i have",
    "you've": "you have", "we've": "we have", "i'd": "i would", "i'll": "i will", "you'll": "you will",
}  # fmt: skip
# A greeting only as an opening set off by punctuation ("Hey, ...", "Hi! ..."), thanks only as a closing:
# elsewhere "hello" or "thanks" may be what the request is about ("translate hello to French").
# An opening: discourse markers ("so", "well") always; a greeting when punctuation or another opening word
# or a question word follows ("hi, what ...", "hey what ..."), never before the request's own words
# ("hello in Spanish?" is about "hello").
_LEAD_ALWAYS = frozenset("so well please kindly pls plz um uh".split())
_GREETINGS = frozenset("hey hi hello ok okay yo".split())
_QUESTION_WORDS = frozenset("what how why when where who which whose can could is are was were do does did should would will".split())
_LEAD_RE = re.compile(r"\s*([a-z]+)(\s+there\b)?\s*([,!.:;?-]+)?\s*")
_CLOSING = re.compile(r"(?:[\s,.!?;:-]+(?:thanks|thank\s+you|thx|ty)(?:\s+(?:so\s+much|a\s+lot|in\s+advance))?[\s.!]*)+$")


def _strip_opening(text: str) -> str:
    while (m := _LEAD_RE.match(text)) is not None:
        word, there, punct = m.groups()
        rest = text[m.end():]
        following = re.match(r"[a-z]+", rest)
        nxt = following.group(0) if following else ""
        if word in _LEAD_ALWAYS and not there:
            text = rest
        elif word in _GREETINGS and (punct or nxt in _LEAD_ALWAYS or nxt in _GREETINGS or nxt in _QUESTION_WORDS):
            text = rest
        else:
            break
    return text


# A request put as a question about ability: "could you explain X" asks for what "explain X" does (only
# at the start, where the request is the whole text). Not "how can I" = "how do I": a fourth red-team set
# showed "how can I not cry at this film" is not "how do I not cry at this film".
_ASKING = ((re.compile(r"^(?:(?:can|could|would|will)\s+you\s+)"), ""),)


@lru_cache(maxsize=32768)
def wording(text: str) -> tuple[str, ...]:
    """A text's words as an answer depends on them: lower-cased, contractions spelled out, an opening
    ("so", "please", a greeting) and a closing thanks dropped; nothing stemmed, no other word dropped."""
    lowered = _strip_opening(_CLOSING.sub("", text.lower().replace("\u2019", "'")).strip())
    for pattern, replacement in _ASKING:
        lowered = pattern.sub(replacement, lowered)
    words: list[str] = []
    for raw in _WORD_RE.findall(lowered):
        word = raw.strip(".")
        if word:  # "please" only as an opening: elsewhere it may be what the request is about
            words.extend(_CONTRACTIONS.get(word, word).split())
    return tuple(words)


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
    if scorer is alignment and min_alignment >= 1.0 and wording(query) != wording(cached):
        return False, 0.0, "wording"  # the shipped rule: the same words, up to case, contractions and politeness
    score = scorer(query, cached)
    if score < min_alignment:
        return False, score, "alignment" if scorer is alignment else "score"
    return True, score, "aligned" if scorer is alignment else "scored"
