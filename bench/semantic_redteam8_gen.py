"""Generate bench/data/semantic_redteam8.jsonl: the eighth red-team set for the semantic cache.

What it attacks. The shipped exact-form rule accepts two prompts only when they are the same sequence of
words and punctuation marks after a small normalisation (mention/code guard, curly apostrophes, a closing
thanks sentence, opening fillers, a final "."/"?", "can/could you" before a request verb, first-word case
folding, sentence-first contractions). Every ``different`` pair here normalises to the same thing under this
file's reading of that rule (``normalise`` below) but asks something else. Kinds:

* ``negcontraction``: a sentence-first negative contraction spelled out meets a gerund subject, so
  "Doesn't having a pet help..." (surely it helps?) and "Does not having a pet help..." (does lacking
  one help?) become the same words with opposite polarity.
* ``thanks_content``: a closing "Thank you." that is the object of the request ("How do you say the
  following in Korean? Thank you very much.").
* ``contraction_mention``: the contraction itself is the topic, without any guarded word ("Can't or
  cannot in a cover letter" vs "Can not or cannot in a cover letter").
* ``canyou_mention``: the politeness form is the topic ("Can you help or would you help, ..." vs
  "Help or would you help, ...").
* ``whitespace_guard``: guarded (code / multi-line) prompts that differ only in trailing spaces on a line
  or blank space around the whole text, where that whitespace is the point (Markdown hard breaks, heredoc
  terminators, line continuations, string lengths, a first line's indentation, lint hooks).
* ``*_arguable``: openers as the topic ("Hey, too casual to start an email to my professor?"), thanks after
  "this?", generic-you "Can you ..." ability questions against the bare imperative, "?" against "." on
  elliptical statements, first-word case (It, the novel), a file's trailing newlines, CRLF endings.
* ``same``: true retypings the rule should accept (politeness, contractions, greetings, thanks, case,
  curly apostrophes, spacing, irrelevant trailing whitespace in pasted errors).

The rule was read only from its description in the brief; the product's verifier, its calibration, the
evaluation set and the earlier red-team sets were not read. Where the description leaves an order open
(is the "?" test made on the original first word or after fillers and "can you" are dropped; does a word
that becomes first after a drop fold; does an expanded contraction keep its capital), ``normalise`` takes
every reading (``VARIANTS``) and a pair is kept only when both sides agree under all of them. No pair was
measured against the product and nothing here was tuned on it; the lead measures the set once.

Reproduce: .venv/bin/python bench/semantic_redteam8_gen.py   (seeded, deterministic; rewrites the data file)
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).parent / "data" / "semantic_redteam8.jsonl"
SEED = 20261208

# ---------------------------------------------------------------------------------------------------
# This file's reading of the rule (not the product's code).
# ---------------------------------------------------------------------------------------------------

GUARD_CHARS = set('"`:(){}[]<>=|\\/$#@*^~_\u201c\u201d\n')
# Stems are matched liberally (count* also hits "country"): a guard that fires too often only makes the
# self-check reject more of this file's pairs, never accept one the product would compare exactly.
GUARD_WORDS = re.compile(
    r"\b(translat\w*|spell\w*|punctuat\w*|apostroph\w*|capitali[sz]\w*|uppercase\w*|lowercase\w*|upper case|lower case|"
    r"case|cases|grammar\w*|proofread\w*|rewrit\w*|rephras\w*|paraphras\w*|letter\w*|character\w*|count\w*|word\w*|"
    r"sentence\w*|phrase\w*|quot\w*|pronoun\w*|pronounc\w*|mean\w*|defin\w*|acronym\w*|abbreviat\w*|initials?|typo\w*|"
    r"syllabl\w*|rhym\w*|anagram\w*|palindrom\w*|backwards?|alphabet\w*|morse|cipher\w*|encod\w*|decod\w*|vowel\w*|"
    r"consonant\w*|digit\w*|symbol\w*|dots?|commas?|periods?|hyphen\w*|exclamation\w*|text\w*|string\w*|literal\w*|"
    r"regex\w*|format\w*|emoji\w*|code\w*|syntax|command\w*|shell\w*|bash|terminal\w*|matri\w*|factorial\w*|"
    r"imaginary|complex numbers?)\b",
    re.IGNORECASE,
)
LOOSE_QUOTE = re.compile(r"(?<![A-Za-z])['\u2018\u2019]|['\u2018\u2019](?![A-Za-z])")

QUESTION_WORDS = set(
    "what how why when where who which whose can could is are was were do does did should would will".split()
)
REQUEST_VERBS = set(
    "explain tell give write list help show summarize describe suggest recommend make create generate find compare "
    "provide draft calculate compute convert check fix sort name outline plan review teach walk".split()
)
OPENERS = set("so well please kindly um uh hey hi hello ok okay".split())
FOLD_WORDS = set(
    "what how why when where who which whose is are was were do does did can could should would shall has have had am "
    "the a an my our your this that these those there here it its if in on at for to from with please tell explain give "
    "write list help show describe summarize suggest recommend make create generate find compare provide draft calculate "
    "compute convert check fix sort outline plan review teach set turn put add remove delete open close start stop send "
    "buy get use run move change update install read keep take let try learn".split()
)
ABBREVIATIONS = set("mr mrs ms dr st vs etc jr sr prof no approx fig inc ltd co".split())
I_NEXT = set(
    "am was have had do did can could should would will want need think know get got use like love hate feel see go "
    "tried try wonder made make found lost bought forgot keep just really also still never always often".split()
)
I_PREV = set("do did does can could should would will shall am was may might must if when where how why what and but so that".split())
CONTRACTIONS = {
    "what's": "what is", "who's": "who is", "where's": "where is", "when's": "when is", "how's": "how is",
    "that's": "that is", "there's": "there is", "here's": "here is", "it's": "it is", "he's": "he is",
    "she's": "she is", "don't": "do not", "doesn't": "does not", "didn't": "did not", "isn't": "is not",
    "aren't": "are not", "wasn't": "was not", "weren't": "were not", "can't": "can not", "cannot": "can not",
    "couldn't": "could not", "shouldn't": "should not", "wouldn't": "would not", "won't": "will not",
    "haven't": "have not", "hasn't": "has not", "hadn't": "had not", "i'm": "I am", "i've": "I have",
    "i'll": "I will", "you're": "you are", "you've": "you have", "you'll": "you will", "we're": "we are",
    "we've": "we have", "we'll": "we will", "they're": "they are", "they've": "they have", "they'll": "they will",
}
THANKS = re.compile(
    r"(?<=[.!?])\s*(?:thanks|thank you|thx|many thanks|thanks a lot|thanks so much|thank you so much|"
    r"thank you very much|thanks a bunch|thanks in advance)\s*[.!]*\s*$",
    re.IGNORECASE,
)
TOKEN = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)*|[^\sA-Za-z0-9]")


@dataclass(frozen=True)
class Variant:
    """One reading of the points the rule's description leaves open."""

    qmark_on_original: bool  # the "?" test looks at the last sentence's first word before drops/expansion
    fold_new_start: bool  # a word that becomes first after a dropped filler counts as the text start
    keep_expansion_capital: bool  # "Won't" -> "Will not" (then folded by the case rule) vs "will not"


VARIANTS = [Variant(*flags) for flags in itertools.product([True, False], repeat=3)]


def guarded(text: str) -> bool:
    return bool(GUARD_CHARS & set(text)) or bool(GUARD_WORDS.search(text)) or bool(LOOSE_QUOTE.search(text))


def _is_word(tok: str) -> bool:
    return bool(re.match(r"[A-Za-z0-9]", tok))


def _sentence_starts(toks: list[str], start_is_zero: bool = True) -> list[int]:
    starts = [0] if start_is_zero and toks else []
    for i in range(1, len(toks)):
        if toks[i - 1] in ".!?" and i >= 2 and _is_word(toks[i - 2]) and toks[i - 2][-1].isalpha():
            if toks[i - 1] == "." and (len(toks[i - 2]) == 1 or toks[i - 2].lower() in ABBREVIATIONS):
                continue
            if _is_word(toks[i]):
                starts.append(i)
    return starts


def _last_sentence_first(toks: list[str]) -> str:
    starts = _sentence_starts(toks[:-1]) or [0]
    return toks[starts[-1]].lower() if toks else ""


def _qword(word: str) -> bool:
    return word in QUESTION_WORDS or CONTRACTIONS.get(word, "x").split()[0].lower() in QUESTION_WORDS


def normalise(text: str, v: Variant) -> tuple[str, ...]:
    if guarded(text):
        return ("<guarded>", "\n".join(line.rstrip() for line in text.strip().split("\n")))
    t = re.sub(r"(?<=[A-Za-z])[\u2019\u2018](?=[A-Za-z])", "'", text.strip())
    t = THANKS.sub("", t).strip()
    toks = TOKEN.findall(t)
    original = list(toks)
    # Openers: "So, ...", "Hi! ...", or followed by a question word / another opener / a request verb.
    while len(toks) >= 2 and toks[0].lower() in OPENERS:
        nxt = toks[1]
        if nxt in ",!.;?":
            toks = toks[1:]
            while toks and toks[0] in ",!.;?":
                toks = toks[1:]
        elif nxt.lower() in QUESTION_WORDS or nxt.lower() in OPENERS or nxt.lower() in REQUEST_VERBS:
            toks = toks[1:]
        else:
            break
    # A word after a dropped "Hi!" or "Please." starts a sentence under every reading; after "Hi," it may not.
    dropped = len(toks) != len(original) and original[len(original) - len(toks) - 1] not in "!.?"
    # Final punctuation (step 3).
    if toks and toks[-1] == "." and len(toks) >= 2 and _is_word(toks[-2]) and toks[-2][-1].isalpha():
        toks = toks[:-1]
    elif toks and toks[-1] == "?" and len(toks) >= 2 and _is_word(toks[-2]) and toks[-2][-1].isalpha():
        first = _last_sentence_first(original if v.qmark_on_original else toks)
        if _qword(first):
            toks = toks[:-1]
    # "can/could you (please)" before a request verb (step 4).
    if len(toks) >= 3 and toks[0].lower() in ("can", "could") and toks[1].lower() == "you":
        rest = toks[3:] if toks[2].lower() == "please" else toks[2:]
        if rest and rest[0].lower() in REQUEST_VERBS:
            toks = rest
            dropped = True
    # Case folding and sentence-first contractions (steps 5 and 6).
    starts = set(_sentence_starts(toks, start_is_zero=v.fold_new_start or not dropped))
    out: list[str] = []
    for i, tok in enumerate(toks):
        low = tok.lower()
        if i in starts and low in CONTRACTIONS:
            words = CONTRACTIONS[low].split()
            if v.keep_expansion_capital and tok[0].isupper() and words[0] != "I":
                words[0] = words[0].capitalize()
                if words[0].lower() in FOLD_WORDS:
                    words[0] = words[0].lower()
            out.extend(words)
        elif i in starts and low in FOLD_WORDS and tok[1:] == tok[1:].lower():
            out.append(low)
        else:
            out.append(tok)
    for i, tok in enumerate(out):
        if tok == "i":
            nxt = out[i + 1].lower() if i + 1 < len(out) else ""
            prev = out[i - 1].lower() if i > 0 else ""
            if nxt in I_NEXT or prev in I_PREV:
                out[i] = "I"
    return tuple(out)


def equal_under_all(a: str, b: str) -> bool:
    return all(normalise(a, v) == normalise(b, v) for v in VARIANTS)


def self_test() -> None:
    """Pairs the rule as described must keep apart, so a too-loose ``normalise`` stops the build."""
    apart = [
        ("What is a bond? Thanks, and what is a stock?", "What is a bond? And what is a stock?"),  # thanks not closing
        ("Explain tides, thanks", "Explain tides"),  # after a comma
        ("Would you explain tides", "Explain tides"),  # "would you" is kept
        ("My friend isn't coming", "My friend is not coming"),  # contraction not sentence-first
        ("I'd like tea", "I would like tea"),  # 'd never folds
        ("Turkey is cheap", "turkey is cheap"),  # not a fold word
        ("I live on Main St. Find me pizza", "I live on Main St. find me pizza"),  # abbreviation starts no sentence
        ("Tell me a joke!", "Tell me a joke"),  # "!" kept
        ("Turn it off?", "Turn it off"),  # "?" kept without a question word
        ("It costs 5.", "It costs 5"),  # "." after a digit kept
        ("Hello world program ideas", "world program ideas"),  # opener not set off
        ("Count to 3", "  Count to 3 "),  # guarded: equal apart from outer blanks (checked below)
    ]
    for a, b in apart[:-1]:
        assert not any(normalise(a, v) == normalise(b, v) for v in VARIANTS), (a, b)
    assert equal_under_all(*apart[-1])
    assert not equal_under_all("Count to 3", "count to 3")


# ---------------------------------------------------------------------------------------------------
# Pair builders. Each returns (family, a, b); the kind is set by the caller.
# ---------------------------------------------------------------------------------------------------

Pair = tuple[str, str, str]

NEG_AUX = {
    "does": ("Doesn't", "Does not"),
    "is": ("Isn't", "Is not"),
    "would": ("Wouldn't", "Would not"),
    "can": ("Can't", "Can not"),
    "did": ("Didn't", "Did not"),
}
NEG_ITEMS = {
    "does": [
        "having a pet help with loneliness",
        "drinking coffee dehydrate you",
        "eating late at night cause weight gain",
        "stretching before a run prevent injuries",
        "using a VPN slow down my connection",
        "charging my phone overnight damage the battery",
        "cracking your knuckles cause arthritis",
        "drinking alcohol help you sleep",
        "shaving make hair grow back thicker",
        "salting pasta water make a difference",
        "washing chicken before cooking make it safer",
        "idling the car warm up the engine faster",
        "closing apps save battery on an iPhone",
        "wearing a hat keep you warmer in winter",
        "soaking beans overnight reduce gas",
    ],
    "is": [
        "eating breakfast good for weight loss",
        "running every day good for your knees",
        "tipping expected in Japan",
        "replying to work emails on weekends a good habit",
        "drinking milk necessary for strong bones",
        "showering every day bad for your skin",
        "leasing a car a smart financial move",
        "paying rent with a credit card a good idea",
        "napping after lunch healthy",
        "owning a car worth it in Amsterdam",
        "rinsing rice before cooking important",
        "bringing a gift to a job interview normal",
    ],
    "would": [
        "paying off my mortgage early save money in the long run",
        "refinancing my student loans lower my monthly payments",
        "buying a used car save me money overall",
        "taking the job offer hurt my career",
        "moving to Denver lower my cost of living",
        "switching to a standing desk help my back pain",
        "adding solar panels raise my home's value",
        "filing jointly with my wife reduce our taxes",
    ],
    "can": [
        "eating breakfast help you lose weight",
        "drinking coffee cause headaches",
        "exercising lead to weight gain",
        "stretching every morning reduce back pain",
        "taking antibiotics make a cold go away faster",
        "sleeping in on weekends fix sleep debt",
    ],
    "did": [
        "taking the new medication make my headaches worse",
        "raising the price hurt our sales last quarter",
    ],
}
NEG_INTROS = [
    "Quick health question.",
    "My friend and I are arguing about this.",
    "Settle a debate for me.",
    "I keep reading conflicting things online.",
    "Honest question.",
    "Something I have always wondered.",
]
NEG_TAILS = ["Asking for my mom.", "I keep hearing both.", "Genuinely curious.", "Asking for a friend."]


def negcontraction(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    for aux, items in NEG_ITEMS.items():
        short, full = NEG_AUX[aux]
        for k, rest in enumerate(items):
            style = k % 4
            if style == 0:
                fam, a, b = "plain", f"{short} {rest}", f"{full} {rest}"
            elif style == 1:
                intro = rng.choice(NEG_INTROS)
                fam, a, b = "after_intro", f"{intro} {short} {rest}", f"{intro} {full} {rest}"
            elif style == 2:
                tail = rng.choice(NEG_TAILS)
                fam, a, b = "with_tail", f"{short} {rest}? {tail}", f"{full} {rest}? {tail}"
            else:
                fam, a, b = "lowercase", f"{short.lower()} {rest}", f"{full.lower()} {rest}"
            pairs.append((f"{aux}_{fam}", a, b))
    for rest in ["skipping breakfast slow down my metabolism", "paying the fine early keep it off my record",
                 "switching banks hurt my credit score"]:
        pairs.append(("will_lowercase", f"won't {rest}", f"will not {rest}"))
    return pairs


LANGS = ["Japanese", "Korean", "German", "Italian", "Portuguese", "Polish", "Turkish", "Hindi", "Swahili", "Dutch",
         "Greek", "Vietnamese"]
THX = ["Thanks!", "Thank you.", "Thank you so much!", "Thanks a lot.", "Thank you very much.", "Thanks."]
PERSONAS = ["a pirate", "Shakespeare", "a grumpy teenager", "a Victorian butler", "a surfer", "a cowboy"]
DOCS_END = ["a job application email", "an email to a new client", "a note to my landlord", "a message to my professor",
            "a LinkedIn message to a recruiter", "an email to my whole team"]


def thanks_content(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    for k, lang in enumerate(LANGS):
        thx = THX[k % len(THX)]
        if k % 2 == 0:
            stem = f"How do you say the following in {lang}?"
            fam = "say_following"
        else:
            stem = f"Put the following into {lang}."
            fam = "into_language"
        pairs.append((fam, f"{stem} {thx}", stem))
    for k, doc in enumerate(DOCS_END):
        thx = THX[(k + 2) % len(THX)]
        stem = f"Is the following too informal to end {doc}?" if k % 2 == 0 else f"Is the following enough to close {doc}?"
        pairs.append(("signoff_following", f"{stem} {thx}", stem))
    for k, persona in enumerate(PERSONAS):
        thx = THX[(k + 4) % len(THX)]
        stem = f"How would {persona} say the following?"
        pairs.append(("persona_following", f"{stem} {thx}", stem))
    for k, who in enumerate(["a customer", "my neighbour", "a coworker", "my grandmother", "a stranger on a train"]):
        thx = THX[(k + 1) % len(THX)]
        stem = f"Give me three natural replies when {who} says the following to me."
        pairs.append(("reply_following", f"{stem} {thx}", stem))
    return pairs


def thanks_this(rng: random.Random) -> list[Pair]:
    stems = [
        "What is a more formal way to say this?",
        "Is this too curt to end an email to my landlord?",
        "How should I reply when a client signs off with only this?",
        "Would a Japanese colleague find this rude?",
        "What is a warmer version of this for a birthday card?",
        "How do I say this in Czech?",
        "Is this enough after someone sends me a wedding gift?",
        "Give me five fancier versions of this.",
    ]
    return [("this_then_thanks", f"{s} {THX[k % len(THX)]}", s) for k, s in enumerate(stems)]


def contraction_mention(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    triples = [("Can't", "Can not", "cannot"), ("Can't", "Cannot", "can not"), ("Cannot", "Can not", "can't")]
    frames = [
        "{x} or {y} in a job application",
        "{x} or {y}, which is better in a legal contract",
        "{x} or {y} in an academic paper, which should I use",
        "{x} or {y} for a formal apology email",
    ]
    for (x1, x2, y), (f, frame) in itertools.product(triples, enumerate(frames)):
        pairs.append((f"can_or_frame{f}", frame.format(x=x1, y=y), frame.format(x=x2, y=y)))
    singles = [("Don't", "Do not"), ("Isn't", "Is not"), ("Doesn't", "Does not"), ("Didn't", "Did not"),
               ("Wouldn't", "Would not"), ("Shouldn't", "Should not"), ("Haven't", "Have not"), ("Aren't", "Are not")]
    places = ["in a job application", "in a wedding invitation", "in a thesis", "in a safety sign", "on a resume",
              "in a press release", "in a grant proposal", "in a business proposal"]
    for k, ((short, full), place) in enumerate(zip(singles, places, strict=True)):
        tail = "yes or no." if k % 2 == 0 else "too casual or fine."
        pairs.append(("fine_in_doc", f"{short}, fine {place}, {tail}", f"{full}, fine {place}, {tail}"))
    # Affirmative contractions whose spelled-out form reads stiffer: the register is the question.
    for short, full, place in [("I'm", "I am", "a wedding toast"), ("It's", "It is", "a message to my best friend"),
                               ("What's", "What is", "a song lyric"), ("There's", "There is", "a casual blog post"),
                               ("That's", "That is", "a birthday card"), ("Here's", "Here is", "a tweet")]:
        pairs.append(("natural_or_stiff", f"{short}, natural in {place} or too stiff", f"{full}, natural in {place} or too stiff"))
    return pairs


def canyou_mention(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    verbs = ["help", "explain", "review", "check", "fix", "draft", "find", "provide"]
    ends = [", which sounds more polite in an email to a client",
            ", which is better in a support ticket",
            " when asking my boss, which should I use",
            ", which sounds less pushy to a coworker"]
    openers = ["Can you", "Could you", "Could you please", "Can you please"]
    for k, verb in enumerate(verbs):
        opener = openers[k % len(openers)]
        other = "would you" if k % 2 == 0 else "would you kindly"
        end = ends[k % len(ends)]
        a = f"{opener} {verb} or {other} {verb}{end}"
        b = f"{verb.capitalize()} or {other} {verb}{end}"
        pairs.append((f"frame{k % len(ends)}_vs_{other.replace(' ', '_')}", a, b))
    return pairs


def whitespace_guard(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    poems = [("Roses are red", "Violets are blue"), ("Dear Sam", "See you Friday"), ("Line one of the address", "Springfield"),
             ("Jane Doe", "Head of Research"), ("Step one done", "Step two next"), ("Meeting moved", "Room 4B at noon")]
    for k, (l1, l2) in enumerate(poems):
        q = "What HTML does this Markdown render to?" if k % 2 == 0 else "How will GitHub render this in a README?"
        pairs.append(("markdown_hard_break", f"{q}\n{l1}  \n{l2}", f"{q}\n{l1}\n{l2}"))
    lint = [
        ("Will the pre-commit trailing-whitespace hook change this file?", "import os   \nprint(os.getcwd())"),
        ("Does pycodestyle report any warning for this?", "x = 1  \ny = 2"),
        ("Will git diff --check complain about this change?", "total = 0 \nfor n in range(3):\n    total += n"),
        ("Does this pass flake8 with default settings?", "name = 'ok'\t\nprint(name)"),
        ("Would ruff flag anything in these two lines?", "a = 1    \nb = a + 1"),
    ]
    for q, body in lint:
        pairs.append(("lint_trailing", f"{q}\n{body}", f"{q}\n" + "\n".join(x.rstrip() for x in body.split("\n"))))
    lens = [("ab", "cd", "   "), ("hello", "world", " "), ("x", "y", "    "), ("key", "value", "  "), ("one", "two", "\t")]
    for l1, l2, ws in lens:
        body = f's = """{l1}{ws}\n{l2}"""\nprint(len(s))'
        q = "What does this Python print?"
        pairs.append(("multiline_len", f"{q}\n{body}", f"{q}\n" + body.replace(ws + "\n", "\n")))
    for word in ["EOF", "END", "DONE"]:
        body = f"cat <<{word}\nhello\n{word}  \necho finished"
        q = "What does this bash script print?"
        pairs.append(("heredoc_terminator", f"{q}\n{body}", f"{q}\n" + body.replace(f"{word}  \n", f"{word}\n")))
    conts = [
        ("What does this shell script print?", "echo one \\ \necho two"),
        ("Why does this shell command behave differently than I expect?", "ls -la \\  \n  /tmp"),
        ("Does this Python run, and what does it print?", "total = 1 + \\ \n    2\nprint(total)"),
        ("Is this valid Python?", "if x > 1 and \\   \n   y > 2:\n    pass"),
    ]
    for q, body in conts:
        pairs.append(("backslash_continuation", f"{q}\n{body}", f"{q}\n" + "\n".join(x.rstrip() for x in body.split("\n"))))
    indents = [
        ("    x = 5\nprint(x)", "What happens when I run this with python3?"),
        ("  import sys\nprint(sys.argv)", "Does this script run as is?"),
        ("        total = 0\nprint(total)", "Why would Python reject this file?"),
        ("\tname = 'Ada'\nprint(name)", "What is the output of this?"),
    ]
    for body, q in indents:
        pairs.append(("leading_indent", f"{body}\n{q}", f"{body.lstrip()}\n{q}"))
    greps = [("alpha\nbeta  \ngamma", "Which of these lines does grep ' $' match?"),
             ("red\ngreen\nblue ", "Which lines here match the pattern [[:space:]]$ ?")]
    for body, q in greps:
        pairs.append(("grep_trailing", f"{q}\n{body}", f"{q}\n" + "\n".join(x.rstrip() for x in body.split("\n"))))
    return pairs


def whitespace_arguable(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    for q, body in [("How many lines will wc -l print for this file?", "apple\nbanana"),
                    ("How many lines does cat -n number in this file?", "first\nsecond\nthird"),
                    ("Does this file end with a blank line?", "[core]\neditor = vim")]:
        pairs.append(("trailing_newlines", f"{q}\n{body}\n\n\n", f"{q}\n{body}"))
    for q, body in [("Why does this script fail on Linux?", "#!/bin/bash\r\necho hi\r\nls"),
                    ("Will this script run if I chmod +x it?", "#!/usr/bin/env python3\r\nprint('hi')"),
                    ("Why does git show every line of this file as changed?", "a = 1\r\nb = 2\r\nc = 3")]:
        pairs.append(("crlf", f"{q}\n{body}", f"{q}\n" + body.replace("\r", "")))
    return pairs


def opener_content(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    people = ["professor", "landlord", "new manager", "recruiter", "son's teacher", "doctor"]
    for k, (op, person) in enumerate(zip(["Hey", "Hi", "Hello", "Hey", "Hi", "Hello"], people, strict=True)):
        end = "?" if k % 2 == 0 else ""
        tail = f"too casual to start an email to my {person} with{end}"
        pairs.append(("greeting_too_casual", f"{op}, {tail}", tail))
    for k, (op, who) in enumerate(zip(["Okay", "Ok", "Okay", "Ok"], ["boss", "client", "team lead", "mother-in-law"], strict=True)):
        tail = f"too curt as a whole reply to my {who}" + ("?" if k % 2 == 0 else "")
        pairs.append(("ack_too_curt", f"{op}, {tail}", tail))
    for op, doc in [("So", "an essay"), ("Well", "a wedding toast"), ("So", "a conference talk"), ("Well", "a eulogy")]:
        tail = f"fine to start {doc} with, or lazy"
        pairs.append(("filler_as_topic", f"{op}, {tail}", tail))
    songs = [("Hello", "which Adele album is it on"), ("Hello", "which Lionel Richie album is it on"),
             ("Hey", "which Pixies album is it on"), ("Please", "which U2 album is it on"),
             ("Hello", "who sang it first, Adele or Lionel Richie")]
    for op, rest in songs:
        pairs.append(("song_title", f"{op}, {rest}", rest))
    for op, lang in [("Please", "Korean"), ("Hello", "Swahili"), ("Okay", "Japanese"), ("Hi", "Hawaiian"),
                     ("Please", "Finnish")]:
        pairs.append(("say_it_in", f"{op}. How do you say it in {lang}?", f"How do you say it in {lang}?"))
    for rest in ["tell my roommate the rent is going up", "tell my team their project is cancelled",
                 "explain to my son why his hamster died"]:
        pairs.append(("kindly_manner", f"Kindly {rest}", rest[0].upper() + rest[1:]))
    return pairs


def canyou_generic(rng: random.Random) -> list[Pair]:
    items = ["write in Klingon", "generate images", "make phone calls", "create Excel files",
             "teach me Japanese from scratch", "find cheap flights", "draft legal contracts",
             "summarize YouTube videos", "check the weather in real time", "show me pictures",
             "review a GitHub pull request", "write a whole novel", "tell the difference between butter and margarine",
             "compare apples and oranges", "name every country in Africa"]
    pairs: list[Pair] = []
    for k, rest in enumerate(items):
        opener = "Can you" if k % 3 else "Could you"
        family = "generic_you" if k >= 12 else "assistant_ability"
        pairs.append((family, f"{opener} {rest}", rest[0].upper() + rest[1:]))
    return [p for p in pairs if not guarded(p[1])]


def qmark_statement(rng: random.Random) -> list[Pair]:
    items = ["Is fixed now", "Was the cache all along", "Does the job", "Did it already", "Should work now",
             "Would work for me", "Is good enough for the demo", "Could be the firewall", "Was worth the wait",
             "Do the same for the next chapter", "How rude", "What a waste of money", "Which is exactly what I asked for",
             "Are both in the same folder"]
    pairs: list[Pair] = []
    for k, s in enumerate(items):
        family = "exclamative" if k >= 10 else ("elliptical_report" if k % 2 == 0 else "elliptical_verdict")
        pairs.append((family, f"{s}.", f"{s}?"))
    return pairs


def case_fold(rng: random.Random) -> list[Pair]:
    return [
        ("novel_it", "It was scarier than Pet Sematary, right", "it was scarier than Pet Sematary, right"),
        ("novel_it", "It is longer than The Stand, isn't it", "it is longer than The Stand, isn't it"),
        ("album_help", "Help! Is it better than Rubber Soul", "help! is it better than Rubber Soul"),
    ]


def same_pairs(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    for task in ["explain how a heat pump works", "summarize the plot of Hamlet", "recommend a beginner telescope",
                 "suggest a name for a bakery in Lisbon", "list the planets in order from the sun",
                 "give me three dinner ideas with lentils", "describe the water cycle for a ten year old",
                 "outline a one week study plan for the GRE", "compare tea and coffee for caffeine",
                 "help me plan a birthday party for my daughter"]:
        opener = rng.choice(["Can you", "Could you", "Could you please", "Can you please"])
        pairs.append(("polite_request", f"{opener} {task}.", task[0].upper() + task[1:]))
    for q in ["the capital of Australia", "the boiling point of water at high altitude", "the best way to store basil",
              "the tallest mountain in Africa", "a good stretch for lower back pain", "the difference between a crocodile and an alligator",
              "the population of Norway", "the fastest land animal"]:
        pairs.append(("whats_expansion", f"What's {q}?", f"What is {q}?"))
    for op, q in [("Hi!", "How do I remove a stripped screw?"), ("Hello.", "What temperature kills bed bugs?"),
                  ("Hey!", "Why is the sky blue?"), ("Hi!", "Where should I stay in Kyoto?"),
                  ("Hello!", "How long do eggs keep in the fridge?"), ("Hey.", "Which cheese melts best on pizza?"),
                  ("Ok so", "how do I unclog a drain without chemicals"), ("Um,", "how many cups are in a liter")]:
        pairs.append(("greeting", f"{op} {q}", q))
    for q, thx in [("What temperature should I bake salmon at?", "Thanks!"), ("How do I get wine out of a carpet?", "Thank you."),
                   ("Why do cats purr?", "Thanks a lot!"), ("When is the best time to visit Iceland?", "Thank you so much!"),
                   ("Recommend a sci-fi novel for a teenager.", "Thanks."), ("How do I reset a Roku remote?", "Thanks in advance!"),
                   ("Where do puffins nest?", "Thank you very much!"), ("Suggest a weekend hike near Seattle.", "Thanks!")]:
        pairs.append(("closing_thanks", f"{q} {thx}", q))
    for q in ["How far is the moon from Earth", "Recommend a podcast about history", "Which vitamins are in spinach",
              "Tell me a fun fact about octopuses", "What should I feed a baby hedgehog", "Find me a vegan brownie recipe"]:
        pairs.append(("case_and_period", f"{q}.", q[0].lower() + q[1:]))
    for q in ["can i freeze cooked rice", "should i repot my cactus in winter", "how do i clean a cast iron pan",
              "what should i do if my dog eats chocolate", "i want to learn the guitar, where do i start",
              "do i need a visa for Morocco"]:
        pairs.append(("i_pronoun", q, re.sub(r"\bi\b", "I", q)))
    for q in ["What\u2019s a good gift for a new dad?", "I\u2019m visiting Rome in May, what should I see?",
              "Where\u2019s the best place to see the northern lights?", "My cat won\u2019t eat, should I worry?",
              "Who\u2019s the fastest marathon runner ever?"]:
        pairs.append(("curly_apostrophe", q, q.replace("\u2019", "'")))
    for q in ["How long should I boil an egg?", "Plan a three day trip to Vienna", "Why do onions make you cry?",
              "What is a good first car for a student?"]:
        pairs.append(("spacing", "  " + q.replace(" ", "  ", 2) + " ", q))
    for q, err in [("Why does this fail?", "ModuleNotFoundError: No module named 'requests'"),
                   ("How do I fix this?", "TypeError: 'NoneType' object is not subscriptable"),
                   ("What causes this error?", "ZeroDivisionError: division by zero"),
                   ("Why do I get this when I push?", "fatal: refusing to merge unrelated histories"),
                   ("What does this error from npm mean?", "npm ERR! code ERESOLVE"),
                   ("How do I fix this in Docker?", "no space left on device")]:
        pairs.append(("pasted_error_whitespace", f"{q}\n{err}   \n", f"  {q}\n{err}"))
    for q in ["I'm flying to Lisbon next week. What should I pack?", "I'm allergic to nuts. Which cereals are safe?",
              "I've got two hours in Boston. What can I see?", "I'll be in Seoul in April. Is it cherry blossom season?"]:
        pairs.append(("first_word_contraction", q, q.replace("I'm", "I am").replace("I've", "I have").replace("I'll", "I will")))
    return pairs


KINDS: list[tuple[str, str, object]] = [
    ("negcontraction", "different", negcontraction),
    ("thanks_content", "different", thanks_content),
    ("contraction_mention", "different", contraction_mention),
    ("canyou_mention", "different", canyou_mention),
    ("whitespace_guard", "different", whitespace_guard),
    ("whitespace_guard_arguable", "different", whitespace_arguable),
    ("thanks_content_arguable", "different", thanks_this),
    ("opener_content_arguable", "different", opener_content),
    ("canyou_generic_arguable", "different", canyou_generic),
    ("qmark_statement_arguable", "different", qmark_statement),
    ("case_fold_arguable", "different", case_fold),
    ("same", "same", same_pairs),
]


def build() -> list[dict[str, str]]:
    self_test()
    rng = random.Random(SEED)
    rows: list[dict[str, str]] = []
    seen: dict[tuple[str, ...], str] = {}
    for kind, label, make in KINDS:
        for family, a, b in make(rng):  # type: ignore[operator]
            if a == b:
                raise AssertionError(f"identical sides: {a!r}")
            if not equal_under_all(a, b):
                bad = [v for v in VARIANTS if normalise(a, v) != normalise(b, v)]
                raise AssertionError(f"{kind}:{family} does not normalise equal under {bad[0]}: {a!r} / {b!r}\n"
                                     f"{normalise(a, bad[0])}\n{normalise(b, bad[0])}")
            if label == "different" and kind.startswith("whitespace_guard") != guarded(a):
                raise AssertionError(f"guard expectation wrong for {a!r}")
            # No normalised prompt may sit in two pairs: a hit on another pair's entry would be mis-scored.
            key = normalise(a, VARIANTS[0])
            if key in seen:
                raise AssertionError(f"normalised prompt repeated: {a!r} and {seen[key]!r}")
            seen[key] = a
            if rng.random() < 0.5:
                a, b = b, a
            rows.append({"id": "", "group": f"{kind}:{family}", "split": "report", "a": a, "b": b, "label": label, "kind": kind})
    for i, row in enumerate(rows):
        row["id"] = f"r8-{i:04d}"
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = Counter((r["kind"], r["label"]) for r in rows)
    for (kind, label), n in sorted(counts.items()):
        print(f"{kind:28s} {label:9s} {n}")
    print("total", len(rows), dict(Counter(r["label"] for r in rows)))


if __name__ == "__main__":
    main()
