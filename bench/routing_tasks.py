"""A non-MMLU labeled task family for routing: generated questions with exact reference answers.

Issue #14 asks for a router that ranks requests of a task family it never trained on. The
shipped routing data is MMLU only, so this module builds a second family by construction:
short arithmetic, word problems, unit conversions, list and string manipulation, number
sequences and code-output prediction, each with a difficulty knob (digits, steps, list length)
and a reference answer computed here. ``bench/routing_label.py`` asks local models each
question and grades them against the reference; the result is labeled traffic in the format of
``../shared/docs/ARCHITECTURE.md`` (``bench/data/routing_tasks-labeled.jsonl``).

Splits are fixed here, before any model was asked: every task *type* is either a development
type (feature and model choices may look at it) or a report type (only the final figures do).
Holding out whole types, not random rows, makes the report split a family the choices never
saw, not more rows of the ones they did.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

# Fixed 2026-12-01 before labeling: the report types are never looked at while choosing.
DEV_TYPES = ("add", "compare", "units", "letters", "sequence", "count")
REPORT_TYPES = ("subtract", "multiply", "chain", "word_problem", "code", "list_index")
# The larger family (``generate3``) adds easier types, in these models' range. Their split was
# also fixed before any of them was labeled (2026-12-01, 15:25 UTC); each pair of look-alike
# types (days/months, after/double) is split across the two, so neither side has all of a kind.
DEV_TYPES3 = ("day_after", "letter_after", "parity", "number_words")
REPORT_TYPES3 = ("month_after", "successor", "double", "copy")
SPLIT_OF = (
    {t: "dev" for t in DEV_TYPES + DEV_TYPES3} | {t: "report" for t in REPORT_TYPES + REPORT_TYPES3}
)
FAMILY = "gen-tasks"  # meta.source; meta.domain is "gen:<type>"
FAMILY3 = "gen-tasks3"

NUMBER = re.compile(r"-?\d+")
WORDS = (
    "apple river stone cloud tiger paper lamp garden window silver orange bread candle forest "
    "pencil bottle mirror rocket castle violin button planet ladder summer"
).split()
NAMES = ("Sam", "Ana", "Tom", "Lea", "Max", "Ivy", "Ben", "Zoe")
ITEMS = ("apples", "marbles", "books", "coins", "stickers", "pencils", "cards", "eggs")
UNITS = (  # (big unit, small unit, factor)
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("days", "hours", 24),
    ("weeks", "days", 7),
    ("meters", "centimeters", 100),
    ("kilograms", "grams", 1000),
    ("kilometers", "meters", 1000),
    ("dozens", "items", 12),
    ("years", "months", 12),
    ("liters", "milliliters", 1000),
)
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


@dataclass(frozen=True)
class Task:
    id: str
    type: str
    level: int  # 1 = easiest; the generator's own difficulty knob
    prompt: str
    answer: str
    numeric: bool = True
    meta: dict[str, int] = field(default_factory=dict)


Maker = Callable[[random.Random, int], tuple[str, str]]


def _add(rng: random.Random, level: int) -> tuple[str, str]:
    if level == 1:
        a, b = rng.randint(1, 5), rng.randint(1, 4)
    elif level == 2:
        a, b = rng.randint(1, 9), rng.randint(1, 9)
    else:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
    return f"What is {a} + {b}?", str(a + b)


def _subtract(rng: random.Random, level: int) -> tuple[str, str]:
    a = rng.randint(2, 9) if level == 1 else rng.randint(10, 19) if level == 2 else rng.randint(20, 99)
    b = rng.randint(1, min(a - 1, 9) if level < 3 else a - 1)
    return f"What is {a} - {b}?", str(a - b)


def _multiply(rng: random.Random, level: int) -> tuple[str, str]:
    if level == 1:
        a, b = rng.randint(1, 9), rng.randint(1, 2)
    elif level == 2:
        a, b = rng.randint(3, 9), rng.randint(3, 9)
    else:
        a, b = rng.randint(11, 49), rng.randint(3, 9)
    return f"What is {a} times {b}?", str(a * b)


def _chain(rng: random.Random, level: int) -> tuple[str, str]:
    terms = [rng.randint(1, 9) for _ in range(level + 1)]
    expr, total = str(terms[0]), terms[0]
    for t in terms[1:]:
        if rng.random() < 0.5 and total - t >= 0:
            expr, total = f"{expr} - {t}", total - t
        else:
            expr, total = f"{expr} + {t}", total + t
    return f"What is {expr}?", str(total)


def _word_problem(rng: random.Random, level: int) -> tuple[str, str]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    have = rng.randint(2, 9 if level == 1 else 20)
    text = f"{name} has {have} {item}."
    for _ in range(level):
        n = rng.randint(1, 9)
        if rng.random() < 0.5 and have - n >= 0:
            text += f" {name} gives away {n}."
            have -= n
        else:
            text += f" {name} gets {n} more."
            have += n
    return f"{text} How many {item} does {name} have now?", str(have)


def _units(rng: random.Random, level: int) -> tuple[str, str]:
    big, small, factor = rng.choice(UNITS)
    n = 1 if level == 1 else rng.randint(2, 5) if level == 2 else rng.randint(6, 30)
    return f"How many {small} are in {n} {big}?", str(n * factor)


def _compare(rng: random.Random, level: int) -> tuple[str, str]:
    size = (2, 3, 5)[level - 1]
    nums = rng.sample(range(1, 10 if level == 1 else 100), size)
    which = rng.choice(("largest", "smallest"))
    ans = max(nums) if which == "largest" else min(nums)
    return f"Which number is the {which}: {', '.join(map(str, nums))}?", str(ans)


def _count(rng: random.Random, level: int) -> tuple[str, str]:
    size = rng.randint(*((2, 3), (4, 6), (7, 10))[level - 1])
    words = rng.sample(WORDS, size)
    return f"How many words are in this list: {', '.join(words)}?", str(size)


def _letters(rng: random.Random, level: int) -> tuple[str, str]:
    word = rng.choice(WORDS)
    if level == 1:
        return f"What is the first letter of the word '{word}'?", word[0]
    if level == 2:
        return f"What is the last letter of the word '{word}'?", word[-1]
    return f"How many letters are in the word '{word}'?", str(len(word))


def _list_index(rng: random.Random, level: int) -> tuple[str, str]:
    size = (3, 4, 6)[level - 1]
    words = rng.sample(WORDS, size)
    k = 0 if level == 1 else size - 1 if level == 2 else rng.randint(1, size - 2)
    return f"What is the {ORDINALS[k]} word in this list: {', '.join(words)}?", words[k]


def _sequence(rng: random.Random, level: int) -> tuple[str, str]:
    start = rng.randint(1, 20)
    if level == 1:
        step, seq = 1, [start + i for i in range(4)]
    elif level == 2:
        step = rng.randint(2, 9)
        seq = [start + i * step for i in range(4)]
    else:
        step = rng.randint(2, 3)
        seq = [start * step**i for i in range(4)]
    nxt = seq[-1] + (seq[-1] - seq[-2]) if level < 3 else seq[-1] * step
    return f"What number comes next: {', '.join(map(str, seq))}, ...?", str(nxt)


def _code(rng: random.Random, level: int) -> tuple[str, str]:
    x = rng.randint(1, 9)
    lines = [f"x = {x}"]
    for _ in range(level - 1):
        op, n = rng.choice("+-*"), rng.randint(2, 5)
        lines.append(f"x = x {op} {n}")
        x = x + n if op == "+" else x - n if op == "-" else x * n
    lines.append("print(x)")
    code = "\n".join(lines)
    return f"What does this Python code print?\n{code}", str(x)


MAKERS: dict[str, Maker] = {
    "add": _add,
    "subtract": _subtract,
    "multiply": _multiply,
    "chain": _chain,
    "word_problem": _word_problem,
    "units": _units,
    "compare": _compare,
    "count": _count,
    "letters": _letters,
    "list_index": _list_index,
    "sequence": _sequence,
    "code": _code,
}
TEXT_ANSWER = {"list_index"}  # graded as a word; "letters" levels 1-2 answer a letter

# The larger family's easier types: its level 1 is what a 135M model mostly gets right, so the
# tiers' wins and losses spread over the levels instead of all sitting at level 1.
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January February March April May June July August September October November December"
).split()
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_word(n: int) -> str:
    """English words for 0-99, hyphenated as written ("forty-two")."""
    if n < 20:
        return ONES[n]
    tens, ones = divmod(n, 10)
    return TENS[tens] + (f"-{ONES[ones]}" if ones else "")


def _cyclic(names: tuple[str, ...] | list[str], rng: random.Random, level: int, noun: str) -> tuple[str, str]:
    """Days or months: the one after (1), before (2), two after (3) a named one."""
    k = rng.randrange(len(names))
    name = names[k]
    if level == 1:
        text = rng.choice((f"What {noun} comes after {name}?", f"Which {noun} follows {name}?"))
        return text, names[(k + 1) % len(names)]
    if level == 2:
        text = rng.choice((f"What {noun} comes before {name}?", f"Which {noun} comes just before {name}?"))
        return text, names[(k - 1) % len(names)]
    text = rng.choice((f"What {noun} is two {noun}s after {name}?", f"Which {noun} comes two {noun}s after {name}?"))
    return text, names[(k + 2) % len(names)]


def _day_after(rng: random.Random, level: int) -> tuple[str, str]:
    return _cyclic(DAYS, rng, level, "day")


def _month_after(rng: random.Random, level: int) -> tuple[str, str]:
    return _cyclic(MONTHS, rng, level, "month")


def _letter_after(rng: random.Random, level: int) -> tuple[str, str]:
    if level == 1:
        k = rng.randrange(25)
        return f"What letter comes after {ALPHABET[k].upper()} in the alphabet?", ALPHABET[k + 1]
    if level == 2:
        k = rng.randrange(1, 26)
        return f"What letter comes before {ALPHABET[k].upper()} in the alphabet?", ALPHABET[k - 1]
    k = rng.randrange(24)
    return f"What letter is two letters after {ALPHABET[k].upper()} in the alphabet?", ALPHABET[k + 2]


def _parity(rng: random.Random, level: int) -> tuple[str, str]:
    n = rng.randint(1, 9) if level == 1 else rng.randint(10, 99) if level == 2 else rng.randint(100, 99999)
    text = rng.choice((f"Is {n} even or odd?", f"Is the number {n} odd or even?"))
    return text, "even" if n % 2 == 0 else "odd"


def _number_words(rng: random.Random, level: int) -> tuple[str, str]:
    n = rng.randint(1, 5) if level == 1 else rng.randint(6, 20) if level == 2 else rng.randint(21, 99)
    word = number_word(n)
    return rng.choice((f"Write the number {word} in digits.", f"What number is '{word}'?")), str(n)


def _successor(rng: random.Random, level: int) -> tuple[str, str]:
    if level == 1:
        n = rng.randint(1, 8)
        return f"What number comes after {n}?", str(n + 1)
    if level == 2:
        n = rng.randint(2, 30)
        return f"What number comes before {n}?", str(n - 1)
    n = rng.randint(100, 998)
    return rng.choice(((f"What number comes after {n}?", str(n + 1)), (f"What number comes before {n}?", str(n - 1))))


def _double(rng: random.Random, level: int) -> tuple[str, str]:
    if level == 1:
        n = rng.randint(1, 5)
        return rng.choice((f"What is double {n}?", f"What is twice {n}?")), str(2 * n)
    if level == 2:
        n = rng.randint(6, 30)
        return rng.choice((f"What is double {n}?", f"What is twice {n}?")), str(2 * n)
    n = 2 * rng.randint(2, 60)
    return f"What is half of {n}?", str(n // 2)


def _copy(rng: random.Random, level: int) -> tuple[str, str]:
    if level == 1:
        word = rng.choice(WORDS)
        return rng.choice((f"Repeat this word: {word}", f"Say the word '{word}'.")), word
    if level == 2:
        a, b = rng.sample(WORDS, 2)
        return f"Which word comes last in this list: {a}, {b}?", b
    while True:  # a unique longest word, so the reference is unambiguous
        words = rng.sample(WORDS, 3)
        lengths = sorted(len(w) for w in words)
        if lengths[-1] > lengths[-2]:
            return f"Which word is the longest: {', '.join(words)}?", max(words, key=len)


MAKERS3: dict[str, Maker] = MAKERS | {
    "day_after": _day_after,
    "letter_after": _letter_after,
    "parity": _parity,
    "number_words": _number_words,
    "month_after": _month_after,
    "successor": _successor,
    "double": _double,
    "copy": _copy,
}
TEXT_ANSWER3 = TEXT_ANSWER | {"day_after", "month_after", "letter_after", "parity", "copy"}


def generate(per_type: int = 45, seed: int = 14) -> list[Task]:
    """``per_type`` distinct tasks of every type, levels 1-3 in equal shares, shuffled."""
    return _generate(MAKERS, TEXT_ANSWER, per_type, seed, "gen")


def generate3(per_type: int = 90, per_new_type: int = 150, seed: int = 1403) -> list[Task]:
    """The larger family: the 12 original types, up to ``per_type`` each, and the 8 easier ones,
    up to ``per_new_type`` each (fewer where a level has fewer distinct prompts: there are only
    so many days), levels 1-3, shuffled. Ids ``g3-<type>-NNNN``."""
    sizes = {kind: per_type if kind in MAKERS else per_new_type for kind in MAKERS3}
    return _generate(MAKERS3, TEXT_ANSWER3, sizes, seed, "g3", across_types=True)


def _generate(
    makers: dict[str, Maker],
    text_answer: set[str],
    per_type: int | dict[str, int],
    seed: int,
    prefix: str,
    across_types: bool = False,
) -> list[Task]:
    """``across_types``: a prompt another type already made is skipped too (a two-term chain is
    an addition), so no prompt appears twice in the family. The original family predates it."""
    rng = random.Random(seed)
    tasks: list[Task] = []
    everywhere: set[str] = set()
    for kind, make in makers.items():
        seen: set[str] = set()
        for level in (1, 2, 3):
            want = (per_type if isinstance(per_type, int) else per_type[kind]) // 3
            for _ in range(want * 50):
                if want == 0:
                    break
                prompt, answer = make(rng, level)
                if prompt in seen or (across_types and prompt in everywhere):
                    continue
                seen.add(prompt)
                everywhere.add(prompt)
                numeric = NUMBER.fullmatch(answer) is not None and kind not in text_answer
                tasks.append(Task(f"{prefix}-{kind}-{len(seen):04d}", kind, level, prompt, answer, numeric))
                want -= 1
    rng.shuffle(tasks)
    return tasks


def answer_key(output: str, task: Task) -> str | None:
    """The answer an output gives, as ``grade`` reads it: the first integer of its first non-empty
    line (numeric tasks, thousands separators dropped) or that line's first word, lower-cased
    (quotes and punctuation ignored); None when there is none. Votes over samples compare these."""
    first = next((line for line in output.strip().splitlines() if line.strip()), "")
    if task.numeric:
        found = NUMBER.search(first.replace(",", ""))
        return None if found is None else found.group()
    words = re.sub(r"[^a-z0-9 ]", " ", first.lower()).split()
    return words[0] if words else None


def grade(output: str, task: Task) -> float:
    """1.0 when the answer's first non-empty line gives the reference, else 0.0.

    Numeric tasks: the first integer on that line (thousands separators dropped) must equal the
    reference. Others: the reference must be the line's first word (quotes and punctuation
    ignored), so "r" does not pass for "river".
    """
    key = answer_key(output, task)
    return 1.0 if key is not None and key == (task.answer if task.numeric else task.answer.lower()) else 0.0
