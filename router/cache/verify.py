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
2b. at ``min_alignment`` 1.0 (the shipped rule) the two texts have the same :func:`form`, whatever their
   length: the same words and punctuation in order, up to what retyping a request changes (spacing, a
   sentence's capital, a final full stop or a question's "?", contractions, an opening or a closing
   thanks); a request about text or code must be the same text; and
3. below 1.0, when either prompt is longer than :data:`LONG_CHARS` (past what the embedding reads), the content
   words must be the same sequence: a long prompt's middle (a RAG context, a document) is never
   matched by meaning, only by its words.

Every check is exact (string and set operations on the text), so a decision never depends on a
model's floating point. ``min_alignment`` is calibrated against ``cache.max_false_hit_rate`` by
:mod:`router.cache.calibration` on the calibration half of bench/data/semantic_eval.jsonl.

Step 2's score comes from a :data:`Scorer`, :func:`alignment` unless another is given: a pair model
(a cross-encoder or an NLI model scoring "means the same" in [0, 1]) plugs in there, behind the
same guards and the same long-text rule, which no score can overrule. At 1.0 only texts of the same
:func:`form_key` can pass, so the index looks candidates up by that key and embeds nothing when there
are none (``SemanticIndex.may_match``). The cosine threshold still applies to those candidates: it is
a second, independent check, and dropping it was measured (bench/semantic_cache.py, 2026-12-01): 8 more
right hits on the team's held-out half (105 against 97, none false), but 31 more false hits on the
spent red-team sets ("Is fixed now." served "Is fixed now?"; "Make phone calls" served "Can you make
phone calls"), so it stays. No packaged cross-encoder or NLI model that ships its weights was found
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
    words = (w.strip(".") for w in _WORD_RE.findall(text.lower().replace("\u2019", "'")))
    # "what's" and "it's" are function words too: the stop list is checked on the part before the apostrophe.
    return tuple(_stem(w) for w in words if w and w.split("'")[0] not in _STOP)


def alignment(a: str, b: str) -> float:
    """Order-aware overlap of the two texts' content words, in [0, 1] (1: the same sequence)."""
    wa, wb = content_words(a), content_words(b)
    if not wa and not wb:
        return 1.0 if a.strip().lower() == b.strip().lower() else 0.0
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio()


# Rewordings that change nothing an answer depends on: contractions, politeness and filler. Everything
# else (articles, inflections, prepositions, word order, letter case inside a sentence, punctuation inside
# the text) is kept: eight independent red-team sets each found meaning changes in what a looser rule folded
# ("a"/"the", "ocean"/"oceans", "on"/"in" the fridge; "US"/"us", "Polish"/"polish"; "eats, shoots and
# leaves"), so without a pair model the shipped rule demands the same text as it would be typed again.
_CONTRACTIONS = {
    "what's": "what is", "it's": "it is", "that's": "that is", "there's": "there is", "here's": "here is",
    "who's": "who is", "where's": "where is", "how's": "how is", "when's": "when is", "let's": "let us",
    "i'm": "I am", "you're": "you are", "we're": "we are", "they're": "they are", "he's": "he is", "she's": "she is",
    "i've": "I have", "you've": "you have", "we've": "we have", "i'll": "I will", "you'll": "you will",
}  # fmt: skip
# Not the negative ones: "Doesn't eating late cause weight gain?" asks the opposite of "Does not eating late
# cause weight gain?" (an eighth red-team set), and "'d" is "would" or "had".
# Openings and closings that are politeness, not content: a discourse marker or "please" only when set off by
# punctuation or followed by a question word or a request verb ("So, what ...", "please explain ..."); a
# greeting likewise ("hi, what ...", "hey what ..."), never before the request's own words ("hello in
# Spanish?" is about "hello", "well water" is water); thanks only after a question at the very end
# ("...? Thanks!"), never as a sentence's last words ("a poem about giving thanks", "what to reply to a
# text that says, thank you"), after a request ("Say the following in French. Thank you.") or after a
# question that points at it ("How would a pirate say this? Thanks."). Fifth, seventh and eighth red-team
# sets found "well" and "please" as content and "thanks" as the phrase asked about.
_LEAD_WORDS = frozenset("so well please kindly um uh".split())
_GREETINGS = frozenset("hey hi hello ok okay".split())
_QUESTION_WORDS = frozenset(
    "what how why when where who which whose can could is are was were do does did should would will".split()
)
_REQUEST_VERBS = (
    "explain|tell|give|write|list|help|show|summari[sz]e|describe|suggest|recommend|make|create|generate|find|"
    "compare|provide|draft|calculate|compute|convert|check|fix|sort|name|outline|plan|review|teach|walk"
)
_REQUEST_VERB = re.compile(rf"(?:{_REQUEST_VERBS})\b", re.IGNORECASE)
_LEAD_RE = re.compile(r"\s*([a-z]+)(\s+there\b)?\s*([,!.;?-]+)?\s*", re.IGNORECASE)
_CLOSING = re.compile(
    r"(?:(?<=\?)\s*(?:thanks|thank\s+you|thx)(?:\s+(?:so\s+much|a\s+lot|in\s+advance))?[\s.!]*)+$", re.IGNORECASE
)
_POINTING = re.compile(r"\b(?:following|below|this|that|these|those|it|them)\?$", re.IGNORECASE)


def _strip_closing(text: str) -> str:
    m = _CLOSING.search(text)
    if m is None or _POINTING.search(text[: m.start()]):
        return text  # "how would a pirate say this? Thanks.": the thanks is what "this" points at
    return text[: m.start()]


def _strip_opening(text: str) -> str:
    while (m := _LEAD_RE.match(text)) is not None:
        word, there, punct = m.groups()
        word = word.lower()
        rest = text[m.end():]
        following = re.match(r"[a-z]+", rest, re.IGNORECASE)
        nxt = following.group(0).lower() if following else ""
        if not rest.strip(" \t.,!?;-"):
            break  # the opening is the whole text ("Okay." is not "Okay?"): it is what was said
        ahead = nxt in _QUESTION_WORDS or nxt in _LEAD_WORDS or nxt in _GREETINGS or _REQUEST_VERB.match(rest) is not None
        if (word in _LEAD_WORDS or word in _GREETINGS) and not there and (punct or ahead):
            text = rest
        else:
            break
    return text


# A request put as a question about ability: "could you explain X" asks for what "explain X" does (only
# at the start, where the request is the whole text, and only before a verb that asks for something:
# "can you swim?" asks about ability; not "would you": "would you plan a trip in November" asks an
# opinion). Not "how can I" = "how do I": a fourth red-team set showed "how can I not cry at this film"
# is not "how do I not cry at this film".
_ASKING = re.compile(rf"^(?:can|could)\s+you\s+(?:please\s+)?(?=(?:{_REQUEST_VERBS})\b)", re.IGNORECASE)
# A request about text itself (translate it, count its letters, fix its punctuation), one carrying text to
# work on (quoted, after a colon, on its own lines) or code (brackets, operators, paths): its form is its
# content, so the two texts must be the same. Red-team sets found "?" in a sentence to translate,
# apostrophes in a counting task (the fourth), "Boolean"/"boolean", curly quotes in code, spaces inside
# strings and palindromes and Morse code asked about without a quote (the fifth).
_MENTION = re.compile(
    r"[\"`\n:(){}\[\]<>=|\\/$#@*^~_\u201c\u201d\u2018]|(?<![a-z])'|'(?![a-z])|\u2019(?![a-z])|(?<![a-z])\u2019|"
    r"\b(?:translat\w*|spell\w*|punctuat\w*|apostroph\w*|capitali[sz]\w*|capital\s+letters?|"
    r"upper\s*-?case|lower\s*-?case|case|grammar\w*|grammatical\w*|proofread\w*|rewrit\w*|rephras\w*|paraphras\w*|"
    r"letters?|characters?|count\w*|words?|sentences?|phrases?|quot\w*|pronoun\w*|pronounc\w*|"
    r"mean|means|meaning\w*|defin\w*|acronyms?|abbreviat\w*|initials?|typos?|syllables?|rhym\w*|anagrams?|"
    r"palindrom\w*|backwards?|alphabet\w*|morse|cipher\w*|encod\w*|decod\w*|vowels?|consonants?|"
    r"digits?|symbols?|dots?|commas?|periods?|hyphens?|exclamation\w*|text|strings?|literal\w*|regex\w*|"
    r"format\w*|emojis?|code|syntax|command|shell|bash|terminal|regular\s+expressions?|matrix|matrices|"
    r"factorial\w*|imaginary|complex\s+numbers?|polite\w*|rude\w*|formal\w*|informal\w*|tone|sounds?|sounding|following|below)\b",
    re.IGNORECASE,
)
_TOKEN_RE = re.compile(r"\w+(?:'\w+)?|[^\w\s]+")
# A final full stop, or a question's "?" after a question word, right after a word: not after a number
# ("5!" is a factorial, "0.3..." repeats) and not "!" or "...", which a fifth red-team set showed carry tone.
_END_RE = re.compile(r"(?<=[^\W\d_])([.?])\s*$")  # right after the word: "git add ." names the folder
# "e.g. What", "U.S. Open", "Dr. Will": a full stop after an abbreviation or an initial starts no sentence.
_ABBREVIATIONS = frozenset("mr mrs ms dr st vs etc jr sr prof no approx fig inc ltd co".split())


def _ends_sentence(matches: list[re.Match[str]], i: int) -> bool:
    """Whether token ``i`` is a sentence's end: a lone . ! or ? right after a word that is no abbreviation or
    initial, with space after it (one pass over the tokens: a text's every word is checked this way)."""
    mark = matches[i]
    if mark.group(0) not in (".", "!", "?") or i == 0 or mark.end() == len(mark.string):
        return False
    word = matches[i - 1]
    after = mark.string[mark.end()]
    return (word.end() == mark.start() and word.group(0)[-1].isalpha() and after.isspace()
            and len(word.group(0)) > 1 and word.group(0).lower() not in _ABBREVIATIONS)
# A sentence's first word folds its capital only when the word has no other sense in capitals: function
# words, question words and request verbs ("What"/"what"), not "Boolean", "Turkey", "May", "Will" or "Mb"
# (a fifth red-team set: type names, SI symbols and proper nouns at a sentence's start).
_FOLDING_STARTERS = frozenset(
    """what how why when where who which whose is are was were do does did can could should would shall
    has have had am the a an my our your this that these those there here it its if in on at for to from with
    please tell explain give write list help show describe summarize summarise suggest recommend make create
    generate find compare provide draft calculate compute convert check fix sort outline plan review teach
    set turn put add remove delete open close start stop send buy get use run move change update install
    read keep take let try learn""".split()
)
# "i" is the pronoun "I" only before a verb ("i think", "i have"), not the imaginary unit or a variable.
_I_VERBS = frozenset(
    """am was have had do did don't didn't can can't could should would will want need think know get got use
    used like love hate feel see saw go went tried try have wonder made make found lost bought forgot keep
    just really also still never always often""".split()
)
# ... or after an auxiliary or a question word ("how do i sort", "can i use", "what should i say").
_BEFORE_I = frozenset(
    "do did does can could should would will shall am was may might must if when where how why what and but so that".split()
)
_APOSTROPHE_IN_WORD = re.compile(r"(?<=[a-z])\u2019(?=[a-z])", re.IGNORECASE)


def _exact(text: str) -> tuple[str, ...]:
    """The text as typed: spaces are content in code (Markdown's line break, a shell continuation that a space
    after the backslash breaks, a first line's indentation, a file's last newline for `wc -l`)."""
    return ("\x00exact", text)


def form(text: str) -> tuple[str, ...]:
    """:func:`_form`, memoised for prompts up to :data:`LONG_CHARS` (cached prompts recur; a memo of long
    ones would hold about 80 KB per 4 KB prompt, so they are computed again, in one pass)."""
    return _form_memo(text) if len(text) <= LONG_CHARS else _form(text)


def _form(text: str) -> tuple[str, ...]:
    """A text as an answer depends on it: its words and punctuation in order, with only what retyping the
    same request changes folded away: spacing between words, a curly apostrophe inside a word, the
    capital of a sentence's first word when it is a function word or a request verb, the pronoun "I",
    contractions, a final full stop (and a final "?" after a question word), an opening ("so,",
    "please", a greeting), "could you" before a request verb, and a closing ", thanks". A request about
    text or code (see :data:`_MENTION`) must be the same text."""
    if _MENTION.search(text):
        return _exact(text)
    text = _APOSTROPHE_IN_WORD.sub("'", text)
    text = _strip_opening(_strip_closing(text).strip())
    end: tuple[str, ...] = ()
    if (ending := _END_RE.search(text)) is not None:
        text = text[: ending.start()]
        if ending.group(1) == "?":
            first = re.match(r"\w+", re.split(r"(?<=[.!?])\s+", text)[-1])
            if first is None or first.group(0).lower() not in _QUESTION_WORDS:
                end = ("?",)  # a question without a question word ("You're coming?") is not the statement
    text = _ASKING.sub("", text)
    tokens: list[str] = []
    matches = list(_TOKEN_RE.finditer(text))
    for n, m in enumerate(matches):
        token = m.group(0)
        if token[0].isalpha():
            starts = n == 0 or _ends_sentence(matches, n - 1)
            if starts and token.lower() in _FOLDING_STARTERS and token[1:].islower():
                token = token.lower()
            if token in ("i", "I"):
                nxt = matches[n + 1].group(0).lower() if n + 1 < len(matches) else ""
                prev = matches[n - 1].group(0).lower() if n else ""
                token = "I" if nxt in _I_VERBS or prev in _BEFORE_I else token
            # A contraction only as a sentence's first word and before another ("What's ...", "I'm ..."): elsewhere
            # it may be the very thing asked about ("my phone keeps changing it's to it is", a seventh red-team
            # set; "I'm, too stiff for a toast?", an eighth).
            nxt_word = n + 1 < len(matches) and matches[n + 1].group(0)[0].isalnum()
            tokens.extend(_CONTRACTIONS.get(token.lower(), token).split() if starts and nxt_word else [token])
        else:
            tokens.append(token)
    return (*tokens, *end)


_form_memo = lru_cache(maxsize=32768)(_form)


@lru_cache(maxsize=1024)  # a lookup asks several times under the index lock; form() of a long prompt takes ~2 ms
def form_key(text: str) -> bytes:
    """A digest of :func:`form`: the only texts the shipped rule (min_alignment 1.0) can accept for ``text``
    have this key, so the cache finds its candidates by a dict lookup and embeds nothing when there are none."""
    basis = "\x1f".join(form(text))
    return hashlib.blake2b(basis.encode("utf-8", "surrogatepass"), digest_size=12).digest()


def verdict(query: str, cached: str, min_alignment: float, scorer: Scorer = alignment) -> tuple[bool, float, str]:
    """(accepted, score, reason) for serving ``cached``'s answer to ``query``: the guards and the
    long-text rule first, then ``scorer`` (alignment by default) at ``min_alignment``."""
    if query == cached:
        return True, 1.0, "same text"
    why = incompatibility(query, cached) or wording_difference(query, cached)
    if why is not None:
        return False, 0.0, why
    if scorer is alignment and min_alignment > 1.0:
        # A scope whose same-form hit was found wrong (SemanticIndex.penalize) accepts only its very own text.
        return False, 1.0, "scope tightened past the same form"
    if scorer is alignment and min_alignment >= 1.0:  # the shipped rule, long text or short
        if form(query) != form(cached):
            return False, 0.0, "wording"
        return True, 1.0, "same form"
    if max(len(query), len(cached)) > LONG_CHARS:
        if content_words(query) != content_words(cached):
            return False, 0.0, "long text differs"
        return True, 1.0, "same words"
    score = scorer(query, cached)
    if score < min_alignment:
        return False, score, "alignment" if scorer is alignment else "score"
    return True, score, "aligned" if scorer is alignment else "scored"
