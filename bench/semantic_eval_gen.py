"""Generate bench/data/semantic_eval.jsonl: a hard evaluation set for the semantic cache.

Every line is a pair ``{"id", "group", "split", "label", "kind", "a", "b"}`` (plus ``ctx_a``/``ctx_b``,
earlier turns, for multi-turn pairs). ``label`` is ``same`` (b may be answered with a's answer) or
``different`` (it may not). Most pairs are near-duplicates that change the meaning in one place
(numbers, negation, entities, scope, time, units, code, quoted strings, comparatives, antonyms,
role swaps), many in lower case and with words no guard list names; paraphrases change many words;
long prompts share an instruction and a question and differ in the middle of their context;
multi-turn pairs share the last turn and differ earlier.

Near-duplicates also change only function words an alignment of content words drops (question
word, tense, modal, pronoun, preposition, "and"/"or") or code symbols. Light rewordings (case,
punctuation, politeness, contractions) are many, from wide slots: certifying a 1% bound takes ~300
accepted hits with no false one on the calibration half alone. No normalised prompt (case,
punctuation and politeness dropped) is in two pairs, so a hit on another pair's entry is a false hit.

Pairs are grouped by the template (family) that made them; whole groups go to the ``calib`` or the
``report`` split, alternating within each kind from a seeded start, so a rule tuned on some
template families is measured on others of every kind.

Reproduce: .venv/bin/python bench/semantic_eval_gen.py   (deterministic; rewrites the data file)
"""

from __future__ import annotations

import hashlib
import json
import random
import re
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
ANTONYMS = [
    ("cheap", "expensive"),
    ("safe", "dangerous"),
    ("legal", "prohibited"),
    ("healthy", "harmful"),
    ("easy", "hard"),
    ("common", "rare"),
    ("north", "south"),
    ("east", "west"),
    ("husband", "wife"),
    ("sunrise", "sunset"),
    ("import", "export"),
    ("borrow", "lend"),
    ("rent", "own"),
    ("arrive", "depart"),
    ("accept", "reject"),
    ("hire", "fire"),
    ("inhale", "exhale"),
    ("heat", "cool"),
    ("wet", "dry"),
    ("light", "heavy"),
]
SCOPES = [
    ("all users", "admin users"),
    ("every file", "hidden files"),
    ("the whole table", "the first row"),
    ("all branches", "the main branch"),
    ("each employee", "new employees"),
    ("the entire disk", "one partition"),
    ("both lungs", "the left lung"),
    ("all tests", "the failing tests"),
    ("every page", "the cover page"),
    ("the whole country", "the capital region"),
]
TIMES = [
    ("today", "tomorrow"),
    ("this week", "last week"),
    ("in 1990", "in 2020"),
    ("in the morning", "at night"),
    ("during winter", "during summer"),
    ("before the meeting", "after the meeting"),
    ("in the 18th century", "in the 19th century"),
    ("on weekdays", "on weekends"),
]
UNITS = [
    ("kilometres", "miles"),
    ("celsius", "fahrenheit"),
    ("kilograms", "pounds"),
    ("litres", "gallons"),
    ("megabytes", "gigabytes"),
    ("hours", "minutes"),
    ("euros", "dollars"),
    ("metres", "feet"),
]
CODE = [
    ("sorted(xs)", "xs.sort()"),
    ("a == b", "a is b"),
    ("x++", "++x"),
    ("git reset --hard", "git reset --soft"),
    ("SELECT DISTINCT name", "SELECT name"),
    ("rm -r dir", "rm -rf dir"),
    ("let x = 1", "const x = 1"),
    ("str.split()", "str.split(',')"),
    ("df.loc[0]", "df.iloc[0]"),
    ("chmod 644", "chmod 755"),
    ("async def f()", "def f()"),
    ("LEFT JOIN", "INNER JOIN"),
]
COMPARATIVES = [
    ("bigger", "smaller"),
    ("warmer", "colder"),
    ("cheaper", "pricier"),
    ("faster", "slower"),
    ("older", "younger"),
    ("heavier", "lighter"),
    ("taller", "shorter"),
    ("safer", "riskier"),
    ("louder", "quieter"),
    ("wider", "narrower"),
]
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
    what = rng.choice(
        [
            "best time of year to visit",
            "average rent near the centre of",
            "cheapest way to get around",
            "tallest building in",
            "main airport of",
        ]
    )
    return (f"{what} {x}", f"{what} {y}", "different", "entities")


def entities_things(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(THINGS, 2)
    lang = rng.choice(LANGS)
    return (
        f"what is the time complexity of inserting into a {x} in {lang}",
        f"what is the time complexity of inserting into a {y} in {lang}",
        "different",
        "entities",
    )


def scope_change(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(SCOPES)
    verb = rng.choice(
        ["write a script that backs up", "how do i reset permissions for", "estimate the time to scan", "summarise the risks of deleting"]
    )
    return (f"{verb} {a}", f"{verb} {b}", "different", "scope")


def time_change(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(TIMES)
    q = rng.choice(
        [
            "what was the weather like in lisbon",
            "how busy is the motorway",
            "what did people eat in england",
            "what are the opening hours of the museum",
        ]
    )
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
    q = rng.choice(
        [
            "give three reasons something might be {}",
            "write a short poem about feeling {}",
            "what does {} mean in everyday english",
            "list synonyms of {}",
        ]
    )
    return (q.format(a), q.format(b), "different", "antonym")


def role_swap(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(PEOPLE, 2)
    act = rng.choice(["owes money to", "can sue", "must notify", "pays the deposit to"])
    return (
        f"in a typical contract, when {x} {act} {y}, what happens",
        f"in a typical contract, when {y} {act} {x}, what happens",
        "different",
        "role_swap",
    )


def role_swap_sport(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(ANIMALS, 2)
    return (
        f"write a story where the {x} beats the {y} in a race",
        f"write a story where the {y} beats the {x} in a race",
        "different",
        "role_swap",
    )


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
        slots = {
            "t": rng.choice(THINGS),
            "lang": rng.choice(LANGS),
            "city": rng.choice(CITIES),
            "food": rng.choice(FOODS),
            "animal": rng.choice(ANIMALS),
        }
        a, b = left.format(**slots), right.format(**slots)
        return (b, a, "same", "paraphrase") if rng.random() < 0.5 else (a, b, "same", "paraphrase")

    make.__name__ = f"paraphrase_{idx:02d}"
    return make


def reworded_city(rng: random.Random) -> tuple[str, str, str, str]:
    """Another light rewording family (the report split gets one too): case, contractions, filler."""
    city = rng.choice(CITIES)
    what = rng.choice(["tallest building", "oldest bridge", "busiest station", "largest park"])
    base = f"what is the {what} in {city}"
    return (
        base,
        rng.choice(
            [
                f"What's the {what} in {city}?",
                f"{what} in {city.lower()}?",
                f"so what is the {what} in {city}",
                f"What is the {what} in {city}, please?",
            ]
        ),
        "same",
        "reworded",
    )


def reworded_same(rng: random.Random) -> tuple[str, str, str, str]:
    """Light rewording (politeness, punctuation, case): the easy true positives a cache lives on."""
    x = rng.choice(LANGS)
    t = rng.choice(THINGS)
    base = f"how do i reverse a {t} in {x}"
    return (
        base,
        rng.choice(
            [
                f"How do I reverse a {t} in {x}?",
                f"please, how do i reverse a {t} in {x}",
                f"how do I reverse a {t} in {x} ?",
                f"hey, how do i reverse a {t} in {x}?",
            ]
        ),
        "same",
        "reworded",
    )


FILLER = (
    "The committee met on a regular basis to review the quarterly figures and the open actions. "
    "Members raised questions about staffing, the supplier contracts and the maintenance backlog. "
)


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


# -- meaning carried by function words (a content-word verifier drops them) --------------------
EVENTS = [
    "did rome fall",
    "did the titanic sink",
    "did the berlin wall come down",
    "did the dinosaurs die out",
    "did the printing press spread",
    "did the roman empire split",
    "did the wright brothers fly",
    "did the great fire of london start",
    "did the gold rush begin",
    "did the ice age end",
    "did the plague reach europe",
    "did the silk road decline",
    "did the library of alexandria burn",
    "did the maya cities empty",
    "did the bronze age end",
    "did pompeii get buried",
    "did the stock market crash",
    "did the moon landing happen",
    "did the railway reach the west",
    "did the vikings reach america",
]
WH = ["why", "when", "how", "where"]
PRESENT_FACTS = [
    "do cats purr",
    "do birds migrate",
    "do leaves change colour",
    "do bees make honey",
    "do volcanoes erupt",
    "do tides rise",
    "do stars twinkle",
    "do onions make you cry",
    "do rivers flood",
    "do wolves howl",
    "do salmon swim upstream",
    "do whales sing",
    "do geese fly in a v",
    "do bubbles pop",
    "do muscles get sore",
]
ROLES = [
    ("president", "france"),
    ("chancellor", "germany"),
    ("ceo", "tesla"),
    ("coach", "the national team"),
    ("mayor", "london"),
    ("prime minister", "canada"),
    ("head", "the united nations"),
    ("captain", "the england team"),
    ("ceo", "apple"),
    ("governor", "california"),
    ("king", "spain"),
    ("director", "the louvre"),
    ("chair", "the federal reserve"),
    ("editor", "the times"),
    ("manager", "manchester united"),
]
ACTIONS = [
    "freeze cooked rice",
    "reuse frying oil",
    "drink tap water in lisbon",
    "take ibuprofen on an empty stomach",
    "run a marathon without training",
    "paint over wallpaper",
    "water succulents every day",
    "charge my phone overnight",
    "store bread in the fridge",
    "wash wool in hot water",
    "eat raw cookie dough",
    "give a dog grapes",
    "microwave a plastic container",
    "leave the heating on all day",
    "use bleach on a wooden floor",
    "swim after eating",
    "cut my own hair",
    "sleep with wet hair",
    "skip breakfast",
    "study late at night",
]
POSSESSED = [
    "favourite book",
    "ip address",
    "biggest strength",
    "first memory",
    "favourite film",
    "native language",
    "opinion on remote work",
    "timezone",
    "goal for this year",
    "favourite colour",
    "job title",
    "hometown",
    "preferred editor",
    "worst habit",
    "earliest bedtime",
]
TRANSFERS = [
    "copy photos {} my phone",
    "move files {} a usb drive",
    "sync contacts {} icloud",
    "transfer money {} a savings account",
    "migrate data {} postgres",
    "restore a backup {} the cloud",
    "send emails {} gmail",
    "stream music {} spotify",
    "translate a letter {} french",
    "port a game {} linux",
    "convert recipes {} imperial measures",
    "clone a repository {} github",
    "pull images {} docker hub",
    "copy settings {} an old laptop",
    "drag tabs {} another window",
]
PAIRS_OR = [
    ("ibuprofen", "paracetamol"),
    ("bleach", "vinegar"),
    ("coffee", "tea"),
    ("cats", "dogs"),
    ("rice", "beans"),
    ("python", "rust"),
    ("rent", "buy"),
    ("train", "plane"),
    ("salt", "sugar"),
    ("milk", "eggs"),
    ("yoga", "running"),
    ("sql", "nosql"),
    ("cash", "card"),
    ("sun", "shade"),
    ("wine", "beer"),
]
OR_FRAMES = [
    "is it ok to have {x} and {y} together",
    "should i pack {x} and {y} for the trip",
    "what are the risks of {x} and {y}",
    "compare the cost of {x} and {y}",
    "can a child have {x} and {y}",
]
HABITS = [
    ("people", "get their news"),
    ("children", "learn to read"),
    ("farmers", "water crops"),
    ("sailors", "navigate"),
    ("doctors", "treat fevers"),
    ("students", "take notes"),
    ("families", "heat their homes"),
    ("soldiers", "communicate"),
    ("merchants", "keep accounts"),
    ("cooks", "preserve meat"),
    ("travellers", "find their way"),
    ("builders", "lift stones"),
    ("people", "pay for things"),
    ("writers", "publish books"),
    ("teachers", "grade exams"),
]


def wh_swap_past(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(WH, 2)
    event = rng.choice(EVENTS)
    return (f"{x} {event}", f"{y} {event}", "different", "function_words")


def wh_swap_present(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(["why", "how", "when", "where"], 2)
    fact = rng.choice(PRESENT_FACTS)
    return (f"{x} {fact}?", f"{y} {fact}?", "different", "function_words")


def tense_copula(rng: random.Random) -> tuple[str, str, str, str]:
    role, org = rng.choice(ROLES)
    a, b = rng.choice([("is", "was"), ("is", "will be"), ("was", "will be")])
    return (f"who {a} the {role} of {org}", f"who {b} the {role} of {org}", "different", "tense")


def tense_aux(rng: random.Random) -> tuple[str, str, str, str]:
    who, what = rng.choice(HABITS)
    a, b = rng.choice([("do", "did"), ("did", "will")])
    return (f"how {a} {who} {what}", f"how {b} {who} {what}", "different", "tense")


def modal_swap(rng: random.Random) -> tuple[str, str, str, str]:
    act = rng.choice(ACTIONS)
    a, b = rng.choice(
        [("can i", "should i"), ("is it possible to", "is it a good idea to"), ("can you", "must you"), ("may i", "should i")]
    )
    return (f"{a} {act}?", f"{b} {act}?", "different", "modal")


def person_swap(rng: random.Random) -> tuple[str, str, str, str]:
    thing = rng.choice(POSSESSED)
    a, b = rng.sample(["what is my {}", "what is your {}", "what is their {}", "what was our {}"], 2)
    return (a.format(thing), b.format(thing), "different", "person")


def preposition_swap(rng: random.Random) -> tuple[str, str, str, str]:
    frame = rng.choice(TRANSFERS)
    lead = rng.choice(["how do i", "what is the easiest way to", "steps to", "is there a way to"])
    return (f"{lead} {frame.format('to')}", f"{lead} {frame.format('from')}", "different", "preposition")


def and_or(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.choice(PAIRS_OR)
    frame = rng.choice(OR_FRAMES)
    return (frame.format(x=x, y=y), frame.format(x=x, y=y).replace(" and ", " or ", 1), "different", "conjunction")


# -- more near-duplicates that change one slot ------------------------------------------------
VERSIONS = [
    ("python 3.8", "python 3.12"),
    ("java 8", "java 21"),
    ("node 16", "node 20"),
    ("postgres 12", "postgres 16"),
    ("ubuntu 20.04", "ubuntu 24.04"),
    ("react 17", "react 18"),
    ("django 3.2", "django 5.0"),
    ("ios 16", "ios 17"),
]
DATES = [
    ("1 march", "1 may"),
    ("monday", "friday"),
    ("january", "july"),
    ("new year's eve", "christmas eve"),
    ("9am", "9pm"),
    ("noon", "midnight"),
    ("spring", "autumn"),
    ("the 1920s", "the 1960s"),
]
COUNTRIES = [
    "france",
    "japan",
    "brazil",
    "kenya",
    "canada",
    "india",
    "norway",
    "mexico",
    "egypt",
    "vietnam",
    "chile",
    "poland",
    "turkey",
    "greece",
    "peru",
    "ghana",
]
CONCEPTS = [
    "recursion",
    "inflation",
    "photosynthesis",
    "compound interest",
    "entropy",
    "a hash table",
    "natural selection",
    "supply and demand",
    "plate tectonics",
    "the placebo effect",
    "a neural network",
    "public key cryptography",
    "the doppler effect",
    "opportunity cost",
    "a black hole",
    "vaccination",
    "a blockchain",
    "osmosis",
    "the greenhouse effect",
    "game theory",
    "big o notation",
    "a mortgage",
    "the water cycle",
    "quantum tunnelling",
]
AUDIENCES = [
    ("a five year old", "a physics student"),
    ("a beginner", "an expert"),
    ("a manager", "an engineer"),
    ("a teenager", "a retiree"),
    ("a lawyer", "a nurse"),
]


def numbers_version(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(VERSIONS)
    q = rng.choice(
        ["what is new in {}", "how do i upgrade to {}", "is {} still supported", "known bugs in {}", "how do i install {} on a mac"]
    )
    return (q.format(a), q.format(b), "different", "numbers")


def time_dates(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(DATES)
    q = rng.choice(
        [
            "is the pharmacy open on {}",
            "what is the tide at {} in brighton",
            "typical traffic in {} on {}",
            "plan a picnic for {}",
            "how cold does it get in oslo in {}",
        ]
    )
    if q.count("{}") == 2:
        city = rng.choice(CITIES)
        return (q.format(city, a), q.format(city, b), "different", "time")
    return (q.format(a), q.format(b), "different", "time")


def entities_country(rng: random.Random) -> tuple[str, str, str, str]:
    x, y = rng.sample(COUNTRIES, 2)
    q = rng.choice(
        [
            "what currency does {} use",
            "what is the national dish of {}",
            "do i need a visa for {}",
            "what language is spoken in {}",
            "what is the voltage in {}",
            "which side of the road do they drive on in {}",
        ]
    )
    return (q.format(x), q.format(y), "different", "entities")


def audience_swap(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(AUDIENCES)
    c = rng.choice(CONCEPTS)
    return (f"explain {c} to {a}", f"explain {c} to {b}", "different", "scope")


def units_rate(rng: random.Random) -> tuple[str, str, str, str]:
    n = rng.choice(["60", "90", "120", "30", "45"])
    a, b = rng.choice([("km/h", "mph"), ("per hour", "per minute"), ("per day", "per week"), ("ml", "litres"), ("kb", "mb")])
    what = rng.choice(["is {} {} fast for a bicycle", "how far do i get at {} {} in an hour", "is {} {} a normal rate"])
    return (what.format(n, a), what.format(n, b), "different", "units")


def code_flags(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(
        [
            ("git push --force", "git push --force-with-lease"),
            ("ls -a", "ls -l"),
            ("grep -i", "grep -v"),
            ("tar -xzf", "tar -czf"),
            ("pip install -e .", "pip install ."),
            ("docker rm", "docker rmi"),
            ("kill -9", "kill -15"),
            ("cp -r", "cp -p"),
            ("git log --oneline", "git log --graph"),
            ("npm ci", "npm install"),
            ("sed -i", "sed -n"),
            ("curl -L", "curl -I"),
        ]
    )
    q = rng.choice(["what does `{}` do", "when is `{}` the right choice", "explain `{}` to a new developer"])
    return (q.format(a), q.format(b), "different", "code")


def code_identifiers(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(
        [
            ("map", "flatmap"),
            ("merge", "rebase"),
            ("useeffect", "uselayouteffect"),
            ("malloc", "calloc"),
            ("append", "extend"),
            ("deepcopy", "copy"),
            ("threading", "multiprocessing"),
            ("varchar", "text"),
            ("unique_ptr", "shared_ptr"),
            ("promise.all", "promise.race"),
            ("setinterval", "settimeout"),
            ("hashmap", "treemap"),
        ]
    )
    q = rng.choice(
        [
            "what is the difference in behaviour of {} in practice",
            "give an example using {}",
            "common mistakes with {}",
            "is {} thread safe",
        ]
    )
    return (q.format(a), q.format(b), "different", "code")


def numbers_money(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice([("500", "5000"), ("1,200", "12,000"), ("40", "400"), ("75", "57"), ("1.5", "15"), ("300", "3,000")])
    q = rng.choice(
        [
            "how should i invest {} dollars",
            "is a {} euro monthly budget for food realistic",
            "what can i buy for {} pounds",
            "monthly payment on a {} dollar loan at 5 percent",
        ]
    )
    return (q.format(a), q.format(b), "different", "numbers")


def negation_prefix(rng: random.Random) -> tuple[str, str, str, str]:
    a, b = rng.choice(
        [
            ("safe", "unsafe"),
            ("legal", "illegal"),
            ("possible", "impossible"),
            ("likely", "unlikely"),
            ("common", "uncommon"),
            ("healthy", "unhealthy"),
            ("ethical", "unethical"),
            ("reversible", "irreversible"),
        ]
    )
    q = rng.choice(
        [
            "why is it {} to leave a car running in a garage",
            "explain why this contract clause is {}",
            "reasons a password reset link might be {}",
            "is skipping a vaccine dose {}",
        ]
    )
    return (q.format(a), q.format(b), "different", "negation")


def long_rag(rng: random.Random) -> tuple[str, str, str, str]:
    """A long support ticket under one instruction: only one clause in the middle differs."""
    product = rng.choice(["router", "laptop", "dishwasher", "printer", "thermostat", "e-bike"])
    mid_a, mid_b = rng.choice(
        [
            ("The fault started after the firmware update.", "The fault started before the firmware update."),
            ("The light blinks green twice.", "The light blinks red twice."),
            ("It happens only on battery power.", "It happens only on mains power."),
            ("The customer has a warranty.", "The customer has no warranty."),
            ("Two units are affected.", "Twelve units are affected."),
        ]
    )
    body = (
        "The customer describes the setup in detail, including the room, the cabling and the other devices nearby. "
        "They have already restarted the device and checked the manual's troubleshooting section. "
    )
    head = f"You are a support agent for a {product} maker. Read the ticket and reply.\n\nTicket:\n" + body * rng.randint(5, 8)
    tail = body * rng.randint(5, 8) + "\nWhat should the customer do next?"
    return (head + mid_a + " " + tail, head + mid_b + " " + tail, "different", "long_middle")


# -- light rewordings: the same request in another case, punctuation, politeness or contraction ---
REWORD_BASES: list[tuple[str, dict[str, list[str]]]] = [
    (
        "how do i {verb} a {t} in {lang}",
        {
            "verb": ["reverse", "sort", "copy", "flatten", "shuffle", "print", "filter", "iterate over", "split", "clear"],
            "t": THINGS,
            "lang": LANGS,
        },
    ),
    ("what is the capital of {country}", {"country": COUNTRIES}),
    ("what is the national animal of {country}", {"country": COUNTRIES}),
    ("explain {concept} in simple terms", {"concept": CONCEPTS}),
    (
        "what are the main causes of {issue}",
        {
            "issue": [
                "inflation",
                "deforestation",
                "insomnia",
                "traffic jams",
                "obesity",
                "soil erosion",
                "burnout",
                "coral bleaching",
                "acid rain",
                "hair loss",
                "back pain",
                "power outages",
                "memory leaks",
                "flaky tests",
                "high rent",
            ]
        },
    ),
    ("what is the history of {city}", {"city": CITIES}),
    (
        "what are the symptoms of {illness}",
        {
            "illness": [
                "the flu",
                "anaemia",
                "dehydration",
                "a concussion",
                "lyme disease",
                "asthma",
                "a migraine",
                "scurvy",
                "heatstroke",
                "tonsillitis",
                "food poisoning",
                "a sprained ankle",
                "shingles",
                "an ear infection",
            ]
        },
    ),
    (
        "how do i care for a {plant}",
        {
            "plant": [
                "fiddle leaf fig",
                "snake plant",
                "bonsai tree",
                "orchid",
                "monstera",
                "basil plant",
                "cactus",
                "peace lily",
                "lemon tree",
                "fern",
                "pothos",
                "rosemary bush",
                "tomato plant",
            ]
        },
    ),
    (
        "what is the difference between {x} and {y}",
        {
            "x": ["a virus", "weather", "a lake", "jam", "a crocodile", "baking soda", "a llama", "a moth", "an ape", "a toad"],
            "y": [
                "a bacterium",
                "climate",
                "a pond",
                "jelly",
                "an alligator",
                "baking powder",
                "an alpaca",
                "a butterfly",
                "a monkey",
                "a frog",
            ],
        },
    ),
    ("what should i see in {city} in {n} days", {"city": CITIES, "n": ["two", "three", "four", "five"]}),
    (
        "write a haiku about {topic}",
        {
            "topic": [
                "the sea",
                "autumn rain",
                "a lighthouse",
                "city lights",
                "an old dog",
                "snowfall",
                "a train station",
                "morning coffee",
                "the desert",
                "a thunderstorm",
                "fireflies",
                "a quiet library",
                "the first frost",
                "a paper boat",
            ]
        },
    ),
    ("what do {animal}s eat in the wild", {"animal": ANIMALS}),
    ("is {food} a good source of protein", {"food": FOODS}),
    ("what is the best way to get from {city} to {city2}", {"city": CITIES, "city2": [c.lower() for c in CITIES]}),
    (
        "what is the weather usually like in {city} in {month}",
        {
            "city": CITIES,
            "month": [
                "january",
                "february",
                "march",
                "april",
                "may",
                "june",
                "july",
                "august",
                "september",
                "october",
                "november",
                "december",
            ],
        },
    ),
    (
        "give me a {meal} recipe with {food} and {food2}",
        {
            "meal": ["breakfast", "lunch", "dinner", "snack", "picnic"],
            "food": FOODS,
            "food2": ["garlic", "lemon", "spinach", "ginger", "mushrooms", "peppers", "cheese", "herbs"],
        },
    ),
    (
        "what are good {activity} spots near {city}",
        {"activity": ["hiking", "swimming", "cycling", "climbing", "birdwatching", "picnic", "camping", "fishing"], "city": CITIES},
    ),
    (
        "write a {length} {form} about {topic2}",
        {
            "length": ["short", "long", "funny", "sad"],
            "form": ["story", "poem", "song", "speech"],
            "topic2": ["a lost key", "a lighthouse keeper", "a robot chef", "a rainy town", "a stubborn goat", "a secret garden"],
        },
    ),
    (
        "how does {tool} handle {feature} in {lang}",
        {
            "tool": ["the compiler", "the garbage collector", "the standard library", "the package manager", "the type checker"],
            "feature": ["generics", "closures", "unicode strings", "integer overflow", "circular imports", "dead code"],
            "lang": LANGS,
        },
    ),
    (
        "summarise the plot of {book}",
        {
            "book": [
                "hamlet",
                "moby dick",
                "pride and prejudice",
                "the odyssey",
                "frankenstein",
                "dracula",
                "jane eyre",
                "the great gatsby",
                "don quixote",
                "war and peace",
                "middlemarch",
                "the iliad",
                "macbeth",
                "emma",
                "beowulf",
            ]
        },
    ),
]


def _reword(rng: random.Random, base: str) -> str:
    """Case, punctuation, politeness, contractions: changes a cache should see through."""
    out = base
    ops = rng.sample(["case", "question", "please", "hey", "contract", "thanks", "so"], rng.randint(1, 3))
    if "contract" in ops:
        out = out.replace("what is", "what's").replace("how do i", "how can i").replace("i am", "i'm")
    if "please" in ops:
        out = rng.choice([f"please, {out}", f"{out}, please", f"please {out}"])
    if "hey" in ops:
        out = rng.choice(["hey, ", "hi, ", "hello, ", "hi there, "]) + out
    if "so" in ops:
        out = "so " + out
    if "case" in ops:
        out = out[0].upper() + out[1:]
        out = " ".join("I" if w == "i" else w for w in out.split(" "))
    if "question" in ops or rng.random() < 0.5:
        out = out + rng.choice(["?", " ?", "??"])
    if "thanks" in ops:
        out = out + rng.choice([" thanks", " thank you", " thanks!"])
    return out


def reworded(idx: int) -> Family:
    template, slots = REWORD_BASES[idx]

    def make(rng: random.Random) -> tuple[str, str, str, str]:
        base = template.format(**{k: rng.choice(v) for k, v in slots.items()})
        a, b = base, _reword(rng, base)
        return (b, a, "same", "reworded") if rng.random() < 0.5 else (a, b, "same", "reworded")

    make.__name__ = f"reworded_{idx:02d}"
    return make


# Paraphrases that change many words (more of them, beyond PARAPHRASES).
MORE_PARAPHRASES = [
    ("what is the capital of {country}", "which city is {country}'s seat of government"),
    ("explain {concept} in simple terms", "give me an easy-to-understand description of {concept}"),
    ("what currency does {country} use", "which money do people pay with in {country}"),
    ("how can i stop {issue}", "what are ways to prevent {issue}"),
    ("recommend a good book about {concept}", "suggest some reading on {concept}"),
    ("what language do people speak in {country}", "which language is spoken by the people of {country}"),
    ("why is {concept} important", "what makes {concept} matter"),
    ("i need a packing list for a trip to {country}", "help me decide what to bring when travelling to {country}"),
]


def more_paraphrase(idx: int) -> Family:
    left, right = MORE_PARAPHRASES[idx]

    def make(rng: random.Random) -> tuple[str, str, str, str]:
        slots = {
            "country": rng.choice(COUNTRIES),
            "concept": rng.choice(CONCEPTS),
            "issue": rng.choice(["insomnia", "burnout", "procrastination", "overthinking", "snoring", "back pain"]),
        }
        a, b = left.format(**slots), right.format(**slots)
        return (b, a, "same", "paraphrase") if rng.random() < 0.5 else (a, b, "same", "paraphrase")

    make.__name__ = f"paraphrase_more_{idx:02d}"
    return make


FAMILIES: list[Family] = [
    numbers_recipe,
    numbers_words,
    numbers_percent,
    negation_plain,
    negation_lexical,
    entities_lower,
    entities_cities,
    entities_things,
    scope_change,
    time_change,
    units_change,
    code_change,
    quoted_change,
    comparative,
    antonym,
    role_swap,
    role_swap_sport,
    reworded_same,
    reworded_city,
    long_middle,
    *(paraphrase(i) for i in range(len(PARAPHRASES))),
    wh_swap_past,
    wh_swap_present,
    tense_copula,
    tense_aux,
    modal_swap,
    person_swap,
    preposition_swap,
    and_or,
    numbers_version,
    time_dates,
    entities_country,
    audience_swap,
    units_rate,
    code_flags,
    code_identifiers,
    numbers_money,
    negation_prefix,
    long_rag,
    *(reworded(i) for i in range(len(REWORD_BASES))),
    *(more_paraphrase(i) for i in range(len(MORE_PARAPHRASES))),
]
# Pairs per family: the first families keep the original 14; later ones are wider (as many as their
# slots allow without repeating a prompt). Rewordings are many because certifying a 1% bound takes
# ~300 accepted hits with no false one on the calibration half alone (the rule of three).
PER_FAMILY_WIDE = {"reworded": 70, "paraphrase": 20}
PER_FAMILY_NEAR = 30


def multiturn(rng: random.Random, n: int) -> list[dict[str, object]]:
    """Conversations sharing the last turn ("and in metric?") with a different earlier question."""
    subjects = [f"the {a}" for a in ANIMALS] + [c.title() for c in CITIES]
    rows: list[dict[str, object]] = []
    for i in range(n):
        x, y = subjects[i % len(subjects)], subjects[(i + 1 + i // len(subjects)) % len(subjects)]
        last = rng.choice(
            [
                "and how much does it weigh in kilograms?",
                "what about in winter?",
                "can you make it shorter?",
                "and what is it known for?",
                "say that again in french",
                "any fun facts?",
            ]
        )
        ctx_a = [{"role": "user", "content": f"tell me about {x}"}, {"role": "assistant", "content": f"{x} is interesting."}]
        ctx_b = [{"role": "user", "content": f"what do you know about {y}"}, {"role": "assistant", "content": f"{y} is interesting."}]
        rows.append(
            {"family": "multiturn", "a": last, "b": last, "ctx_a": ctx_a, "ctx_b": ctx_b, "label": "different", "kind": "multiturn", "n": i}
        )
    return rows


def splits(kinds: dict[str, str]) -> dict[str, str]:
    """Family -> split: within each kind the families (sorted by name) alternate between the halves,
    from a seeded start, so each half gets families of every kind and no family is in both."""
    out: dict[str, str] = {}
    for kind in sorted(set(kinds.values())):
        start = hashlib.sha256(f"{SEED}:{kind}".encode()).digest()[0] % 2
        for j, group in enumerate(sorted(g for g, k in kinds.items() if k == kind)):
            out[group] = "calib" if (j + start) % 2 == 0 else "report"
    return out


_FILLER_WORDS = frozenset("please hey hi hello there so thanks thank".split())


def normalised(text: str) -> str:
    """What a rewording leaves unchanged: two prompts alike here must not sit in different pairs
    (a hit between them would be scored false while meaning the same)."""
    text = text.lower().replace("what's", "what is").replace("how can i", "how do i").replace("i'm", "i am")
    return " ".join(w for w in re.findall(r"[a-z0-9.]+", text) if w not in _FILLER_WORDS)


def quota(name: str, kind: str) -> int:
    if name in {f.__name__ for f in FAMILIES[: FAMILIES.index(long_middle) + 1 + len(PARAPHRASES)]}:
        return PER_FAMILY
    return PER_FAMILY_WIDE.get(kind, PER_FAMILY_NEAR)


def generate() -> list[dict[str, object]]:
    rng = random.Random(SEED)
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for family in FAMILIES:
        made = 0
        want = None
        for _ in range(70 * 8):
            a, b, label, kind = family(rng)
            want = want or quota(family.__name__, kind)
            # A prompt in two pairs would make "hits" that are the very same text: no test of meaning.
            na, nb = normalised(a), normalised(b)
            if a == b or na in seen or nb in seen or (label == "different" and na == nb):
                continue
            seen.update((na, nb))
            rows.append({"family": family.__name__, "a": a, "b": b, "label": label, "kind": kind})
            made += 1
            if made == want:
                break
    rows.extend(multiturn(rng, 2 * PER_FAMILY))
    split = splits({str(r["family"]): str(r["kind"]) for r in rows})
    out = []
    for i, row in enumerate(rows):
        group = str(row.pop("family"))
        row.pop("n", None)
        out.append({"id": f"s{i:04d}", "group": group, "split": split[group], **row})
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
