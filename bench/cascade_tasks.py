"""Short questions with checkable answers, generated here, for the cascade benchmark.

The shared routing data has no answer key and no log-probabilities, so the cascade benchmark
labels its own set: templated questions whose reference answer is known by construction
(arithmetic, order of letters, days and months, and small fact tables written for this file).
Small local models get some of them right and some wrong, which is what a cascade needs.

Every question is asked after the same three worked examples (`messages(task)`): the strong
tier here is a base (not instruction-tuned) model, which answers in the examples' form.

`grade(answer, task)` is 1.0 when the first line of the answer gives the reference (the first
number for numeric tasks, a whole-word match otherwise), else 0.0.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo",
    "China": "Beijing", "Russia": "Moscow", "Egypt": "Cairo", "Greece": "Athens", "Portugal": "Lisbon",
    "Norway": "Oslo", "Sweden": "Stockholm", "Finland": "Helsinki", "Denmark": "Copenhagen", "Poland": "Warsaw",
    "Austria": "Vienna", "Ireland": "Dublin", "Hungary": "Budapest", "Kenya": "Nairobi", "Peru": "Lima",
    "Argentina": "Buenos Aires", "Mexico": "Mexico City", "Canada": "Ottawa", "Australia": "Canberra",
    "India": "New Delhi", "Thailand": "Bangkok", "South Korea": "Seoul", "Turkey": "Ankara", "Iran": "Tehran",
    "Cuba": "Havana", "Chile": "Santiago", "Colombia": "Bogota", "Belgium": "Brussels", "Netherlands": "Amsterdam",
    "Czech Republic": "Prague", "Switzerland": "Bern", "Vietnam": "Hanoi", "Indonesia": "Jakarta",
    "Nigeria": "Abuja", "Brazil": "Brasilia",
}
LANGUAGES = {
    "France": "French", "Germany": "German", "Italy": "Italian", "Spain": "Spanish", "Japan": "Japanese",
    "China": "Chinese", "Russia": "Russian", "Greece": "Greek", "Portugal": "Portuguese", "Brazil": "Portuguese",
    "Mexico": "Spanish", "Poland": "Polish", "Sweden": "Swedish", "Turkey": "Turkish", "Netherlands": "Dutch",
    "Finland": "Finnish", "Norway": "Norwegian", "Hungary": "Hungarian", "Egypt": "Arabic", "Argentina": "Spanish",
    "South Korea": "Korean", "Thailand": "Thai", "Vietnam": "Vietnamese", "Iran": "Persian", "Austria": "German",
}
OPPOSITES = {
    "hot": "cold", "big": "small", "up": "down", "fast": "slow", "happy": "sad", "light": "dark",
    "open": "closed", "old": "young", "wet": "dry", "hard": "soft", "full": "empty", "early": "late",
    "strong": "weak", "rich": "poor", "tall": "short", "thick": "thin", "loud": "quiet", "win": "lose",
    "inside": "outside", "push": "pull", "true": "false", "day": "night", "north": "south", "left": "right",
    "buy": "sell", "heavy": "light", "clean": "dirty", "top": "bottom", "first": "last", "always": "never",
}
PLURALS = {
    "mouse": "mice", "child": "children", "foot": "feet", "tooth": "teeth", "man": "men", "woman": "women",
    "goose": "geese", "person": "people", "cat": "cats", "box": "boxes", "city": "cities", "knife": "knives",
    "leaf": "leaves", "baby": "babies", "bus": "buses", "dog": "dogs", "book": "books", "wolf": "wolves",
    "ox": "oxen", "sheep": "sheep", "fish": "fish", "church": "churches", "party": "parties", "wife": "wives",
}
SOUNDS = {
    "cow": ["moo"], "dog": ["woof", "bark"], "cat": ["meow", "miaow"], "duck": ["quack"], "sheep": ["baa", "bleat"],
    "lion": ["roar"], "snake": ["hiss"], "owl": ["hoot"], "pig": ["oink"], "horse": ["neigh"], "bee": ["buzz"],
    "frog": ["croak", "ribbit"], "rooster": ["cock-a-doodle-doo", "crow"], "mouse": ["squeak"],
}
COLOURS = {
    "the sky on a clear day": ["blue"], "grass": ["green"], "snow": ["white"], "a ripe banana": ["yellow"],
    "coal": ["black"], "blood": ["red"], "a ripe tomato": ["red"], "an orange": ["orange"],
    "a lemon": ["yellow"], "milk": ["white"], "a carrot": ["orange"], "chocolate": ["brown"],
}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
ONLY = " Reply with the answer only."
NUMBER = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Task:
    id: str
    family: str
    prompt: str
    answers: tuple[str, ...]
    numeric: bool = False


SHOTS = [
    ("What is 3 + 5? Reply with the answer only.", "8"),
    ("What is the capital of Kenya? Reply with the answer only.", "Nairobi"),
    ("What is the opposite of 'near'? Reply with the answer only.", "far"),
]


def messages(task: Task) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for question, answer in SHOTS:
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return [*turns, {"role": "user", "content": task.prompt}]


def _word(text: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", text.lower())


def grade(answer: str, task: Task) -> float:
    first = next((line for line in answer.strip().splitlines() if line.strip()), "")
    if task.numeric:
        found = NUMBER.search(first.replace(",", ""))
        return 1.0 if found is not None and found.group() in task.answers else 0.0
    words = f" {_word(first)} "
    return 1.0 if any(f" {_word(a)} " in words for a in task.answers) else 0.0


def generate(per_family: int = 60, seed: int = 7) -> list[Task]:
    """About `per_family` tasks from each of 13 families (fewer where a table is smaller), shuffled."""
    rng = random.Random(seed)
    tasks: list[Task] = []

    def numeric(family: str, make: object) -> None:
        seen: set[str] = set()
        for _ in range(per_family * 20):
            if len(seen) >= per_family:
                break
            prompt, answer = make()  # type: ignore[operator]
            if prompt not in seen:
                seen.add(prompt)
                tasks.append(Task(f"{family}-{len(seen):03d}", family, prompt, (str(answer),), numeric=True))

    def add() -> tuple[str, int]:
        a, b = rng.randint(1, 30), rng.randint(1, 30)
        return f"What is {a} + {b}?{ONLY}", a + b

    def sub() -> tuple[str, int]:
        a = rng.randint(5, 40)
        b = rng.randint(1, a - 1)
        return f"What is {a} minus {b}?{ONLY}", a - b

    def mul() -> tuple[str, int]:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        return f"What is {a} times {b}?{ONLY}", a * b

    def larger() -> tuple[str, int]:
        a, b = rng.sample(range(10, 100), 2)
        return f"Which number is larger, {a} or {b}?{ONLY}", max(a, b)

    numeric("add", add)
    numeric("subtract", sub)
    numeric("multiply", mul)
    numeric("larger", larger)

    def table(family: str, items: list[tuple[str, tuple[str, ...]]]) -> None:
        rng.shuffle(items)
        for i, (prompt, answers) in enumerate(items[:per_family]):
            tasks.append(Task(f"{family}-{i + 1:03d}", family, prompt, answers))

    table("capital", [(f"What is the capital of {c}?{ONLY}", (a,)) for c, a in CAPITALS.items()])
    table("language", [(f"What is the main language spoken in {c}?{ONLY}", (a,)) for c, a in LANGUAGES.items()])
    table("opposite", [(f"What is the opposite of '{w}'?{ONLY}", (a,)) for w, a in OPPOSITES.items()])
    table("plural", [(f"What is the plural of '{w}'?{ONLY}", (a,)) for w, a in PLURALS.items()])
    table("animal_sound", [(f"What sound does a {a} make?{ONLY}", tuple(s)) for a, s in SOUNDS.items()])
    table("colour", [(f"What colour is {t}?{ONLY}", tuple(c)) for t, c in COLOURS.items()])
    letters = [chr(c) for c in range(ord("A"), ord("Z"))]
    table("next_letter", [(f"Which letter comes right after {x} in the English alphabet?{ONLY}", (chr(ord(x) + 1),))
                          for x in letters])
    table("next_day", [(f"Which day of the week comes after {d}?{ONLY}", (DAYS[(i + 1) % 7],)) for i, d in enumerate(DAYS)]
          + [(f"Which day of the week comes before {d}?{ONLY}", (DAYS[(i - 1) % 7],)) for i, d in enumerate(DAYS)])
    table("next_month", [(f"Which month comes after {m}?{ONLY}", (MONTHS[(i + 1) % 12],)) for i, m in enumerate(MONTHS)]
          + [(f"Which month comes before {m}?{ONLY}", (MONTHS[(i - 1) % 12],)) for i, m in enumerate(MONTHS)])
    rng.shuffle(tasks)
    return tasks
