"""Independent red-team set v2 for the semantic cache (issue #12): writes bench/data/semantic_redteam2.jsonl.

Written without reading the verifier (router/cache/), the team's evaluation set or the first red-team set,
by thinking like an attacker of an embedding + text-guard cache:

- ``different`` pairs are near-duplicates whose cached answer would be wrong for the new request: numbers
  written as words, case-significant units, implicit negation, antonyms, swapped roles and directions with
  the same bag of words, deixis, modality, scope, time, code flags and off-by-one, output constraints;
- ``same`` pairs are true paraphrases (synonyms, reorderings, voice, contractions, politeness wrappers,
  typos, numerals written differently) whose cached answer is valid;
- ``long`` pairs share > 1,500 words and differ only in one middle sentence (or paraphrase it), ``multiturn``
  pairs share the last user turn but differ earlier (or share everything and reword the last turn), and
  ``system`` pairs differ only in the system prompt.

Format (what bench/semantic_cache.py reads): one JSON object a line with ``a`` (the cached prompt), ``b``
(the new prompt), ``label`` (``same``: the answer to ``a`` is valid for ``b``; ``different``: it is not),
``kind``, ``sub`` (finer tag), ``group`` (template family), ``split`` (always ``report``: nothing here is
tuned on) and, for conversations, ``ctx_a``/``ctx_b`` (the earlier messages, system prompt included).

Every (family, slot filling) is used once, so no two pairs ask the same thing in different words without a
``same`` label joining them: the benchmark counts a hit on another pair's entry as false, which is only
honest if that entry really means something else.

Deterministic and pure Python: ``python bench/semantic_redteam2_gen.py [--seed 2] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "data" / "semantic_redteam2.jsonl"

Msg = dict[str, str]
Row = tuple[str, ...]


class Builder:
    """Collects pairs; every text must be new for its family so one meaning never hides under two labels."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pairs: list[dict[str, Any]] = []

    def add(
        self,
        kind: str,
        group: str,
        a: str,
        b: str,
        label: str,
        sub: str = "",
        ctx_a: list[Msg] | None = None,
        ctx_b: list[Msg] | None = None,
    ) -> None:
        assert label in ("same", "different")
        assert (a, ctx_a) != (b, ctx_b), (group, a)
        pair: dict[str, Any] = {"a": a, "b": b, "label": label, "kind": kind, "sub": sub or kind, "group": group, "split": "report"}
        if ctx_a is not None:
            pair["ctx_a"] = ctx_a
        if ctx_b is not None:
            pair["ctx_b"] = ctx_b
        self.pairs.append(pair)

    def contrast(self, kind: str, group: str, tpl: str, rows: Sequence[Row], sub: str = "", at: int = 0) -> None:
        """``tpl`` holds ``{x}`` (row[at] for a, row[at + 1] for b) and ``{0}``.. (the row's other cells, in order)."""
        seen: set[tuple[str, ...]] = set()
        for row in rows:
            xa, xb = row[at], row[at + 1]
            fill = list(row[:at] + row[at + 2 :])
            assert (*fill, xa) not in seen, (group, row)
            seen.add((*fill, xa))
            self.add(kind, group, tpl.format(*fill, x=xa), tpl.format(*fill, x=xb), "different", sub)

    def explicit(self, kind: str, group: str, rows: Sequence[tuple[str, str]], label: str, sub: str = "") -> None:
        for a, b in rows:
            self.add(kind, group, a, b, label, sub)

    def reword(self, group: str, sub: str, phrasings: Sequence[str], fills: Sequence[Row], post: str = "") -> None:
        """Same-meaning pairs: one filling in two different phrasings (rotated), ``post`` optionally roughening b."""
        assert len(phrasings) >= 2
        for i, fill in enumerate(fills):
            j = (i + 1 + self.rng.randrange(len(phrasings) - 1)) % len(phrasings)
            a = phrasings[i % len(phrasings)].format(*fill)
            b = phrasings[j].format(*fill)
            if post:
                b = TRANSFORMS[post](b, self.rng)
            self.add("paraphrase", group, a, b, "same", sub + (f"+{post}" if post else ""))


# --- transforms for paraphrases -------------------------------------------------------------------------

CONTRACT = [
    ("do not", "don't"),
    ("does not", "doesn't"),
    ("did not", "didn't"),
    ("is not", "isn't"),
    ("are not", "aren't"),
    ("cannot", "can't"),
    ("will not", "won't"),
    ("should not", "shouldn't"),
    ("would not", "wouldn't"),
    ("I am", "I'm"),
    ("it is", "it's"),
    ("It is", "It's"),
    ("What is", "What's"),
    ("what is", "what's"),
    ("you are", "you're"),
    ("They are", "They're"),
    ("I have", "I've"),
    ("I would", "I'd"),
    ("there is", "there's"),
    ("That is", "That's"),
    ("we are", "we're"),
    ("has not", "hasn't"),
]


def contract(text: str, rng: random.Random) -> str:
    for long, short in CONTRACT:
        text = re.sub(rf"\b{long}\b", short, text)
    return text


NEIGHBOURS = dict(zip("qwertyuiopasdfghjklzxcvbnm", "wertyuioposdfghjklkxcvbnmn", strict=True))  # the key to the right


def typos(text: str, rng: random.Random, n: int = 3) -> str:
    """Keyboard slips in plain lowercase words only: digits, names, units and code stay exact."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha() and w.islower()]
    for i in rng.sample(idx, min(n, len(idx))):
        w = words[i]
        k = rng.randrange(1, len(w) - 2)
        op = rng.randrange(4)
        if op == 0:
            w = w[:k] + w[k + 1] + w[k] + w[k + 2 :]  # swap
        elif op == 1:
            w = w[:k] + w[k + 1 :]  # drop
        elif op == 2:
            w = w[:k] + w[k] + w[k:]  # double
        else:
            w = w[:k] + NEIGHBOURS.get(w[k], w[k]) + w[k + 1 :]  # fat finger
        words[i] = w
    out = " ".join(words)
    if rng.random() < 0.5 and out.endswith("?"):
        out = out[:-1]
    return out


WRAPPERS = [
    "Hi there! I was hoping you could help me out with something. {q} Thanks so much in advance!",
    "Sorry to bother you, but I have a question. {q}",
    "Could you please help me with this? {q}",
    "Hello! Quick question for you: {q} I'd really appreciate any help.",
    "{q} Please and thank you :)",
    "Good morning. If it's not too much trouble, I'd love an answer to this: {q} Many thanks.",
    "Hey, hope you're doing well. {q} Cheers!",
    "I'd be grateful for your help. {q} Thank you kindly.",
]


def polite(text: str, rng: random.Random) -> str:
    return rng.choice(WRAPPERS).format(q=text)


TRANSFORMS = {"contraction": contract, "typo": typos, "polite": polite}


# --- must-not-hit near-duplicates ---------------------------------------------------------------------


def numbers(b: Builder) -> None:
    k = "numbers"
    b.contrast(
        k,
        "num-words-weeks",
        "How many hours are there in {x} weeks?",
        [("three", "thirteen"), ("four", "forty"), ("6", "sixteen"), ("eleven", "seven"), ("2.5", "25"), ("nine", "19")],
        "digits-vs-words",
    )
    b.contrast(
        k,
        "num-decimal-tip",
        "My restaurant bill came to ${x}. How much is a {0}% tip?",
        [
            ("12.50", "125.0", "15"),
            ("8.05", "80.50", "18"),
            ("40", "4.00", "20"),
            ("19.99", "199.9", "15"),
            ("1.50", "15.00", "20"),
            ("64.30", "6.43", "18"),
        ],
        "decimal",
    )
    b.contrast(
        k,
        "num-range-count",
        "How many whole numbers are there from {x}, counting both ends?",
        [
            ("1 to 10", "1 to 100"),
            ("5 to 10", "5 to 15"),
            ("0 to 9", "1 to 9"),
            ("20-30", "20-31"),
            ("-5 to 5", "-5 to 50"),
            ("100 to 200", "100 to 120"),
        ],
        "range",
    )
    b.contrast(
        k,
        "num-percent-discount",
        "A {0} costs ${1}. What does it cost after a {x} discount?",
        [
            ("20%", "0.2%", "winter jacket", "80"),
            ("15%", "50%", "floor lamp", "45"),
            ("12.5%", "1.25%", "road bicycle", "640"),
            ("thirty percent", "thirteen percent", "leather sofa", "900"),
            ("25%", "2.5%", "4K monitor", "220"),
            ("5 percent", "15 percent", "electric kettle", "36"),
        ],
        "percent",
    )
    b.contrast(
        k,
        "num-ordinal-prime",
        "What is the {x} prime number?",
        [("4th", "fourteenth"), ("fifth", "50th"), ("10th", "11th"), ("second", "twentieth"), ("seventh", "seventeenth"), ("1st", "100th")],
        "ordinal",
    )
    b.contrast(
        k,
        "num-recipe-scale",
        "This recipe serves 4: 2 cups flour, 1 egg, 250 ml milk, 30 g butter. Rescale the quantities for {x} people.",
        [("8", "6"), ("twelve", "two"), ("3", "30"), ("10", "5"), ("one", "eleven")],
        "digits-vs-words",
    )
    b.contrast(
        k,
        "num-fraction-of",
        "What is {x} of {0}?",
        [
            ("half", "a third", "360 degrees"),
            ("a quarter", "three quarters", "a 2 kg bag of rice"),
            ("two thirds", "one third", "90 minutes"),
            ("one eighth", "one sixth", "240 euros"),
            ("1/4", "1/3", "a 12-inch ruler"),
            ("3/4", "4/3", "600 ml of stock"),
        ],
        "fraction",
    )
    b.contrast(
        k,
        "num-round",
        "Round {x} to the nearest whole number.",
        [("2.49", "2.5"), ("7.5", "75"), ("0.05", "0.5"), ("-3.5", "3.5"), ("1,999.6", "1.9996"), ("99.45", "99.54")],
        "decimal",
    )
    b.contrast(
        k,
        "num-password-rule",
        "Write a password rule that requires at least {x} characters, including {0} digits.",
        [("8", "18", "two"), ("twelve", "twenty", "three"), ("10", "100", "one"), ("six", "sixteen", "four"), ("14", "forty", "two")],
        "digits-vs-words",
    )


def negation(b: Builder) -> None:
    k = "negation"
    b.contrast(
        k,
        "neg-recipes",
        "Give me {0} ideas that {x} {1}.",
        [
            ("contain", "do not contain", "lunch", "peanuts"),
            ("include", "don't include", "dinner", "dairy"),
            ("use", "never use", "breakfast", "eggs"),
            ("are made with", "are not made with", "dessert", "wheat flour"),
            ("have", "have no", "snack", "added sugar"),
            ("rely on", "don't rely on", "soup", "meat stock"),
        ],
        "explicit",
    )
    b.contrast(
        k,
        "neg-fail-to",
        "My {0} {x} after I {1}. What should I check?",
        [
            ("fails to boot", "boots normally", "laptop", "installed the latest BIOS update"),
            ("failed to sync", "synced correctly", "phone", "changed my Google password"),
            ("could not connect", "connected right away", "smart TV", "moved the router upstairs"),
            ("never printed", "printed fine", "office printer", "replaced the toner"),
            ("refused to start", "started at once", "car", "filled up at a new gas station"),
            ("stopped charging", "kept charging", "tablet", "dropped it on the carpet"),
        ],
        "implicit",
    )
    b.contrast(
        k,
        "neg-without",
        "How do I {0} {x}?",
        [
            ("install Docker on Ubuntu", "with root access", "without root access"),
            ("fly from Dublin to London", "with a passport", "without a passport"),
            ("whip cream", "using a mixer", "without a mixer"),
            ("buy amoxicillin in Spain", "with a prescription", "without a prescription"),
            ("activate Windows 11", "with an internet connection", "without an internet connection"),
            ("factory reset an iPhone", "while keeping my photos", "without keeping my photos"),
        ],
        "without",
        at=1,
    )
    b.contrast(
        k,
        "neg-hardly",
        "The {0} {x} works. Is it worth {1}?",
        [
            ("hardly ever", "almost always", "dishwasher", "repairing"),
            ("barely", "perfectly", "old car's air conditioning", "fixing before I sell the car"),
            ("rarely", "reliably", "nightly backup script", "keeping in production"),
            ("scarcely", "still", "garden irrigation timer", "replacing"),
            ("seldom", "consistently", "office VPN", "paying for another year"),
        ],
        "hardly",
    )
    b.contrast(
        k,
        "neg-except",
        "Draft an email inviting {x} {0} to the offsite.",
        [
            ("everyone except", "only", "the engineering team"),
            ("all staff but", "just", "the interns"),
            ("every department other than", "only", "finance"),
            ("the whole company apart from", "nobody but", "the executives"),
            ("all managers except", "only", "the new managers"),
        ],
        "except",
    )
    b.contrast(
        k,
        "neg-affix",
        "Which {x} {0} would you recommend?",
        [
            ("sweetened", "unsweetened", "almond milk brand"),
            ("caffeinated", "decaffeinated", "green tea"),
            ("wired", "wireless", "gaming mouse"),
            ("salted", "unsalted", "butter for baking"),
            ("scented", "unscented", "laundry detergent"),
            ("leaded", "lead-free", "solder for electronics"),
        ],
        "affix",
    )
    b.contrast(
        k,
        "neg-no-longer",
        "My {0} {x} {1}. Should we see a doctor?",
        [
            ("still has", "no longer has", "son", "a fever after three days"),
            ("keeps getting", "has stopped getting", "wife", "migraines every morning"),
            ("is still", "is no longer", "father", "coughing at night"),
            ("continues to feel", "has stopped feeling", "daughter", "dizzy when she stands up"),
            ("still can't", "can finally", "grandmother", "sleep through the night"),
        ],
        "no-longer",
    )


def antonyms(b: Builder) -> None:
    k = "antonyms"
    b.contrast(
        k,
        "ant-increase",
        "How do I {x} the {0} on {1}?",
        [
            ("increase", "decrease", "font size", "a Kindle Paperwhite"),
            ("raise", "lower", "screen brightness", "Ubuntu 22.04"),
            ("speed up", "slow down", "playback speed", "YouTube videos"),
            ("expand", "shrink", "swap space", "a Linux server"),
            ("turn up", "turn down", "bass", "a Sonos speaker"),
            ("maximize", "minimize", "window", "macOS"),
        ],
    )
    b.contrast(
        k,
        "ant-buy-sell",
        "What taxes do I pay when I {x} {0} in {1}?",
        [
            ("buy", "sell", "a house", "Portugal"),
            ("purchase", "sell", "shares", "Canada"),
            ("acquire", "dispose of", "bitcoin", "the UK"),
            ("import", "export", "a car", "Australia"),
            ("rent", "rent out", "an apartment", "Germany"),
            ("inherit", "give away", "farmland", "Ireland"),
        ],
    )
    b.contrast(
        k,
        "ant-before-after",
        "Should I {0} {x} {1}?",
        [
            ("stretch", "before", "after", "running"),
            ("take creatine", "before", "after", "a workout"),
            ("water the lawn", "prior to", "following", "mowing"),
            ("apply sunscreen", "before", "after", "moisturizer"),
            ("file my taxes", "ahead of", "after", "moving abroad"),
            ("brush my teeth", "before", "after", "breakfast"),
        ],
        at=1,
    )
    b.contrast(
        k,
        "ant-above-below",
        "What does it mean when {0} is {x} {1}?",
        [
            ("above", "below", "the RSI", "70"),
            ("over", "under", "my fasting blood sugar", "100 mg/dL"),
            ("higher than", "lower than", "the VIX", "30"),
            ("above", "below", "a stock's price", "its 200-day moving average"),
            ("greater than", "less than", "the p-value", "0.05"),
            ("above", "beneath", "the water table", "the house's foundation"),
        ],
    )
    b.contrast(
        k,
        "ant-min-max",
        "Find the {x} {0} in {1}.",
        [
            ("minimum", "maximum", "value", "a Python list of floats"),
            ("smallest", "largest", "file", "a directory tree using find"),
            ("lowest", "highest", "salary", "each department using SQL"),
            ("earliest", "latest", "timestamp", "a pandas DataFrame"),
            ("shortest", "longest", "word", "a sentence in JavaScript"),
            ("cheapest", "most expensive", "product", "each category in Excel"),
        ],
    )
    b.contrast(
        k,
        "ant-toggle",
        "How do I {x} {0} in {1}?",
        [
            ("enable", "disable", "two-factor authentication", "Gmail"),
            ("accept", "decline", "a meeting invite", "Outlook"),
            ("mute", "unmute", "a participant", "Zoom"),
            ("lock", "unlock", "cells", "Google Sheets"),
            ("hide", "show", "hidden files", "macOS Finder"),
            ("archive", "unarchive", "a channel", "Slack"),
            ("encrypt", "decrypt", "a folder", "Windows 11"),
        ],
    )


def entities(b: Builder) -> None:
    k = "entities"
    b.contrast(
        k,
        "ent-versions",
        "What's new in {x}?",
        [
            ("Python 3.11", "Python 3.12"),
            ("Django 4.2", "Django 5.0"),
            ("Node.js 18", "Node.js 20"),
            ("PostgreSQL 15", "PostgreSQL 16"),
            ("Java 17", "Java 21"),
            ("Kubernetes 1.28", "Kubernetes 1.29"),
            ("react 18", "react 19"),
        ],
        "version",
    )
    b.contrast(
        k,
        "ent-capitals",
        "What is the capital of {x}?",
        [
            ("Austria", "Australia"),
            ("Slovakia", "Slovenia"),
            ("Niger", "Nigeria"),
            ("Iran", "Iraq"),
            ("Guinea", "Guinea-Bissau"),
            ("Dominica", "the Dominican Republic"),
            ("Sudan", "South Sudan"),
        ],
        "place",
    )
    b.contrast(
        k,
        "ent-names",
        "Write a short birthday message for my colleague {x}, who just joined the {0} team.",
        [
            ("Anna", "Hannah", "design"),
            ("Jon", "Joan", "data"),
            ("Marc", "Mark", "legal"),
            ("Sean", "Shaun", "support"),
            ("Katherine", "Catherine", "sales"),
            ("Li Wei", "Wei Li", "research"),
        ],
        "name",
    )
    b.contrast(
        k,
        "ent-products",
        "How do I replace the battery in my {x}?",
        [
            ("iPhone 14", "iPhone 15"),
            ("Pixel 7", "Pixel 7a"),
            ("Galaxy S22", "Galaxy S23"),
            ("MacBook Air M1", "MacBook Air M2"),
            ("Apple Watch Series 8", "Apple Watch SE"),
            ("ThinkPad T480", "ThinkPad T490"),
        ],
        "product",
    )
    b.contrast(
        k,
        "ent-lowercase-langs",
        "how do i parse json in {x}",
        [("java", "javascript"), ("c", "c++"), ("c#", "f#"), ("go", "rust"), ("kotlin", "scala"), ("bash", "powershell")],
        "lowercase",
    )
    b.contrast(
        k,
        "ent-people",
        "Summarize the life of {x} in a paragraph.",
        [
            ("John Adams", "John Quincy Adams"),
            ("George Bush", "George W. Bush"),
            ("Marie Curie", "Irène Joliot-Curie"),
            ("Franklin Roosevelt", "Theodore Roosevelt"),
            ("Henry VIII", "Henry VII"),
            ("Charles Darwin", "Erasmus Darwin"),
        ],
        "person",
    )
    b.contrast(
        k,
        "ent-companies",
        "What was {x}'s revenue in 2022?",
        [
            ("Alphabet", "Amazon"),
            ("Samsung Electronics", "Samsung SDI"),
            ("Tata Motors", "Tata Steel"),
            ("Meta", "Microsoft"),
            ("Toyota", "Toyota Tsusho"),
        ],
        "company",
    )


def scope(b: Builder) -> None:
    k = "scope"
    b.contrast(
        k,
        "scope-all-some",
        "Do {x} {0} {1}?",
        [
            ("all", "some", "mammals", "lay eggs"),
            ("all", "most", "birds", "fly"),
            ("any", "all", "snakes", "have venom"),
            ("all", "some", "cats", "dislike water"),
            ("any", "all", "plants", "live without sunlight"),
            ("all", "most", "fish", "have scales"),
        ],
    )
    b.contrast(
        k,
        "scope-sql",
        "Write a SQL query to find customers who ordered {x} product in the {0} category.",
        [
            ("every", "any", "Garden"),
            ("at least one", "no", "Toys"),
            ("each", "exactly one", "Books"),
            ("all but one", "every", "Music"),
            ("more than one", "only one", "Sports"),
        ],
    )
    b.contrast(
        k,
        "scope-at-most",
        "Find me a train from {0} that takes {x} two hours.",
        [
            ("at most", "at least", "Madrid to Seville"),
            ("no more than", "no less than", "Boston to New York"),
            ("under", "over", "Tokyo to Osaka"),
            ("less than", "more than", "Berlin to Munich"),
            ("at most", "exactly", "Rome to Florence"),
        ],
    )
    b.contrast(
        k,
        "scope-most-few",
        "Why do {x} {0} {1}?",
        [
            ("most", "few", "startups", "fail in their first year"),
            ("many", "hardly any", "teenagers", "read printed newspapers"),
            ("most", "some", "people", "dislike cilantro"),
            ("all", "many", "airlines", "overbook flights"),
            ("most", "a few", "cats", "hate baths"),
        ],
    )
    b.contrast(
        k,
        "scope-each-total",
        "The {0} cost $40 {x}. What do I pay for {1}?",
        [
            ("each", "in total", "concert tickets", "four tickets"),
            ("per person", "per group", "walking tours", "a group of six"),
            ("per night", "for the whole stay", "hotel rooms", "five nights"),
            ("per month", "per year", "gym memberships", "two years"),
            ("per hour", "per day", "bike rentals", "three days"),
        ],
    )
    b.contrast(
        k,
        "scope-every-other",
        "Remind me to water the {0} every {x}.",
        [
            ("day", "other day", "ferns"),
            ("week", "other week", "orchids"),
            ("weekday", "weekend day", "tomatoes"),
            ("morning", "morning and evening", "basil"),
            ("Monday", "Monday and Thursday", "succulents"),
        ],
    )


def time_kind(b: Builder) -> None:
    k = "time"
    b.contrast(
        k,
        "time-open-when",
        "Is the {0} open {x}?",
        [
            ("today", "tomorrow", "Louvre"),
            ("this Sunday", "next Sunday", "British Museum"),
            ("on Christmas Eve", "on Christmas Day", "Prado"),
            ("in the morning", "in the evening", "Vatican Museums"),
            ("on Monday", "on Tuesday", "Rijksmuseum"),
            ("at 9 am", "at 9 pm", "Acropolis Museum"),
        ],
        "relative-day",
    )
    b.explicit(
        k,
        "time-tense",
        [
            ("What did the team decide at the last planning meeting?", "What will the team decide at the next planning meeting?"),
            ("What happened when I ran git rebase on main?", "What will happen when I run git rebase on main?"),
            ("How did the Ottoman Empire collect taxes?", "How does the Turkish state collect taxes?"),
            ("Who won the Kenyan presidential election?", "Who will win the Kenyan presidential election?"),
            ("What was the price of an ounce of gold last year?", "What will the price of an ounce of gold be next year?"),
            ("How did remote work change after the pandemic?", "How will remote work change after the pandemic?"),
        ],
        "different",
        "tense",
    )
    b.contrast(
        k,
        "time-dates",
        "What day of the week is {x}?",
        [
            ("March 3, 2025", "March 4, 2025"),
            ("2024-02-28", "2024-02-29"),
            ("1 January 2030", "1 January 2031"),
            ("July 4, 1976", "July 4, 1776"),
            ("12/11/2026", "11/12/2026"),
            ("the 31st of October 2027", "the 30th of October 2027"),
        ],
        "date",
    )
    b.contrast(
        k,
        "time-zones",
        "We have a call at 9:00 {x}. What time is that in {0}?",
        [
            ("EST", "PST", "London"),
            ("UTC", "UTC+2", "Tokyo"),
            ("CET", "CEST", "New York"),
            ("am Sydney time", "pm Sydney time", "Dubai"),
            ("IST (India)", "IST (Ireland)", "Chicago"),
            ("GMT", "BST", "Singapore"),
        ],
        "timezone",
    )
    b.contrast(
        k,
        "time-git-range",
        "Show me all commits {x} {0}.",
        [
            ("since", "until", "last Monday"),
            ("before", "after", "the v2.0 tag"),
            ("from the past week", "from the past month", "on the main branch"),
            ("made today", "made yesterday", "to the docs folder"),
            ("older than 90 days", "newer than 90 days", "in this repository"),
        ],
        "range",
    )
    b.contrast(
        k,
        "time-flight-rights",
        "My flight {x} {0}. What are my rights under EU261?",
        [
            ("was cancelled", "will be cancelled", "from Lisbon to Paris"),
            ("was delayed by 4 hours", "may be delayed by 4 hours", "to Rome"),
            ("was overbooked", "is going to be overbooked", "out of Vienna"),
            ("left without me", "is about to leave without me", "at Frankfurt"),
            ("was diverted", "might be diverted", "to Athens"),
        ],
        "tense",
    )


def units(b: Builder) -> None:
    k = "units"
    b.contrast(
        k,
        "unit-bandwidth",
        "How long does it take to download a {0} file at {x}?",
        [
            ("100 Mbps", "100 MBps", "4 GB"),
            ("20 Mb/s", "20 MB/s", "700 MB"),
            ("1 Gbps", "1 GBps", "50 GB"),
            ("500 kbps", "500 KBps", "30 MB"),
            ("50 Mbit/s", "50 Mbyte/s", "12 GB"),
            ("8 Mbps", "8 MBps", "2 GB"),
        ],
        "case",
    )
    b.contrast(
        k,
        "unit-power",
        "How much electricity does a {0} rated at {x} use in 10 hours?",
        [
            ("space heater", "100 W", "100 kW"),
            ("water pump", "2 kW", "2 MW"),
            ("LED strip", "60 mW", "60 W"),
            ("laser module", "5 mW", "5 MW"),
            ("electric kettle", "1.5 kW", "1.5 W"),
            ("server rack", "750 W", "750 MW"),
        ],
        "case",
        at=1,
    )
    b.contrast(
        k,
        "unit-time",
        "Convert {x} to seconds.",
        [("250 ms", "250 Ms"), ("3 min", "3 h"), ("90 µs", "90 ms"), ("45 ns", "45 ms"), ("1.5 hr", "1.5 min"), ("2 ks", "2 s")],
        "case",
    )
    b.contrast(
        k,
        "unit-attachment",
        "My file is {x}. Will it fit as an email attachment under a 25 MB limit?",
        [
            ("30 Mb", "30 MB"),
            ("26 Mib", "26 MiB"),
            ("180 Mb", "180 MB"),
            ("40000 Kb", "40000 KB"),
            ("0.02 GB", "0.2 GB"),
            ("31 Mb", "31 MB"),
        ],
        "case",
    )
    b.contrast(
        k,
        "unit-oven",
        "Preheat the oven to {x}. How long should I bake a {0}?",
        [
            ("180 °C", "180 °F", "sourdough loaf"),
            ("200 C", "200 F", "tray of cookies"),
            ("350 F", "350 C", "whole chicken"),
            ("220°C", "220°F", "pizza"),
            ("160 C", "160 F", "cheesecake"),
        ],
        "scale",
    )
    b.contrast(
        k,
        "unit-spoons",
        "Is {x} of {0} too much for a single loaf of bread?",
        [
            ("1 tsp", "1 tbsp", "salt"),
            ("2 t", "2 T", "instant yeast"),
            ("1/2 tsp", "1/2 cup", "sugar"),
            ("1 teaspoon", "1 tablespoon", "baking soda"),
            ("3 g", "3 kg", "honey"),
        ],
        "case",
    )
    b.contrast(
        k,
        "unit-dose",
        "Is {x} of {0} a normal adult dose?",
        [
            ("500 mg", "500 µg", "paracetamol"),
            ("5 mg", "5 g", "melatonin"),
            ("100 mcg", "100 mg", "vitamin B12"),
            ("1000 IU", "1000 mg", "vitamin D"),
            ("50 mg", "50 g", "zinc"),
        ],
        "scale",
    )
    b.contrast(
        k,
        "unit-walk",
        "How long does it take an average adult to walk {x}?",
        [("5 km", "5 miles"), ("400 m", "400 ft"), ("12 km", "12 leagues"), ("2 mi", "2 nautical miles"), ("300 yards", "300 metres")],
        "system",
    )


def code(b: Builder) -> None:
    k = "code"
    b.contrast(
        k,
        "code-python-expr",
        "What does `{x}` return in Python?",
        [
            ("'abc'.find('d')", "'abc'.index('d')"),
            ("[1, 2, 3][-1]", "[1, 2, 3][1]"),
            ("round(2.5)", "round(3.5)"),
            ("'a,b'.split(',')", "'a,b'.split(', ')"),
            ("list(range(1, 5))", "list(range(1, 6))"),
            ("10 // 3", "10 / 3"),
            ("2 ** 3", "2 ^ 3"),
            ("bool('False')", "bool('')"),
        ],
        "operator",
    )
    b.contrast(
        k,
        "code-js-expr",
        "Why does `{x}` evaluate the way it does in JavaScript?",
        [
            ("null == undefined", "null === undefined"),
            ("'5' + 3", "'5' - 3"),
            ("[] + {}", "{} + []"),
            ("typeof null", "typeof undefined"),
            ("NaN === NaN", "Object.is(NaN, NaN)"),
        ],
        "operator",
    )
    b.contrast(
        k,
        "code-shell-flags",
        "What does `{x}` do, exactly?",
        [
            ("rm -r build", "rm -rf build"),
            ("chmod -R 755 /srv", "chmod 755 /srv"),
            ("grep -i error app.log", "grep -v error app.log"),
            ("ls -l", "ls -1"),
            ("sort -n data.txt", "sort -r data.txt"),
            ("tar -xzf site.tgz", "tar -czf site.tgz"),
            ("kill -9 1234", "kill -15 1234"),
            ("ssh -L 8080:localhost:80 bastion", "ssh -R 8080:localhost:80 bastion"),
        ],
        "flag",
    )
    b.contrast(
        k,
        "code-git-flags",
        "Is it safe to run `{x}` on a shared branch?",
        [
            ("git push --force", "git push --force-with-lease"),
            ("git reset --hard HEAD~1", "git reset --soft HEAD~1"),
            ("git clean -n", "git clean -fd"),
            ("git rebase -i HEAD~3", "git revert HEAD~3"),
            ("git branch -d feature", "git branch -D feature"),
        ],
        "flag",
    )
    b.explicit(
        k,
        "code-off-by-one",
        [
            (
                "Is there a bug in `for (int i = 0; i < n; i++) total += a[i];`?",
                "Is there a bug in `for (int i = 0; i <= n; i++) total += a[i];`?",
            ),
            ("What does `s[1:]` give for s = 'python'?", "What does `s[:1]` give for s = 'python'?"),
            (
                "Does this binary search terminate: `while lo < hi: mid = (lo + hi) // 2; lo = mid + 1 if a[mid] < x else mid`?",
                "Does this binary search terminate: `while lo <= hi: mid = (lo + hi) // 2; lo = mid + 1 if a[mid] < x else mid`?",
            ),
            ("Why does `x = x++` leave x unchanged in Java?", "Why does `x = ++x` leave x unchanged in Java?"),
            ("What does `[1, 2, 3].slice(0, -1)` return?", "What does `[1, 2, 3].slice(-1)` return?"),
            ("What is `a[len(a) - 1]` for a = [4, 5, 6]?", "What is `a[len(a) - 2]` for a = [4, 5, 6]?"),
        ],
        "different",
        "off-by-one",
    )
    b.contrast(
        k,
        "code-lang-switch",
        "Translate this snippet to idiomatic {x}: `for k, v in d.items(): print(k, v)`",
        [("Go", "Rust"), ("TypeScript", "Kotlin"), ("C++", "C"), ("Ruby", "Elixir"), ("Swift", "Objective-C"), ("Haskell", "OCaml")],
        "language",
    )
    b.contrast(
        k,
        "code-identifier",
        "What does the `{x}` method do in {0}?",
        [
            ("append", "extend", "Python lists"),
            ("map", "flatMap", "Java streams"),
            ("push", "unshift", "JavaScript arrays"),
            ("merge", "concat", "pandas"),
            ("useMemo", "useCallback", "React"),
            ("fetch", "pull", "the git CLI"),
        ],
        "identifier",
    )


def deixis(b: Builder) -> None:
    k = "deixis"
    b.contrast(
        k,
        "deixis-former-latter",
        "I'm choosing between {0} and {1}. Tell me the main drawback of the {x}.",
        [
            ("former", "latter", "a Kia Niro", "a Toyota Prius"),
            ("first one", "second one", "PostgreSQL", "MongoDB"),
            ("former", "latter", "renting", "buying a flat in Lisbon"),
            ("first option", "second option", "a Roth IRA", "a traditional IRA"),
            ("former", "latter", "Vue", "Svelte"),
            ("earlier one", "later one", "the 8 am flight", "the 6 pm flight"),
        ],
    )
    b.contrast(
        k,
        "deixis-this-that",
        "I'm holding a {0} and there's a {1} across the room. Is {x} one waterproof?",
        [
            ("this", "that", "Casio watch", "Garmin watch"),
            ("this", "that", "Kindle", "Kobo e-reader"),
            ("this", "that", "JBL speaker", "Bose speaker"),
            ("this", "that", "Fitbit", "Oura ring"),
            ("this", "that", "Nikon camera", "Sony camera"),
        ],
    )
    b.contrast(
        k,
        "deixis-pasted-order",
        "Two functions are pasted below: parse_{0} comes first and format_{0} second. Add type hints to the {x} one.",
        [
            ("first", "second", "date"),
            ("second", "first", "price"),
            ("upper", "lower", "address"),
            ("top", "bottom", "email"),
            ("earlier", "later", "phone"),
        ],
    )
    b.contrast(
        k,
        "deixis-here-there",
        "I'm currently in {0}, and my sister is in {1}. What's the weather like {x} today?",
        [
            ("here", "there", "Oslo", "Bergen"),
            ("here", "there", "Denver", "Miami"),
            ("here", "over there", "Seoul", "Busan"),
            ("where I am", "where she is", "Lyon", "Nice"),
            ("here", "there", "Perth", "Hobart"),
        ],
    )
    b.contrast(
        k,
        "deixis-emails",
        "I got two emails today: one from {0} about a refund and one from {1} about an invoice. Draft a reply to the {x}.",
        [
            ("first", "second", "Acme", "Globex"),
            ("former", "latter", "my landlord", "my bank"),
            ("earlier one", "later one", "HR", "IT"),
            ("first one", "last one", "Sara", "Tom"),
            ("former", "latter", "the school", "the dentist"),
        ],
    )


def roles(b: Builder) -> None:
    k = "roles"
    b.contrast(
        k,
        "role-message",
        "Write a polite message from {x} about the late payment.",
        [
            ("a landlord to a tenant", "a tenant to a landlord"),
            ("me to my brother", "my brother to me"),
            ("a teacher to a parent", "a parent to a teacher"),
            ("a client to a contractor", "a contractor to a client"),
            ("Sam to Priya", "Priya to Sam"),
            ("the buyer to the seller", "the seller to the buyer"),
        ],
        "x-to-y",
    )
    b.contrast(
        k,
        "role-agent-patient",
        "Did {x}?",
        [
            ("Brutus kill Caesar", "Caesar kill Brutus"),
            ("Microsoft acquire LinkedIn", "LinkedIn acquire Microsoft"),
            ("Germany invade Poland in 1939", "Poland invade Germany in 1939"),
            ("the Red Sox beat the Yankees in the 2004 ALCS", "the Yankees beat the Red Sox in the 2004 ALCS"),
            ("Tesla work for Edison", "Edison work for Tesla"),
            ("Google buy YouTube", "YouTube buy Google"),
        ],
        "agent-patient",
    )
    b.explicit(
        k,
        "role-my-your",
        [
            ("My dog bit the neighbour's child. What happens legally?", "The neighbour's dog bit my child. What happens legally?"),
            ("I rear-ended another car at a red light. Who is at fault?", "Another car rear-ended me at a red light. Who is at fault?"),
            (
                "My sister is suing me over our mother's house. What should I do?",
                "I am suing my sister over our mother's house. What should I do?",
            ),
            (
                "My ex owes me $3,000 from our shared lease. How do I get it back?",
                "I owe my ex $3,000 from our shared lease. How do I pay it back?",
            ),
            ("My employee keeps ignoring my emails. How should I handle it?", "My boss keeps ignoring my emails. How should I handle it?"),
            (
                "Your answer contradicts my textbook. Which one is right about osmosis?",
                "My answer contradicts your textbook. Which one is right about osmosis?",
            ),
        ],
        "different",
        "my-your",
    )
    b.contrast(
        k,
        "role-transfer",
        "How do I transfer money from {x}?",
        [
            ("Wise to Revolut", "Revolut to Wise"),
            ("PayPal to my bank", "my bank to PayPal"),
            ("my savings account to my checking account", "my checking account to my savings account"),
            ("Coinbase to a Ledger wallet", "a Ledger wallet to Coinbase"),
            ("a UK account to a US account", "a US account to a UK account"),
        ],
        "x-to-y",
    )
    b.contrast(
        k,
        "role-who-pays",
        "Should the {x} pay for {0}?",
        [
            ("a broken boiler", "landlord", "tenant"),
            ("the closing costs", "buyer", "seller"),
            ("work uniforms", "employer", "employee"),
            ("customs duties", "sender", "recipient"),
            ("the cleaning fee", "host", "guest"),
            ("the rehearsal dinner", "bride's family", "groom's family"),
        ],
        "role",
        at=1,
    )


def modality(b: Builder) -> None:
    k = "modality"
    b.contrast(
        k,
        "mod-law",
        "{x} {0} in {1}?",
        [
            ("Do I have to", "Am I allowed to", "tip the waiter", "Japan"),
            ("Must I", "May I", "drink alcohol in public", "Singapore"),
            ("Is it mandatory to", "Is it allowed to", "wear a helmet while cycling", "the Netherlands"),
            ("Do I have to", "Am I allowed to", "turn right on a red light", "California"),
            ("Am I required to", "Am I permitted to", "tip a taxi driver", "the US"),
            ("Do I have to", "Am I allowed to", "pay in cash", "Sweden"),
        ],
    )
    b.contrast(
        k,
        "mod-http",
        "In the HTTP spec, {x} a client {0}?",
        [
            ("must", "may", "send a body with a GET request"),
            ("must", "may", "send a User-Agent header"),
            ("is required to", "is allowed to", "follow redirects automatically"),
            ("shall", "may", "cache a 404 response"),
            ("MUST", "MAY", "close the connection after an error"),
        ],
    )
    b.contrast(
        k,
        "mod-possible",
        "Is it {x} to {0}?",
        [
            ("legal", "mandatory", "carry pepper spray in Texas"),
            ("allowed", "required", "use a VPN in the UAE"),
            ("possible", "necessary", "rename a Git branch after pushing it"),
            ("safe", "necessary", "update the BIOS on a Dell laptop"),
            ("optional", "required", "write a cover letter when applying to Google"),
        ],
    )
    b.contrast(
        k,
        "mod-contract",
        "The contract says the {0} {x} deliver within {1} days. What happens if delivery takes {2} days?",
        [
            ("shall", "should", "supplier", "30", "45"),
            ("must", "may", "printer", "14", "20"),
            ("will endeavour to", "is obliged to", "builder", "90", "120"),
            ("is required to", "is encouraged to", "translator", "7", "10"),
            ("has to", "would prefer to", "caterer", "2", "3"),
        ],
    )
    b.contrast(
        k,
        "mod-lease",
        "The lease says tenants {x} {0} before moving out. Do I have to do it?",
        [
            ("must", "may", "repaint the walls"),
            ("are obliged to", "are allowed to", "professionally clean the carpets"),
            ("shall", "can choose to", "remove all picture hooks"),
            ("are required to", "are free to", "have the chimney swept"),
            ("have to", "may, if they wish,", "replace every light bulb"),
        ],
    )
    b.contrast(
        k,
        "mod-handbook",
        "Our policy says employees {x} {0}. Write a one-line summary for the handbook.",
        [
            ("may", "must", "work remotely on Fridays"),
            ("can", "are expected to", "take one paid volunteering day a year"),
            ("should", "may choose to", "attend the monthly all-hands"),
            ("are required to", "are welcome to", "wear their badges on site"),
            ("might", "shall", "use the company VPN when abroad"),
        ],
    )


def comparatives(b: Builder) -> None:
    k = "comparatives"
    b.contrast(
        k,
        "cmp-which",
        "Which is {x}: {0} or {1}?",
        [
            ("faster", "slower", "a cheetah", "a greyhound"),
            ("heavier", "lighter", "a litre of water", "a litre of olive oil"),
            ("cheaper", "more expensive", "AWS Lambda", "Google Cloud Run"),
            ("older", "younger", "the Colosseum", "the Parthenon"),
            ("hotter", "colder", "Venus", "Mercury"),
            ("denser", "less dense", "ice", "liquid water"),
        ],
    )
    b.contrast(
        k,
        "cmp-flip",
        "Is {x}?",
        [
            ("Python faster than Go", "Go faster than Python"),
            ("a Boeing 777 longer than an Airbus A350", "an Airbus A350 longer than a Boeing 777"),
            ("Tokyo more populous than Delhi", "Delhi more populous than Tokyo"),
            ("gold denser than lead", "lead denser than gold"),
            ("USB 3.2 faster than Thunderbolt 3", "Thunderbolt 3 faster than USB 3.2"),
        ],
        "operand-swap",
    )
    b.contrast(
        k,
        "cmp-make",
        "How can I make my {0} {x}?",
        [
            ("car exhaust", "louder", "quieter"),
            ("LED strip", "brighter", "dimmer"),
            ("tomato sauce", "thicker", "thinner"),
            ("lemonade", "sweeter", "less sweet"),
            ("cookies", "crispier", "softer"),
            ("cover letter", "more formal", "less formal"),
        ],
        at=1,
    )
    b.contrast(
        k,
        "cmp-filter",
        "Find {0} {x} {1}.",
        [
            ("cheaper than", "pricier than", "flights to Lima", "$300"),
            ("longer than", "shorter than", "Kurosawa movies", "two hours"),
            ("with more than", "with fewer than", "cities in Brazil", "1 million people"),
            ("heavier than", "lighter than", "13-inch laptops", "1.5 kg"),
            ("older than", "newer than", "used Volvos", "10 years"),
            ("taller than", "shorter than", "mountains in the Alps", "4,000 m"),
        ],
    )
    b.contrast(
        k,
        "cmp-superlative",
        "What is the {x} {0}?",
        [
            ("second largest", "second smallest", "ocean"),
            ("most", "least", "spoken language in India"),
            ("best", "worst", "selling album of 2010"),
            ("tallest", "shortest", "skyscraper in Chicago"),
            ("deepest", "shallowest", "of the Great Lakes"),
        ],
    )


def ordering(b: Builder) -> None:
    k = "ordering"
    b.contrast(
        k,
        "ord-directions",
        "Give me driving directions from {x}.",
        [
            ("Boston to Providence", "Providence to Boston"),
            ("the airport to downtown Denver", "downtown Denver to the airport"),
            ("Nice to Monaco", "Monaco to Nice"),
            ("Oakland to San Jose", "San Jose to Oakland"),
            ("Leeds to York", "York to Leeds"),
        ],
        "a-to-b",
    )
    b.contrast(
        k,
        "ord-sort",
        "Sort this list in {x} order: {0}",
        [
            ("ascending", "descending", "7, 2, 9, 4"),
            ("alphabetical", "reverse alphabetical", "pear, apple, fig, kiwi"),
            ("increasing", "decreasing", "3.1, 2.7, 9.8, 0.4"),
            ("chronological", "reverse chronological", "1969, 1492, 1815, 1066"),
            ("ascending", "descending", "b, a, d, c"),
        ],
        "sort",
    )
    b.contrast(
        k,
        "ord-translate",
        "Translate the word '{0}' from {x}.",
        [
            ("once", "English to Spanish", "Spanish to English"),
            ("Gift", "English to German", "German to English"),
            ("pain", "English to French", "French to English"),
            ("burro", "English to Italian", "Italian to English"),
            ("kiss", "English to Swedish", "Swedish to English"),
            ("boot", "English to Dutch", "Dutch to English"),
        ],
        "a-to-b",
        at=1,
    )
    b.contrast(
        k,
        "ord-turn",
        "Should I turn the {0} {x} to {1}?",
        [
            ("clockwise", "anticlockwise", "radiator valve", "increase the heat"),
            ("left", "right", "wrench", "loosen a bolt"),
            ("clockwise", "counter-clockwise", "propane tank valve", "open it"),
            ("left", "right", "faucet handle", "get hot water"),
            ("up", "down", "thermostat dial", "cool the room"),
        ],
        "left-right",
    )
    b.contrast(
        k,
        "ord-move-ui",
        "In {0}, how do I move the {x}?",
        [
            ("left sidebar to the right", "right sidebar to the left", "VS Code"),
            ("taskbar from the bottom to the top", "taskbar from the top to the bottom", "Windows 11"),
            ("dock from the left to the bottom", "dock from the bottom to the left", "macOS"),
            ("tabs from the top to the side", "tabs from the side to the top", "Firefox"),
            ("status line from the bottom to the top", "status line from the top to the bottom", "tmux"),
        ],
        "a-to-b",
    )
    b.contrast(
        k,
        "ord-convert",
        "Convert {x}.",
        [
            ("40 from Celsius to Fahrenheit", "40 from Fahrenheit to Celsius"),
            ("26.2 from miles to kilometres", "26.2 from kilometres to miles"),
            ("100 from USD to EUR", "100 from EUR to USD"),
            ("1010 from binary to decimal", "1010 from decimal to binary"),
            ("150 from pounds to kilograms", "150 from kilograms to pounds"),
        ],
        "a-to-b",
    )
    b.contrast(
        k,
        "ord-compass",
        "Is {0} {x} of {1}?",
        [
            ("north", "south", "Rome", "Madrid"),
            ("east", "west", "Reno", "Los Angeles"),
            ("upstream", "downstream", "Vienna", "Budapest"),
            ("north", "south", "Detroit", "Windsor"),
            ("east", "west", "Atlanta", "Detroit"),
        ],
        "direction",
    )


def fmt(b: Builder) -> None:
    k = "format"
    b.contrast(
        k,
        "fmt-bullets",
        "Explain {0} in {x} bullet points.",
        [
            ("how vaccines work", "3", "5"),
            ("the causes of World War I", "three", "seven"),
            ("Kubernetes pods", "4", "10"),
            ("compound interest", "two", "six"),
            ("photosynthesis", "5", "fifteen"),
        ],
        "count",
        at=1,
    )
    b.contrast(
        k,
        "fmt-serialization",
        "Return the {0} as {x}.",
        [
            ("EU capitals and their populations", "JSON", "YAML"),
            ("planets and how many moons each has", "CSV", "JSON"),
            ("five tallest buildings in the world", "a Markdown table", "an HTML table"),
            ("config for a web server listening on port 8080", "XML", "TOML"),
            ("days of the week with their ISO numbers", "a Python dict", "a JSON array"),
        ],
        "serialization",
        at=1,
    )
    b.contrast(
        k,
        "fmt-language",
        "Write a short thank-you note to my {0} in {x}.",
        [
            ("neighbour", "French", "German"),
            ("host family", "Spanish", "Portuguese"),
            ("piano teacher", "Japanese", "Korean"),
            ("landlady", "Dutch", "Danish"),
            ("colleague", "Italian", "Romanian"),
            ("grandmother", "Simplified Chinese", "Traditional Chinese"),
        ],
        "language",
        at=1,
    )
    b.contrast(
        k,
        "fmt-length-style",
        "Summarize {0} in {x}.",
        [
            ("the plot of Hamlet", "under 50 words", "over 500 words"),
            ("the French Revolution", "one sentence", "one paragraph per year"),
            ("the theory of relativity", "words a 5-year-old understands", "terms a physics PhD expects"),
            ("the GDPR", "a formal tone", "a casual, jokey tone"),
            ("the Apollo 11 mission", "the first person", "the third person"),
            ("Moby-Dick", "a haiku", "a limerick"),
        ],
        "style",
        at=1,
    )
    b.contrast(
        k,
        "fmt-code-style",
        "Write a {0} function that checks whether a number is prime, {x}.",
        [
            ("Java", "using recursion", "using a loop"),
            ("C", "returning a bool", "printing 'yes' or 'no'"),
            ("Rust", "with unit tests", "with doc comments only"),
            ("TypeScript", "with snake_case names", "with camelCase names"),
            ("Python", "as a one-liner", "with a docstring and type hints"),
        ],
        "code-style",
        at=1,
    )


# --- should-hit paraphrases ---------------------------------------------------------------------------


def paraphrases(b: Builder) -> None:
    b.reword(
        "para-remove",
        "synonym",
        [
            "How can I get rid of {0} in my {1}?",
            "What's the best way to remove {0} from my {1}?",
            "Any tips for eliminating the {0} in my {1}?",
            "I've got {0} in my {1}. How do I clear it all out?",
        ],
        [
            ("mold", "bathroom"),
            ("ants", "kitchen"),
            ("rust", "bike chain"),
            ("limescale", "kettle"),
            ("weeds", "lawn"),
            ("fruit flies", "pantry"),
            ("moss", "roof"),
            ("grease stains", "jeans"),
            ("mildew", "tent"),
        ],
    )
    b.reword(
        "para-signs",
        "synonym",
        [
            "What are the signs of {0} in a {1}?",
            "How can I tell whether my {1} has {0}?",
            "Which symptoms suggest a {1} is suffering from {0}?",
        ],
        [
            ("dehydration", "toddler"),
            ("root rot", "houseplant"),
            ("heatstroke", "dog"),
            ("anaemia", "teenager"),
            ("colic", "horse"),
            ("overwatering", "cactus"),
            ("fin rot", "goldfish"),
        ],
    )
    b.reword(
        "para-book",
        "synonym",
        [
            "Recommend a good book about {0} for beginners.",
            "I'm new to {0}; which introductory book would you suggest?",
            "What's a beginner-friendly book on {0}?",
            "Could you point me to an accessible first book on {0}?",
        ],
        [
            ("machine learning",),
            ("stoicism",),
            ("personal finance",),
            ("astronomy",),
            ("woodworking",),
            ("game theory",),
            ("the history of Rome",),
            ("sourdough baking",),
        ],
    )
    b.reword(
        "para-without",
        "synonym",
        [
            "How can I {0} without {1}?",
            "Is there a way to {0} that doesn't involve {1}?",
            "What's a method to {0} if I don't want to use {1}?",
        ],
        [
            ("peel garlic", "a knife"),
            ("cool down a bedroom", "air conditioning"),
            ("center a div", "flexbox"),
            ("resize hundreds of images", "Photoshop"),
            ("track my monthly spending", "a spreadsheet"),
            ("clean an oven", "harsh chemicals"),
            ("open a wine bottle", "a corkscrew"),
        ],
    )
    b.reword(
        "para-difference",
        "synonym",
        [
            "What is the difference between {0} and {1}?",
            "How do {0} and {1} differ?",
            "Can you explain how {0} compares with {1}?",
            "In what ways is {0} different from {1}?",
        ],
        [
            ("a virus", "a bacterium"),
            ("TCP", "UDP"),
            ("weather", "climate"),
            ("an LLC", "a sole proprietorship"),
            ("baking soda", "baking powder"),
            ("a crocodile", "an alligator"),
            ("RAM", "disk storage"),
            ("a psychologist", "a psychiatrist"),
        ],
    )
    b.explicit(
        "paraphrase",
        "para-oneoff",
        [
            ("Why does the sky look blue?", "What makes the sky appear blue during the day?"),
            (
                "How long should I boil an egg to get a runny yolk?",
                "For a soft, runny yolk, how many minutes does an egg need in boiling water?",
            ),
            ("What's a good way to fall asleep faster?", "Any advice for dozing off more quickly at night?"),
            (
                "How do I stop my glasses from fogging up when I wear a mask?",
                "My spectacles mist over whenever I have a face mask on; how can I prevent that?",
            ),
            (
                "Explain how a bill becomes a law in the United States.",
                "Walk me through the process by which US federal legislation gets enacted.",
            ),
            ("What causes hiccups?", "Why do people get the hiccups?"),
            ("Is it bad to charge my phone overnight?", "Does leaving my phone plugged in all night harm its battery?"),
            ("How do noise-cancelling headphones work?", "What's the technology behind active noise cancellation in headsets?"),
            ("How can I improve my credit score quickly?", "What are fast ways to boost my credit rating?"),
            ("Why do cats purr?", "What's the reason cats make that purring sound?"),
            ("How do I politely decline a wedding invitation?", "What's a courteous way to say no to a wedding invite?"),
            ("What should I look for when buying a used car?", "Which things should I check before purchasing a second-hand car?"),
            ("How do I get red wine out of a carpet?", "What's the trick for removing a red wine stain from a rug?"),
            ("Why is my sourdough bread so dense?", "What makes my sourdough loaves come out heavy and compact?"),
            ("How often should I replace my toothbrush?", "At what interval is it recommended to swap out a toothbrush for a new one?"),
            ("What's the healthiest way to cook broccoli?", "Which cooking method keeps the most nutrients in broccoli?"),
            ("How do vaccines train the immune system?", "In what way does a vaccine teach the body's defences to recognise a pathogen?"),
            ("Can you suggest names for a black cat?", "Give me some name ideas for a cat with black fur."),
            ("How do I negotiate a higher salary?", "What's the best approach to asking for more pay during a job offer?"),
            ("What is the main cause of inflation?", "Why do prices generally rise over time in an economy?"),
            ("How can I make my houseplants grow faster?", "Tips for speeding up the growth of indoor plants?"),
            ("Why do onions make you cry?", "What is it about cutting onions that makes my eyes water?"),
            ("How do I back up my iPhone to my computer?", "What are the steps to save an iPhone backup onto a PC or Mac?"),
            (
                "What's a polite way to remind a coworker about a deadline?",
                "How can I nudge a colleague about an upcoming due date without being rude?",
            ),
        ],
        "same",
        "synonym",
    )
    b.reword(
        "para-in-tool",
        "reorder",
        ["In {0}, how do I {1}?", "How do I {1} in {0}?", "What's the way to {1} when using {0}?"],
        [
            ("Excel", "freeze the top row"),
            ("Git", "undo the last commit but keep my changes"),
            ("Photoshop", "remove a background"),
            ("Linux", "find the largest files on disk"),
            ("Google Docs", "add page numbers"),
            ("Figma", "export a frame as SVG"),
            ("VS Code", "change the colour theme"),
            ("Blender", "apply a subdivision surface modifier"),
        ],
    )
    b.reword(
        "para-if",
        "reorder",
        ["If {0}, what should I do?", "What should I do if {0}?", "What's the right thing to do when {0}?"],
        [
            ("my basement floods",),
            ("I lose my passport abroad",),
            ("my dog eats chocolate",),
            ("a pipe bursts in winter",),
            ("I spill coffee on my laptop",),
            ("I miss my connecting flight",),
            ("my bank card is stolen",),
            ("a bee stings my child",),
        ],
    )
    b.reword(
        "para-swap-operands",
        "reorder",
        ["What's the difference between {0} and {1}?", "What's the difference between {1} and {0}?"],
        [
            ("a latte", "a cappuccino"),
            ("stocks", "bonds"),
            ("git merge", "git rebase"),
            ("a comet", "an asteroid"),
            ("sushi", "sashimi"),
            ("a lake", "a pond"),
            ("jam", "jelly"),
        ],
    )
    b.reword(
        "para-ideal",
        "reorder",
        ["For a {0}, what's the ideal {1}?", "What's the ideal {1} for a {0}?", "What {1} works best for a {0}?"],
        [
            ("newborn's nursery", "room temperature"),
            ("sourdough starter", "feeding ratio"),
            ("freshwater aquarium", "pH level"),
            ("road bike", "tyre pressure"),
            ("wine cellar", "humidity"),
            ("bonsai tree", "watering schedule"),
        ],
    )
    b.reword(
        "para-itinerary",
        "reorder",
        [
            "Plan a 3-day itinerary covering {0}, {1} and {2}.",
            "Plan a 3-day itinerary that covers {2}, {0} and {1}.",
            "I have 3 days; plan an itinerary for {1}, {2} and {0}.",
        ],
        [
            ("the Louvre", "Montmartre", "the Eiffel Tower"),
            ("the Alhambra", "the Albaicín", "Sacromonte"),
            ("Shibuya", "Asakusa", "Odaiba"),
            ("the Colosseum", "the Vatican", "Trastevere"),
            ("Central Park", "the Met", "the Brooklyn Bridge"),
            ("the Old Town Square", "Charles Bridge", "Prague Castle"),
        ],
    )
    b.reword(
        "para-pantry",
        "reorder",
        [
            "Using only {0} and {1}, what can I cook for dinner?",
            "What dinner can I make with just {1} and {0}?",
            "I've only got {0} and {1}; any dinner ideas?",
        ],
        [
            ("rice", "eggs"),
            ("pasta", "canned tomatoes"),
            ("potatoes", "cheese"),
            ("chickpeas", "spinach"),
            ("tofu", "broccoli"),
            ("lentils", "onions"),
        ],
    )
    b.explicit(
        "paraphrase",
        "para-voice-who",
        [
            ("Who painted the Mona Lisa?", "By whom was the Mona Lisa painted?"),
            ("Who wrote One Hundred Years of Solitude?", "One Hundred Years of Solitude was written by whom?"),
            ("Who invented the telephone?", "By whom was the telephone invented?"),
            ("Who discovered penicillin?", "Penicillin was discovered by which scientist?"),
            ("Who designed the Sydney Opera House?", "The Sydney Opera House was designed by which architect?"),
            ("Who composed The Four Seasons?", "By whom was The Four Seasons composed?"),
            ("Who founded the Red Cross?", "The Red Cross was founded by whom?"),
        ],
        "same",
        "voice",
    )
    b.reword(
        "para-voice-made",
        "voice",
        ["How is {0} made?", "How do manufacturers make {0}?", "What process do producers use to make {0}?"],
        [("glass",), ("cheese",), ("paper",), ("steel",), ("chocolate",), ("tofu",), ("vinyl records",), ("soy sauce",)],
    )
    b.explicit(
        "paraphrase",
        "para-voice-event",
        [
            (
                "My visa application was rejected by the consulate. What are my options?",
                "The consulate rejected my visa application. What are my options?",
            ),
            (
                "The server was hacked by someone last night. What should I do first?",
                "Someone hacked the server last night. What should I do first?",
            ),
            ("My car was towed by the city. How do I get it back?", "The city towed my car. How do I get it back?"),
            (
                "The report must be reviewed by legal before Friday. Draft a reminder email.",
                "Legal must review the report before Friday. Draft a reminder email.",
            ),
            (
                "My package was left by the courier at the wrong address. Who do I contact?",
                "The courier left my package at the wrong address. Who do I contact?",
            ),
            (
                "The meeting was cancelled by the client at short notice. Can I still bill for it?",
                "The client cancelled the meeting at short notice. Can I still bill for it?",
            ),
            (
                "Our database was corrupted by a power outage. How can we recover it?",
                "A power outage corrupted our database. How can we recover it?",
            ),
            (
                "The oak in my yard was damaged by the storm. Does insurance cover it?",
                "The storm damaged the oak in my yard. Does insurance cover it?",
            ),
            (
                "My account was locked by the bank after a failed login. How do I unlock it?",
                "The bank locked my account after a failed login. How do I unlock it?",
            ),
            (
                "The lease was signed by both parties last week. Can it still be cancelled?",
                "Both parties signed the lease last week. Can it still be cancelled?",
            ),
            (
                "The bug was introduced by the last merge. How do I find the bad commit?",
                "The last merge introduced the bug. How do I find the bad commit?",
            ),
        ],
        "same",
        "voice",
    )
    b.reword(
        "para-howlong",
        "synonym",
        ["How long does it take to {0}?", "What's the typical time needed to {0}?", "Roughly how much time should I budget to {0}?"],
        [
            ("learn basic conversational Spanish",),
            ("recover from a sprained ankle",),
            ("renew a US passport by mail",),
            ("fully charge an electric car at home",),
            ("grow tomatoes from seed",),
            ("get over jet lag after a long flight",),
            ("cure homemade bacon",),
            ("set up a small online shop",),
        ],
    )
    b.reword(
        "para-pros-cons",
        "synonym",
        [
            "What are the pros and cons of {0}?",
            "What are the advantages and disadvantages of {0}?",
            "Weigh up the benefits and drawbacks of {0} for me.",
        ],
        [
            ("working from home",),
            ("leasing a car",),
            ("homeschooling",),
            ("rooftop solar panels",),
            ("a standing desk",),
            ("a microservices architecture",),
            ("intermittent fasting",),
            ("living in a big city",),
        ],
    )
    b.reword(
        "para-explain",
        "synonym",
        [
            "Explain {0} in simple terms.",
            "Can you break down {0} so a layperson understands it?",
            "I don't get {0}. Could you explain it plainly?",
        ],
        [
            ("blockchain",),
            ("quantum entanglement",),
            ("how a mortgage works",),
            ("the offside rule in football",),
            ("CRISPR gene editing",),
            ("public-key cryptography",),
            ("how black holes form",),
            ("the electoral college",),
        ],
    )
    b.reword(
        "para-recommend",
        "synonym",
        ["What's a good {0} for {1}?", "Can you recommend a {0} suitable for {1}?", "Which {0} would you suggest for {1}?"],
        [
            ("laptop", "video editing"),
            ("running shoe", "flat feet"),
            ("camera", "wildlife photography"),
            ("tent", "winter camping"),
            ("programming language", "a complete beginner"),
            ("board game", "a family with young kids"),
            ("houseplant", "a dark bathroom"),
            ("dog breed", "a small apartment"),
        ],
    )
    b.reword(
        "para-compose",
        "synonym",
        ["Write a {0} about {1}.", "Could you compose a {0} on the subject of {1}?", "I'd like a {0} about {1}, please."],
        [
            ("haiku", "autumn leaves"),
            ("limerick", "a forgetful cat"),
            ("short poem", "the ocean at night"),
            ("product description", "a bamboo toothbrush"),
            ("toast", "my sister's wedding"),
            ("tweet", "our new single-origin coffee"),
            ("short story", "a lighthouse keeper"),
            ("song chorus", "leaving home"),
        ],
    )
    b.reword(
        "para-typo-reworded-2",
        "synonym",
        ["What's the best way to {0}?", "how should i {0}", "Any advice on how to {0}?"],
        [
            ("store homemade soup in the freezer",),
            ("prepare for a marathon in sixteen weeks",),
            ("teach a parrot to talk",),
            ("keep cut flowers fresh for longer",),
            ("protect outdoor furniture over winter",),
            ("organise a cluttered garage",),
            ("introduce a new kitten to an older cat",),
            ("practise mindfulness as a beginner",),
        ],
        post="typo",
    )
    b.explicit(
        "paraphrase",
        "para-oneoff-2",
        [
            ("Why do leaves change colour in autumn?", "What makes tree foliage turn red and yellow in the fall?"),
            ("How do I ask my boss for a day off?", "What's a good way to request a day of leave from my manager?"),
            ("Is coffee bad for your heart?", "Does drinking coffee harm cardiovascular health?"),
            ("How do airplanes stay in the air?", "What keeps a plane aloft while it's flying?"),
            ("Tips for a long-haul flight with a baby?", "How can I survive a very long flight with an infant?"),
            ("How do I get rid of a headache without medicine?", "What are drug-free ways to relieve a headache?"),
            ("Why is the ocean salty?", "Where does the salt in seawater come from?"),
            (
                "What's the best way to memorise vocabulary in a new language?",
                "How can I learn foreign-language words so they actually stick?",
            ),
            ("How do I know if I'm being scammed online?", "What are the warning signs of an internet scam?"),
            ("Why do we dream?", "What is the purpose of dreaming during sleep?"),
            ("How can I be more productive when working from home?", "Any suggestions for getting more done while working remotely?"),
            ("How do I keep my cut avocado from turning brown?", "What stops a sliced avocado from browning?"),
            ("What's the etiquette for tipping at a hotel?", "How much should I tip hotel staff, and whom?"),
            ("How do I start investing with little money?", "What's a sensible way to begin investing on a small budget?"),
            ("Why does my voice sound weird on recordings?", "How come my recorded voice sounds so different from how I hear myself?"),
            ("How do I make friends in a new city?", "What are good ways to meet people after moving somewhere new?"),
            ("What should I do if my car overheats?", "My engine temperature gauge is in the red; what steps should I take?"),
            ("How do solar panels generate electricity?", "In what way do photovoltaic panels turn sunlight into power?"),
            ("Why do my knees hurt after running?", "What causes knee pain following a run?"),
            (
                "How do I prepare for a job interview at a startup?",
                "What should I do to get ready for an interview with a young tech company?",
            ),
            ("Can dogs eat grapes?", "Is it safe to give grapes to a dog?"),
            ("How do I write a good thesis statement?", "What makes a strong central claim for an essay, and how do I draft one?"),
            ("How can I lower my electricity bill in summer?", "Ways to cut my power costs during the hot months?"),
            ("Why is my basil wilting?", "What's making my basil plant droop?"),
        ],
        "same",
        "synonym",
    )
    contraction_bases = [
        "Why does my code not compile when I do not declare the variable?",
        "What is the reason my dishwasher is not draining?",
        "I cannot log in to my email account. What should I try?",
        "It is not clear to me how adjustable-rate mortgages work. Can you explain?",
        "My car will not start in cold weather. What is the likely cause?",
        "I am not sure whether I should learn Spanish or Italian first.",
        "My printer does not recognize the new ink cartridge. What should I do?",
        "They are saying the train will not run tomorrow. Is there a replacement bus?",
        "Why is it that you should not put aluminium foil in the microwave?",
        "I have tried everything and my sourdough starter is not bubbling. What is wrong?",
        "What is the best way to tell my landlord I cannot pay rent on time?",
        "My toddler does not want to eat vegetables. What is a good strategy?",
        "I would like to learn chess but I do not know where to start.",
        "Why are my tomato leaves turning yellow? I have not changed anything.",
        "It is raining and my roof is leaking. What should I do right now?",
        "My Wi-Fi does not reach the back bedroom. What is the cheapest fix?",
    ]
    for base in contraction_bases:
        b.add("paraphrase", "para-contraction", base, contract(base, b.rng), "same", "contraction")
    polite_bases = [
        "How do I change a flat tire on a bicycle?",
        "What is the boiling point of water at high altitude?",
        "How do I make cold brew coffee at home?",
        "What are good exercises for lower back pain?",
        "How do I write a cover letter for a nursing job?",
        "Which houseplants are safe for cats?",
        "How do I convert a Word document to PDF on a Mac?",
        "What's the best way to learn to touch type?",
        "How do I season a cast iron pan?",
        "What documents do I need to rent an apartment in Berlin?",
        "How can I stop my dog from pulling on the leash?",
        "How do I set up a Python virtual environment?",
        "What's a good beginner workout routine at the gym?",
        "How do I unclog a bathroom sink without chemicals?",
        "What is the difference between a Roth 401(k) and a regular 401(k)?",
        "How do I cancel an Amazon Prime subscription?",
        "What should I bring to a job interview?",
        "How can I reduce static in my hair during winter?",
        "How do I make my own pizza dough?",
        "Why does my laptop fan run constantly?",
    ]
    for base in polite_bases:
        b.add("paraphrase", "para-polite", base, polite(base, b.rng), "same", "politeness")
    typo_bases = [
        "how do i remove scratches from a wooden table",
        "what should i feed a baby hedgehog",
        "why does my bread sink in the middle after baking",
        "whats the fastest way to thaw frozen chicken safely",
        "how do i tell if an avocado is ripe",
        "why does my phone battery drain so quickly overnight",
        "what is the best way to store fresh herbs",
        "how can i improve my handwriting as an adult",
        "what causes condensation on the inside of windows",
        "how do i get my toddler to sleep through the night",
        "which plants grow well in a shady garden",
        "how do i clean a stainless steel kettle",
        "what are the symptoms of a vitamin deficiency",
        "how do i stop my glasses from slipping down my nose",
        "what is a healthy breakfast that keeps me full until lunch",
        "how should i prepare for a long distance bike ride",
        "why does my cat knock things off the table",
        "how can i make my small apartment feel bigger",
    ]
    for base in typo_bases:
        b.add("paraphrase", "para-typo", base, typos(base, b.rng), "same", "typo")
    b.reword(
        "para-typo-reworded",
        "synonym",
        ["How do I {0}?", "What's the easiest way to {0}?", "Can you tell me how to {0}?"],
        [
            ("descale a coffee machine",),
            ("fix a squeaky door hinge",),
            ("sharpen kitchen knives at home",),
            ("remove a stripped screw",),
            ("clean white sneakers",),
            ("repot an orchid",),
            ("defrost a freezer quickly",),
        ],
        post="typo",
    )
    b.explicit(
        "paraphrase",
        "para-numeral",
        [
            ("How many calories are in 2 boiled eggs?", "How many calories are in two boiled eggs?"),
            ("What's 15% of 80?", "What is fifteen percent of 80?"),
            ("Convert 5 km to miles.", "Convert five kilometres to miles."),
            ("Is 1,000,000 seconds more than a week?", "Is one million seconds more than a week?"),
            ("Set a timer for 10 minutes.", "Set a timer for ten minutes."),
            ("What was daily life like in the 1990s in Japan?", "What was daily life like in Japan during the nineties?"),
            ("How long does it take to cook rice for 4 people?", "How long does it take to cook rice for four people?"),
            ("Give me 3 tips for public speaking.", "Give me three tips for public speaking."),
            ("Is 98.6°F a normal body temperature?", "Is 37 °C a normal body temperature?"),
            ("How far is 10 km in miles?", "How far is 10,000 metres in miles?"),
            ("What is 1/2 of 3/4?", "What's half of three quarters?"),
            ("Write a 100-word bio for a nurse.", "Write a bio of one hundred words for a nurse."),
            (
                "My flight leaves at 18:30. When should I get to the airport?",
                "My flight leaves at 6:30 pm. When should I get to the airport?",
            ),
            ("How many pounds is 2.5 kg?", "How many pounds is 2,500 grams?"),
            ("What does the 1st Amendment protect?", "What does the First Amendment protect?"),
            ("Is a 1 TB SSD enough for gaming?", "Is a 1,000 GB SSD enough for gaming?"),
            ("Recommend a laptop under $1,000.", "Recommend a laptop under one thousand dollars."),
            ("Is it safe to leave cooked rice out for 2 hours?", "Is it safe to leave cooked rice out for 120 minutes?"),
            ("Plan a 7-day road trip through Scotland.", "Plan a one-week road trip through Scotland."),
            ("What's the 3rd largest city in Italy?", "What is the third-largest city in Italy?"),
        ],
        "same",
        "numeral",
    )


# --- conversations and system prompts -----------------------------------------------------------------


def _conv(*turns: str) -> list[Msg]:
    """Alternating user/assistant turns, user first."""
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]


def multiturn(b: Builder) -> None:
    k = "multiturn"
    ok = "Got it. How can I help?"
    earlier = [
        ("I'm writing a small CLI tool in Python.", "I'm writing a small CLI tool in Go.", "How do I read a file line by line?"),
        ("I live in Canada.", "I live in Australia.", "What number do I call for an ambulance?"),
        ("My daughter is 4 years old.", "My daughter is 14 years old.", "What's a reasonable bedtime for her?"),
        ("I'm on Windows 11.", "I'm on macOS Sonoma.", "How do I take a screenshot of just one window?"),
        ("Let's talk about the 2008 financial crisis.", "Let's talk about the 1929 stock market crash.", "What were its main causes?"),
        ("I'm cooking for a vegan friend.", "I'm cooking for a friend with a nut allergy.", "Can you suggest a dessert?"),
        (
            "Here is my function: def area(r): return 3.14 * r * r",
            "Here is my function: def area(w, h): return w * h",
            "Add a docstring to it.",
        ),
        (
            "I'm flying from London to New York next week.",
            "I'm flying from New York to London next week.",
            "How bad will the jet lag be, and how do I minimise it?",
        ),
        ("We're using PostgreSQL.", "We're using MySQL.", "How do I add a column with a default value without locking the table?"),
        ("Please answer in French from now on.", "Please answer in Spanish from now on.", "What is the capital of Canada?"),
        ("I earn $50,000 a year and I'm single.", "I earn $500,000 a year and I'm single.", "Which US federal tax bracket am I in?"),
        ("My plant is a succulent.", "My plant is a fern.", "How often should I water it?"),
        ("I drive a 2015 Honda Civic.", "I drive a 2015 Tesla Model S.", "How often should I change the oil?"),
        ("I'm allergic to penicillin.", "I'm allergic to ibuprofen.", "What can I take for a toothache?"),
    ]
    for ua, ub, last in earlier:
        b.add(k, "mt-earlier-differs", last, last, "different", "earlier-turn-differs", _conv(ua, ok), _conv(ub, ok))
    bakery = ["Suggest a name for my bakery.", "How about 'Rise & Shine Bakery'?"]
    b.add(
        k,
        "mt-earlier-differs",
        "Now write a slogan for the bakery.",
        "Now write a slogan for the bakery.",
        "different",
        "earlier-turn-differs",
        _conv(*bakery, "I love it, let's use that name.", "Great choice!"),
        _conv(*bakery, "Hmm, let's keep my current name, Crumb & Co.", "Sounds good!"),
    )
    shared = {
        "backups": _conv(
            "Should I delete the old backups on the server to free some space?",
            "I can do that. It will remove 120 GB of snapshots older than 30 days. Shall I proceed?",
        ),
        "dogs": _conv("Give me three names for a golden retriever.", "1. Maple 2. Biscuit 3. Sunny"),
        "tagline": _conv("Write a tagline for my coffee shop.", "Brewed with love, served with a smile."),
        "temp": _conv("What's the temperature in Madrid right now?", "It's about 30 °C in Madrid at the moment."),
        "sql": _conv(
            "I need a SQL query that lists last month's orders.",
            "SELECT * FROM orders WHERE order_date >= date_trunc('month', now()) - interval '1 month'"
            " AND order_date < date_trunc('month', now());",
        ),
        "translate": _conv("Translate 'good morning' into Italian.", "Buongiorno."),
        "mortgage": _conv(
            "I'm comparing a 15-year fixed mortgage at 5.1% with a 30-year fixed at 5.6%.",
            "Both are reasonable choices. Which one would you like to explore?",
        ),
        "trip": _conv("Suggest a weekend trip from Munich.", "Salzburg is 1.5 hours away by train; Lake Constance is about 2.5 hours."),
        "release": _conv(
            "Draft an email to my team about the release.",
            "Hi team, the release is scheduled for Friday at 3 pm. Please merge everything by Thursday noon.",
        ),
        "instrument": _conv(
            "I'm deciding between learning guitar and piano.", "Both are great. Guitar is portable; piano makes music theory easy to see."
        ),
        "novel": _conv("Recommend a science fiction novel.", "Try 'The Left Hand of Darkness' by Ursula K. Le Guin (1969)."),
        "powers": _conv("Which is bigger, 2^10 or 10^3?", "2^10 = 1024, which is bigger than 10^3 = 1000."),
    }
    last_differs = [
        ("backups", "Yes, go ahead.", "No, don't do that."),
        ("dogs", "Tell me more about the second one.", "Tell me more about the third one."),
        ("tagline", "Make it shorter.", "Make it longer."),
        ("temp", "Convert that to Fahrenheit.", "Convert that to Kelvin."),
        ("sql", "Now sort it by total, highest first.", "Now sort it by total, lowest first."),
        ("translate", "And into Portuguese?", "And into Greek?"),
        ("mortgage", "Tell me more about the first.", "Tell me more about the second."),
        ("trip", "How do I get to the closer one?", "How do I get to the farther one?"),
        ("release", "Move it to Thursday.", "Move it to Monday."),
        ("instrument", "I'll go with guitar. Where do I start?", "I'll go with piano. Where do I start?"),
        ("novel", "Something more recent, please.", "Something older, please."),
        ("powers", "What about 2^20 versus 10^6?", "What about 2^20 versus 10^7?"),
    ]
    for name, la, lb in last_differs:
        b.add(k, "mt-last-differs", la, lb, "different", "last-turn-differs", shared[name], shared[name])
    last_same = [
        ("backups", "Yes, go ahead.", "Sure, please proceed with it."),
        ("dogs", "Tell me more about the second one.", "Could you say a bit more about Biscuit?"),
        ("tagline", "Make it shorter.", "Can you cut it down a bit?"),
        ("temp", "Convert that to Fahrenheit.", "What is that in °F?"),
        ("sql", "Now sort it by total, highest first.", "Order those results by total in descending order."),
        ("translate", "And into Portuguese?", "How would you say it in Portuguese?"),
        ("mortgage", "Tell me more about the first.", "Tell me more about the 15-year option."),
        ("trip", "How do I get to the closer one?", "What's the best way to get to Salzburg?"),
        ("release", "Move it to Thursday.", "Change the release day to Thursday."),
        ("instrument", "I'll go with guitar. Where do I start?", "Guitar it is. How should I begin?"),
    ]
    for name, la, lb in last_same:
        b.add(k, "mt-last-paraphrase", la, lb, "same", "last-turn-paraphrase", shared[name], shared[name])
    reworded_earlier = [
        (
            "I'm writing a small CLI tool in Python.",
            "I am building a little command-line utility in Python.",
            "How do I read a file line by line?",
        ),
        ("My daughter is 4 years old.", "My daughter is four.", "What's a reasonable bedtime for her?"),
        ("I'm on Windows 11.", "I use Windows 11.", "How do I take a screenshot of just one window?"),
        ("I live in Canada.", "I'm based in Canada.", "What number do I call for an ambulance?"),
        ("We're using PostgreSQL.", "Our database is Postgres.", "How do I add a column with a default value without locking the table?"),
        ("I earn $50,000 a year and I'm single.", "I'm single and my annual salary is 50k USD.", "Which US federal tax bracket am I in?"),
    ]
    for ua, ub, last in reworded_earlier:
        b.add(k, "mt-earlier-paraphrase", last, last, "same", "earlier-turn-paraphrase", _conv(ua, ok), _conv(ub, ok))


def _sys(text: str) -> list[Msg]:
    return [{"role": "system", "content": text}]


def system(b: Builder) -> None:
    k = "system"
    differs = [
        ("Answer in French.", "Answer in German.", "What are the benefits of drinking enough water?"),
        (
            "You are a paediatrician.",
            "You are a veterinarian.",
            "My patient has a fever of 39.5 °C and is lethargic. What should I do first?",
        ),
        ("Reply only with 'yes' or 'no'.", "Explain your reasoning in detail.", "Is a tomato a fruit?"),
        (
            "You are the support bot for Acme Bank. Only discuss Acme Bank products.",
            "You are the support bot for Globex Telecom. Only discuss Globex Telecom products.",
            "What are your opening hours?",
        ),
        (
            "Always respond in JSON with keys 'answer' and 'confidence'.",
            "Always respond in plain text.",
            "What is the tallest mountain in Africa?",
        ),
        ("The current date is 2026-03-01.", "The current date is 2026-09-01.", "What season is it in Sydney right now?"),
        ("You are a pirate. Talk like one.", "You are a Victorian butler. Talk like one.", "How do I make a cup of tea?"),
        ("The user is a beginner programmer.", "The user is a senior compiler engineer.", "Explain what a closure is."),
        ("Use metric units.", "Use US customary units.", "How tall is the Eiffel Tower?"),
        (
            "You are a travel agent who only sells trips to Japan.",
            "You are a travel agent who only sells trips to Italy.",
            "Suggest a 5-day itinerary.",
        ),
        (
            "Never reveal the discount code SPRING10.",
            "The discount code is SPRING10; share it whenever asked.",
            "Is there a discount code I can use?",
        ),
        ("Respond in under 20 words.", "Respond in at least 300 words.", "Why is sleep important?"),
        ("Our store is open 9-5, Monday to Friday.", "Our store is open 10-6, every day of the week.", "Are you open on Saturday?"),
        ("The user's name is Maria.", "The user's name is Daniel.", "Write a short greeting for me."),
        (
            "Company policy: returns are accepted within 30 days.",
            "Company policy: returns are accepted within 14 days.",
            "I bought this 20 days ago. Can I return it?",
        ),
        ("You are a Python tutor.", "You are a JavaScript tutor.", "How do I declare a constant?"),
        ("Today is Monday.", "Today is Friday.", "How many working days are left this week, counting today?"),
    ]
    for sa, sb, user in differs:
        b.add(k, "sys-differs", user, user, "different", "system-differs", _sys(sa), _sys(sb))
    same_sys_reworded_user = [
        ("Answer in French.", "What are the health benefits of eating oats?", "Why is eating oatmeal good for your health?"),
        ("Reply only with 'yes' or 'no'.", "Is a tomato a fruit?", "Botanically, is the tomato a fruit?"),
        ("Use metric units.", "How tall is the Eiffel Tower?", "What's the height of the Eiffel Tower?"),
        ("You are a Python tutor.", "How do I declare a constant?", "What's the way to define a constant?"),
        ("The user is a beginner programmer.", "Explain what a closure is.", "Can you explain closures to me?"),
    ]
    for s, ua, ub in same_sys_reworded_user:
        b.add(k, "sys-same-user-reworded", ua, ub, "same", "user-paraphrase", _sys(s), _sys(s))
    trivial = [
        ("You are a helpful assistant.", "You are a helpful assistant", "How do I boil an egg?"),
        ("Answer concisely.", "Please answer concisely.", "What causes the seasons on Earth?"),
        ("You are a helpful assistant.", "You are a helpful assistant.\n", "How do I iron a shirt?"),
        ("Be concise.", "Keep answers concise.", "What is a mutual fund?"),
    ]
    for sa, sb, user in trivial:
        b.add(k, "sys-trivial", user, user, "same", "system-reworded", _sys(sa), _sys(sb))


# --- long prompts that differ only in the middle ------------------------------------------------------

FILLER = [
    "Section {n}: {topic} requests go through the {portal} portal and are usually reviewed within {d} business days.",
    "The {team} team meets every {day} at {h}:00 to review open {topic} items and agree on next steps.",
    "Visitors sign in at the {place} and wear a badge at all times while they are in the {area}.",
    "Questions about {topic} can be sent to {team}-help@example.com, which is monitored during office hours.",
    "Laptops, monitors and headsets issued by the company remain company property and are returned on the last working day.",
    "The {area} is cleaned every {day} evening, so personal items should be cleared from the desks before {h}:00.",
    "Expense claims for {topic} need an itemised receipt and the approval of a line manager before they are paid.",
    "When the {portal} portal is unavailable, staff may email the {team} team directly and include a short description.",
    "New starters complete the {topic} course in their first {d} weeks and record the completion in the {portal} portal.",
    "Meeting rooms on the {place} floor can be booked for up to {d} hours at a time through the shared calendar.",
    "Printed documents marked confidential are shredded, never placed in the ordinary recycling bins in the {area}.",
    "The {team} team publishes a short newsletter on the first {day} of each month with updates on {topic}.",
    "Fire drills take place twice a year; everyone leaves by the nearest exit and gathers at the {place}.",
    "Parking permits are renewed every {d} months and displayed clearly on the dashboard while parked on site.",
    "The kitchen on the {place} floor has a dishwasher that runs at {h}:00; please load cups and plates before then.",
    "Software licences for {topic} tools are requested through the {portal} portal and assigned by the {team} team.",
    "Travel for {topic} events is booked at least {d} weeks ahead to keep fares low and approvals simple.",
    "Feedback on the {topic} process is collected each quarter in an anonymous survey run by the {team} team.",
    "The quiet zone in the {area} is reserved for focused work, so calls are taken in the phone booths instead.",
    "Bicycles are stored in the rack near the {place}, and the code for the gate changes every {d} weeks.",
    "Any change to the {topic} guidelines is announced at the {day} meeting and recorded in the {portal} portal.",
    "First-aid kits are kept in the {area} and near the {place}, and they are checked every {d} months.",
    "Team lunches for {topic} milestones are arranged by the {team} team and announced a week in advance.",
    "Desks in the {area} are not assigned; anyone may use a free desk for the day and clear it before leaving.",
]
SLOTS = {
    "topic": [
        "training",
        "equipment",
        "travel",
        "security",
        "wellbeing",
        "accessibility",
        "payroll",
        "facilities",
        "mentoring",
        "recruiting",
        "sustainability",
        "compliance",
    ],
    "portal": ["Atlas", "Beacon", "Compass", "Harbor", "Juniper", "Keystone", "Lumen", "Meridian"],
    "team": ["people", "facilities", "finance", "workplace", "operations", "learning", "security", "office"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "place": ["reception desk", "main entrance", "car park", "second", "third", "ground", "north lobby", "courtyard"],
    "area": ["open-plan office", "east wing", "library corner", "workshop", "west wing", "studio", "lab"],
    "n": [str(i) for i in range(2, 40)],
    "h": [str(i) for i in range(8, 19)],
    "d": [str(i) for i in range(2, 13)],
}


def filler(rng: random.Random, words: int) -> list[str]:
    out: list[str] = []
    count = 0
    while count < words:
        tpl = rng.choice(FILLER)
        sentence = re.sub(r"\{(\w+)\}", lambda m: rng.choice(SLOTS[m.group(1)]), tpl)
        out.append(sentence)
        count += len(sentence.split())
    return out


STEPS = [
    "Check that the {part} is clean and free of debris before continuing.",
    "Tighten the {part} by hand, then give it a quarter turn with the {tool}.",
    "Inspect the {part} for cracks; replace it if any damage is visible.",
    "Wipe the {part} with a dry cloth and set it aside on a clean surface.",
    "Use the {tool} to loosen the {part}, keeping the small washers together.",
    "Record the reading on the {part} in the service log with the date.",
    "Apply a thin layer of grease to the {part} so it seals evenly.",
    "Make sure the {part} sits flush against the housing before moving on.",
    "Label the {part} with masking tape so it goes back in the same place.",
    "Test the {part} by hand; it should move freely without grinding.",
]
PARTS = [
    "inlet valve",
    "pressure gauge",
    "drain plug",
    "gasket",
    "filter housing",
    "heating element",
    "anode rod",
    "thermostat cover",
    "relief valve",
    "mounting bracket",
    "outlet pipe",
    "control panel",
]
TOOLS = ["adjustable wrench", "socket wrench", "flat screwdriver", "hex key", "pliers"]


def steps(rng: random.Random, n: int, start: int) -> list[str]:
    return [
        f"Step {start + i}: " + re.sub(r"\{(\w+)\}", lambda m: rng.choice(PARTS if m.group(1) == "part" else TOOLS), rng.choice(STEPS))
        for i in range(n)
    ]


def code_module(rng: random.Random, n: int) -> list[str]:
    ops = [("sum", "+="), ("weighted sum", "+=")]
    out = []
    for i in range(n):
        verb = rng.choice(["load", "score", "merge", "clean", "count", "rank"])
        name = f"{verb}_{rng.choice(['orders', 'users', 'events', 'rows', 'items', 'logs'])}_{i}"
        k, m = rng.randrange(1, 50), rng.randrange(2, 9)
        cmp = rng.choice([">", "<", ">=", "<=", "!="])
        desc, op = rng.choice(ops)
        out.append(
            f"def {name}(values: list[int]) -> int:\n"
            f'    """Return the {desc} of the values that are {cmp} {k}, each multiplied by {m}."""\n'
            f"    total = 0\n"
            f"    for value in values:\n"
            f"        if value {cmp} {k}:\n"
            f"            total {op} value * {m}\n"
            f"    return total\n"
        )
    return out


def _fetch(loop: str, var: str) -> str:
    return (
        "def fetch_with_retry(client: Client, url: str) -> bytes:\n"
        f"    {loop}\n"
        "        response = client.get(url)\n"
        "        if response.ok:\n"
        "            return response.body\n"
        f"        time.sleep(2 ** {var})\n"
        "    raise FetchError(url)\n"
    )


def _doc(head: str, body_before: list[str], key: str, body_after: list[str], tail: str, sep: str = " ") -> str:
    return head + sep.join([*body_before, key, *body_after]) + tail


def long_prompts(b: Builder) -> None:
    k = "long"
    rng = random.Random(b.rng.random())

    def prose(head: str, tail: str, key_a: str, key_b: str, label: str, sub: str, group: str) -> None:
        before, after = filler(rng, 850), filler(rng, 850)
        a = _doc(head, before, key_a, after, tail)
        bb = _doc(head, before, key_b, after, tail)
        assert len(a.split()) > 1600 and len(bb.split()) > 1600
        b.add(k, group, a, bb, label, sub)

    stores = ["Northwind Outfitters", "Bluebird Books", "Cedar & Pine Home", "Orbit Electronics", "Lark Garden Supply", "Fjord Cycles"]
    refund = [(30, 60), (14, 50), (40, 50), (90, 31), (7, 70), (60, 60)]
    for i, (store, (na, nb)) in enumerate(zip(stores, refund, strict=True)):
        head = (
            f"You are the customer support assistant for {store}. Read the store handbook below,"
            " then answer the customer's question at the end.\n\nSTORE HANDBOOK\n"
        )
        tail = (
            f"\n\nCustomer question: I received my order from {store} 45 days ago and I'm not happy with it. Can I still get a full refund?"
        )
        key_a = f"Customers may request a full refund within {na} days of delivery."
        if i < 4:
            prose(
                head,
                tail,
                key_a,
                f"Customers may request a full refund within {nb} days of delivery.",
                "different",
                "middle-number",
                "long-refund",
            )
        else:
            prose(
                head,
                tail,
                key_a,
                f"A full refund can be requested by customers up to {na} days after delivery.",
                "same",
                "middle-paraphrase",
                "long-refund",
            )
    hotels = ["Hotel Aurora", "The Linden Inn", "Casa Marisol", "Harbourview Lodge", "Alpenrose Hotel", "The Granary Rooms"]
    pets = [
        ("Pets are welcome in all guest rooms.", "Pets are not permitted in any guest room.", "different"),
        ("Dogs may stay in guest rooms for a small fee.", "Dogs may not stay in guest rooms, even for a fee.", "different"),
        (
            "Guests can keep small pets in their rooms.",
            "Guests can hardly ever keep pets in their rooms; exceptions need written approval.",
            "different",
        ),
        ("Pets are allowed in guest rooms without restriction.", "Pets are allowed in guest rooms except dogs.", "different"),
        ("Pets are not allowed in guest rooms.", "Pets aren't allowed in guest rooms.", "same"),
        ("Dogs are welcome to stay in guest rooms.", "Guest rooms are open to dogs as well.", "same"),
    ]
    for hotel, (ka, kb, label) in zip(hotels, pets, strict=True):
        head = f"You are the concierge assistant of {hotel}. The house rules follow; use them to answer the guest.\n\nHOUSE RULES\n"
        tail = f"\n\nGuest question: I'm arriving at {hotel} on Friday with my small terrier. Can she stay with me in my room?"
        sub = "middle-negation" if label == "different" else "middle-paraphrase"
        prose(head, tail, ka, kb, label, sub, "long-pets")
    services = ["payments", "search", "checkout", "notifications", "billing", "identity"]
    oncall = [
        ("Priya Natarajan", "Daniel Okafor", "different"),
        ("Marta Nowak", "Martin Nowak", "different"),
        ("Chen Jie", "Jie Chen", "different"),
        ("Ahmed Hassan", "Hassan Ahmed", "different"),
        ("Sofia Rossi", "Sofia Rossi", "same"),
        ("Lena Fischer", "Lena Fischer", "same"),
    ]
    for service, (na, nb, label) in zip(services, oncall, strict=True):
        head = f"You are the internal help assistant of the {service} platform group. The team handbook follows.\n\nTEAM HANDBOOK\n"
        tail = f"\n\nQuestion: the {service} service just went down. Who is on call this week, and who should I page?"
        key_a = f"The on-call engineer for the {service} service this week is {na}."
        key_b = (
            f"The on-call engineer for the {service} service this week is {nb}."
            if label == "different"
            else f"This week, {nb} is the on-call engineer for the {service} service."
        )
        prose(head, tail, key_a, key_b, label, "middle-entity" if label == "different" else "middle-paraphrase", "long-oncall")
    drives = ["team drive", "design share", "media vault", "project archive", "client portal", "research drive"]
    sizes = [
        ("500 MB", "500 Mb", "different"),
        ("1 GB", "1 Gb", "different"),
        ("150 MB", "1.5 GB", "different"),
        ("0.15 GB", "1.5 GB", "different"),
        ("2 GB", "2,000 MB", "same"),
        ("300 MB", "300 megabytes", "same"),
    ]
    for drive, (sa, sb, label) in zip(drives, sizes, strict=True):
        head = f"You answer questions about the office IT rules. The IT handbook for the {drive} follows.\n\nIT HANDBOOK\n"
        tail = f"\n\nQuestion: can I upload a 200 MB video file to the {drive} in a single upload?"
        prose(
            head,
            tail,
            f"The maximum size of a single upload to the {drive} is {sa}.",
            f"The maximum size of a single upload to the {drive} is {sb}.",
            label,
            "middle-unit" if label == "different" else "middle-paraphrase",
            "long-upload",
        )
    appliances = ["water heater", "espresso machine", "pressure washer", "dehumidifier", "boiler", "aquarium pump"]
    orders = [
        (
            "Drain the tank completely before you disconnect the supply hose.",
            "Disconnect the supply hose before you drain the tank completely.",
            "different",
        ),
        (
            "Switch off the power, then open the pressure relief valve.",
            "Open the pressure relief valve, then switch off the power.",
            "different",
        ),
        (
            "Close the inlet valve before removing the filter housing.",
            "Remove the filter housing before closing the inlet valve.",
            "different",
        ),
        ("Turn the drain plug clockwise to close it.", "Turn the drain plug anticlockwise to close it.", "different"),
        (
            "Let the unit cool for 30 minutes before you open the cover.",
            "Before you open the cover, let the unit cool down for half an hour.",
            "same",
        ),
        (
            "Unplug the unit before you touch the heating element.",
            "Do not touch the heating element until the unit has been unplugged.",
            "same",
        ),
    ]
    for appliance, (ka, kb, label) in zip(appliances, orders, strict=True):
        head = (
            f"Below is the full service manual for a domestic {appliance}."
            " Read it and answer the question that follows.\n\nSERVICE MANUAL\n"
        )
        before, after = steps(rng, 75, 1), steps(rng, 75, 77)
        key = "Step 76: {}"
        tail = f"\n\nQuestion: what exactly does step 76 of the {appliance} manual tell me to do, and in which order?"
        a = _doc(head, before, key.format(ka), after, tail, "\n")
        bb = _doc(head, before, key.format(kb), after, tail, "\n")
        assert len(a.split()) > 1500, len(a.split())
        b.add(k, "long-manual", a, bb, label, "middle-order" if label == "different" else "middle-paraphrase")
    retries = [
        ("for attempt in range(MAX_RETRIES):", "for attempt in range(MAX_RETRIES + 1):", "different"),
        ("for attempt in range(1, MAX_RETRIES):", "for attempt in range(MAX_RETRIES):", "different"),
        ("for attempt in range(MAX_RETRIES):", "for attempt in range(MAX_RETRIES - 1):", "different"),
        ("for attempt in range(MAX_RETRIES * 2):", "for attempt in range(MAX_RETRIES ** 2):", "different"),
        ("for attempt in range(MAX_RETRIES):", "for try_number in range(MAX_RETRIES):", "same"),
        ("for attempt in range(0, MAX_RETRIES):", "for attempt in range(MAX_RETRIES):", "same"),
    ]
    modules = ["orders_sync", "ledger_export", "feed_ingest", "report_builder", "crm_bridge", "image_pipeline"]
    for module, (la, lb, label) in zip(modules, retries, strict=True):
        head = (
            f"Here is the full source of our {module}.py module."
            " Read all of it, then answer the question at the end.\n\n```python\nMAX_RETRIES = 3\n\n"
        )
        before, after = code_module(rng, 36), code_module(rng, 36)
        var = "try_number" if "try_number" in lb else "attempt"
        tail = (
            f"```\n\nQuestion: in {module}.py, if every request fails, how many times does fetch_with_retry call client.get before raising?"
        )
        a = _doc(head, before, _fetch(la, "attempt"), after, tail, "\n")
        bb = _doc(head, before, _fetch(lb, var), after, tail, "\n")
        assert len(a.split()) > 1500, len(a.split())
        b.add(k, "long-code", a, bb, label, "middle-code" if label == "different" else "middle-paraphrase")
    companies = ["Halvorsen Marine", "Quillon Labs", "Tessaract Foods", "Brightwater Energy", "Okoro Textiles", "Vireo Robotics"]
    founded = [
        ("was founded in 1998 in Bergen", "was founded in 1989 in Bergen", "different"),
        ("was founded in 2004 in Lyon", "was founded in 2004 in Lille", "different"),
        ("was founded in 1975 by two brothers", "was founded in 1975 by two sisters", "different"),
        ("was founded in 2011, shortly after the merger", "was founded in 2011, shortly before the merger", "different"),
        ("was founded in 1962 in Lagos", "was established in Lagos in 1962", "same"),
        ("was founded in 2015 in Austin", "was set up in Austin in 2015", "same"),
    ]
    for company, (fa, fb, label) in zip(companies, founded, strict=True):
        head = f"Answer the question using only the retrieved passages below. Passages come from the {company} knowledge base.\n\n"
        passages_before = filler(rng, 850)
        passages_after = filler(rng, 850)
        tail = f"\n\nQuestion: when, where and by whom was {company} founded, and how does that relate to the merger?"
        key_a = f"[Passage 7] {company} {fa}, and it still runs its main office there."
        key_b = f"[Passage 7] {company} {fb}, and it still runs its main office there."
        a = _doc(head, passages_before, key_a, passages_after, tail)
        bb = _doc(head, passages_before, key_b, passages_after, tail)
        b.add(k, "long-rag", a, bb, label, "middle-fact" if label == "different" else "middle-paraphrase")


# --- assembly -----------------------------------------------------------------------------------------

DIFFERENT_KINDS = (
    numbers,
    negation,
    antonyms,
    entities,
    scope,
    time_kind,
    units,
    code,
    deixis,
    roles,
    modality,
    comparatives,
    ordering,
    fmt,
)


def _key(text: str, ctx: list[Msg] | None) -> str:
    return json.dumps([ctx or [], text])


def check(pairs: list[dict[str, Any]]) -> None:
    """Refuse a set that contradicts itself: a ``different`` pair whose sides ``same`` labels join elsewhere."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        if p["label"] == "same":
            parent[find(_key(p["a"], p.get("ctx_a")))] = find(_key(p["b"], p.get("ctx_b")))
    for p in pairs:
        if p["label"] == "different":
            assert find(_key(p["a"], p.get("ctx_a"))) != find(_key(p["b"], p.get("ctx_b"))), p
    kinds = Counter(p["kind"] for p in pairs)
    groups: dict[str, set[str]] = {}
    for p in pairs:
        groups.setdefault(p["kind"], set()).add(p["group"])
    for kind, n in kinds.items():
        assert n >= 20, (kind, n)
        if kind not in ("multiturn", "system", "long"):
            assert len(groups[kind]) >= 5, (kind, groups[kind])


def build(seed: int) -> list[dict[str, Any]]:
    b = Builder(seed)
    for make in DIFFERENT_KINDS:
        make(b)
    paraphrases(b)
    multiturn(b)
    system(b)
    long_prompts(b)
    for i, p in enumerate(b.pairs):
        p["id"] = f"rt2-{i:04d}"
    check(b.pairs)
    return b.pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    pairs = build(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
    labels = Counter(p["label"] for p in pairs)
    kinds = Counter((p["kind"], p["label"]) for p in pairs)
    print(f"{len(pairs)} pairs ({labels['different']} different, {labels['same']} same) -> {args.out}")
    for (kind, label), n in sorted(kinds.items()):
        print(f"  {kind:13s} {label:9s} {n}")


if __name__ == "__main__":
    main()
