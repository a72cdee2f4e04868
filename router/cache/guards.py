"""Meaning guards for the semantic cache: cheap lexical checks that veto an embedding match.

Sentence embeddings are nearly blind to the tokens that decide an answer: "5 km" and "50 km",
"is" and "is not", "France" and "Germany", "max" and "min" give cosine similarities of 0.9+.
A false cache hit returns a confidently wrong answer, while a missed hit only costs one model
call, so every check here is one-sided: when in doubt, refuse the match.

:func:`compatible` extracts a few features from each text and requires checks 1-5 to agree:

1. **Numbers**, in order, with digits and written-out numbers normalised to one value
   ("five" == "5", "1,000" == "1000.0", "twenty-five" == "25", "3 million" == "3000000",
   "first" == "1st"), together with the **units** mentioned (in order, with words folded to
   their symbol: "km" == "kilometres", symbols read in their case: "mW" != "MW", "Mb" != "MB")
   and arithmetic **operators** ("7 x 8" == "7 times 8" != "7 + 8").
2. **Negation**: the same number of negation cues ("not", "n't", "cannot", "no", "never",
   "without", "none", ...). A count rather than a parity: double negatives are rare in prompts
   and a mismatch is the safe side.
3. **Named things**: capitalised words that do not start a sentence (plus sentence-initial ones
   that are not common sentence starters), acronyms, code identifiers (snake_case, camelCase,
   dotted.names, calls like ``foo()``) and quoted strings. Each text's named things must occur
   in the other text (in any case and inflection, so "France's capital" still matches "the
   capital of France"), and the ones they share must come in the same order ("from USD to
   EUR" != "from EUR to USD").
4. **Direction words**: words on an opposed axis (more/less, before/after, increase/decrease,
   max/min, ascending/descending, encode/decode, upload/download, ...) must give the same
   sequence of directions on every axis in both texts.
5. **Case-significant tokens**: a word both texts use must be spelled in the same case where its
   case carries meaning in either: SI symbols ("Gbps" / "GBps", "ms" / "Ms"), lower camelCase and
   code identifiers with capitals ("isNaN" / "isnan", "UserList.sort()"), quoted literals. Plain
   words, Title case and acronyms ("SQL" / "sql") fold.

The verifier (:mod:`router.cache.verify`) adds two checks of the wording (:func:`wording_difference`):

6. **Function words that carry the meaning**: the verifier's content-word alignment drops
   function words, and some of them decide the answer: the question word ("why" / "when" did
   Rome fall), the tense ("who is" / "who was" / "who will be"), advice or obligation against
   possibility ("can" / "should I"), where something moves ("from", "in" / "out") and a choice
   against a sum ("or" / "and"); which thing or place is meant ("this" / "that", "here" /
   "there", not "that" joining a clause nor "is there"); who is who: personal and possessive
   pronouns by person, number or gender and case, each with the content word before it, so that
   "from me to my mother" != "from my mother to me" and "he drove her" != "she drove him" (the
   asker, "I" or "how do you", is not compared); and, when both texts use some, the prepositions
   that give a participant its role ("a speech to" / "for" / "by the volunteers"). Each class
   must give the same sequence in both texts.
7. **Code symbols**: runs of operator and bracket characters ("==" / "is", "x++" / "++x",
   "--force" / "--force-with-lease") must be the same sequence.

Everything is a handful of precompiled regular expressions and set operations; features are
memoised per text, so checking a candidate costs a few microseconds.

The checks read the whole text, so their cost and the memo's size grow with it: a text longer
than :data:`MAX_TEXT_CHARS` is never judged compatible (its requests use the exact cache only),
and the memo is keyed by a digest and bounded in total size (:data:`MEMO_BYTES`).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

# Longest text the guard reads (~1,000 tokens; extraction ~2 ms). The cache's embedding sees only
# a prompt's first and last ~128 tokens, so a long prompt's middle is checked by the guard alone:
# refusing past this bound keeps both the cost and the blind spot small.
MAX_TEXT_CHARS = 4096
# Memoised features, all texts together (a 4,096-character text's features take ~100 KB).
MEMO_BYTES = 32 * 1024 * 1024

# -- numbers -----------------------------------------------------------------------------------
# fmt: off
_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12,
}
# "second" is left out of the ordinals: it is far more often the unit of time.
_ORDINALS = {
    "first": 1, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "twentieth": 20, "hundredth": 100,
}
# fmt: on
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "trillion": 10**12}
_FRACTIONS = {"half": 0.5, "quarter": 0.25}

# -- units: canonical symbol <- (symbols, matched with their case; spelled-out words, in any case) --
# A unit symbol's case is part of its meaning: "mW" is a thousandth of a watt and "MW" a million,
# "Mb" a megabit and "MB" a megabyte, "ms" a millisecond and "Ms" a megasecond. Symbols therefore
# match only as written (plus the few lower-case spellings that can mean one unit only, "kwh");
# words ("Megabytes", "kilometres") are folded to their symbol in any case.
_UNIT_TABLE: dict[str, tuple[str, str]] = {
    "km": ("km kms", "kilometer kilometers kilometre kilometres"),
    "m": ("m", "meter meters metre metres"),
    "cm": ("cm", "centimeter centimeters centimetre centimetres"),
    "mm": ("mm", "millimeter millimeters millimetre millimetres"),
    "mi": ("mi", "mile miles"),
    "ft": ("ft", "foot feet"),
    "in": ("in", "inch inches"),
    "kg": ("kg kgs", "kilogram kilograms kilo kilos"),
    "g": ("g", "gram grams"),
    "lb": ("lb lbs", "pound pounds"),
    "oz": ("oz", "ounce ounces"),
    "L": ("l L", "liter liters litre litres"),
    "mL": ("ml mL", "milliliter milliliters millilitre millilitres"),
    "gal": ("gal", "gallon gallons"),
    "ms": ("ms", "millisecond milliseconds"),
    "s": ("s sec secs", "second seconds"),
    "min": ("min mins", "minute minutes"),
    "h": ("h hr hrs", "hour hours"),
    "day": ("", "day days"),
    "week": ("", "week weeks"),
    "month": ("", "month months"),
    "year": ("yr yrs", "year years"),
    "%": ("%", "percent percentage"),
    "USD": ("$ USD usd", "dollar dollars"),
    "EUR": ("€ EUR eur", "euro euros"),
    "GBP": ("£ GBP gbp", ""),
    "°C": ("°c °C", "celsius centigrade"),
    "°F": ("°f °F", "fahrenheit"),
    "B": ("", "byte bytes"),
    "bit": ("", "bit bits"),
    "kb": ("kb Kb kbit", "kilobit kilobits"),
    "kB": ("kB KB", "kilobyte kilobytes"),
    "KiB": ("KiB", "kibibyte kibibytes"),
    "Mb": ("Mb Mbit", "megabit megabits"),
    "MB": ("MB", "megabyte megabytes"),
    "MiB": ("MiB", "mebibyte mebibytes"),
    "Gb": ("Gb Gbit", "gigabit gigabits"),
    "GB": ("GB", "gigabyte gigabytes"),
    "GiB": ("GiB", "gibibyte gibibytes"),
    "Tb": ("Tb Tbit", "terabit terabits"),
    "TB": ("TB", "terabyte terabytes"),
    "TiB": ("TiB", "tebibyte tebibytes"),
    "mph": ("mph", ""),
    "km/h": ("km/h kmh kph", ""),
    "W": ("W w", "watt watts"),
    "mW": ("mW", "milliwatt milliwatts"),
    "kW": ("kW kw", "kilowatt kilowatts"),
    "MW": ("MW", "megawatt megawatts"),
    "GW": ("GW", "gigawatt gigawatts"),
    "kWh": ("kWh kwh", ""),
    "V": ("V v", "volt volts"),
    "Hz": ("Hz hz", "hertz"),
    "kHz": ("kHz khz", "kilohertz"),
    "MHz": ("MHz", "megahertz"),
    "GHz": ("GHz ghz", "gigahertz"),
}
_UNIT_SYMBOLS = {alias: unit for unit, (symbols, _) in _UNIT_TABLE.items() for alias in symbols.split()}
_UNIT_WORDS = {alias: unit for unit, (_, words) in _UNIT_TABLE.items() for alias in words.split()}
# Lower-cased: "one mile" reads "one" as a number (see _number_words).
_UNIT_LOWER = frozenset(alias.lower() for alias in (*_UNIT_SYMBOLS, *_UNIT_WORDS))
# Words that are units only right after a number ("in", "s", "second", "min").
_AMBIGUOUS_UNITS = frozenset("m g s l in h c f w v b ms min mins sec secs second".split())
# Other SI-prefixed symbols ("Mbps", "MBps", "mAh", "nm"), read as written: prefix, then unit.
_SI_UNIT_RE = re.compile(r"(?:da|[KMGTPE]i|[yzafpnuµμmcdhkKMGTPEZY])?(?:bps|Bps|bit|Wh|Ah|Hz|eV|Pa|[bBWVsgmlL])")
# Lower-case words the SI pattern reads as units but that are English after a number ("5 am").
_NOT_SI_UNITS = frozenset("am pm as at an ha pa da ma".split())


def _unit(token: str, after_number: bool) -> str | None:
    """The unit ``token`` names, by its case for symbols ("MB" != "Mb" != "mb"), or None."""
    found = _UNIT_SYMBOLS.get(token) or _UNIT_WORDS.get(token.lower())
    if found is not None:
        return None if not after_number and token.lower() in _AMBIGUOUS_UNITS else found
    if after_number and token.lower() in _UNIT_LOWER:
        return token  # a known unit typed in another case ("5 gb", "3 mhz") stands for itself, as written
    if after_number and token not in _NOT_SI_UNITS and _SI_UNIT_RE.fullmatch(token):
        return token  # a symbol this table lacks stands for itself, case and all
    return None


def _case_significant(token: str) -> bool:
    """Whether the token's letter case is part of what it means, not just of how it was typed:
    SI symbols ("MW"/"mW", "GB"/"Gb"), lower camelCase ("isNaN", "mAh") and code identifiers with
    capitals ("UserList.sort()", "My_Const"). Plain words, Title case and acronyms ("SQL"/"sql") fold."""
    if token.islower() or not any(c.isupper() for c in token):
        return False
    core = token.removesuffix("()")
    if len(core) >= 2 and _SI_UNIT_RE.fullmatch(core):
        return True
    if core[0].islower():
        return True
    return token.endswith("()") or "_" in core or "." in core


# -- negation ----------------------------------------------------------------------------------
_NEGATIONS = frozenset(
    "not no never without none nobody nothing neither nor nowhere cannot unable impossible "
    "lack lacks lacking cant dont doesnt isnt arent wasnt werent didnt wont wouldnt shouldnt "
    "couldnt hasnt havent".split()
)

# -- direction axes: word -> (axis, sign); matched on a crude stem, see _stem ------------------
_AXES = {
    "magnitude": (
        "more greater greatest larger largest bigger biggest higher highest max maximum maximize "
        "maximise most increase increasing ascending above exceed exceeds upper",
        "less fewer fewest smaller smallest lower lowest min minimum minimize minimise least decrease decreasing descending below reduce",
    ),
    "time": ("after later latest next newer newest", "before earlier earliest prior previous older oldest"),
    "speed": ("faster fastest quicker quickest", "slower slowest"),
    "length": ("longer longest", "shorter shortest"),
    "age": ("elder eldest", "younger youngest"),
    "temperature": ("hotter hottest warmer warmest", "colder coldest cooler coolest"),
    "case": ("uppercase upper-case capitalize capitalise", "lowercase lower-case"),
    "code": ("encode encrypt compress serialize serialise zip", "decode decrypt decompress deserialize deserialise unzip"),
    "transfer": ("upload push export send", "download pull import receive"),
    "switch": ("enable activate", "disable deactivate"),
    "lifecycle": ("start begin launch", "stop end finish halt"),
    "install": ("install", "uninstall"),
    "lock": ("lock", "unlock"),
    "mount": ("mount", "unmount"),
    "edit": ("add insert append create", "remove delete drop destroy"),
    "trade": ("buy purchase", "sell"),
    "io": ("input", "output"),
    "truth": ("true", "false"),
    "sign": ("positive", "negative"),
    "outcome": ("win wins won", "lose loses lost"),
    "access": ("open", "close"),
    "side": ("left", "right"),
    "inside": ("inside inner internal", "outside outer external"),
}

# -- function words that decide an answer: word -> (class, value); see _function_words -----------
_FUNCTION_CLASSES = {
    "question": {w: w for w in "what which why when where who whom whose how".split()}
    | {"what's": "what", "whats": "what", "who's": "who", "where's": "where", "when's": "when", "why's": "why", "how's": "how"},
    "tense": {w: "past" for w in "was were did had wasn't weren't didn't hadn't wasnt werent didnt hadnt".split()}
    | {w: "future" for w in "will shall won't wont shan't".split()},
    "obligation": {w: "should" for w in "should must ought shouldn't mustn't shouldnt mustnt".split()},
    "motion": {"from": "from", "out": "out", "into": "into", "onto": "into", "towards": "to", "toward": "to"},
    "choice": {"or": "or", "either": "or"},
}
_FUNCTION_WORDS = {word: (cls, value) for cls, table in _FUNCTION_CLASSES.items() for word, value in table.items()}
_FUNCTION_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+")
# Punctuation between two words that starts a new clause: a pronoun after it is a subject.
_CLAUSE_BREAK_RE = re.compile(r"[.!?;:,\n]")

# Function words and politeness: the verifier's alignment drops them ("how do I sort a list" meets
# "how can i sort my list?"); here they are what a pronoun's place is not measured from.
STOP_WORDS = frozenset(
    """a an the this that these those it its i me my we our you your he she they them their is are was were be been
    being am do does did can could would should will shall may might must have has had please kindly hey hi hello
    thanks thank so and or to of in on at for from by with as into about up out just also very really some any
    how what which who whom when where why there here if then than too way ways""".split()
)

# Deixis: which thing ("this" / "that") or place ("here" / "there") is meant.
_DEIXIS = {"this": "near", "these": "near+", "that": "far", "those": "far+", "that's": "far", "here": "here", "there": "there"}
# After these "that" joins a clause ("I think that the disk is full"), it points at nothing.
_CLAUSE_STARTERS = frozenset(
    """the a an i you he she it we they this these those there my your his her our their its some no all every each
    any one someone somebody something everyone everybody everything nobody nothing if when""".split()
)
# "there is", "is there", "here is": existence or presentation, not a place.
_BE = frozenset("is are was were be been being isn't aren't wasn't weren't".split())
_AUXILIARIES = _BE | frozenset("do does did can could will would should may might must has have had".split())
_GREETINGS = frozenset("hi hello hey thanks".split())
_THERE_VERBS = _BE | frozenset(
    "will would could should might may must can seem seems seemed exist exists existed used has have had".split()
)

# Persons: whose thing and who does what to whom. Values carry person, number or gender, and case
# ("he" subject, "him" object, "his" owner). The one asking ("I", or "you" as the subject of a
# question: "how do I" = "how do you") is not compared, nor "you" in "thank you"; "we" is. Nor is
# the asker as the object of a verb ("give me a recipe" = "give a recipe"): only after a preposition
# ("from me", "than me") is "me" a participant whose place can change.
_PERSONS = {
    "we": "1s", "me": "1o", "myself": "1o", "us": "1o", "ourselves": "1o", "my": "1p", "mine": "1p", "our": "1p", "ours": "1p",
    "your": "2p", "yours": "2p", "yourself": "2o", "yourselves": "2o",
    "he": "3ms", "him": "3mo", "himself": "3mo", "his": "3mp", "she": "3fs", "herself": "3fo", "hers": "3fp",
    "they": "3ps", "them": "3po", "themselves": "3po", "their": "3pp", "theirs": "3pp",
    "it": "3n", "itself": "3n", "its": "3np",
}  # fmt: skip
_ASKERS = frozenset({"i"})
# Before "you", these make it the subject ("do you", "if you", "how you"): the one asking.
_SUBJECT_BEFORE = frozenset(
    """do does did don't doesn't didn't can could would should will shall may might must can't couldn't wouldn't
    shouldn't won't are were aren't weren't have has had if when whenever unless and or but so because that how what
    where why which who whether once until before after while though although then""".split()
)
# Prepositions that give a participant its role: to whom, for whom, by whom, with whom, ... ("from",
# "out" and "into" are the motion class's). Compared only when both texts use some: a paraphrase
# often says it with a verb instead ("with rice" / "using rice"), while "a speech to the volunteers"
# and "a speech for the volunteers" must still be told apart.
_ROLES = {w: w for w in "to for by with against than about at via".split()}
_PREPOSITIONS = frozenset(_ROLES) | frozenset(
    """from into onto toward towards of in on like without between among after before behind beside near over
    under around through within""".split()
)
# "to" is a preposition before a noun phrase ("to my mother", "to the bank", "to Oslo", "to 5"); before a
# verb ("to sort") it marks an infinitive and is not compared.
_NOUN_PHRASE_STARTERS = frozenset(
    """the a an my your his her our their its this that these those me you him us them it some every each all
    any no""".split()
)
# Operators and brackets in code; a lone "!" or "-" is punctuation or a hyphen, not code.
_SYMBOL_RE = re.compile(r"[=<>!+*/%&|^~$#@\\\[\]{}()`-]+")

# -- sentence starters that are capitalised only because they start a sentence ------------------
_COMMON_STARTERS = frozenset(
    """a an the this that these those it its i i'm i've i'd i'll my me we our you your he she they
    their there here what what's whats which who whom whose when where why how how's is are was
    were be been am do does did done can could would should will shall may might must have has
    had please kindly hi hello hey thanks thank ok okay so and but or if then also now just
    explain describe define tell give show list name write create make generate build implement
    find get compute calculate convert translate summarize summarise compare sort reverse check
    help suggest recommend provide fix debug solve simplify evaluate estimate determine identify
    rewrite refactor design plan outline draft use using let let's lets need want wanted trying
    try is there any some all each every no not yes in on at for from to of with by about after
    before during as into over under between among without within across since until while
    because although though other another such one two three first second next last quick
    simple short brief best good new old same different given assuming suppose say imagine
    consider note remember okay cool great sure why's where's who's that's it's there's
    ways way steps step method methods difference differences meaning definition example
    examples""".split()
)

# Morphological negation, checked pairwise: only "X" in one text and "unX" in the other counts.
_NEG_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "non-")

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
_TOKEN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_']*(?:[.\-/][A-Za-z_][A-Za-z0-9_']*)*(?:\(\))?")
_NUMBER_RE = re.compile(
    r"(?<![A-Za-z_\d.])(?P<cur>[$€£])?\s*"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:st|nd|rd|th)?"
    r"(?:\s*(?P<unit>%|°\s*[cCfF]\b|[A-Za-z]+(?:/h)?))?"
)
# Characters after which a "-" before a number is its sign.
_SIGN_CONTEXT = frozenset(" \t\n([{=,:;")
# Words after a number up to this long are compared as written (units the table lacks).
_AS_WRITTEN_MAX = 4
_OP_SYMBOL_RE = re.compile(r"(?<=[\d)])\s*([-+*/×÷^x])\s*(?=[\d(.])")
# fmt: off
_OP_WORDS = {
    "plus": "+", "minus": "-", "subtract": "-", "times": "*", "multiplied": "*", "multiply": "*",
    "divided": "/", "divide": "/", "squared": "^2", "cubed": "^3", "power": "^", "sqrt": "sqrt",
    "root": "sqrt", "modulo": "%", "mod": "%", "factorial": "!", "log": "log", "logarithm": "log",
}
# fmt: on
_OP_CANON = {"×": "*", "x": "*", "÷": "/"}
_QUOTED_RE = re.compile(r'"([^"\n]{1,200})"|`([^`\n]{1,200})`|(?<![\w\'])\'([^\'\n]{1,200})\'(?![\w\'])')
_SKIP_BEFORE = " \t\"'([*#>-"
_ENDS_SENTENCE = ".!?:;\n"
_CAMEL_RE = re.compile(r"[a-z0-9][A-Z]")


def _stem(word: str) -> str:
    """Crude suffix stripping so inflections meet ("decoding" / "decoded" / "decode")."""
    # Only real words are memoised: a client's 4,000-letter "words" would fill the memo with themselves.
    return _stem_word(word) if len(word) <= 32 else _stem_word.__wrapped__(word)


@lru_cache(maxsize=65536)
def _stem_word(word: str) -> str:
    word = word.lower()
    if word.endswith("'s"):
        word = word[:-2]
    word = word.rstrip("'")
    for suffix in ("ing", "ed", "es", "e", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not (suffix == "s" and word.endswith("ss")):
            word = word[: -len(suffix)]
            if suffix in ("ing", "ed") and len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiousl":
                word = word[:-1]  # "stopped" -> "stop"; "added"/"called" keep theirs
            break
    return word


# Axes of everyday verbs ("create", "send", "open") are compared only when both texts use them:
# a paraphrase often drops the verb, while "start" vs "stop" must still be told apart.
_LENIENT_AXES = frozenset({"transfer", "switch", "lifecycle", "edit", "io", "access", "side"})

_DIRECTIONS: dict[str, tuple[str, int]] = {}
for _axis, (_plus, _minus) in _AXES.items():
    for _words, _sign in ((_plus, 1), (_minus, -1)):
        for _w in _words.split():
            _DIRECTIONS[_stem(_w)] = (_axis, _sign)


@dataclass(frozen=True, slots=True)
class Features:
    numbers: tuple[float, ...]
    units: tuple[str, ...]
    ops: tuple[str, ...]
    negations: int
    directions: tuple[tuple[str, tuple[int, ...]], ...]
    named: tuple[str, ...]  # stems of named things, in order of first appearance
    quoted: tuple[str, ...]
    stems: frozenset[str]
    words: frozenset[str]
    neg_bases: frozenset[str]
    lowered: str
    function: tuple[tuple[str, tuple[str, ...]], ...] = ()  # class -> its words' values, in order
    symbols: tuple[str, ...] = ()
    cased: tuple[tuple[str, tuple[str, ...]], ...] = ()  # lower-cased word -> its spellings, for case-significant ones


_NUMBER_WORDS = frozenset(_SMALL) | frozenset(_SCALES) | frozenset(_ORDINALS)


def _number_words(words: list[str], starts: list[int]) -> list[tuple[int, float]]:
    """(position, value) of runs of written-out numbers ("two hundred and five" -> 205)."""
    values: list[tuple[int, float]] = []
    total = current = 0.0
    run: list[str] = []
    run_start = 0

    def close(next_word: str) -> None:
        # A lone "one" is usually a pronoun ("which one is"); it counts before a unit ("one mile").
        if run != ["one"] or (next_word in _UNIT_LOWER and next_word not in _AMBIGUOUS_UNITS):
            values.append((run_start, total + current))

    for i, word in enumerate(words):
        parts = word.split("-") if "-" in word else (word,)
        if not all(p in _NUMBER_WORDS for p in parts):
            if run and word == "and" and i + 1 < len(words) and words[i + 1] in _SMALL:
                continue
            if run:
                close(word)
                total = current = 0.0
                run = []
            if word in _FRACTIONS:
                values.append((starts[i], _FRACTIONS[word]))
            continue
        if not run:
            run_start = starts[i]
        for part in parts:
            run.append(part)
            if part in _SCALES:
                current = max(current, 1.0) * _SCALES[part]
                if _SCALES[part] >= 1000:
                    total, current = total + current, 0.0
            else:
                current += _SMALL.get(part, _ORDINALS.get(part, 0))
    if run:
        close("")
    return values


def _size(f: Features) -> int:
    """A rough upper estimate of the bytes a Features holds (strings and set slots)."""
    items = len(f.words) + len(f.stems) + len(f.neg_bases) + len(f.named) + len(f.quoted) + len(f.symbols)
    items += sum(len(values) for _, values in f.function) + sum(1 + len(forms) for _, forms in f.cased)
    return 512 + 3 * len(f.lowered) + 192 * items + 64 * (len(f.numbers) + len(f.units) + len(f.ops))


class _Memo:
    """Features by text digest, least recently used out first once over ``max_bytes`` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[bytes, tuple[Features, int]] = OrderedDict()
        self._lock = threading.Lock()  # lookups run in worker threads too

    def get(self, text: str) -> Features:
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found[0]
        value = _extract(text)  # outside the lock: two threads may both extract, never wait on each other
        size = _size(value)
        with self._lock:
            if key not in self._items and size <= self.max_bytes:
                self._items[key] = (value, size)
                self.bytes += size
                while self.bytes > self.max_bytes:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self.bytes -= dropped
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0


_MEMO = _Memo(MEMO_BYTES)


def features(text: str) -> Features:
    """The features :func:`compatible` compares, memoised (cached texts recur)."""
    return _MEMO.get(text)


def _extract(text: str) -> Features:
    text = text.translate(_APOSTROPHES)
    lowered = text.lower()

    numbers: list[tuple[int, float]] = []
    units: list[str] = []
    consumed: set[int] = set()  # unit/scale words read with their number, not to be read twice
    for m in _NUMBER_RE.finditer(text):
        value = float(m.group("num").replace(",", ""))
        unit = m.group("unit")
        canon = None
        if unit is not None:
            key = unit.replace(" ", "")
            canon = _unit(key, after_number=True)
            if key.lower() in _SCALES or canon is not None:
                consumed.add(m.start("unit"))
            if key.lower() in _SCALES:
                value *= _SCALES[key.lower()]
        before = m.start() - 1
        if before >= 0 and text[before] in "-\u2212" and (before == 0 or text[before - 1] in _SIGN_CONTEXT):
            value = -value  # a leading minus ("round -3.5"), not a subtraction ("5-3", read as an operator)
        numbers.append((m.start("num"), value))
        if (canon is None and unit is not None and len(unit) <= _AS_WRITTEN_MAX and unit.lower() not in _SCALES
                and unit.lower() not in _OP_WORDS and unit.lower() != "x"):  # "7 x 8" is an operator, read as one
            # Whatever follows a number is read as written, case and all: a unit the table lacks
            # ("2 T" tablespoons against "2 t" teaspoons, "5 M" against "5 m") must match exactly.
            units.append("=" + unit)
        if m.group("cur"):
            units.append(_UNIT_SYMBOLS[m.group("cur")])
        if canon is not None:
            units.append(canon)

    ops = [_OP_CANON.get(op, op) for op in _OP_SYMBOL_RE.findall(text)]

    tokens = [(m.group(0), m.start()) for m in _TOKEN_RE.finditer(text)]
    words = [t.lower().removesuffix("()") for t, _ in tokens]
    starts = [s for _, s in tokens]
    numbers.extend(_number_words([w if s not in consumed else "" for w, s in zip(words, starts, strict=True)], starts))
    numbers.sort()

    spellings: dict[str, list[str]] = {}
    for token, word in zip(tokens, words, strict=True):
        forms = spellings.setdefault(word, [])
        if token[0].removesuffix("()") not in forms:
            forms.append(token[0].removesuffix("()"))
    cased = tuple(sorted((w, tuple(f)) for w, f in spellings.items() if any(_case_significant(x) for x in f)))

    negations = 0
    direction_seq: dict[str, list[int]] = {}
    named: list[str] = []
    stems: set[str] = set()
    for (token, start), word in zip(tokens, words, strict=True):
        if start in consumed:
            continue
        stem = _stem(word)
        stems.add(stem)
        stems.add(word)
        if word in _NEGATIONS or word.endswith("n't"):
            negations += 1
        if word in _OP_WORDS:
            ops.append(_OP_WORDS[word])
        unit = _unit(token.removesuffix("()"), after_number=False)
        if unit is not None:
            units.append(unit)
        direction = _DIRECTIONS.get(stem) or _DIRECTIONS.get(word)
        if direction is not None:
            direction_seq.setdefault(direction[0], []).append(direction[1])
        if unit is None and _is_named(token, start, text, word) and stem not in named:
            named.append(stem)

    # As written: a quoted literal's case is part of it ('replace "Total" with "total"').
    quoted = tuple(next(g for g in m.groups() if g is not None).strip() for m in _QUOTED_RE.finditer(text))
    return Features(
        numbers=tuple(round(n, 9) for _, n in numbers),
        units=tuple(units),
        ops=tuple(ops),
        negations=negations,
        directions=tuple(sorted((axis, tuple(signs)) for axis, signs in direction_seq.items())),
        named=tuple(named),
        quoted=quoted,
        stems=frozenset(stems),
        words=frozenset(words),
        neg_bases=frozenset(w[len(p) :] for w in words for p in _NEG_PREFIXES if w.startswith(p) and len(w) - len(p) >= 3),
        lowered=lowered,
        function=_function_words(text),
        symbols=tuple(run for run in _SYMBOL_RE.findall(text) if run not in ("!", "-")),
        cased=cased,
    )


def _function_words(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each class's values in order: question, tense, obligation, choice (context-free), and the
    deixis, person and role classes, which read a word's neighbours to tell "that" the pointer from
    "that" the conjunction, a subject from an object, "to" the preposition from "to" the infinitive."""
    found: dict[str, list[str]] = {}
    tokens = [(m.group(0), m.start(), m.end()) for m in _FUNCTION_RE.finditer(text)]
    lowered = [t.lower() for t, _, _ in tokens]
    anchor = "^"  # the last content word: a pronoun's place among the content words
    for i, word in enumerate(lowered):
        broken = i == 0 or bool(_CLAUSE_BREAK_RE.search(text, tokens[i - 1][2], tokens[i][1]))
        prev = "" if broken else lowered[i - 1]
        nxt = lowered[i + 1] if i + 1 < len(lowered) else ""
        base = word.split("'")[0]
        hit = _FUNCTION_WORDS.get(word)
        if hit is None and word.endswith("'ll"):
            hit = ("tense", "future")
        if hit is not None:
            found.setdefault(hit[0], []).append(hit[1])
        if word in _DEIXIS:
            if word == "that" and ((nxt in _CLAUSE_STARTERS and prev and prev not in _AUXILIARIES) or prev in ("so", "such")):
                pass  # "that" joining a clause ("I think that the ..."; not "is that the ...")
            elif word == "there" and (prev in _BE or prev in _GREETINGS or nxt in _THERE_VERBS):
                pass  # "is there", "there is", "hi there"
            elif word == "here" and nxt in _BE:
                pass  # "here is my code"
            else:
                found.setdefault("deixis", []).append(_DEIXIS[word])
        person = _PERSONS.get(word) or _PERSONS.get(base)
        if base == "her":
            # "her" owns the next word when that is a content word ("her laptop"), else it is the object.
            person = "3fp" if nxt and nxt not in STOP_WORDS and nxt not in _PERSONS and not nxt.isdigit() else "3fo"
        elif base == "you" and prev != "thank":
            subject = word != "you" or broken or prev in _SUBJECT_BEFORE
            person = None if subject else "2o"
        if person == "1o" and prev not in _PREPOSITIONS:
            person = None  # "give me", "show us": the asker as a verb's object
        if person is not None and base not in _ASKERS:
            found.setdefault("person", []).append(f"{person}@{anchor}")
        noun_next = nxt in _NOUN_PHRASE_STARTERS or nxt.isdigit() or (i + 1 < len(tokens) and tokens[i + 1][0][0].isupper())
        if word in _ROLES and (word != "to" or noun_next):
            found.setdefault("roles", []).append(_ROLES[word])
        if base not in STOP_WORDS and base not in _PERSONS and not word.isdigit():
            anchor = _stem(word)
    return tuple(sorted((cls, tuple(values)) for cls, values in found.items()))


def _is_named(token: str, start: int, text: str, word: str) -> bool:
    if word in {"i", "i'm", "i've", "i'd", "i'll"}:
        return False
    core = token.removesuffix("()")
    if token.endswith("()") or "_" in core or _CAMEL_RE.search(core) or ("." in core and len(core) > 3):
        return True  # code identifiers
    if not core[0].isupper():
        return False
    letters = core.replace("'", "")
    if len(letters) >= 2 and letters.isupper():
        return True  # acronyms: SQL, NASA, USD
    i = start - 1
    while i >= 0 and text[i] in _SKIP_BEFORE:
        i -= 1
    if i >= 0 and text[i] not in _ENDS_SENTENCE:
        return True  # capitalised mid-sentence
    # Sentence-initial: a proper noun unless it is a word that often starts a prompt.
    return word not in _COMMON_STARTERS and _stem(word) not in _COMMON_STARTERS


def _prefix_negated(a: Features, b: Features) -> bool:
    """A word in one text whose negated form ("legal"/"illegal", "safe"/"unsafe") is in the other."""
    # neg_bases holds "legal" for "illegal": a hit is a base that only the other text has plain.
    return bool((a.neg_bases & b.words) - a.words) or bool((b.neg_bases & a.words) - b.words)


def _directions_agree(a: Features, b: Features) -> bool:
    da, db = dict(a.directions), dict(b.directions)
    for axis in da.keys() | db.keys():
        if axis in _LENIENT_AXES and (axis not in da or axis not in db):
            continue
        if da.get(axis) != db.get(axis):
            return False
    return True


def _named_agree(a: Features, b: Features) -> bool:
    for x, y in ((a, b), (b, a)):
        for stem in x.named:
            if stem not in y.stems:
                return False
    shared_a = [s for s in a.named if s in b.named]
    shared_b = [s for s in b.named if s in a.named]
    return shared_a == shared_b


def _quoted_agree(a: Features, b: Features) -> bool:
    for x, y in ((a, b), (b, a)):
        for q in x.quoted:
            if q.lower() not in y.lowered:
                return False
    lower_a, lower_b = {q.lower() for q in a.quoted}, {q.lower() for q in b.quoted}
    shared_a = [q for q in a.quoted if q.lower() in lower_b]
    shared_b = [q for q in b.quoted if q.lower() in lower_a]
    return shared_a == shared_b  # the same literals, in the same order and the same case


def _case_agrees(a: Features, b: Features) -> bool:
    """A word both texts use, spelled in a case-significant way in either, is spelled the same in both."""
    ca, cb = dict(a.cased), dict(b.cased)
    return all(ca.get(word) == cb.get(word) for word in ca.keys() | cb.keys() if word in a.words and word in b.words)


def incompatibility(query_text: str, cached_text: str) -> str | None:
    """Why the two texts may differ in meaning ("numbers", "negation", ...), or None."""
    if query_text == cached_text:
        return None
    if len(query_text) > MAX_TEXT_CHARS or len(cached_text) > MAX_TEXT_CHARS:
        return "length"
    a, b = features(query_text), features(cached_text)
    if a.numbers != b.numbers:
        return "numbers"
    if a.units != b.units:
        return "units"
    if a.ops != b.ops:
        return "operators"
    if a.negations != b.negations or _prefix_negated(a, b):
        return "negation"
    if not _directions_agree(a, b):
        return "direction"
    if not _named_agree(a, b):
        return "entities"
    if not _quoted_agree(a, b):
        return "quoted"
    if not _case_agrees(a, b):
        return "case"
    return None


def wording_difference(query_text: str, cached_text: str) -> str | None:
    """Checks 6 and 7 ("deixis", "person", "roles", "function words", "symbols"), or None: the
    verifier's, not :func:`compatible`'s.

    They refuse some paraphrases ("how do I sort ..." / "what's the way to sort ...") that the
    checks above let through: the price of catching "what do cats eat" / "how do cats eat", which
    an alignment of content words cannot see."""
    if query_text == cached_text:
        return None
    if len(query_text) > MAX_TEXT_CHARS or len(cached_text) > MAX_TEXT_CHARS:
        return "length"
    a, b = features(query_text), features(cached_text)
    if a.function != b.function:
        fa, fb = dict(a.function), dict(b.function)
        for cls in ("deixis", "person"):
            if fa.get(cls) != fb.get(cls):
                return cls
        if "roles" in fa and "roles" in fb and fa["roles"] != fb["roles"]:
            return "roles"
        fa.pop("roles", None)
        fb.pop("roles", None)
        if fa != fb:
            return "function words"
    if a.symbols != b.symbols:
        return "symbols"
    return None


def compatible(query_text: str, cached_text: str) -> bool:
    """True unless a lexical check says the texts may differ in meaning (see module doc)."""
    return incompatibility(query_text, cached_text) is None


# bench/semantic_cache.py times extraction without the memo through this attribute.
features.__wrapped__ = _extract  # type: ignore[attr-defined]
