"""Generate bench/data/semantic_eval.jsonl: a hard evaluation set for the semantic cache.

Every line is a pair ``{"id", "group", "split", "label", "kind", "a", "b"}`` (plus ``ctx_a``/``ctx_b``,
earlier turns, for multi-turn pairs). ``label`` is ``same`` (b may be answered with a's answer) or
``different`` (it may not). Most pairs are near-duplicates that change the meaning in one place
(numbers, negation, entities, scope, time, units, code, quoted strings, comparatives, antonyms,
role swaps), many in lower case and with words no guard list names; paraphrases change many words;
long prompts share an instruction and a question and differ in the middle of their context;
multi-turn pairs share the last turn and differ earlier.

Pairs are grouped by the template (family) that made them; whole groups go to the ``calib`` or the
``report`` split (fixed seed), so a rule tuned on one template family is measured on others.

Reproduce: .venv/bin/python bench/semantic_eval_gen.py   (deterministic; rewrites the data file)
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).parent / "data" / "semantic_eval.jsonl"
SEED = 20261201
PER_FAMILY = 14

LANGS = ["python", "java", "rust", "go", "javascript", "c#", "ruby", "kotlin", "swift", "php"]
THINGS = ["list", "dictionary", "string", "array", "set", "queue", "tuple", "linked list", "matrix", "heap"]
CITIES = ["Paris", "Berlin", "Madrid", "Lisbon", "Vienna", "Prague", "Oslo", "Dublin", "Warsaw", "Athens", "Rome", "Helsinki"]
ANIMALS = ["cat", "dog", "fox", "horse", "rabbit", "owl", "wolf", "goat", "bear", "duck"]
PEOPLE = ["the landlord", "the tenant", "the employer", "the employee", "the buyer", "the seller", "the doctor", "the patient"]
TEAMS = ["the home team", "the visitors", "the champions", "the underdogs"]
FOODS = ["rice", "lentils", "chicken", "salmon", "tofu", "pasta", "potatoes", "beans", "broccoli", "quinoa"]
ANTONYMS = [("cheap", "expensive"), ("safe", "dangerous"), ("legal", "prohibited"), ("healthy", "harmful"), ("easy", "hard"),
            ("common", "rare"), ("north", "south"), ("east", "west"), ("husband", "wife"), ("sunrise", "sunset"),
            ("import", "export"), ("borrow", "lend"), ("rent", "own"), ("arrive", "depart"), ("accept", "reject"),
            ("hire", "fire"), ("inhale", "exhale"), ("heat", "cool"), ("wet", "dry"), ("light", "heavy")]
SCOPES = [("all users", "admin users"), ("every file", "hidden files"), ("the whole table", "the first row"),
          ("all branches", "the main branch"), ("each employee", "new employees"), ("the entire disk", "one partition"),
          ("both lungs", "the left lung"), ("all tests", "the failing tests"), ("every page", "the cover page"),
          ("the whole country", "the capital region")]
TIMES = [("today", "tomorrow"), ("this week", "last week"), ("in 1990", "in 2020"), ("in the morning", "at night"),
         ("during winter", "during summer"), ("before the meeting", "after the meeting"), ("in the 18th century", "in the 19th century"),
         ("on weekdays", "on weekends")]
UNITS = [("kilometres", "miles"), ("celsius", "fahrenheit"), ("kilograms", "pounds"), ("litres", "gallons"),
         ("megabytes", "gigabytes"), ("hours", "minutes"), ("euros", "dollars"), ("metres", "feet")]
CODE = [("sorted(xs)", "xs.sort()"), ("a == b", "a is b"), ("x++", "++x"), ("git reset --hard", "git reset --soft"),
        ("SELECT DISTINCT name", "SELECT name"), ("rm -r dir", "rm -rf dir"), ("let x = 1", "const x = 1"),
        ("str.split()", "str.split(',')"), ("df.loc[0]", "df.iloc[0]"), ("chmod 644", "chmod 755"),
        ("async def f()", "def f()"), ("LEFT JOIN", "INNER JOIN")]
COMPARATIVES = [("bigger", "smaller"), ("warmer", "colder"), ("cheaper", "pricier"), ("faster", "slower"), ("older", "younger"),
                ("heavier", "lighter"), ("taller", "shorter"), ("safer", "riskier"), ("louder", "quieter"), ("wider", "narrower")]
NEGATABLE = [("is", "is not"), ("should I", "should I never"), ("can", "cannot"), ("does", "doesn't"), ("will", "won't")]


def _num(rng: random.Random) -> tuple[str, str]:
    a = rng.choice([2, 3, 5, 7, 8, 12, 15, 20, 24, 30, 45, 60, 100, 250, 1000])
    b = a + rng.choice([1, 2, 10, -1]) if a > 2 else a + 1
    return str(a), str(b)


# Each family: rng -> (a, b, label, kind). Families differ in wording, not only in slot values.
Family = Callable[[random.Random], tuple[str, str, str, str]]


def numbers_recipe(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = _num(rng)
    food = rng.choice(FOODS)
    return (f"how long should i boil {x} cups of {food}", f"how long should i boil {y} cups of {food}", "different", "numbers")


def numbers_words(rng: random.Random) -> tuple[str, str, str, str]:
    n = rng.choice(["three", "four", "six", "seven", "nine"])
    m = {"three": "thirteen", "four": "fourteen", "six": "sixteen", "seven": "seventeen", "nine": "nineteen"}[n]
    thing = rng.choice(["a sonnet", "a haiku sequence", "a limerick", "a toast", "a product pitch"])
    return (f"write {thing} with {n} lines about autumn", f"write {thing} with {m} lines about autumn", "different", "numbers")


def numbers_percent(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = _num(rng)
    return (f"what is a {x} percent tip on a 80 dollar bill", f"what is a {y} percent tip on a 80 dollar bill", "different", "numbers")


def negation_plain(rng: random.Random) -> tuple[str, str, str, str]:
    pos, neg = rng.choice(NEGATABLE)
    subj = rng.choice(["a tomato a fruit", "coffee bad for sleep", "rust memory safe", "pluto a planet", "glass a liquid"])
    verb = pos.split()[0]
    if verb in ("is", "does", "will", "can"):
        return (f"{pos} {subj}?", f"{neg} {subj}?", "different", "negation")
    return (f"{pos} store {subj.split()[0]} in the fridge?", f"{neg} store {subj.split()[0]} in the fridge?", "different", "negation")


def negation_lexical(rng: random.Random) -> tuple[str, str, str, str]:
    food = rng.choice(FOODS)
    a, b = rng.choice([("with", "without"), ("including", "excluding"), ("allowed", "forbidden"), ("always", "rarely")])
    return (f"give me a weeknight dinner recipe {a} {food}", f"give me a weeknight dinner recipe {b} {food}", "different", "negation")


def entities_lower(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(LANGS, 2)
    t = rng.choice(THINGS)
    return (f"how do i reverse a {t} in {x}", f"how do i reverse a {t} in {y}", "different", "entities")


def entities_cities(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(CITIES, 2)
    what = rng.choice(["best time of year to visit", "average rent near the centre of", "cheapest way to get around",
                       "tallest building in", "main airport of"])
    return (f"{what} {x}", f"{what} {y}", "different", "entities")


def entities_things(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(THINGS, 2)
    lang = rng.choice(LANGS)
    return (f"what is the time complexity of inserting into a {x} in {lang}",
            f"what is the time complexity of inserting into a {y} in {lang}", "different", "entities")


def scope_change(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(SCOPES)
    verb = rng.choice(["write a script that backs up", "how do i reset permissions for", "estimate the time to scan",
                       "summarise the risks of deleting"])
    return (f"{verb} {a}", f"{verb} {b}", "different", "scope")


def time_change(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(TIMES)
    q = rng.choice(["what was the weather like in lisbon", "how busy is the motorway", "what did people eat in england",
                    "what are the opening hours of the museum"])
    return (f"{q} {a}", f"{q} {b}", "different", "time")


def units_change(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(UNITS)
    n = rng.choice(["12", "40", "3.5", "100"])
    return (f"convert {n} {a} to the metric system and explain", f"convert {n} {b} to the metric system and explain", "different", "units")


def code_change(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(CODE)
    q = rng.choice(["what does {} do", "is {} safe to run in production", "explain {} with an example", "when should i use {}"])
    return (q.format(a), q.format(b), "different", "code")


def quoted_change(rng: random.Random) -> tuple[str, str, str, str]:
    w1, w2 = rng.sample(["hello world", "goodbye", "thank you very much", "see you soon", "good morning", "happy birthday"], 2)
    lang = rng.choice(["french", "german", "spanish", "italian", "japanese"])
    return (f'translate "{w1}" into {lang}', f'translate "{w2}" into {lang}', "different", "quoted")


def comparative(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(COMPARATIVES)
    x, y = rng.sample(ANIMALS, 2)
    return (f"is a {x} {a} than a {y}", f"is a {x} {b} than a {y}", "different", "comparative")


def antonym(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(ANTONYMS)
    q = rng.choice(["give three reasons something might be {}", "write a short poem about feeling {}",
                    "what does {} mean in everyday english", "list synonyms of {}"])
    return (q.format(a), q.format(b), "different", "antonym")


def role_swap(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(PEOPLE, 2)
    act = rng.choice(["owes money to", "can sue", "must notify", "pays the deposit to"])
    return (f"in a typical contract, when {x} {act} {y}, what happens", f"in a typical contract, when {y} {act} {x}, what happens",
            "different", "role_swap")


def role_swap_sport(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(ANIMALS, 2)
    return (f"write a story where the {x} beats the {y} in a race", f"write a story where the {y} beats the {x} in a race",
            "different", "role_swap")


# Paraphrases that change many words: two hand-written wordings of one request, slots shared.
PARAPHRASES = [
    ("how do i reverse a {t} in {lang}", "what's the way to flip the order of a {lang} {t}"),
    ("what is the population of {city}", "how many people live in {city}"),
    ("give me a quick dinner recipe with {food}", "suggest something fast i can cook tonight using {food}"),
    ("how long does it take to boil {food}", "what cooking time does {food} need in boiling water"),
    ("explain how a {t} works in {lang}", "can you describe the way {lang} implements a {t}"),
    ("what is the best season to visit {city}", "when is the ideal time of year for a trip to {city}"),
    ("write a short poem about a {animal}", "compose a brief verse featuring a {animal}"),
    ("how do i sort a {t} in {lang}", "in {lang}, how can a {t} be put in sorted order"),
    ("what do {animal}s usually eat", "what is the typical diet of a {animal}"),
    ("tips for learning {lang} quickly", "how can i pick up {lang} fast"),
    ("how much does it cost to live in {city}", "what is the cost of living like in {city}"),
    ("is {food} good for you", "are there health benefits to eating {food}"),
]


def paraphrase(idx: int) -> Family:
    left, right = PARAPHRASES[idx]

    def make(rng: random.Random) -> tuple[str, str, str, str]:
        slots = {"t": rng.choice(THINGS), "lang": rng.choice(LANGS), "city": rng.choice(CITIES), "food": rng.choice(FOODS),
                 "animal": rng.choice(ANIMALS)}
        a, b = left.format(**slots), right.format(**slots)
        return (b, a, "same", "paraphrase") if rng.random() < 0.5 else (a, b, "same", "paraphrase")

    make.__name__ = f"paraphrase_{idx:02d}"
    return make


def reworded_city(rng: random.Random) -> tuple[str, str, str, str]:
    """Another light rewording family (the report split gets one too): case, contractions, filler."""
    city = rng.choice(CITIES)
    what = rng.choice(["tallest building", "oldest bridge", "busiest station", "largest park"])
    base = f"what is the {what} in {city}"
    return (base, rng.choice([f"What's the {what} in {city}?", f"{what} in {city.lower()}?", f"so what is the {what} in {city}",
                              f"What is the {what} in {city}, please?"]), "same", "reworded")


def reworded_same(rng: random.Random) -> tuple[str, str, str, str]:
    """Light rewording (politeness, punctuation, case): the easy true positives a cache lives on."""
    x = rng.choice(LANGS)
    t = rng.choice(THINGS)
    base = f"how do i reverse a {t} in {x}"
    return (base, rng.choice([f"How do I reverse a {t} in {x}?", f"please, how do i reverse a {t} in {x}",
                              f"how do I reverse a {t} in {x} ?", f"hey, how do i reverse a {t} in {x}?"]), "same", "reworded")


FILLER = ("The committee met on a regular basis to review the quarterly figures and the open actions. "
          "Members raised questions about staffing, the supplier contracts and the maintenance backlog. ")


def long_middle(rng: random.Random) -> tuple[str, str, str, str]:
    """A RAG prompt: one instruction, a long context, one question; only a middle sentence differs."""
    city_a, city_b = rng.sample(CITIES, 2)
    n_a, n_b = rng.sample(["three", "five", "eight", "eleven"], 2)
    pick = rng.random()
    if pick < 0.33:
        mid_a, mid_b = f"The new depot will be built in {city_a}.", f"The new depot will be built in {city_b}."
    elif pick < 0.66:
        mid_a, mid_b = f"The project was approved after {n_a} votes.", f"The project was approved after {n_b} votes."
    else:
        mid_a, mid_b = "The board agreed to expand the night shift.", "The board agreed to cancel the night shift."
    head = "Answer using only the document below.\n\nDocument:\n" + FILLER * rng.randint(4, 7)
    tail = FILLER * rng.randint(4, 7) + "\nQuestion: what did the meeting decide, and where?"
    return (head + mid_a + " " + tail, head + mid_b + " " + tail, "different", "long_middle")


FAMILIES: list[Family] = [
    numbers_recipe, numbers_words, numbers_percent, negation_plain, negation_lexical, entities_lower, entities_cities,
    entities_things, scope_change, time_change, units_change, code_change, quoted_change, comparative, antonym, role_swap,
    role_swap_sport, reworded_same, reworded_city, long_middle, *(paraphrase(i) for i in range(len(PARAPHRASES))),
]


def multiturn(rng: random.Random, n: int) -> list[dict[str, object]]:
    """Conversations sharing the last turn ("and in metric?") with a different earlier question."""
    rows: list[dict[str, object]] = []
    for i in range(n):
        x, y = ANIMALS[i % len(ANIMALS)], ANIMALS[(i + 1 + i // len(ANIMALS)) % len(ANIMALS)]
        last = rng.choice(["and how much does it weigh in kilograms?", "what about in winter?", "can you make it shorter?"])
        ctx_a = [{"role": "user", "content": f"tell me about the {x}"}, {"role": "assistant", "content": f"The {x} is an animal."}]
        ctx_b = [{"role": "user", "content": f"what do you know about the {y}"}, {"role": "assistant", "content": f"The {y} is an animal."}]
        rows.append({"family": "multiturn", "a": last, "b": last, "ctx_a": ctx_a, "ctx_b": ctx_b, "label": "different",
                     "kind": "multiturn", "n": i})
    return rows


def split_of(group: str) -> str:
    digest = hashlib.sha256(f"{SEED}:{group}".encode()).digest()
    return "calib" if digest[0] % 2 == 0 else "report"


def generate() -> list[dict[str, object]]:
    rng = random.Random(SEED)
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for family in FAMILIES:
        made = 0
        for _ in range(PER_FAMILY * 6):
            a, b, label, kind = family(rng)
            # A prompt in two pairs would make "hits" that are the very same text: no test of meaning.
            if a == b or a in seen or b in seen:
                continue
            seen.update((a, b))
            rows.append({"family": family.__name__, "a": a, "b": b, "label": label, "kind": kind})
            made += 1
            if made == PER_FAMILY:
                break
    rows.extend(multiturn(rng, PER_FAMILY))
    out = []
    for i, row in enumerate(rows):
        group = str(row.pop("family"))
        row.pop("n", None)
        out.append({"id": f"s{i:04d}", "group": group, "split": split_of(group), **row})
    return out


def main() -> None:
    rows = generate()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    by = {}
    for r in rows:
        by.setdefault((r["split"], r["label"]), 0)
        by[(r["split"], r["label"])] += 1
    print(f"wrote {len(rows)} pairs to {OUT}: {dict(sorted(by.items()))}")


if __name__ == "__main__":
    main()
