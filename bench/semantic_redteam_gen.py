"""Independent red-team pairs for the semantic cache (issue #12): bench/data/semantic_redteam.jsonl.

Written without reading the verifier, its guards, its calibration or the team's own evaluation set,
so that a number measured on it says how the shipped rule does on prompts its author did not
anticipate. Modelled on public sentence-pair sets: PAWS (word swaps that keep the bag of words and
change the meaning), MRPC/QQP (real paraphrases, near-duplicate questions that ask something else),
STS (closely related sentences that are not equivalent), plus what a gateway sees: code, SQL,
multi-turn conversations, long RAG prompts differing in one middle sentence, system prompts.

Each line: ``a`` (the cached prompt), ``b`` (the new prompt), ``label`` (``same`` when an answer to
``a`` is a correct answer to ``b``, else ``different``), ``kind``, ``group`` (kind and template),
``split`` (always ``report``: nothing here is ever tuned on), and ``ctx_a``/``ctx_b`` (earlier
messages) where a conversation or a system prompt precedes the last turn. Slot values are drawn
without reuse inside a kind so that two pairs never mean the same by accident (the bench counts a
hit on any other pair's entry as false).

Deterministic: ``.venv/bin/python bench/semantic_redteam_gen.py`` rewrites the same file.
Measure: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/semantic_cache.py --data bench/data/semantic_redteam.jsonl --skip-latency``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "data" / "semantic_redteam.jsonl"
SEED = 20261201

Pair = dict[str, Any]

PEOPLE = [
    "Marisol", "Tobias", "Priya", "Dmitri", "Aoife", "Kwame", "Ingrid", "Rafael", "Yuki", "Oskar",
    "Leila", "Bram", "Chiara", "Femi", "Hana", "Lucan", "Anouk", "Teodor", "Zainab", "Elio",
    "Saoirse", "Mateus", "Ilse", "Kenji", "Noor", "Gustav", "Paloma", "Radek", "Wren", "Obi",
]  # fmt: skip
TEAMS = [
    "the Harbor Hawks", "Kestrel United", "Ironvale", "the Pinecrest Owls", "Northgate FC",
    "the Salt Flats Comets", "Brightwater", "the Cedar Foxes", "Redmoor Athletic", "the Delta Herons",
    "Old Quarry", "the Copper Lynx", "Westmarch", "the Tidewater Rams", "Glenholm Rovers",
]  # fmt: skip
COMPANIES = [
    "Veltrix", "Orrin Labs", "Quillstone", "Halden Foods", "Sundial Freight", "Brackwell Bank",
    "Nimbus Paper", "Carraway Motors", "Lumen & Pike", "Tessellate AI", "Rookery Games", "Fairhaven Mills",
    "Osprey Telecom", "Granite Peak Insurance", "Wexford Pharma", "Marlow Textiles",
]  # fmt: skip
CITIES = [
    "Lisbon", "Tallinn", "Osaka", "Winnipeg", "Tbilisi", "Nairobi", "Cork", "Adelaide", "Bergen",
    "Valparaiso", "Da Nang", "Ljubljana", "Tucson", "Leipzig", "Marrakesh", "Halifax", "Cusco", "Gdansk",
]  # fmt: skip


class Gen:
    """Collects pairs; each kind draws its slot values from its own random stream."""

    def __init__(self) -> None:
        self.pairs: list[Pair] = []
        self.seen: set[tuple[str, str, str, str]] = set()

    def add(
        self,
        kind: str,
        template: int | str,
        a: str,
        b: str,
        label: str,
        ctx_a: list[dict[str, str]] | None = None,
        ctx_b: list[dict[str, str]] | None = None,
    ) -> None:
        assert label in ("same", "different")
        assert a != b or json.dumps(ctx_a) != json.dumps(ctx_b), (kind, a)
        key = (a, b, json.dumps(ctx_a), json.dumps(ctx_b))
        if key in self.seen:
            return
        self.seen.add(key)
        pair: Pair = {"group": f"{kind}_{template}", "split": "report", "a": a, "b": b, "label": label, "kind": kind}
        if ctx_a:
            pair["ctx_a"] = ctx_a
        if ctx_b:
            pair["ctx_b"] = ctx_b
        self.pairs.append(pair)


def draws(rng: random.Random, pool: list[str], k: int) -> Iterator[list[str]]:
    """Endless k-tuples from ``pool``, never the same set of values twice: a template that swaps its
    slots would otherwise turn one pair's prompt into another pair's unlabelled paraphrase."""
    used: set[frozenset[str]] = set()
    while True:
        order = pool[:]
        rng.shuffle(order)
        for i in range(0, len(order) - k + 1, k):
            combo = order[i : i + k]
            if frozenset(combo) not in used:
                used.add(frozenset(combo))
                yield combo


def templated(
    g: Gen,
    kind: str,
    rng: random.Random,
    templates: list[tuple[str, str, str]],
    pool: list[str],
    n: int,
    *,
    slots: int = 2,
) -> None:
    """``templates`` are (a, b, label) with {0}, {1}... filled from ``pool``; n pairs in rotation."""
    it = draws(rng, pool, slots)
    for i in range(n):
        a, b, label = templates[i % len(templates)]
        vals = next(it)
        g.add(kind, i % len(templates), a.format(*vals), b.format(*vals), label)


def listed(g: Gen, kind: str, rows: list[tuple[str, str]], label: str, tag: str = "") -> None:
    for i, (a, b) in enumerate(rows):
        g.add(kind, f"{tag}{i}", a, b, label)


# --- argument and word-order swaps (PAWS) ------------------------------------------------------


def swaps(g: Gen, rng: random.Random) -> None:
    templated(
        g,
        "swap_args",
        rng,
        [
            ("Did {0} beat {1} in last night's match?", "Did {1} beat {0} in last night's match?", "different"),
            ("What was the score when {0} played away at {1}?", "What was the score when {1} played away at {0}?", "different"),
            ("Did {0} beat {1} in last night's match?", "Did {1} lose to {0} in last night's match?", "same"),
            ("How many goals did {0} concede against {1}?", "How many goals did {1} concede against {0}?", "different"),
        ],
        TEAMS,
        28,
    )
    templated(
        g,
        "swap_people",
        rng,
        [
            ("Write a short email from {0} to {1} asking for the quarterly figures.",
             "Write a short email from {1} to {0} asking for the quarterly figures.", "different"),
            ("Is {0} allowed to approve {1}'s expense report?", "Is {1} allowed to approve {0}'s expense report?", "different"),
            ("Draft a message where {0} apologises to {1} for missing the meeting.",
             "Draft a message where {1} apologises to {0} for missing the meeting.", "different"),
            ("{0} owes {1} 40 euros. How should {0} pay it back?", "{1} owes {0} 40 euros. How should {1} pay it back?", "different"),
            ("Write a thank-you note from {0} to {1} for the birthday gift.",
             "Write a note in which {0} thanks {1} for the birthday gift.", "same"),
            ("Should {0} hire {1} for the data team?", "Should {1} hire {0} for the data team?", "different"),
        ],
        PEOPLE,
        30,
    )  # fmt: skip
    templated(
        g,
        "swap_companies",
        rng,
        [
            ("What happened to {1}'s staff after {0} acquired it?", "What happened to {0}'s staff after {1} acquired it?", "different"),
            ("Why is {0} suing {1}?", "Why is {1} suing {0}?", "different"),
            ("How much did {0} pay to buy {1}?", "How much did {1} pay to buy {0}?", "different"),
            ("How much did {0} pay to buy {1}?", "What price did {0} pay for acquiring {1}?", "same"),
        ],
        COMPANIES,
        24,
    )
    templated(
        g,
        "swap_places",
        rng,
        [
            ("When does the last train from {0} to {1} leave?", "When does the last train from {1} to {0} leave?", "different"),
            ("Is it cheaper to fly from {0} to {1} on a Tuesday?", "Is it cheaper to fly from {1} to {0} on a Tuesday?", "different"),
            ("What time is it in {0} when it is noon in {1}?", "What time is it in {1} when it is noon in {0}?", "different"),
            ("When does the last train from {0} to {1} leave?", "What time is the final train leaving {0} for {1}?", "same"),
        ],
        CITIES,
        24,
    )
    # PAWS-style: the same words, reordered, say something else.
    listed(
        g,
        "paws_reorder",
        [
            ("Why did the dog that bit the mail carrier get put down?", "Why did the mail carrier that bit the dog get put down?"),
            (
                "Is a pound of feathers heavier than a pound of steel in water?",
                "Is a pound of steel heavier than a pound of feathers in water?",
            ),
            ("Explain why the teacher failed the student who cheated.", "Explain why the student who cheated failed the teacher."),
            ("How do I stop my cat from chasing my dog?", "How do I stop my dog from chasing my cat?"),
            ("Can a landlord evict a tenant for not paying rent?", "Can a tenant evict a landlord for not paying rent?"),
            (
                "Why is the moon visible during the day but not the sun at night?",
                "Why is the sun visible during the day but not the moon at night?",
            ),
            ("Should I put the milk in before the tea?", "Should I put the tea in before the milk?"),
            ("Is it bad to drink coffee after eating fruit?", "Is it bad to eat fruit after drinking coffee?"),
            (
                "The parent class calls the child method; how do I avoid that?",
                "The child class calls the parent method; how do I avoid that?",
            ),
            (
                "Can the server push updates to the client without a request?",
                "Can the client push updates to the server without a request?",
            ),
            ("Why would the primary replicate from the standby?", "Why would the standby replicate from the primary?"),
            ("My brother's wife's sister is visiting; what do I call her?", "My sister's wife's brother is visiting; what do I call him?"),
            ("What happens if water is added to acid?", "What happens if acid is added to water?"),
            ("Is it safe to store bleach above ammonia?", "Is it safe to store ammonia above bleach?"),
            ("Why does the hash of the file change but not its size?", "Why does the size of the file change but not its hash?"),
            ("How do I merge main into my feature branch?", "How do I merge my feature branch into main?"),
            ("Copy the config from staging to production.", "Copy the config from production to staging."),
            (
                "Why do vaccines cause antibodies but antibodies don't cause disease?",
                "Why do antibodies cause disease but vaccines don't cause antibodies?",
            ),
            (
                "The author cites the reviewer; is that a conflict of interest?",
                "The reviewer cites the author; is that a conflict of interest?",
            ),
            ("Why did the old man give the young boy his coat?", "Why did the young man give the old boy his coat?"),
            ("List countries that export more oil than they import.", "List countries that import more oil than they export."),
            ("Can I use a 65 W charger for a laptop that needs 90 W?", "Can I use a 90 W charger for a laptop that needs 65 W?"),
            ("Is the red wire live and the black one neutral?", "Is the black wire live and the red one neutral?"),
            ("Should the junior review the senior's code first?", "Should the senior review the junior's code first?"),
        ],
        "different",
    )
    listed(
        g,
        "paws_reorder",
        [
            (
                "Does the tenant pay the agent, or does the agent pay the tenant?",
                "Does the agent pay the tenant, or does the tenant pay the agent?",
            ),
            (
                "Is it better to water plants above the leaves or below them?",
                "Is it better to water plants below the leaves or above them?",
            ),
            ("Is the bathroom inside the apartment or outside it?", "Is the bathroom outside the apartment or inside it?"),
            ("After dinner, should I take a walk?", "Should I take a walk after dinner?"),
            ("In winter, how often should I water a fig tree?", "How often should I water a fig tree in winter?"),
        ],
        "same",
        "s",
    )


# --- quantifiers, modality, comparatives, antonyms, negation --------------------------------------


def logic_words(g: Gen, rng: random.Random) -> None:
    subjects = [
        ("students in the course", "passed the final exam"),
        ("servers in the cluster", "run the new kernel"),
        ("employees at the firm", "get a pension"),
        ("birds in the aviary", "can fly"),
        ("tests in the suite", "touch the network"),
        ("tenants in the building", "pay for parking"),
        ("members of the committee", "voted for the proposal"),
        ("files in the folder", "are encrypted"),
        ("patients in the trial", "reported side effects"),
        ("cars in the fleet", "are electric"),
        ("routes in the API", "require authentication"),
        ("players on the team", "were born abroad"),
    ]
    qpairs = [
        ("some", "all"),
        ("all", "none of the"),
        ("most", "few"),
        ("no", "some"),
        ("every one of the", "only some of the"),
        ("at least two", "at most two"),
    ]
    i = 0
    for subj, pred in subjects:
        for qa, qb in rng.sample(qpairs, 2):
            a = f"If {qa} {subj} {pred}, what does that tell us about the rest?"
            b = f"If {qb} {subj} {pred}, what does that tell us about the rest?"
            g.add("quantifier", i % 3, a, b, "different")
            i += 1
    listed(
        g,
        "quantifier",
        [
            ("Do all mammals lay eggs?", "Do any mammals lay eggs?"),
            ("Is every prime number odd?", "Is some prime number odd?"),
            ("Are most spiders venomous?", "Are all spiders venomous?"),
            ("Does anyone in the family have diabetes? Then what tests should I get?",
             "Does everyone in the family have diabetes? Then what tests should I get?"),
        ],
        "different",
        "x",
    )  # fmt: skip
    modal = [
        ("Can I", "Must I"), ("Should I", "Can I"), ("May I", "Must I"), ("Do I have to", "Am I allowed to"),
        ("Must I", "Must I not"), ("Can I", "Should I"),
    ]  # fmt: skip
    acts = [
        "renew my passport online", "deduct my home office from my taxes", "bring a power bank in checked luggage",
        "fire an employee who is on sick leave", "give my dog ibuprofen", "cancel a signed lease early",
        "park on the left side of a one-way street", "drive with a learner's permit alone", "reuse the cast-iron pan after rust",
        "record a phone call without telling the other person", "eat the leftover rice after two days",
        "refuse a jury summons", "sublet my flat", "run the dishwasher with hand soap", "skip the booster shot",
        "open the package addressed to my roommate", "delete a merged git branch", "force-push to a shared branch",
    ]  # fmt: skip
    for i, act in enumerate(acts):
        ma, mb = modal[i % len(modal)]
        g.add("modality", i % len(modal), f"{ma} {act}?", f"{mb} {act}?", "different")
    listed(
        g,
        "modality",
        [
            ("Can I renew my driving licence by post?", "Is it possible to renew my driving licence by post?"),
            ("Do I have to file a tax return if I earned nothing?", "Am I required to file a tax return if I earned nothing?"),
            ("Should I water succulents every day?", "Is it a good idea to water succulents daily?"),
        ],
        "same",
        "s",
    )
    comps = [
        ("Why is {0} older than {1}?", "Why is {0} younger than {1}?"),
        ("Is {0} more expensive to live in than {1}?", "Is {0} cheaper to live in than {1}?"),
        ("Why are summers in {0} warmer than in {1}?", "Why are summers in {0} cooler than in {1}?"),
        ("Does {0} get more rain than {1}?", "Does {0} get less rain than {1}?"),
        ("Is {0} further north than {1}?", "Is {0} further south than {1}?"),
        ("Why is {0} more crowded than {1} in August?", "Why is {0} less crowded than {1} in August?"),
    ]
    it = draws(rng, CITIES, 2)
    for i in range(24):
        a, b = comps[i % len(comps)]
        x = next(it)
        g.add("comparative", i % len(comps), a.format(*x), b.format(*x), "different")
    it = draws(rng, CITIES, 2)
    for _ in range(4):
        x = next(it)
        g.add("comparative", "s", f"Is {x[0]} bigger than {x[1]}?", f"Is {x[1]} smaller than {x[0]}?", "same")
    listed(
        g,
        "antonym",
        [
            ("How do I increase the font size in VS Code?", "How do I decrease the font size in VS Code?"),
            ("How do I enable two-factor login on my account?", "How do I disable two-factor login on my account?"),
            ("How do I encrypt a zip file on a Mac?", "How do I decrypt a zip file on a Mac?"),
            ("What foods raise blood pressure?", "What foods lower blood pressure?"),
            ("Is it a good time to buy gold?", "Is it a good time to sell gold?"),
            ("How do I import contacts into my phone?", "How do I export contacts from my phone?"),
            ("Why does my bread come out too dry?", "Why does my bread come out too moist?"),
            ("How do I mount a USB drive on Linux?", "How do I unmount a USB drive on Linux?"),
            ("What are the advantages of remote work?", "What are the disadvantages of remote work?"),
            ("How do I speed up a video in Premiere?", "How do I slow down a video in Premiere?"),
            ("How can I gain weight healthily?", "How can I lose weight healthily?"),
            ("Why is my fridge too cold?", "Why is my fridge too warm?"),
            ("How do I zoom in on a PDF?", "How do I zoom out on a PDF?"),
            ("Which plants like full sun?", "Which plants like full shade?"),
            ("How do I lock a cell in Excel?", "How do I unlock a cell in Excel?"),
            ("Why did the stock rise after earnings?", "Why did the stock fall after earnings?"),
            ("How do I widen a column in Google Sheets?", "How do I narrow a column in Google Sheets?"),
            ("What causes a high white blood cell count?", "What causes a low white blood cell count?"),
            ("How do I start the Docker daemon?", "How do I stop the Docker daemon?"),
            ("How to tighten a loose bike chain?", "How to loosen a tight bike chain?"),
            ("Is it safe to freeze cooked rice?", "Is it safe to thaw cooked rice?"),
            ("How do I follow someone on Mastodon?", "How do I unfollow someone on Mastodon?"),
        ],
        "different",
    )
    listed(
        g,
        "negation",
        [
            ("Why does my code work in Chrome?", "Why doesn't my code work in Chrome?"),
            ("Is it safe to eat raw eggs while pregnant?", "Is it unsafe to eat raw eggs while pregnant?"),
            ("What happens if I pay my credit card bill on time?", "What happens if I don't pay my credit card bill on time?"),
            ("Write a function that returns True if the list is sorted.", "Write a function that returns True if the list is not sorted."),
            ("Why do cats purr when they are happy?", "Why do cats purr when they are not happy?"),
            ("Which of these countries use the euro: Denmark, Latvia, Poland?",
             "Which of these countries do not use the euro: Denmark, Latvia, Poland?"),
            ("List reasons to learn Rust.", "List reasons not to learn Rust."),
            ("Why is the sky blue?", "Why isn't the sky blue at sunset?"),
            ("Translate to Spanish: I have seen that film.", "Translate to Spanish: I have never seen that film."),
            ("Can I take ibuprofen with food?", "Can I take ibuprofen without food?"),
            ("Which vitamins are fat-soluble?", "Which vitamins are not fat-soluble?"),
            ("How do I make a cake with eggs?", "How do I make a cake without eggs?"),
            ("The test passed. What should I check next?", "The test never passed. What should I check next?"),
            ("My landlord returned the deposit; what now?", "My landlord refused to return the deposit; what now?"),
            ("She remembered to lock the door, so is the house safe?", "She forgot to lock the door, so is the house safe?"),
            ("He managed to submit the form before the deadline. Is he eligible?",
             "He failed to submit the form before the deadline. Is he eligible?"),
            ("Does the warranty cover water damage?", "Does the warranty exclude water damage?"),
            ("Explain why the null hypothesis was rejected.", "Explain why the null hypothesis was not rejected."),
            ("Summarize why the bill passed the senate.", "Summarize why the bill failed in the senate."),
            ("Is it legal to drive with headphones in Germany?", "Is it illegal to drive with headphones in Germany?"),
        ],
        "different",
    )  # fmt: skip
    listed(
        g,
        "negation",
        [
            ("Is it unsafe to eat raw chicken?", "Is it dangerous to eat raw chicken?"),
            ("Why doesn't my printer connect to Wi-Fi?", "Why won't my printer connect to the Wi-Fi?"),
            ("Which birds cannot fly?", "Which birds are flightless?"),
        ],
        "same",
        "s",
    )


# --- person, pronouns, demonstratives, tense, question words -------------------------------------


def reference(g: Gen, rng: random.Random) -> None:
    listed(
        g,
        "pronoun_person",
        [
            ("Write a birthday message for my mother from me.", "Write a birthday message for me from my mother."),
            ("How do I tell my boss I am quitting?", "How does my boss tell me I am fired?"),
            ("Can my employer read my work email?", "Can I read my employer's work email?"),
            ("Should I lend my car to my brother?", "Should my brother lend his car to me?"),
            ("My sister borrowed my laptop and broke it. Who pays?", "I borrowed my sister's laptop and broke it. Who pays?"),
            ("What should I say when my friend apologizes to me?", "What should I say when I apologize to my friend?"),
            ("How do I ask my landlord to fix my heating?", "How does my landlord ask me to fix the heating?"),
            ("Write a reference letter for her from him.", "Write a reference letter for him from her."),
            ("Is it rude if he doesn't reply to her texts?", "Is it rude if she doesn't reply to his texts?"),
            ("Describe your favourite book.", "Describe my favourite book."),
            ("What do you think of my plan?", "What do I think of your plan?"),
            ("Rewrite this so it sounds like it's from us to them.", "Rewrite this so it sounds like it's from them to us."),
            ("Why does our team depend on theirs?", "Why does their team depend on ours?"),
            ("How do I get my cat to trust my new partner?", "How do I get my new partner to trust my cat?"),
            ("He told her that he was leaving. Who was leaving?", "She told him that she was leaving. Who was leaving?"),
            ("Can my parents claim me as a dependent?", "Can I claim my parents as dependents?"),
            ("Should I forgive him for lying to me?", "Should he forgive me for lying to him?"),
            ("How do I convince my kids to read more?", "How do my kids convince me to read more?"),
        ],
        "different",
    )
    listed(
        g,
        "subject_pronoun",
        [
            ("Should I tell her the truth?", "Should she tell me the truth?"),
            ("What gift should I get them for the wedding?", "What gift should they get me for the wedding?"),
            ("When can we visit you?", "When can you visit us?"),
            ("Did they pay us for the invoice yet?", "Did we pay them for the invoice yet?"),
            ("How much should I tip him?", "How much should he tip me?"),
            ("Why does she ignore me at work?", "Why do I ignore her at work?"),
            ("What should we do if they win?", "What should they do if we win?"),
            ("Can you remind me tomorrow?", "Can I remind you tomorrow?"),
            ("Why didn't he invite us?", "Why didn't we invite him?"),
            ("How do I ask him out?", "How does he ask me out?"),
            ("Should we follow them on the hike?", "Should they follow us on the hike?"),
            ("What should I say if she cries?", "What should she say if I cry?"),
        ],
        "different",
    )
    listed(
        g,
        "demonstrative",
        [
            ("Keep this paragraph and delete that one.", "Keep that paragraph and delete this one."),
            ("Is this function slower than that one?", "Is that function slower than this one?"),
            ("Move these files into those folders.", "Move those files into these folders."),
            ("Replace this word with that one in the title.", "Replace that word with this one in the title."),
            ("Should I sell this car and keep that one?", "Should I sell that car and keep this one?"),
            ("Translate this sentence but not that one.", "Translate that sentence but not this one."),
            ("Are these shoes cheaper than those?", "Are those shoes cheaper than these?"),
            ("Merge this branch into that one.", "Merge that branch into this one."),
            ("Why does this test fail when that one passes?", "Why does that test fail when this one passes?"),
            ("Use this color for the header and that one for the footer.", "Use that color for the header and this one for the footer."),
        ],
        "different",
    )
    listed(
        g,
        "tense",
        [
            ("Who won the Tour de France?", "Who will win the Tour de France?"),
            ("How did the Roman Empire collapse?", "How could the Roman Empire have survived?"),
            ("What was the population of Lagos in 1990?", "What will the population of Lagos be in 2050?"),
            ("How did you fix the bug?", "How will you fix the bug?"),
            ("Why did the price of eggs rise?", "Why will the price of eggs rise?"),
            ("What did the Fed decide about interest rates?", "What will the Fed decide about interest rates?"),
            ("Where was the conference held?", "Where will the conference be held?"),
            ("How much did the bridge cost to build?", "How much will the bridge cost to build?"),
            ("Did the package arrive?", "Will the package arrive?"),
            ("What happened at the board meeting?", "What will happen at the board meeting?"),
            ("Who was the chancellor of Germany?", "Who is the chancellor of Germany?"),
            ("What time did the store close?", "What time does the store close?"),
            ("How long did the migration take?", "How long will the migration take?"),
            ("Which team had the best record?", "Which team has the best record?"),
            ("Had she already left when you called?", "Will she have left when you call?"),
            ("What was the exchange rate of the yen?", "What is the exchange rate of the yen?"),
        ],
        "different",
    )
    listed(
        g,
        "question_word",
        [
            ("Who founded Quillstone?", "When was Quillstone founded?"),
            ("Where did the Hanseatic League trade?", "Why did the Hanseatic League trade?"),
            ("How does a heat pump work?", "Why does a heat pump work?"),
            ("When should I plant garlic?", "Where should I plant garlic?"),
            ("How many moons does Neptune have?", "How big are the moons of Neptune?"),
            ("Why did the Berlin Wall fall?", "When did the Berlin Wall fall?"),
            ("Which language is spoken in Andorra?", "How many languages are spoken in Andorra?"),
            ("What is the capital of Australia?", "What is the largest city in Australia?"),
            ("Who invented the telephone?", "What did the inventor of the telephone invent next?"),
            ("How long do cats live?", "How long do cats sleep?"),
            ("How far is the Moon from Earth?", "How old is the Moon?"),
            ("When does the museum open on Sundays?", "When does the museum close on Sundays?"),
        ],
        "different",
    )


# --- numbers, dates, times, units, entities --------------------------------------------------------


WORDS = {
    2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 11: "eleven",
    12: "twelve", 13: "thirteen", 14: "fourteen", 15: "fifteen", 16: "sixteen", 17: "seventeen", 18: "eighteen",
    20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety",
}  # fmt: skip
CONFUSED = [
    (13, 30),
    (14, 40),
    (15, 50),
    (16, 60),
    (17, 70),
    (18, 80),
    (2, 20),
    (3, 30),
    (4, 14),
    (5, 15),
    (6, 16),
    (9, 90),
    (11, 12),
    (7, 70),
]


def numbers(g: Gen, rng: random.Random) -> None:
    things = [
        ("How long should I roast a chicken that weighs {} pounds?", "roast"),
        ("What is the best gift for a {}-year-old?", "gift"),
        ("Is it normal for a {}-month-old baby to not crawl?", "baby"),
        ("How much protein does a person need if they run {} miles a week?", "protein"),
        ("Plan a {}-day trip to Portugal.", "trip"),
        ("What should I pack for a hike of {} kilometres?", "hike"),
        ("Write a {}-line poem about autumn.", "poem"),
        ("How do I split a bill of 240 dollars among {} people?", "bill"),
        ("What is {} percent of 360?", "pct"),
        ("Is a resting heart rate of {} a problem?", "heart"),
        ("Give me a workout I can finish in {} minutes.", "workout"),
        ("What can I cook with {} eggs and some flour?", "eggs"),
    ]
    for i, (tpl, tag) in enumerate(things):
        x, y = CONFUSED[i % len(CONFUSED)]
        # As words on both sides, the confusable spoken pairs (thirteen/thirty).
        g.add("number_words", tag, tpl.format(WORDS[x]), tpl.format(WORDS[y]), "different")
        # Digits against words, a different number.
        x2, y2 = CONFUSED[(i + 5) % len(CONFUSED)]
        g.add("number_words", tag + "d", tpl.format(x2), tpl.format(WORDS[y2]), "different")
        # The same number written two ways: an answer to one is an answer to the other.
        z = CONFUSED[(i + 9) % len(CONFUSED)][1]
        g.add("number_words", tag + "s", tpl.format(z), tpl.format(WORDS[z]), "same")
    listed(
        g,
        "number_digits",
        [
            ("Is 1729 a prime number?", "Is 1723 a prime number?"),
            ("What is 17% of 4,500?", "What is 71% of 4,500?"),
            ("Convert 3.5 hours into minutes.", "Convert 35 hours into minutes."),
            ("What is the square root of 1,024?", "What is the square root of 1,042?"),
            ("How much is a 0.25 carat diamond worth?", "How much is a 2.5 carat diamond worth?"),
            ("My salary is 52,000 a year; what is that per hour?", "My salary is 25,000 a year; what is that per hour?"),
            ("What's the monthly payment on a 300k mortgage at 4.5%?", "What's the monthly payment on a 300k mortgage at 5.4%?"),
            ("Is 2048 a power of two?", "Is 2084 a power of two?"),
            ("What happened in 1848 in Europe?", "What happened in 1884 in Europe?"),
            ("Which element has atomic number 26?", "Which element has atomic number 62?"),
            ("What is 12 factorial?", "What is 21 factorial?"),
            ("Explain HTTP status 403.", "Explain HTTP status 404."),
            ("What does error code 0x80070005 mean in Windows Update?", "What does error code 0x80070057 mean in Windows Update?"),
            ("Is a credit score of 680 good?", "Is a credit score of 860 good?"),
            ("How many calories are in 150 grams of rice?", "How many calories are in 1500 grams of rice?"),
            ("What is the 10th Fibonacci number?", "What is the 100th Fibonacci number?"),
        ],
        "different",
    )
    listed(
        g,
        "date_time",
        [
            ("What day of the week was March 3, 1999?", "What day of the week was May 3, 1999?"),
            ("Set an alarm for 6:30 am.", "Set an alarm for 6:30 pm."),
            ("What events happen in Edinburgh in the first week of August?", "What events happen in Edinburgh in the last week of August?"),
            ("Remind me at quarter past seven to call the bank.", "Remind me at quarter to seven to call the bank."),
            ("Book a table for Friday the 14th at eight.", "Book a table for Friday the 4th at eight."),
            ("How many days are there between January 10 and March 1?", "How many days are there between January 1 and March 10?"),
            ("What was the weather in Oslo yesterday?", "What will the weather be in Oslo tomorrow?"),
            ("Is the bank open on the Monday after Easter?", "Is the bank open on the Monday before Easter?"),
            ("What happened on the 4th of July 1976?", "What happened on the 7th of April 1976?"),
            ("Schedule the deploy for half past nine tonight.", "Schedule the deploy for half past nine tomorrow morning."),
            ("How old is someone born in the spring of 1987?", "How old is someone born in the autumn of 1978?"),
            ("Which holidays fall in the second quarter of 2027?", "Which holidays fall in the third quarter of 2027?"),
            (
                "What is the deadline if the notice period is two weeks from the 1st?",
                "What is the deadline if the notice period is two months from the 1st?",
            ),
            ("Convert 23:45 UTC to Tokyo time.", "Convert 02:45 UTC to Tokyo time."),
            ("What's on TV at midnight on New Year's Eve?", "What's on TV at noon on New Year's Eve?"),
            ("How many weekdays are in February 2028?", "How many weekdays are in February 2027?"),
        ],
        "different",
    )
    listed(
        g,
        "date_time",
        [
            ("Set an alarm for 7 pm.", "Set an alarm for 19:00."),
            ("Remind me at noon to water the plants.", "Remind me at 12 pm to water the plants."),
            ("What day of the week was 25 December 2001?", "What day of the week was Christmas Day 2001?"),
            ("How many days are in a leap year?", "How many days does a leap year have?"),
        ],
        "same",
        "s",
    )  # fmt: skip
    listed(
        g,
        "units",
        [
            ("How long does it take to walk 5 km?", "How long does it take to walk 5 miles?"),
            ("Is 30 degrees Celsius hot for a bath?", "Is 30 degrees Fahrenheit hot for a bath?"),
            ("Will a 500 MB file fit on the free plan?", "Will a 500 GB file fit on the free plan?"),
            ("Is a latency of 200 ms acceptable for a game?", "Is a latency of 200 s acceptable for a game?"),
            ("Is 400 mg of caffeine a day too much?", "Is 400 g of caffeine a day too much?"),
            ("How many cups of flour are in 2 pounds?", "How many cups of flour are in 2 kilograms?"),
            ("How much does 1 kWh of electricity cost in Spain?", "How much does 1 MWh of electricity cost in Spain?"),
            ("Can I fit a 55 inch TV in a car?", "Can I fit a 55 cm TV in a car?"),
            ("Is 90 km/h a safe speed on a wet road?", "Is 90 mph a safe speed on a wet road?"),
            ("How many tablespoons are in 100 ml of oil?", "How many teaspoons are in 100 ml of oil?"),
            ("What is the price of 10 ounces of gold?", "What is the price of 10 grams of gold?"),
            ("Is 8 hours of sleep per day enough?", "Is 8 hours of sleep per week enough?"),
            ("My internet is 100 Mbps; how fast is a 1 GB download?", "My internet is 100 MBps; how fast is a 1 GB download?"),
            ("How many litres of paint for 40 square metres?", "How many gallons of paint for 40 square feet?"),
        ],
        "different",
    )
    listed(
        g,
        "units",
        [
            ("How long does it take to walk 5 kilometres?", "How long does it take to walk 5 km?"),
            ("Is 100 degrees Fahrenheit a fever?", "Is 100 °F a fever?"),
            ("How many grams are in a pound?", "How many g are in one lb?"),
        ],
        "same",
        "s",
    )
    listed(
        g,
        "entity_similar",
        [
            ("What is the capital of Austria?", "What is the capital of Australia?"),
            ("Do I need a visa to visit Slovenia?", "Do I need a visa to visit Slovakia?"),
            ("What currency does Iran use?", "What currency does Iraq use?"),
            ("How do I declare a constant in Java?", "How do I declare a constant in JavaScript?"),
            ("What is the population of Sweden?", "What is the population of Switzerland?"),
            ("What's the best time to visit Colombia?", "What's the best time to visit Columbia, South Carolina?"),
            ("What language is spoken in Niger?", "What language is spoken in Nigeria?"),
            ("What did John Adams do as president?", "What did John Quincy Adams do as president?"),
            ("How do I upgrade from Windows 10 to Windows 11?", "How do I upgrade from Windows 8 to Windows 10?"),
            ("How do I print without a newline in Python 2?", "How do I print without a newline in Python 3?"),
            ("Does the iPhone 14 support USB-C?", "Does the iPhone 15 support USB-C?"),
            ("How do I list tables in PostgreSQL?", "How do I list tables in MySQL?"),
            ("What's new in Vue 3?", "What's new in Vue 2.7?"),
            ("Who painted The Starry Night?", "Who painted The Starry Night Over the Rhône?"),
            ("Who wrote the Gospel of John?", "Who wrote the First Epistle of John?"),
            ("How tall is Mount Kilimanjaro?", "How tall is Mount Kenya?"),
            ("What does the Federal Reserve do?", "What does the European Central Bank do?"),
            ("Summarize the plot of Dune Messiah.", "Summarize the plot of Children of Dune."),
            ("What is the boiling point of ethanol?", "What is the boiling point of methanol?"),
            ("Is Guinea-Bissau in West Africa?", "Is Equatorial Guinea in West Africa?"),
            ("When did Queen Elizabeth I die?", "When did Queen Elizabeth II die?"),
            ("What's the side effect profile of ibuprofen?", "What's the side effect profile of naproxen?"),
            ("How do I pin a message in Slack?", "How do I pin a message in Discord?"),
            ("How far is Springfield, Illinois from Chicago?", "How far is Springfield, Missouri from Chicago?"),
            ("Write a bio for Marisol Okafor, our new CFO.", "Write a bio for Marisol Okonjo, our new CFO."),
            ("What is the dose of vitamin D2 for adults?", "What is the dose of vitamin D3 for adults?"),
        ],
        "different",
    )


# --- scope, conditionals, direction, connectives, quoted strings -----------------------------------


def structure(g: Gen, rng: random.Random) -> None:
    only = [
        ("Only {0} can edit the budget spreadsheet.", "{0} can only edit the budget spreadsheet."),
        ("Only {0} reviewed the contract on Monday.", "{0} reviewed only the contract on Monday."),
        ("{0} eats only fish on Fridays. What should I cook for them?", "{0} eats fish only on Fridays. What should I cook for them?"),
        ("Only {0} told {1} about the layoffs; who else knew?", "{0} told only {1} about the layoffs; who else knew?"),
        ("{0} drinks coffee only in the morning. Is that healthy?", "Only {0} drinks coffee in the morning. Is that healthy?"),
    ]
    it = draws(rng, PEOPLE, 2)
    for i in range(20):
        a, b = only[i % len(only)]
        x = next(it)
        a, b = a.format(*x), b.format(*x)
        if i % len(only) == 0:
            a, b = a + " Who else needs access?", b + " Who else needs access?"
        g.add("scope_only", i % len(only), a, b, "different")
    listed(
        g,
        "conditional",
        [
            ("If it rains tomorrow, should we cancel the picnic?", "Unless it rains tomorrow, should we cancel the picnic?"),
            ("If the build passes, deploy to production. What could go wrong?",
             "If you deploy to production, the build passes. What could go wrong?"),
            ("Write a rule: if the user is an admin, show the delete button.",
             "Write a rule: if the user is not an admin, show the delete button."),
            ("Is it true that if a number is divisible by 6 it is divisible by 3?",
             "Is it true that if a number is divisible by 3 it is divisible by 6?"),
            ("Do I owe tax if I sell the house after two years?", "Do I owe tax if I sell the house before two years?"),
            ("Should I take the job only if they match my salary?", "Should I take the job even if they don't match my salary?"),
            ("What happens to my pension if I retire early?", "What happens to my pension if I retire late?"),
            ("If the customer cancels within 14 days, do we refund the shipping?",
             "If the customer cancels after 14 days, do we refund the shipping?"),
            ("The alarm rings when the door opens. Why does it ring?", "The door opens when the alarm rings. Why does it ring?"),
            ("If all bloops are razzies and all razzies are lazzies, are all bloops lazzies?",
             "If all bloops are razzies and all lazzies are razzies, are all bloops lazzies?"),
            ("Return the cached value if the key exists, otherwise compute it.",
             "Compute the value if the key exists, otherwise return the cached value."),
            ("Can I drive if I had one beer two hours ago?", "Can I drive if I had two beers one hour ago?"),
        ],
        "different",
    )  # fmt: skip
    listed(
        g,
        "direction",
        [
            ("Should I stretch before running?", "Should I stretch after running?"),
            ("How do I move photos from my phone to my laptop?", "How do I move photos from my laptop to my phone?"),
            ("What's the fastest way to get into the city centre from the airport?",
             "What's the fastest way to get to the airport from the city centre?"),
            ("Do I add the rice before the water boils?", "Do I add the rice after the water boils?"),
            ("Can I upgrade from the free plan to the pro plan mid-month?",
             "Can I downgrade from the pro plan to the free plan mid-month?"),
            ("What to eat before a blood test?", "What to eat after a blood test?"),
            ("How do I convert a PDF to Word?", "How do I convert a Word file to PDF?"),
            ("Translate 'good morning' from Italian into Portuguese.", "Translate 'good morning' from Portuguese into Italian."),
            ("How do I send money to PayPal from my bank?", "How do I send money to my bank from PayPal?"),
            ("Convert 72 Fahrenheit to Celsius.", "Convert 72 Celsius to Fahrenheit."),
            ("How do I push a local branch to the remote?", "How do I pull a remote branch to local?"),
            ("Convert this JSON into YAML.", "Convert this YAML into JSON."),
        ],
        "different",
    )  # fmt: skip
    listed(
        g,
        "connective",
        [
            ("Is it safe to mix bleach and vinegar?", "Is it safe to use bleach or vinegar?"),
            ("Find flights that stop in Madrid and Rome.", "Find flights that stop in Madrid or Rome."),
            ("Which students passed both math and physics?", "Which students passed either math or physics?"),
            ("Should I pay off debt and invest?", "Should I pay off debt or invest?"),
            ("The function fails because the list is empty and the index is negative.",
             "The function fails because the list is empty or the index is negative."),
            ("Recommend a laptop that is light but powerful.", "Recommend a laptop that is light and not powerful."),
            ("List dishes with cheese but without meat.", "List dishes with meat but without cheese."),
            ("Give me cities that are cheap yet safe.", "Give me cities that are cheap because they are unsafe."),
        ],
        "different",
    )  # fmt: skip
    listed(
        g,
        "quoted_string",
        [
            ("Translate 'I am tired' into French.", "Translate 'I am tried' into French."),
            ("What does the error 'permission denied (publickey)' mean?", "What does the error 'permission denied (password)' mean?"),
            ("Is 'their' correct in: 'Their going to the park'?", "Is 'their' correct in: 'Their car is at the park'?"),
            ("Count the vowels in 'encyclopedia'.", "Count the vowels in 'encyclopaedia'."),
            ("What's the meaning of the phrase 'break a leg'?", "What's the meaning of the phrase 'break the ice'?"),
            ("Reverse the string 'stressed'.", "Reverse the string 'desserts'."),
            ("Spell-check this: 'recieve the package'.", "Spell-check this: 'receive the package'."),
            ("Is 'data' singular or plural in 'the data shows'?", "Is 'data' singular or plural in 'the data show'?"),
            ("What rhymes with 'orange'?", "What rhymes with 'orangey'?"),
            ("Is the password 'Tr0ub4dor&3' strong?", "Is the password 'correct horse battery staple' strong?"),
        ],
        "different",
    )


# --- code, flags, languages, SQL ------------------------------------------------------------------


def code(g: Gen, rng: random.Random) -> None:
    listed(
        g,
        "code_operator",
        [
            ("Why does `0.1 + 0.2 == 0.3` return False in Python?", "Why does `0.1 + 0.2 != 0.3` return True in Python?"),
            ("In JavaScript, what does `[] == false` evaluate to?", "In JavaScript, what does `[] === false` evaluate to?"),
            ("Why is `a < b` true here: a = '10', b = '9'?", "Why is `a > b` true here: a = '10', b = '9'?"),
            ("What does `x >> 2` do in C?", "What does `x << 2` do in C?"),
            ("Why does `if (a && b)` skip the block when b is null?", "Why does `if (a || b)` skip the block when b is null?"),
            ("What is the difference between `x += 1` and `x = x + 1` for lists?",
             "What is the difference between `x += [1]` and `x = x + [1]` for lists?"),
            ("In Python, what does `a is b` check?", "In Python, what does `a == b` check?"),
            ("What does `i++` return in C++?", "What does `++i` return in C++?"),
            ("Why does `5 // 2` give 2 in Python?", "Why does `5 / 2` give 2.5 in Python?"),
            ("What does `a ?? b` do in TypeScript?", "What does `a || b` do in TypeScript?"),
            ("What does the regex `^a.*b$` match?", "What does the regex `^a.+b$` match?"),
            ("Is `x & 1` a fast way to test parity?", "Is `x % 1` a fast way to test parity?"),
            ("Explain `for i in range(1, 10, 2)`.", "Explain `for i in range(10, 1, -2)`."),
            ("Why does `list.sort()` return None?", "Why does `sorted(list)` return a list?"),
        ],
        "different",
    )  # fmt: skip
    listed(
        g,
        "code_flag",
        [
            ("What does `git push --force` do?", "What does `git push --force-with-lease` do?"),
            ("Is `rm -r build/` safe to run?", "Is `rm -rf /build` safe to run?"),
            ("What does `ls -a` show?", "What does `ls -l` show?"),
            ("What does `pip install -e .` do?", "What does `pip install -U .` do?"),
            ("Explain `grep -v error app.log`.", "Explain `grep -i error app.log`."),
            ("What does `tar -xzf backup.tar.gz` do?", "What does `tar -czf backup.tar.gz` do?"),
            ("Why use `docker run -d nginx`?", "Why use `docker run -it nginx`?"),
            ("What does `git reset --soft HEAD~1` do?", "What does `git reset --hard HEAD~1` do?"),
            ("What does `chmod 644 key.pem` do?", "What does `chmod 600 key.pem` do?"),
            ("What does `curl -L example.com` do?", "What does `curl -I example.com` do?"),
            ("What does `npm install --save-dev jest` do?", "What does `npm install --global jest` do?"),
            ("What does `kubectl delete pod web --grace-period=0` do?", "What does `kubectl delete pod web --grace-period=30` do?"),
            ("What does `python -O script.py` do?", "What does `python -u script.py` do?"),
            ("What does `ssh -L 8080:localhost:80 host` do?", "What does `ssh -R 8080:localhost:80 host` do?"),
        ],
        "different",
    )
    langs = [
        ("Python", "Rust"),
        ("Go", "Java"),
        ("JavaScript", "TypeScript"),
        ("C#", "Kotlin"),
        ("Ruby", "PHP"),
        ("Swift", "Dart"),
        ("Bash", "PowerShell"),
    ]
    tasks = [
        "How do I read a CSV file in {}?",
        "How do I reverse a string in {}?",
        "What is the idiomatic way to handle errors in {}?",
        "Write a function in {} that checks whether a number is prime.",
        "How do I make an HTTP GET request in {}?",
        "How do I sort a dictionary by value in {}?",
        "Show me how to start a thread in {}.",
    ]
    for i, tpl in enumerate(tasks):
        x, y = langs[i % len(langs)]
        g.add("code_language", i, tpl.format(x), tpl.format(y), "different")
        x, y = langs[(i + 3) % len(langs)]
        g.add("code_language", f"t{i}", f"Translate this {x} snippet to {y}: `print(sum(range(10)))`",
              f"Translate this {y} snippet to {x}: `print(sum(range(10)))`", "different")  # fmt: skip
    listed(
        g,
        "code_language",
        [
            ("How do I reverse a list in Python?", "In Python, how can I reverse a list?"),
            ("How do I read a file line by line in Go?", "What's the Go way to read a file one line at a time?"),
            ("Write a JavaScript function that debounces another function.", "Write a debounce function in JavaScript."),
        ],
        "same",
        "s",
    )
    listed(
        g,
        "sql",
        [
            ("Why does `SELECT * FROM users WHERE age > 30` miss 30-year-olds?",
             "Why does `SELECT * FROM users WHERE age >= 30` miss 30-year-olds?"),
            ("What does `SELECT name FROM a LEFT JOIN b ON a.id = b.a_id` return when b is empty?",
             "What does `SELECT name FROM a INNER JOIN b ON a.id = b.a_id` return when b is empty?"),
            ("Write SQL that lists the 5 newest orders: ORDER BY created_at DESC LIMIT 5.",
             "Write SQL that lists the 5 oldest orders: ORDER BY created_at ASC LIMIT 5."),
            ("What does `SELECT COUNT(*) FROM visits` count?", "What does `SELECT COUNT(DISTINCT user_id) FROM visits` count?"),
            ("Write a query that deletes customers with no orders.", "Write a query that selects customers with no orders."),
            ("Is `WHERE price BETWEEN 10 AND 20` inclusive?", "Is `WHERE price > 10 AND price < 20` inclusive?"),
            ("Why is `WHERE email = NULL` never true?", "Why is `WHERE email IS NULL` true for some rows?"),
            ("Write SQL to find employees who earn more than their manager.",
             "Write SQL to find managers who earn more than their employees."),
            ("What does `GROUP BY dept HAVING COUNT(*) > 5` return?", "What does `GROUP BY dept HAVING COUNT(*) < 5` return?"),
            ("Should I use `UNION` or `UNION ALL` to keep duplicate rows?", "Should I use `UNION` or `UNION ALL` to drop duplicate rows?"),
            ("Write a query for the total sales per region in 2024.", "Write a query for the average sales per region in 2024."),
            ("How do I add an index on orders(customer_id)?", "How do I drop the index on orders(customer_id)?"),
            ("Write a query returning users who signed up in March but never logged in.",
             "Write a query returning users who logged in during March but never signed up."),
            ("What does `TRUNCATE TABLE logs` do?", "What does `DROP TABLE logs` do?"),
        ],
        "different",
    )  # fmt: skip
    listed(
        g,
        "sql",
        [
            ("Write a SQL query that counts the rows in the orders table.", "Give me SQL to count how many rows the orders table has."),
            ("How do I rename a column in PostgreSQL?", "In PostgreSQL, how can I rename a column?"),
        ],
        "same",
        "s",
    )


# --- conversations, system prompts, instructions, long prompts --------------------------------------


def u(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def asst(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def conversations(g: Gen, rng: random.Random) -> None:
    topics = [
        ("Compare the Fiat 500e and the Mini Cooper SE.", "Compare the Tesla Model 3 and the Polestar 2."),
        ("Give me three recipes with lentils.", "Give me three recipes with chickpeas."),
        ("What are good hikes near Innsbruck?", "What are good hikes near Chamonix?"),
        ("Recommend two novels by Ursula K. Le Guin.", "Recommend two novels by Octavia Butler."),
        ("List the steps to set up a Postgres replica.", "List the steps to set up a Redis replica."),
        ("Explain the causes of World War I.", "Explain the causes of the French Revolution."),
        ("Suggest names for a bakery.", "Suggest names for a bike shop."),
        ("Outline a beginner's weight training plan.", "Outline a beginner's running plan."),
        ("Summarize the pros of nuclear power.", "Summarize the cons of nuclear power."),
        ("Translate 'where is the station' into German.", "Translate 'where is the station' into Dutch."),
        ("Which laptop should I buy for video editing under 1500 dollars?", "Which laptop should I buy for gaming under 1500 dollars?"),
        ("What are the side effects of metformin?", "What are the side effects of lisinopril?"),
    ]
    follow = [
        "And the second one?", "Can you make it shorter?", "Which of those is cheapest?", "Tell me more about the first.",
        "Now put that in a table.", "Why?", "Which would you pick?", "Give me one more.", "Is that still true today?",
        "Translate that into Spanish.", "What are the risks?", "How long would that take?",
    ]  # fmt: skip
    for i, (ta, tb) in enumerate(topics):
        last = follow[i % len(follow)]
        ctx_a = [u(ta), asst(f"Here is what I found about: {ta}")]
        ctx_b = [u(tb), asst(f"Here is what I found about: {tb}")]
        g.add("multiturn_context", i, last, last, "different", ctx_a, ctx_b)
        # Same history, the last turn asks something else.
        other = follow[(i + 5) % len(follow)]
        g.add("multiturn_context", f"l{i}", last, other, "different", ctx_a, ctx_a)
        if i % 2 == 0:
            # Same history, the last turn reworded: an answer to one is an answer to the other.
            reword = {
                "And the second one?": "What about the second one?",
                "Which of those is cheapest?": "Which one of those costs the least?",
                "Now put that in a table.": "Please format that as a table.",
                "Which would you pick?": "Which one would you choose?",
                "Translate that into Spanish.": "Can you translate that to Spanish?",
                "How long would that take?": "How much time would that take?",
                "Is that still true today?": "Does that still hold now?",
                "What are the risks?": "What risks are there?",
            }[last]
            g.add("multiturn_context", f"s{i}", last, reword, "same", ctx_a, ctx_a)
    systems = [
        ("You are a helpful assistant. Answer in French.", "You are a helpful assistant. Answer in German."),
        ("You are a pirate. Stay in character.", "You are a Victorian butler. Stay in character."),
        ("Reply with at most one sentence.", "Reply with at least five paragraphs."),
        ("You are a tax adviser for the United States.", "You are a tax adviser for the United Kingdom."),
        ("Output valid JSON only.", "Output a Markdown table only."),
        ("You are a children's tutor; explain simply.", "You are a physics professor; be rigorous."),
        ("Today's date is 2026-01-15.", "Today's date is 2026-07-15."),
        ("The user is on the free plan.", "The user is on the enterprise plan."),
    ]
    questions = [
        "What is photosynthesis?", "How should I save for retirement?", "Tell me about the moon landing.",
        "What is my filing deadline?", "List three fruits and their colours.", "Why is the sky blue?",
        "How many days until the summer solstice?", "Can I export my data to CSV?",
    ]  # fmt: skip
    for i, ((sa, sb), q) in enumerate(zip(systems, questions, strict=True)):
        g.add("system_prompt", i, q, q, "different", [{"role": "system", "content": sa}], [{"role": "system", "content": sb}])
    for i, ((sa, _), q) in enumerate(zip(systems[:3], questions[:3], strict=True)):
        q2 = {"What is photosynthesis?": "Can you explain what photosynthesis is?",
              "How should I save for retirement?": "What's the best way to save for retirement?",
              "Tell me about the moon landing.": "Tell me about the Moon landing."}[q]  # fmt: skip
        g.add("system_prompt", f"s{i}", q, q2, "same", [{"role": "system", "content": sa}], [{"role": "system", "content": sa}])


PASSAGES = [
    (
        "Fairhaven Mills",
        [
            "Fairhaven Mills was founded in 1911 as a flour mill on the river Esk.",
            "For its first forty years it supplied bakeries across the northern counties.",
            "In 1956 the mill was converted to produce animal feed after a fire destroyed the grinding floor.",
            "The company moved its headquarters to Dunmore in 1972.",
            "Its chief executive from 1990 to 2008 was Harriet Lowe, who expanded into pet food.",
            "{fact}",
            "The firm employs roughly 2,300 people across four sites.",
            "A second plant opened near the coast in 2015, mostly automated.",
            "Revenue in the last reported year was 410 million pounds.",
            "The family trust still holds a majority of the voting shares.",
        ],
        [
            (
                "In 2019 the company sold its pet food division to Carraway Group for 85 million pounds.",
                "In 2019 the company sold its pet food division to Carraway Group for 58 million pounds.",
                "For how much was the pet food division sold?",
            ),
            (
                "In 2019 the company bought a pet food division from Carraway Group.",
                "In 2019 the company sold its pet food division to Carraway Group.",
                "Did the company gain or lose a pet food division in 2019?",
            ),
            (
                "In 2019 the current chief executive, Tomas Reyes, took office.",
                "In 2019 the current chief executive, Tomas Reyes, left office.",
                "Is Tomas Reyes still the chief executive?",
            ),
        ],
    ),
    (
        "the Velden trial",
        [
            "The Velden trial enrolled adults with moderate asthma at twelve hospitals.",
            "Participants were randomly assigned to the new inhaler or to the standard one.",
            "The study ran for eighteen months between 2021 and 2023.",
            "Researchers measured lung function every three months.",
            "{fact}",
            "Adverse events were reported by about a fifth of participants in each arm.",
            "The authors note that the sample was mostly urban and under sixty.",
            "Funding came from a public research council, not the manufacturer.",
            "A follow-up study in children is planned.",
        ],
        [
            (
                "Patients on the new inhaler had 30 percent fewer severe attacks than those on the standard one.",
                "Patients on the new inhaler had 30 percent more severe attacks than those on the standard one.",
                "Did the new inhaler reduce severe attacks?",
            ),
            (
                "The trial enrolled 1,240 participants in total.",
                "The trial enrolled 412 participants in total.",
                "How many participants were enrolled?",
            ),
            (
                "The primary outcome was met at twelve months.",
                "The primary outcome was not met at twelve months.",
                "Was the primary outcome met?",
            ),
        ],
    ),
    (
        "the Orrin Labs incident",
        [
            "On the night of the incident the on-call engineer was paged at 02:10.",
            "Error rates on the checkout service had climbed above five percent.",
            "The team first suspected the payment provider and opened a ticket with them.",
            "Logs showed connection pool exhaustion on the primary database.",
            "{fact}",
            "Traffic was shifted to the secondary region at 03:05.",
            "Checkout recovered fully by 03:40.",
            "The postmortem lists three follow-up actions and assigns owners.",
            "No customer data was lost during the incident.",
        ],
        [
            (
                "The root cause was a deploy at 01:55 that halved the pool size.",
                "The root cause was a deploy at 01:55 that doubled the query timeout.",
                "What was the root cause of the incident?",
            ),
            (
                "The deploy was made by the payments team.",
                "The deploy was made by the search team.",
                "Which team made the deploy that caused the incident?",
            ),
            ("The deploy was rolled back at 02:40.", "The deploy was rolled back at 04:20.", "When was the deploy rolled back?"),
        ],
    ),
    (
        "Lease agreement",
        [
            "This lease is between the landlord, Brackwell Estates, and the tenant named in schedule A.",
            "The term is twelve months starting on the first day of the month after signing.",
            "Rent is payable monthly in advance by bank transfer.",
            "The tenant must keep the property in good repair and report damage promptly.",
            "The landlord is responsible for the structure, roof and heating system.",
            "{fact}",
            "Either party may end the lease with two months' written notice after six months.",
            "Pets are allowed with the landlord's written consent.",
            "Smoking is prohibited inside the property.",
        ],
        [
            (
                "The deposit is 1,500 pounds and is returned within 10 days of the end of the lease.",
                "The deposit is 1,500 pounds and is returned within 30 days of the end of the lease.",
                "How soon is the deposit returned?",
            ),
            (
                "Subletting is permitted with the landlord's consent.",
                "Subletting is not permitted under any circumstances.",
                "May the tenant sublet the property?",
            ),
            (
                "The tenant pays for water; the landlord pays for electricity.",
                "The landlord pays for water; the tenant pays for electricity.",
                "Who pays for electricity?",
            ),
        ],
    ),
]


# Retrieval front matter, as a RAG pipeline prepends it: it pushes the passage's middle past the
# first word pieces an embedder reads.
PREAMBLE = (
    "The following passage was retrieved from the knowledge base for this request. It may be incomplete or"
    " out of date, and it was written for internal readers, so some terms are not explained. Quote it"
    " where possible, do not speculate beyond it, and say so when the passage does not contain the answer."
    " Source: archive export, section 4, retrieved automatically, relevance score above the cut-off."
)


def long_prompts(g: Gen, rng: random.Random) -> None:
    instructions = [
        "Use only the document below to answer.\n\n{doc}\n\nQuestion: {q}",
        "Context:\n{doc}\n\nBased on the context above, answer briefly: {q}",
        "{doc}\n\nAnswer the question using the text above. {q}",
    ]
    n = 0
    for name, sentences, facts in PASSAGES:
        for j, (fa, fb, q) in enumerate(facts):
            for k, tpl in enumerate(instructions[: 2 if j else 3]):
                doc_a = " ".join([PREAMBLE, *(s.format(fact=fa) for s in sentences)])
                doc_b = " ".join([PREAMBLE, *(s.format(fact=fb) for s in sentences)])
                g.add("rag_middle", f"{name}_{j}_{k}", tpl.format(doc=doc_a, q=q), tpl.format(doc=doc_b, q=q), "different")
                n += 1
        # The same document and a question reworded: one answer serves both.
        doc = " ".join([PREAMBLE, *(s.format(fact=facts[0][0]) for s in sentences)])
        q = facts[0][2]
        g.add(
            "rag_middle", f"{name}_s", instructions[0].format(doc=doc, q=q), instructions[0].format(doc=doc, q=q.replace("?", " ?")), "same"
        )
        g.add(
            "rag_middle",
            f"{name}_s2",
            instructions[1].format(doc=doc, q=q),
            instructions[1].format(doc=doc, q="Please tell me: " + q[0].lower() + q[1:]),
            "same",
        )
    # Long documents under the same instruction, with a different instruction at the end.
    for name, sentences, facts in PASSAGES:
        doc = " ".join(s.format(fact=facts[1][0]) for s in sentences)
        for k, (ia, ib) in enumerate([
            ("Summarize the text above in two sentences.", "Translate the text above into Spanish."),
            ("List every date mentioned in the text above.", "List every person mentioned in the text above."),
        ]):  # fmt: skip
            g.add("rag_instruction", f"{name}_{k}", f"{doc}\n\n{ia}", f"{doc}\n\n{ib}", "different")
            g.add("rag_instruction", f"{name}_p{k}", f"{ia}\n\n{doc}", f"{ib}\n\n{doc}", "different")


def instructions(g: Gen, rng: random.Random) -> None:
    texts = [
        "The meeting has been moved to Thursday because the client cannot attend on Wednesday.",
        "Our quarterly revenue grew by eight percent, mostly thanks to the new subscription tier.",
        "Please remember to bring your badge; the front desk will not let visitors in without one.",
        "The library will close early on Friday for staff training and reopen on Saturday at nine.",
        "We regret to inform you that your application was not successful this time.",
        "The new policy allows employees to work from home up to three days a week.",
        "Heavy rain is expected tonight, so the outdoor concert has been postponed.",
        "The firmware update fixes a battery drain issue and improves Bluetooth pairing.",
    ]
    verbs = [
        ("Summarize", "Translate into Italian"), ("Rewrite more formally", "Rewrite more casually"),
        ("Fix the grammar of", "Find the main verb in"), ("Translate into Japanese", "Translate into Korean"),
        ("Turn into a tweet", "Turn into a haiku"), ("Extract the dates from", "Extract the places from"),
        ("Make a bullet list from", "Write a reply to"), ("Classify the sentiment of", "Count the words in"),
    ]  # fmt: skip
    for i, text in enumerate(texts):
        va, vb = verbs[i]
        g.add("instruction", i, f"{va} the following: {text}", f"{vb} the following: {text}", "different")
    for i, text in enumerate(texts[:4]):
        va = verbs[i][0]
        g.add("instruction", f"s{i}", f"{va} the following: {text}", f"{va} this text: {text}", "same")


# --- paraphrases (MRPC, QQP) and related-but-different questions (QQP, STS) -------------------------


PARAPHRASES = [
    ("How can I lose weight quickly?", "What's the fastest way to shed some pounds?"),
    ("What is the best way to learn a new language as an adult?", "As a grown-up, how should I go about picking up a foreign language?"),
    ("Why do onions make people cry?", "What is it about cutting onions that brings tears to your eyes?"),
    ("How do I get rid of ants in my kitchen?", "What can I do about an ant infestation in the kitchen?"),
    ("What should I do if my laptop won't turn on?", "My notebook computer doesn't power up at all. Any advice?"),
    ("How can I improve my credit score?", "What steps raise a person's credit rating?"),
    ("Is it healthy to skip breakfast?", "Does missing the morning meal harm your health?"),
    ("How do I stop procrastinating?", "Any tips for beating the habit of putting things off?"),
    ("What causes hiccups?", "Why do we get the hiccups?"),
    ("How do I make my houseplants grow faster?", "What helps indoor plants grow more quickly?"),
    ("What's a good way to fall asleep faster?", "How can I get to sleep more quickly at night?"),
    ("How do I remove a red wine stain from a carpet?", "Red wine spilled on my rug - how do I get the mark out?"),
    ("Why is my phone battery draining so fast?", "What makes a smartphone's battery run down quickly?"),
    ("How do I ask for a raise?", "What is the right way to request a salary increase from my manager?"),
    ("What are some tips for a job interview?", "Give me advice for doing well when interviewing for a job."),
    ("How does compound interest work?", "Can you explain how interest compounds over time?"),
    ("What is the meaning of life?", "Why are we here, what is the purpose of existence?"),
    ("How do I keep my dog from barking at night?", "My dog barks all night; how can I make it stop?"),
    ("How can I become a better public speaker?", "What helps someone get good at speaking in front of an audience?"),
    ("Why do cats knock things off tables?", "What makes cats push objects off of counters?"),
    ("What's the difference between weather and climate?", "How does climate differ from weather?"),
    ("How do vaccines work?", "By what mechanism does a vaccine protect you?"),
    ("How do I deal with a difficult coworker?", "What's the best approach to a colleague who is hard to work with?"),
    ("What are the benefits of drinking water?", "Why is staying hydrated good for you?"),
    ("How do I write a good cover letter?", "What makes a cover letter effective, and how do I write one?"),
    ("How do airplanes stay in the air?", "What keeps a plane aloft while flying?"),
    ("How do I unclog a drain without chemicals?", "What's a chemical-free way to clear a blocked sink?"),
    ("Why do leaves change colour in autumn?", "What makes tree foliage turn red and yellow in the fall?"),
    ("How do I start investing with little money?", "What's a way to begin investing if I only have a small amount to put in?"),
    ("How do I calm down before an exam?", "What can I do to reduce nerves right before a test?"),
    ("What is machine learning?", "Can you explain what the field of machine learning is?"),
    ("How can I make my resume stand out?", "What makes a CV catch a recruiter's eye?"),
    ("How do I back up my iPhone?", "What is the way to make a backup of an iPhone?"),
    ("What is inflation and why does it happen?", "Explain what causes prices to rise across an economy over time."),
    ("Why is the ocean salty?", "Where does the salt in sea water come from?"),
    ("How do I center a div horizontally and vertically?", "What CSS puts an element in the middle of the page both ways?"),
    ("What is the difference between a list and a tuple in Python?", "In Python, how do tuples differ from lists?"),
    ("How do I undo my last commit in git?", "What's the command to revert the most recent git commit I made?"),
    ("How can I speed up my slow Wi-Fi?", "My wireless internet is sluggish; how do I make it faster?"),
    ("What are good exercises for lower back pain?", "Which workouts help relieve pain in the lower back?"),
    ("How do I clean a cast iron pan?", "What's the right way to wash a cast-iron skillet?"),
    ("Why do we dream?", "What is the purpose of dreaming while asleep?"),
    ("How do I make friends in a new city?", "I just moved somewhere new; how can I meet people and make friends?"),
    ("What's the best way to store fresh herbs?", "How should I keep fresh herbs so they last?"),
    ("How do I know if an egg has gone bad?", "How can you tell whether an egg is still good to eat?"),
    ("What does a product manager do?", "What is the role of a product manager?"),
    ("How do I stop my glasses from fogging up?", "What keeps spectacles from steaming up when wearing a mask?"),
    ("How many hours of sleep does an adult need?", "How much sleep should a grown-up get each night?"),
    ("Why do my knees hurt when I climb stairs?", "What causes knee pain when going up steps?"),
    ("How do I convert a string to a number in JavaScript?", "In JS, what's the way to turn a string into a number?"),
]

NEAR_SAME = [
    ("How do I boil an egg?", "How do you boil an egg?"),
    ("What's the capital of Canada?", "What is the capital city of Canada?"),
    ("Can you recommend a good sci-fi novel?", "Could you recommend a good science fiction novel?"),
    ("How do I make pancakes from scratch?", "How can I make pancakes from scratch?"),
    ("Why is the sky blue during the day?", "Why is the sky blue in the daytime?"),
    ("Give me a synonym for 'happy'.", "What's a synonym for 'happy'?"),
    ("How long should I steep green tea?", "For how long should green tea steep?"),
    ("What's the tallest mountain in Africa?", "Which mountain is the tallest in Africa?"),
    ("How do I change a flat tyre?", "How do I change a flat tire?"),
    ("What are the symptoms of dehydration?", "What are dehydration's symptoms?"),
    ("Tell me a joke about programmers.", "Tell me a programmer joke."),
    ("How do I take a screenshot on Windows?", "How can I take a screenshot in Windows?"),
    ("Explain recursion to a beginner.", "Explain recursion for a beginner."),
    ("What's the difference between affect and effect?", "What is the difference between 'affect' and 'effect'?"),
    ("Write a haiku about the sea.", "Write a haiku about the ocean."),
    ("Who wrote Pride and Prejudice?", "Who is the author of Pride and Prejudice?"),
    ("How do I delete my Facebook account?", "How can I delete my Facebook account permanently?"),
    ("In Python, how do I check if a file exists?", "How do I check if a file exists in Python?"),
    ("What are the planets in our solar system?", "Which planets are in our solar system?"),
    ("What time zone is Chicago in?", "Which time zone is Chicago in?"),
    ("Name three famous Renaissance painters.", "List three famous painters of the Renaissance."),
    ("How do I freeze fresh spinach?", "What's the way to freeze fresh spinach?"),
    ("What is the boiling point of water at sea level?", "At sea level, what is water's boiling point?"),
    ("How do I reset my router?", "How can I reset my wifi router?"),
    ("What rhymes with 'light'?", "Which words rhyme with 'light'?"),
]

RELATED_DIFFERENT = [
    ("How do I learn Python?", "How do I learn Python in one week for an interview?"),
    ("What is the capital of Turkey?", "What is the most populous city in Turkey?"),
    ("How do I get a US visa?", "How do I get a US green card?"),
    ("What is the best programming language?", "What is the best programming language for embedded systems?"),
    ("How do I make money online?", "How do I make money online as a teenager without a bank account?"),
    ("Why do people hate Microsoft?", "Why do people love Microsoft?"),
    ("What is a black hole?", "What happens when two black holes merge?"),
    ("Write a poem about a man playing the guitar.", "Write a poem about a man playing the piano."),
    ("A woman is slicing a tomato; what knife is best?", "A woman is slicing an onion; what knife is best?"),
    ("What's the best time to visit Japan?", "What's the best way to travel around Japan?"),
    ("How do I cook brown rice in a rice cooker?", "How do I cook quinoa in a rice cooker?"),
    ("What are the symptoms of the flu?", "What are the symptoms of COVID-19?"),
    ("How do I get a job at Google?", "How do I get an internship at Google?"),
    ("Is coffee good for you?", "Is decaf coffee good for you?"),
    ("What should I name my cat?", "What should I name my dog?"),
    ("What are the best books of 2023?", "What are the best books of all time?"),
    ("How do I become a data scientist?", "How do I become a data engineer?"),
    ("What is the speed of light?", "What is the speed of sound?"),
    ("How do I train for a marathon?", "How do I train for a half marathon?"),
    ("What's a healthy breakfast for kids?", "What's a healthy breakfast for diabetics?"),
    ("How do I make cold brew coffee?", "How do I make iced coffee?"),
    ("Which is better, Android or iPhone, for privacy?", "Which is better, Android or iPhone, for gaming?"),
    ("How do I write a resignation letter?", "How do I write a recommendation letter?"),
    ("What does a CPU do?", "What does a GPU do?"),
    ("Explain supply and demand.", "Explain supply chain management."),
    ("Where can I watch the Champions League final?", "Who won the Champions League final?"),
    ("How do I quit smoking?", "How do I quit vaping?"),
    ("What's the difference between a virus and bacteria?", "What's the difference between a virus and a worm in computing?"),
    ("How do I grow tomatoes indoors?", "How do I grow tomatoes in a greenhouse?"),
    ("Can dogs eat grapes?", "Can dogs eat blueberries?"),
]


def paraphrases(g: Gen, rng: random.Random) -> None:
    listed(g, "paraphrase_many_words", PARAPHRASES, "same")
    listed(g, "near_duplicate_same", NEAR_SAME, "same")
    listed(g, "related_different", RELATED_DIFFERENT, "different")


KINDS: list[Callable[[Gen, random.Random], None]] = [
    swaps, logic_words, reference, numbers, structure, code, conversations, long_prompts, instructions, paraphrases,
]  # fmt: skip


def canonical(text: str, ctx: list[dict[str, str]] | None) -> str:
    # Case and symbols stay (Mbps is not MBps, == is not ===); only spelled-out numbers and the
    # closing punctuation are normalised.
    tokens = re.findall(r"\w+|[^\w\s]", text[:1].lower() + text[1:])
    while tokens and tokens[-1] in ("?", ".", "!"):
        tokens.pop()
    spoken = {w: str(n) for n, w in WORDS.items()}
    return json.dumps([ctx or [], [spoken.get(t.lower(), t) for t in tokens]])


def check_classes(pairs: list[Pair]) -> None:
    """Two prompts that differ only in case, punctuation or numbers spelled out mean the same; they
    must be joined by a ``same`` label, or the bench would count a correct hit between them as false."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    def key(p: Pair, side: str) -> str:
        return json.dumps([p.get(f"ctx_{side}") or [], p[side]])

    for p in pairs:
        ra, rb = find(key(p, "a")), find(key(p, "b"))
        if p["label"] == "same":
            parent[ra] = rb
    by_form: dict[str, set[str]] = {}
    for p in pairs:
        for side in ("a", "b"):
            by_form.setdefault(canonical(p[side], p.get(f"ctx_{side}")), set()).add(find(key(p, side)))
    clashes = [form for form, classes in by_form.items() if len(classes) > 1]
    assert not clashes, clashes[:3]


def build() -> list[Pair]:
    g = Gen()
    for i, make in enumerate(KINDS):
        make(g, random.Random(SEED + i))
    check_classes(g.pairs)
    for n, pair in enumerate(g.pairs):
        pair["id"] = f"r{n:04d}"
    return g.pairs


def main() -> None:
    pairs = build()
    OUT.write_text("".join(json.dumps({"id": p.pop("id"), **p}) + "\n" for p in pairs))
    kinds: dict[str, list[int]] = {}
    for p in pairs:
        k = kinds.setdefault(p["kind"], [0, 0])
        k[p["label"] == "same"] += 1
    diff = sum(v[0] for v in kinds.values())
    print(f"{len(pairs)} pairs, {diff} different ({diff / len(pairs):.0%}), {len(kinds)} kinds -> {OUT}")
    for k, (d, s) in sorted(kinds.items()):
        print(f"  {k:22s} different {d:3d}  same {s:3d}")


if __name__ == "__main__":
    main()
