"""Third independent red-team set for the semantic cache, in the style of public paraphrase benchmarks.

Written by an outside tester without reading router/cache/ or the earlier generators/data sets.
Deterministic (seeded) and pure Python:

    .venv/bin/python bench/semantic_redteam3_gen.py     # writes bench/data/semantic_redteam3.jsonl
    HF_HUB_OFFLINE=1 .venv/bin/python bench/semantic_cache.py --data bench/data/semantic_redteam3.jsonl --skip-latency

Three sources, each with its own kinds (``kind``) and template families (``group``):

- ``paws_*``: PAWS-style pairs with high word overlap. ``paws_swap`` (different): swapped places,
  subject/object, adjectives between nouns, moved "only", swapped cause/effect or before/after clauses,
  numbers swapped between entities, non-commutative operands. ``paws_keep`` (same): active/passive,
  symmetric coordination order, moved adverbials, clause order kept with its connective, commutative operands.
- ``qqp_*``: QQP-style questions. ``qqp_dup`` (same): different words, same intent. ``qqp_intent``
  (different): near-duplicates with another entity, constraint, year, comparison direction, purpose,
  stop/start, bad/good, or singular/plural superlative.
- ``chat_*``: short chat prompts. ``chat_change`` (different): one small change (preposition of place or
  time, degree adverb, possessive, article, conjunction, question word, comparison order, idiom).
  ``chat_para`` (same): natural rewordings.

Every pair is in the ``report`` split (nothing here was tuned on). Each prompt text appears in one pair only.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).parent / "data" / "semantic_redteam3.jsonl"
SEED = 20261201

PAIRS: list[dict[str, str]] = []


def add(kind: str, group: str, a: str, b: str, label: str) -> None:
    PAIRS.append({"a": a, "b": b, "label": label, "kind": kind, "group": group, "split": "report"})


def diff(kind: str, group: str, items: list[tuple[str, str]]) -> None:
    for a, b in items:
        add(kind, group, a, b, "different")


def same(kind: str, group: str, items: list[tuple[str, str]]) -> None:
    for a, b in items:
        add(kind, group, a, b, "same")


# ----------------------------------------------------------------------------------------------- PAWS

ROUTES = [
    ("Boston", "Chicago"),
    ("Lisbon", "Madrid"),
    ("Osaka", "Seoul"),
    ("Denver", "Phoenix"),
    ("Oslo", "Helsinki"),
    ("Nairobi", "Kampala"),
    ("Perth", "Adelaide"),
    ("Toronto", "Montreal"),
    ("Vienna", "Prague"),
    ("Lima", "Quito"),
    ("Dublin", "Edinburgh"),
    ("Hanoi", "Bangkok"),
    ("Austin", "Dallas"),
    ("Milan", "Zurich"),
]
ROUTE_SHAPES = [
    "Are there any direct flights from {x} to {y} on Sunday mornings?",
    "How long does the overnight train from {x} to {y} take?",
    "What is the cheapest way to ship a parcel from {x} to {y}?",
    "Is it cheaper to fly from {x} to {y} in March?",
    "Which bus company runs the route from {x} to {y} after midnight?",
    "Plan a three-day road trip from {x} to {y} with scenic stops.",
    "How much is a one-way ticket from {x} to {y} in economy?",
]


def paws_routes(rng: random.Random) -> None:
    for i, (x, y) in enumerate(ROUTES):
        shape = ROUTE_SHAPES[i % len(ROUTE_SHAPES)]
        add("paws_swap", "paws-route", shape.format(x=x, y=y), shape.format(x=y, y=x), "different")


SUBJ_OBJ = [
    ("Why did Microsoft buy LinkedIn?", "Why did LinkedIn buy Microsoft?"),
    ("Summarize the article about the dog that bit the mail carrier.", "Summarize the article about the mail carrier that bit the dog."),
    ("Why does the moon orbit the Earth?", "Why does the Earth orbit the moon?"),
    ("Write a scene where the teacher apologizes to the student.", "Write a scene where the student apologizes to the teacher."),
    (
        "How do I transfer money from my savings account to my checking account?",
        "How do I transfer money from my checking account to my savings account?",
    ),
    ("Can a landlord sue a tenant for unpaid utility bills?", "Can a tenant sue a landlord for unpaid utility bills?"),
    ("Explain how the hawk hunts the rabbit in winter.", "Explain how the rabbit hunts the hawk in winter."),
    ("What happens when the employer owes the employee back pay?", "What happens when the employee owes the employer back pay?"),
    (
        "Draft an email where the client thanks the contractor for finishing early.",
        "Draft an email where the contractor thanks the client for finishing early.",
    ),
    ("How do I copy files from my laptop to the external drive?", "How do I copy files from the external drive to my laptop?"),
    ("Why did Spain declare war on the United States in 1898?", "Why did the United States declare war on Spain in 1898?"),
    ("Convert this Python function to JavaScript.", "Convert this JavaScript function to Python."),
    ("Translate the following paragraph from German into French.", "Translate the following paragraph from French into German."),
    ("Is it legal for a parent to record a phone call with a child?", "Is it legal for a child to record a phone call with a parent?"),
]

ADJ_SWAP = [
    ("Write a short story about a brave knight and a lazy dragon.", "Write a short story about a lazy knight and a brave dragon."),
    ("Describe a quiet city next to a noisy river.", "Describe a noisy city next to a quiet river."),
    (
        "Suggest a red wine for a light fish dish and a white wine for a heavy stew.",
        "Suggest a white wine for a light fish dish and a red wine for a heavy stew.",
    ),
    ("Design a logo with a large circle inside a small square.", "Design a logo with a small circle inside a large square."),
    ("Paint a picture of an old man walking a young dog.", "Paint a picture of a young man walking an old dog."),
    (
        "Compare a cheap phone with a good camera to an expensive phone with a bad camera.",
        "Compare an expensive phone with a good camera to a cheap phone with a bad camera.",
    ),
    ("Write a poem about a warm winter and a cold summer.", "Write a poem about a cold winter and a warm summer."),
    (
        "Make a playlist that starts with slow songs and ends with fast songs.",
        "Make a playlist that starts with fast songs and ends with slow songs.",
    ),
    ("I need a recipe with sweet potatoes and sour cherries.", "I need a recipe with sour potatoes and sweet cherries."),
    ("Draw a tall blue tower beside a short green house.", "Draw a tall green tower beside a short blue house."),
    ("Explain why hot air rises above cold water.", "Explain why cold air rises above hot water."),
    ("Create a character who is rich in money but poor in friends.", "Create a character who is poor in money but rich in friends."),
]

MOVED_MOD = [
    ("Only the manager can approve refunds over fifty dollars.", "The manager can only approve refunds over fifty dollars."),
    ("I only eat fish on Fridays, is that healthy?", "I eat only fish on Fridays, is that healthy?"),
    ("Is it normal that only my left ear hurts when I fly?", "Is it normal that my left ear only hurts when I fly?"),
    ("Does the warranty cover only water damage in the first year?", "Does the warranty cover water damage only in the first year?"),
    ("Why does my dog bark only at men with hats?", "Why does only my dog bark at men with hats?"),
    ("The recipe says to only add salt at the end, why?", "The recipe says to add only salt at the end, why?"),
    ("Does only the top floor have air conditioning?", "Does the top floor have only air conditioning?"),
    ("Does the gym close early only on holidays?", "Does only the gym close early on holidays?"),
    ("My roommate almost ate all of the cake I baked.", "My roommate ate almost all of the cake I baked."),
    (
        "We nearly lost every game last season, how do we rebuild the team?",
        "We lost nearly every game last season, how do we rebuild the team?",
    ),
]

CLAUSE_SWAP = [
    ("Is it true that the market fell because investors panicked?", "Is it true that investors panicked because the market fell?"),
    ("Should I stretch before I run or is that a myth?", "Should I run before I stretch or is that a myth?"),
    ("Do I put on sunscreen before moisturizer?", "Do I put on moisturizer before sunscreen?"),
    ("Explain why I gained weight after I stopped smoking.", "Explain why I stopped smoking after I gained weight."),
    ("Write a story where she leaves the party because he arrives.", "Write a story where he arrives because she leaves the party."),
    ("Should I pay off my car loan before I start investing?", "Should I start investing before I pay off my car loan?"),
    ("Is it bad to shower after eating a big meal?", "Is it bad to eat a big meal after showering?"),
    ("Why do I feel tired although I slept nine hours?", "Why did I sleep nine hours although I feel tired?"),
    ("Should I wash the rice before soaking it?", "Should I soak the rice before washing it?"),
    ("Do I need to update the BIOS before installing the new CPU?", "Do I need to install the new CPU before updating the BIOS?"),
    ("He was promoted because he moved to the London office, right?", "He moved to the London office because he was promoted, right?"),
    ("Should I add the eggs before the flour when making pancakes?", "Should I add the flour before the eggs when making pancakes?"),
]

NUM_SWAP = [
    (
        "Anna has 7 apples and Ben has 3. If Anna gives Ben 2, how many does each have?",
        "Anna has 3 apples and Ben has 7. If Anna gives Ben 2, how many does each have?",
    ),
    (
        "If 4 workers build a wall in 6 days, how long would 3 workers take?",
        "If 6 workers build a wall in 4 days, how long would 3 workers take?",
    ),
    (
        "A shirt costs 20 dollars and a hat costs 35. What is the price difference after a 10% discount on the shirt?",
        "A shirt costs 35 dollars and a hat costs 20. What is the price difference after a 10% discount on the shirt?",
    ),
    (
        "My rent is 1200 and my car payment is 400; which should I pay off first with a 1600 bonus?",
        "My rent is 400 and my car payment is 1200; which should I pay off first with a 1600 bonus?",
    ),
    (
        "A train leaves at 60 mph and a car at 45 mph, 30 minutes later. When does the car catch up?",
        "A train leaves at 45 mph and a car at 60 mph, 30 minutes later. When does the car catch up?",
    ),
    (
        "I am 34 and my wife is 29; how should we split retirement savings?",
        "I am 29 and my wife is 34; how should we split retirement savings?",
    ),
    (
        "The box is 12 cm wide and 5 cm tall. Will a 10 cm tall vase fit standing up?",
        "The box is 5 cm wide and 12 cm tall. Will a 10 cm tall vase fit standing up?",
    ),
    ("Team A scored 3 goals and Team B scored 1. Who won by how much?", "Team A scored 1 goal and Team B scored 3. Who won by how much?"),
    (
        "Set the oven to 180 degrees for 25 minutes, then 200 for 10; is that right for bread?",
        "Set the oven to 200 degrees for 25 minutes, then 180 for 10; is that right for bread?",
    ),
    ("Mix 2 cups of water with 1 cup of rice, or is that wrong?", "Mix 1 cup of water with 2 cups of rice, or is that wrong?"),
]

OPERANDS = [(17, 23), (84, 36), (125, 8), (9, 412), (63, 27), (1000, 75), (48, 6), (350, 14)]


def paws_operands() -> None:
    noncomm = ["What is {x} minus {y}?", "What is {x} divided by {y}?", "Compute {x} to the power of {y} mod 7.", "What is {x} modulo {y}?"]
    comm = ["What is {x} times {y}?", "What is the sum of {x} and {y}?", "Calculate {x} plus {y}.", "What is the product of {x} and {y}?"]
    for i, (x, y) in enumerate(OPERANDS):
        t = noncomm[i % len(noncomm)]
        add("paws_swap", "paws-operands", t.format(x=x, y=y), t.format(x=y, y=x), "different")
        c = comm[i % len(comm)]
        add("paws_keep", "paws-commutative", c.format(x=x + 1, y=y + 2), c.format(x=y + 2, y=x + 1), "same")


ACTIVE_PASSIVE = [
    ("Who painted the ceiling of the Sistine Chapel?", "The ceiling of the Sistine Chapel was painted by whom?"),
    ("When did Google acquire YouTube?", "When was YouTube acquired by Google?"),
    ("Why did the city council reject the new stadium plan?", "Why was the new stadium plan rejected by the city council?"),
    ("How did the Romans build their aqueducts?", "How were the aqueducts built by the Romans?"),
    ("Which company manufactures the Kindle e-reader?", "The Kindle e-reader is manufactured by which company?"),
    ("Did Edison invent the light bulb?", "Was the light bulb invented by Edison?"),
    ("Who discovered penicillin and when?", "Penicillin was discovered by whom and when?"),
    ("Why did the board fire the CEO of the startup?", "Why was the CEO of the startup fired by the board?"),
    ("Which architect designed the Sydney Opera House?", "The Sydney Opera House was designed by which architect?"),
    ("How do bees make honey?", "How is honey made by bees?"),
    ("What causes the tides in the ocean?", "What are the ocean tides caused by?"),
    ("Who composed the music for the film Inception?", "The music for the film Inception was composed by whom?"),
]

SYMMETRIC = [
    ("What is the difference between a crocodile and an alligator?", "What is the difference between an alligator and a crocodile?"),
    ("Compare Rust and Go for writing a web server.", "Compare Go and Rust for writing a web server."),
    ("How far apart are Berlin and Warsaw by car?", "How far apart are Warsaw and Berlin by car?"),
    ("What do a violin and a viola have in common?", "What do a viola and a violin have in common?"),
    ("Is there a trade agreement between Canada and Mexico?", "Is there a trade agreement between Mexico and Canada?"),
    ("Pros and cons of renting versus buying a house?", "Pros and cons of buying versus renting a house?"),
    ("What is the time difference between Tokyo and Sydney?", "What is the time difference between Sydney and Tokyo?"),
    ("Are cinnamon and nutmeg a good combination in chili?", "Are nutmeg and cinnamon a good combination in chili?"),
    ("How are a lake and a pond different?", "How are a pond and a lake different?"),
    (
        "Give me a packing list with sunscreen, a hat and sandals for the beach.",
        "Give me a packing list with sandals, a hat and sunscreen for the beach.",
    ),
    ("Which vitamins are in spinach and kale?", "Which vitamins are in kale and spinach?"),
]

MOVED_ADV = [
    ("Before the job interview, what questions should I prepare?", "What questions should I prepare before the job interview?"),
    ("In Python, how do I reverse a list in place?", "How do I reverse a list in place in Python?"),
    ("During pregnancy, is it safe to drink green tea?", "Is it safe to drink green tea during pregnancy?"),
    ("On a Mac, how do I take a screenshot of one window?", "How do I take a screenshot of one window on a Mac?"),
    ("For a beginner, which guitar is the best to start with?", "Which guitar is the best to start with for a beginner?"),
    ("In winter, how often should I water a cactus?", "How often should I water a cactus in winter?"),
    ("After a workout, what should I eat to build muscle?", "What should I eat after a workout to build muscle?"),
    ("With a small budget, how can I decorate a studio apartment?", "How can I decorate a studio apartment with a small budget?"),
    ("Honestly, is a master's degree worth it for software engineers?", "Is a master's degree honestly worth it for software engineers?"),
    ("In Excel, how do I freeze the top row?", "How do I freeze the top row in Excel?"),
]

CLAUSE_KEEP = [
    (
        "Although it was raining, we finished the hike; what gear should we buy for next time?",
        "We finished the hike although it was raining; what gear should we buy for next time?",
    ),
    ("Because my flight was cancelled, can I get a refund?", "Can I get a refund because my flight was cancelled?"),
    (
        "If the baby has a fever above 38 degrees, should I call a doctor?",
        "Should I call a doctor if the baby has a fever above 38 degrees?",
    ),
    ("When the printer shows error E3, what does it mean?", "What does it mean when the printer shows error E3?"),
    ("Since I moved to Denver, I get nosebleeds; why?", "Why do I get nosebleeds since I moved to Denver?"),
    ("Unless it snows, is the mountain road open in November?", "Is the mountain road open in November unless it snows?"),
    (
        "After I updated Windows, my Wi-Fi stopped working. How do I fix it?",
        "My Wi-Fi stopped working after I updated Windows. How do I fix it?",
    ),
    ("While I'm on antibiotics, can I drink coffee?", "Can I drink coffee while I'm on antibiotics?"),
    ("Before I paint the fence, do I need to sand it?", "Do I need to sand the fence before I paint it?"),
    ("Even though I water it daily, my basil is wilting. Why?", "Why is my basil wilting even though I water it daily?"),
]


# ------------------------------------------------------------------------------------------------ QQP

HOWTO_TASKS = [
    "improve my English pronunciation",
    "get rid of fruit flies in the kitchen",
    "lose belly fat",
    "learn to code as an adult",
    "stop procrastinating",
    "fall asleep faster",
    "remove a stripped screw",
    "clean a cast iron pan",
    "save money on groceries",
    "negotiate a higher salary",
    "make friends in a new city",
    "unclog a bathroom sink",
    "get better at chess",
    "prepare for a marathon",
    "remove rust from a bike chain",
    "train a puppy to stop biting",
]
HOWTO_SHAPES = [
    ("How do I {t}?", "What is the best way to {t}?"),
    ("What is the easiest way to {t}?", "How can I {t} without much effort?"),
    ("How can I {t} quickly?", "What's the fastest way to {t}?"),
    ("Any tips to {t}?", "What advice do you have to {t}?"),
]

QQP_DUP = [
    ("Why is the sky blue?", "What makes the sky look blue?"),
    ("What is the best laptop for a computer science student?", "Which laptop should a computer science student buy?"),
    (
        "Which is better for a first car, a Honda Civic or a Toyota Corolla?",
        "For a first car, should I pick a Toyota Corolla or a Honda Civic?",
    ),
    ("Can I use a MacBook charger for my iPad?", "Is it okay to charge my iPad with a MacBook charger?"),
    ("Should I learn Java or Python first?", "Is it better to start with Python or with Java?"),
    ("What does 'ad hoc' mean?", "What is the meaning of the phrase 'ad hoc'?"),
    ("How do you calculate compound interest?", "What is the formula for compound interest?"),
    ("What are some good books to read on stoicism?", "Can you recommend books about stoicism?"),
    ("Is it safe to eat raw cookie dough?", "Can eating raw cookie dough make you sick?"),
    ("Why do cats purr?", "What is the reason cats purr?"),
    ("What is the capital of Australia?", "Which city is Australia's capital?"),
    ("How many hours of sleep does a teenager need?", "How much sleep should a teenager get each night?"),
    ("What are the symptoms of vitamin D deficiency?", "How do I know if I am low on vitamin D?"),
    ("How can I become a data scientist without a degree?", "Is it possible to become a data scientist with no degree, and how?"),
    ("Why do onions make you cry?", "What is it about cutting onions that makes your eyes water?"),
    ("What is the best way to learn Spanish on my own?", "How can I teach myself Spanish effectively?"),
    ("Should I buy or lease a car?", "Is leasing a car better than buying one?"),
    ("How do airplanes stay in the air?", "What keeps a plane flying?"),
    ("What is the difference between weather and climate?", "How does climate differ from weather?"),
    ("Is coffee bad for your heart?", "Does drinking coffee harm the heart?"),
    ("What should I do if my phone falls in water?", "My phone got wet, what should I do?"),
    ("How long does it take to hard boil an egg?", "How many minutes should I boil an egg for it to be hard?"),
    ("Who invented the telephone?", "Who is credited with inventing the telephone?"),
    ("Why do we dream?", "What is the purpose of dreaming?"),
    ("What is the best free antivirus for Windows?", "Which free antivirus program is best on Windows?"),
    ("How do I know if my car battery is dead?", "What are the signs of a dead car battery?"),
    ("Can dogs eat grapes?", "Are grapes safe for dogs?"),
    ("How do I write a good resume with no experience?", "How should I write a resume if I have no work experience?"),
]

QQP_INTENT = [
    # different entity
    ("How do I learn Python in a month?", "How do I learn Rust in a month?", "qqp-entity"),
    ("What is the population of Nigeria?", "What is the population of Niger?", "qqp-entity"),
    ("Can dogs eat strawberries?", "Can dogs eat chocolate?", "qqp-entity"),
    ("How do I get a work visa for Canada?", "How do I get a work visa for Australia?", "qqp-entity"),
    ("What are the side effects of ibuprofen?", "What are the side effects of acetaminophen?", "qqp-entity"),
    ("Who is the current prime minister of Japan?", "Who is the current prime minister of India?", "qqp-entity"),
    ("How do I cancel my Netflix subscription?", "How do I cancel my Spotify subscription?", "qqp-entity"),
    ("Is Stanford a good school for engineering?", "Is Stanford a good school for law?", "qqp-entity"),
    ("What is the boiling point of water at sea level?", "What is the boiling point of ethanol at sea level?", "qqp-entity"),
    ("How do I install Docker on Ubuntu?", "How do I install Docker on Windows?", "qqp-entity"),
    # different constraint
    ("What is the best laptop for programming under $500?", "What is the best laptop for programming under $1500?", "qqp-constraint"),
    ("What is a good vegetarian dinner that takes 15 minutes?", "What is a good vegetarian dinner that takes two hours?", "qqp-constraint"),
    ("Which camera is best for beginners without a zoom lens?", "Which camera is best for beginners with a zoom lens?", "qqp-constraint"),
    (
        "How can I get from the airport to downtown without a car?",
        "How can I get from the airport to downtown with a car?",
        "qqp-constraint",
    ),
    ("What can I cook with chicken and no oven?", "What can I cook with chicken and an oven?", "qqp-constraint"),
    ("Best hiking trails in Colorado for kids under 5?", "Best hiking trails in Colorado for teenagers?", "qqp-constraint"),
    ("How do I retire early on a $50k salary?", "How do I retire early on a $200k salary?", "qqp-constraint"),
    ("What are cheap hotels in Paris near the Louvre?", "What are luxury hotels in Paris near the Louvre?", "qqp-constraint"),
    # different time frame
    ("Who won the Super Bowl in 2019?", "Who won the Super Bowl in 2020?", "qqp-time"),
    ("What was the inflation rate in the US in 2021?", "What was the inflation rate in the US in 2022?", "qqp-time"),
    ("What were the best-selling cars of 2018?", "What were the best-selling cars of 2015?", "qqp-time"),
    ("Who was president of France in 1995?", "Who was president of France in 2005?", "qqp-time"),
    ("What is the weather forecast for tomorrow in Seattle?", "What was the weather yesterday in Seattle?", "qqp-time"),
    ("What movies are coming out next month?", "What movies came out last month?", "qqp-time"),
    ("How much did a house cost in the 1970s?", "How much did a house cost in the 1990s?", "qqp-time"),
    ("What happened in the stock market in March 2020?", "What happened in the stock market in March 2008?", "qqp-time"),
    # comparison direction
    ("Why is gold more expensive than silver?", "Why is silver more expensive than gold?", "qqp-direction"),
    ("Why are women on average shorter than men?", "Why are men on average shorter than women?", "qqp-direction"),
    ("Why is Python slower than C++?", "Why is C++ slower than Python?", "qqp-direction"),
    ("Why do cats live longer than dogs?", "Why do dogs live longer than cats?", "qqp-direction"),
    ("How can I convert euros to dollars?", "How can I convert dollars to euros?", "qqp-direction"),
    ("Why is Tokyo bigger than New York?", "Why is New York bigger than Tokyo?", "qqp-direction"),
    ("Is the iPhone 15 heavier than the iPhone 14?", "Is the iPhone 14 heavier than the iPhone 15?", "qqp-direction"),
    # best X for Y vs Z
    (
        "What is the best programming language for game development?",
        "What is the best programming language for data science?",
        "qqp-purpose",
    ),
    ("What is the best dog breed for apartments?", "What is the best dog breed for farms?", "qqp-purpose"),
    ("Which running shoes are best for flat feet?", "Which running shoes are best for trail running?", "qqp-purpose"),
    ("What is the best oil for frying?", "What is the best oil for salad dressing?", "qqp-purpose"),
    ("What's the best credit card for travel rewards?", "What's the best credit card for building credit?", "qqp-purpose"),
    ("Best mattress for back pain?", "Best mattress for hot sleepers?", "qqp-purpose"),
    ("What is the best database for time series data?", "What is the best database for graph data?", "qqp-purpose"),
    # stop vs start / opposite actions
    ("How do I stop my baby from waking up at night?", "How do I start waking my baby up at night for feeds?", "qqp-opposite"),
    ("How can I stop grinding my teeth?", "Why did I start grinding my teeth?", "qqp-opposite"),
    ("How do I turn off automatic updates in Windows 11?", "How do I turn on automatic updates in Windows 11?", "qqp-opposite"),
    ("How do I gain weight in a healthy way?", "How do I lose weight in a healthy way?", "qqp-opposite"),
    ("How do I increase the volume on my AirPods?", "How do I decrease the volume on my AirPods?", "qqp-opposite"),
    ("How do I enable two-factor authentication on Gmail?", "How do I disable two-factor authentication on Gmail?", "qqp-opposite"),
    ("How can I speed up a video in iMovie?", "How can I slow down a video in iMovie?", "qqp-opposite"),
    # bad vs good
    ("Is it bad to run every day?", "Is it good to run every day?", "qqp-polarity"),
    ("Why is sugar bad for you?", "Why is sugar good for you?", "qqp-polarity"),
    ("What are the disadvantages of solar panels?", "What are the advantages of solar panels?", "qqp-polarity"),
    ("Is it a bad idea to quit my job without another offer?", "Is it a good idea to quit my job without another offer?", "qqp-polarity"),
    ("What are the worst things about living in London?", "What are the best things about living in London?", "qqp-polarity"),
    ("Why is intermittent fasting harmful?", "Why is intermittent fasting beneficial?", "qqp-polarity"),
    # singular/plural that changes the answer
    ("What is the largest ocean on Earth?", "What are the largest oceans on Earth?", "qqp-number"),
    ("Who was the first woman in space?", "Who were the first women in space?", "qqp-number"),
    ("What is the tallest building in Dubai?", "What are the tallest buildings in Dubai?", "qqp-number"),
    ("Which planet has the most moons?", "Which planets have moons?", "qqp-number"),
    ("What is the most spoken language in India?", "What are the most spoken languages in India?", "qqp-number"),
    ("Which country borders Portugal?", "Which countries border Spain?", "qqp-number"),
    ("What is the main cause of the French Revolution?", "What are the main causes of the French Revolution?", "qqp-number"),
]


def qqp_howto(rng: random.Random) -> None:
    tasks = list(HOWTO_TASKS)
    rng.shuffle(tasks)
    for i, t in enumerate(tasks):
        a, b = HOWTO_SHAPES[i % len(HOWTO_SHAPES)]
        add("qqp_dup", "qqp-howto-para", a.format(t=t), b.format(t=t), "same")


# ----------------------------------------------------------------------------------------------- chat

CHAT_CHANGE = {
    "chat-prep-place": [
        ("Is it okay to leave my bike on the balcony during a storm?", "Is it okay to leave my bike under the balcony during a storm?"),
        ("What should I plant in the shade of the oak tree?", "What should I plant on top of the oak tree stump?"),
        ("How do I get a stain out of the carpet in my car?", "How do I get a stain out of the carpet under my car seat?"),
        ("Can I store potatoes in the fridge?", "Can I store potatoes on the fridge?"),
        ("What's the best way to hang a shelf over the bed?", "What's the best way to hang a shelf under the bed?"),
        ("Is there a pharmacy inside the train station?", "Is there a pharmacy outside the train station?"),
        ("Write a haiku about a cat sleeping on the roof.", "Write a haiku about a cat sleeping under the roof."),
        ("My keys fell behind the radiator, how do I get them?", "My keys fell into the radiator, how do I get them?"),
    ],
    "chat-prep-time": [
        ("Can I drink water before a fasting blood test?", "Can I drink water after a fasting blood test?"),
        ("Is the museum open until 6 on Sundays?", "Is the museum open since 6 on Sundays?"),
        ("Should I take ibuprofen before the dentist appointment?", "Should I take ibuprofen after the dentist appointment?"),
        ("What can I do to stay awake during the night shift?", "What can I do to sleep well after the night shift?"),
        ("I've had a headache since Monday, what could it be?", "I had a headache until Monday, what could it have been?"),
        ("Remind me to call mom before dinner.", "Remind me to call mom after dinner."),
        ("Can I get a refund within 30 days of purchase?", "Can I get a refund after 30 days of purchase?"),
        ("Is it safe to exercise right after eating?", "Is it safe to exercise right before eating?"),
    ],
    "chat-degree": [
        ("My dog is slightly limping on his back leg, should I worry?", "My dog is badly limping on his back leg, should I worry?"),
        ("Find flights to Rome with at least one stop.", "Find flights to Rome with at most one stop."),
        (
            "The recipe needs almost a cup of sugar, how many grams is that?",
            "The recipe needs exactly a cup of sugar, how many grams is that?",
        ),
        ("Make the email slightly more formal.", "Make the email much more formal."),
        ("Show me apartments with at least two bedrooms under $2000.", "Show me apartments with at most two bedrooms under $2000."),
        ("My fever is a little above 38, should I go to the ER?", "My fever is far above 38, should I go to the ER?"),
        ("Rewrite this paragraph to be somewhat shorter.", "Rewrite this paragraph to be drastically shorter."),
        ("The bread is barely cooked in the middle, what went wrong?", "The bread is overcooked in the middle, what went wrong?"),
    ],
    "chat-possessive": [
        ("How do I reset my password on Instagram?", "How do I reset my son's password on Instagram?"),
        ("Can you summarize his email from this morning?", "Can you summarize her email from this morning?"),
        ("What is your opinion on remote work?", "What is my manager's opinion on remote work?"),
        ("Can I use my sister's insurance for the rental car?", "Can my sister use my insurance for the rental car?"),
        ("Write a toast for my brother's wedding.", "Write a toast for my wedding from my brother."),
        ("Is it legal to read my partner's messages?", "Is it legal for my partner to read my messages?"),
        ("How do I add my wife's card to my Apple Pay?", "How do I add my card to my wife's Apple Pay?"),
        ("Our neighbor's tree fell on our fence, who pays?", "Our tree fell on our neighbor's fence, who pays?"),
    ],
    "chat-article": [
        ("Is there a doctor on this flight?", "Is the doctor on this flight?"),
        ("Send the report to a manager before Friday.", "Send the report to the manager before Friday."),
        ("Can you recommend a book by the author of Dune?", "Can you recommend the book by the author of Dune?"),
        ("What happens if I miss a payment on my credit card?", "What happens if I miss the payment on my credit card?"),
        ("Write a review of a restaurant on Main Street.", "Write a review of the restaurant on Main Street."),
        ("Is a key missing from this keyboard layout?", "Is the key missing from this keyboard layout?"),
    ],
    "chat-conjunction": [
        ("Give me recipes that are vegan and gluten-free.", "Give me recipes that are vegan or gluten-free."),
        ("Can I take paracetamol and ibuprofen together?", "Can I take paracetamol or ibuprofen together?"),
        ("List hotels with a pool and free parking.", "List hotels with a pool but no free parking."),
        ("Find me jobs in Berlin or Munich.", "Find me jobs in Berlin and Munich."),
        ("The course is free and online, how do I sign up?", "The course is free but not online, how do I sign up?"),
        ("Write a poem that rhymes and is funny.", "Write a poem that rhymes but is not funny."),
    ],
    "chat-question-word": [
        ("How many cups of coffee are safe per day?", "How much caffeine is in a cup of coffee?"),
        ("Who called the plumber yesterday?", "Whom did the plumber call yesterday?"),
        ("Whose idea was the Eiffel Tower?", "Who built the Eiffel Tower?"),
        ("How many people live in Tokyo?", "How much space does Tokyo cover?"),
        ("Where did the Vikings come from?", "Where did the Vikings go to?"),
        ("When did the Berlin Wall fall?", "Why did the Berlin Wall fall?"),
        ("How long is the Great Wall of China?", "How old is the Great Wall of China?"),
        ("Who did Caesar defeat at Pharsalus?", "Who defeated Caesar at Pharsalus?"),
    ],
    "chat-comparison": [
        ("Write an essay arguing cats are better pets than dogs.", "Write an essay arguing dogs are better pets than cats."),
        ("Explain why renting is smarter than buying in San Francisco.", "Explain why buying is smarter than renting in San Francisco."),
        ("Give three reasons tea is healthier than coffee.", "Give three reasons coffee is healthier than tea."),
        (
            "Convince my boss that email works better than Slack for our team.",
            "Convince my boss that Slack works better than email for our team.",
        ),
        ("Show that the train is faster than flying from Paris to Lyon.", "Show that flying is faster than the train from Paris to Lyon."),
        ("Argue that print books beat e-books for students.", "Argue that e-books beat print books for students."),
    ],
    "chat-idiom": [
        ("What does it mean to break the ice?", "What does it mean to break the bank?"),
        ("My coworker always beats around the bush, how do I respond?", "My coworker always goes the extra mile, how do I respond?"),
        ("Is it a piece of cake to learn the violin?", "Is it a piece of work to learn the violin?"),
        ("What does 'under the weather' mean?", "What does 'under the table' mean?"),
        ("He spilled the beans at dinner; what should I do?", "He spilled the soup at dinner; what should I do?"),
        ("My manager gave me the cold shoulder today, why?", "My manager gave me a cold drink today, why?"),
        ("What does 'hit the sack' mean?", "What does 'hit the road' mean?"),
    ],
}

CHAT_PARA = {
    "chat-para-writing": [
        ("Can you help me write a cover letter for a nursing job?", "Could you help me draft a cover letter for a nursing position?"),
        ("Write a short birthday message for my grandmother.", "Compose a brief birthday note for my grandma."),
        ("Please proofread this paragraph for grammar mistakes.", "Check this paragraph for grammatical errors, please."),
        ("Make this email sound more polite.", "Rewrite this email so it sounds more courteous."),
        ("Give me a catchy title for a blog post about budgeting.", "Suggest an attention-grabbing headline for a blog post on budgeting."),
        ("Summarize this article in three bullet points.", "Give me a three-bullet summary of this article."),
        ("Translate 'good morning, how are you' into Italian.", "How do you say 'good morning, how are you' in Italian?"),
        ("Write a thank-you note to my team for meeting the deadline.", "Draft a note thanking my team for hitting the deadline."),
    ],
    "chat-para-health": [
        ("I have a sore throat and a mild fever, what should I do?", "What should I do about a sore throat with a slight fever?"),
        ("How much water should I drink in a day?", "What is the recommended daily water intake?"),
        ("Is it normal for my knee to click when I squat?", "My knee makes a clicking sound when I squat, is that normal?"),
        ("What foods are high in iron?", "Which foods contain a lot of iron?"),
        ("How can I relieve a tension headache without pills?", "What are drug-free ways to ease a tension headache?"),
        ("How many steps a day should I walk to stay healthy?", "What daily step count is good for staying healthy?"),
    ],
    "chat-para-tech": [
        ("My laptop is running really slow, how can I speed it up?", "How do I make my sluggish laptop faster?"),
        ("How do I undo the last commit in git?", "What's the git command to revert my most recent commit?"),
        ("Why won't my phone connect to Wi-Fi?", "My phone can't connect to the Wi-Fi network, why?"),
        ("How do I merge two PDF files into one?", "What's the way to combine two PDFs into a single file?"),
        ("Explain what an API is in simple terms.", "What is an API, explained simply?"),
        ("How do I find duplicate rows in a SQL table?", "Write a SQL query that finds repeated rows in a table."),
        ("How can I free up space on my iPhone?", "My iPhone storage is full, how do I clear some space?"),
    ],
    "chat-para-travel": [
        ("What are the must-see sights in Rome?", "Which attractions in Rome should I not miss?"),
        ("Do I need a visa to visit Japan as a US citizen?", "As an American, is a visa required for a trip to Japan?"),
        ("What's the best time of year to visit Iceland?", "When is the ideal season for a trip to Iceland?"),
        (
            "How early should I arrive at the airport for an international flight?",
            "For an international flight, how far ahead should I get to the airport?",
        ),
        ("Suggest a 3-day itinerary for Barcelona.", "Plan three days in Barcelona for me."),
        ("What should I pack for a week of hiking in Scotland?", "Give me a packing list for a one-week hiking trip in Scotland."),
    ],
    "chat-para-home": [
        ("How do I get rid of mold in the shower?", "What's the best way to remove mold from my shower?"),
        ("My sink drains slowly, how can I fix it?", "How do I fix a slow-draining sink?"),
        ("What's a quick dinner I can make with eggs and spinach?", "Suggest a fast dinner using spinach and eggs."),
        ("How often should I change my bed sheets?", "How frequently should bed sheets be washed and changed?"),
        ("How do I keep cut flowers fresh longer?", "What helps cut flowers last longer in a vase?"),
        ("What temperature should I cook chicken breast to?", "What internal temperature is safe for chicken breast?"),
    ],
    "chat-para-idiom": [
        ("It's raining cats and dogs, should I still drive to work?", "It's pouring rain, should I still drive to work?"),
        ("I'm feeling under the weather, can you suggest some soup?", "I'm feeling a bit sick, can you suggest some soup?"),
        ("My new job is a piece of cake so far, is that a red flag?", "My new job has been really easy so far, is that a warning sign?"),
        ("I need to hit the books for my exam, any study tips?", "I need to study hard for my exam, any tips?"),
        (
            "My boss told me to think outside the box, what does he want?",
            "My boss asked me to be creative and unconventional, what does he want?",
        ),
        ("I'm on the fence about adopting a cat, help me decide.", "I can't decide whether to adopt a cat, help me choose."),
    ],
    "chat-para-finance": [
        ("How should I start investing with only $100?", "What's a good way to begin investing with just 100 dollars?"),
        ("What's the difference between a Roth IRA and a traditional IRA?", "How does a Roth IRA differ from a traditional IRA?"),
        ("How can I improve my credit score?", "What steps raise a credit score?"),
        ("Is it smart to pay off my student loans early?", "Does paying student loans off ahead of schedule make sense?"),
        ("How do I make a monthly budget?", "Help me set up a budget for each month."),
    ],
}

SAME_SWAP = [
    # word swaps that keep meaning (synonyms in place), PAWS-style high overlap
    ("How do I repair a leaking kitchen faucet?", "How do I fix a leaking kitchen faucet?"),
    ("What is the quickest route from the hotel to the stadium?", "What is the fastest route from the hotel to the stadium?"),
    ("Can you suggest a good gift for a ten-year-old boy?", "Can you recommend a good present for a ten-year-old boy?"),
    ("Why does my car make a loud noise when I brake?", "Why does my car make a loud sound when I brake?"),
    ("What are the main causes of inflation?", "What are the primary causes of inflation?"),
    ("Is it hard to learn to play the piano at 40?", "Is it difficult to learn to play the piano at 40?"),
    ("How big is the largest whale ever recorded?", "How large is the biggest whale ever recorded?"),
    ("Show me an easy recipe for banana bread.", "Show me a simple recipe for banana bread."),
    ("How can I begin a career in cybersecurity?", "How can I start a career in cybersecurity?"),
    ("What is the correct way to hold chopsticks?", "What is the proper way to hold chopsticks?"),
]


# ------------------------------------------------------------------------------------ templated families
# Fillers of a "same" family never mean what a "different" family's texts mean (disjoint fillers), so a
# hit across pairs is a real false hit.

ROUTES2 = [
    ("Berlin", "Hamburg"),
    ("Cairo", "Luxor"),
    ("Seattle", "Portland"),
    ("Rome", "Naples"),
    ("Mumbai", "Pune"),
    ("Atlanta", "Miami"),
    ("Sapporo", "Tokyo"),
    ("Krakow", "Gdansk"),
    ("Bogota", "Medellin"),
    ("Porto", "Faro"),
    ("Calgary", "Vancouver"),
    ("Lyon", "Nice"),
    ("Brisbane", "Cairns"),
    ("Seville", "Granada"),
]
ROUTE_KEEP = [
    ("How long is the drive from {x} to {y}?", "How long is the drive to {y} from {x}?"),
    ("Is there a night bus from {x} to {y}?", "Is there a night bus to {y} that leaves from {x}?"),
    ("What's the cheapest flight from {x} to {y} next week?", "What's the cheapest flight next week from {x} to {y}?"),
    ("How far is it from {x} to {y} by train?", "By train, how far is it from {x} to {y}?"),
]
ROUTE_SWAP2 = [
    "What time does the last ferry from {x} to {y} leave?",
    "Book me a rental car for a one-way trip from {x} to {y}.",
    "How many hours is the bike ride from {x} to {y}?",
]


def routes2() -> None:
    for i, (x, y) in enumerate(ROUTES2):
        if i % 2 == 0:
            t = ROUTE_SWAP2[(i // 2) % len(ROUTE_SWAP2)]
            add("paws_swap", "paws-route2", t.format(x=x, y=y), t.format(x=y, y=x), "different")
        else:
            a, b = ROUTE_KEEP[(i // 2) % len(ROUTE_KEEP)]
            add("paws_keep", "paws-route-keep", a.format(x=x, y=y), b.format(x=x, y=y), "same")


EVENTS = [
    "Tour de France",
    "Wimbledon men's final",
    "Eurovision Song Contest",
    "Nobel Prize in Chemistry",
    "Stanley Cup",
    "Ballon d'Or",
    "Booker Prize",
    "Boston Marathon",
    "Champions League final",
    "World Series",
    "Masters golf tournament",
    "Oscar for Best Picture",
    "NBA Finals",
    "Rugby World Cup",
    "Kentucky Derby",
    "Indy 500",
]


def events(rng: random.Random) -> None:
    for i, ev in enumerate(EVENTS):
        y = 2003 + i
        if i % 2 == 0:
            add("qqp_intent", "qqp-year", f"Who won the {ev} in {y}?", f"Who won the {ev} in {y + 1}?", "different")
        else:
            add("qqp_dup", "qqp-year-para", f"Who won the {ev} in {y}?", f"Which winner took the {y} {ev}?", "same")


BEST_FOR = [
    ("laptop", "video editing", "college essays"),
    ("tent", "desert camping", "alpine snow camping"),
    ("bike", "commuting in a city", "mountain trails"),
    ("houseplant", "a dark bathroom", "a sunny windowsill"),
    ("camera lens", "portraits", "wildlife photography"),
    ("coffee bean", "espresso", "cold brew"),
    ("paint", "kitchen walls", "outdoor metal railings"),
    ("knife", "filleting fish", "chopping vegetables"),
    ("protein powder", "weight loss", "bulking"),
    ("keyboard", "gaming", "long typing sessions"),
    ("fabric", "summer dresses", "winter coats"),
    ("fertilizer", "tomatoes", "lawns"),
    ("headphones", "running", "studio mixing"),
    ("flour", "sourdough bread", "pie crust"),
]
BEST_SAME = [
    ("pillow", "side sleepers"),
    ("backpack", "air travel"),
    ("microphone", "podcasting"),
    ("glue", "ceramic repair"),
    ("router", "a two-story house"),
    ("shampoo", "curly hair"),
    ("telescope", "beginners"),
    ("rice cooker", "a small family"),
    ("sunscreen", "sensitive skin"),
    ("car seat", "newborns"),
    ("tablet", "drawing"),
    ("ladder", "cleaning gutters"),
    ("vacuum", "pet hair"),
    ("wok", "an induction stove"),
]


def best_for() -> None:
    for x, y, z in BEST_FOR:
        add("qqp_intent", "qqp-best-for", f"What is the best {x} for {y}?", f"What is the best {x} for {z}?", "different")
    for i, (x, y) in enumerate(BEST_SAME):
        if i % 2:
            add("qqp_dup", "qqp-best-for-para", f"What is the best {x} for {y}?", f"Which {x} would you recommend for {y}?", "same")
        else:
            add("qqp_dup", "qqp-best-for-para", f"Which {x} works best for {y}?", f"What {x} should I buy for {y}?", "same")


FEATURES_DIFF = [
    ("dark mode", "Outlook"),
    ("location history", "Google Maps"),
    ("read receipts", "WhatsApp"),
    ("autocorrect", "my iPhone"),
    ("subtitles", "Netflix on a smart TV"),
    ("Bluetooth", "Windows 10"),
    ("spell check", "Google Docs"),
    ("notifications", "Slack on Android"),
    ("hardware acceleration", "Chrome"),
    ("the firewall", "a Mac"),
    ("track changes", "Word"),
    ("comments", "my YouTube videos"),
]
FEATURES_SAME = [
    ("night shift", "an iPad"),
    ("auto-save", "Excel"),
    ("the on-screen keyboard", "Windows 11"),
    ("captions", "Zoom calls"),
    ("battery saver", "a Pixel phone"),
    ("parental controls", "a PlayStation 5"),
    ("smart compose", "Gmail"),
    ("vim mode", "VS Code"),
    ("the guest network", "a Netgear router"),
    ("focus mode", "a Samsung phone"),
    ("word wrap", "Notepad"),
    ("safe search", "Bing"),
]


def features() -> None:
    for i, (f, app) in enumerate(FEATURES_DIFF):
        on, off = (("turn on", "turn off"), ("enable", "disable"), ("switch on", "switch off"))[i % 3]
        add("qqp_intent", "qqp-on-off", f"How do I {on} {f} in {app}?", f"How do I {off} {f} in {app}?", "different")
    for i, (f, app) in enumerate(FEATURES_SAME):
        if i % 2:
            add("qqp_dup", "qqp-on-off-para", f"How do I turn on {f} in {app}?", f"How can I enable {f} in {app}?", "same")
        else:
            add("qqp_dup", "qqp-on-off-para", f"How do I disable {f} in {app}?", f"What are the steps to switch off {f} in {app}?", "same")


DEALS = [
    ("Amazon", "Whole Foods"),
    ("Disney", "Pixar"),
    ("Facebook", "Instagram"),
    ("Adobe", "Figma"),
    ("Oracle", "Sun Microsystems"),
    ("Salesforce", "Slack"),
    ("eBay", "PayPal"),
    ("Cisco", "Splunk"),
    ("Nvidia", "Mellanox"),
    ("Intel", "Mobileye"),
    ("IBM", "Red Hat"),
    ("Broadcom", "VMware"),
    ("Kraft", "Heinz"),
    ("Volkswagen", "Porsche"),
]


def deals() -> None:
    for i, (x, y) in enumerate(DEALS):
        if i % 2 == 0:
            t = ("Why did {x} buy {y}?", "How much did {x} pay to acquire {y}?", "Did {x} overpay for {y}?")[(i // 2) % 3]
            add("paws_swap", "paws-acquirer", t.format(x=x, y=y), t.format(x=y, y=x), "different")
        else:
            a, b = (
                ("When did {x} acquire {y}?", "When was {y} acquired by {x}?"),
                ("Why did {x} take over {y}?", "Why was {y} taken over by {x}?"),
            )[(i // 2) % 2]
            add("paws_keep", "paws-acquirer-passive", a.format(x=x, y=y), b.format(x=x, y=y), "same")


ACTS_DIFF = [
    ("drink alcohol", "a colonoscopy"),
    ("eat breakfast", "a cholesterol test"),
    ("lift weights", "donating blood"),
    ("take melatonin", "a long-haul flight"),
    ("shave my legs", "a spray tan"),
    ("drink coffee", "a general anesthesia"),
    ("water the lawn", "heavy rain"),
    ("wash my hair", "dyeing it"),
    ("brush my teeth", "whitening strips"),
    ("stretch", "a yoga class"),
    ("drive", "an eye exam with dilation"),
    ("eat spicy food", "a stomach ultrasound"),
]
ACTS_SAME = [
    ("smoke", "a tooth extraction"),
    ("go swimming", "getting a tattoo"),
    ("take a hot bath", "a sunburn"),
    ("wear contact lenses", "LASIK surgery"),
    ("run", "a flu shot"),
    ("fly", "scuba diving"),
    ("sleep on my back", "a nose job"),
    ("use retinol", "a chemical peel"),
]


def before_after() -> None:
    for i, (act, ev) in enumerate(ACTS_DIFF):
        p, q = (("before", "after"), ("right before", "right after"), ("the day before", "the day after"))[i % 3]
        add("chat_change", "chat-before-after", f"Can I {act} {p} {ev}?", f"Can I {act} {q} {ev}?", "different")
    for act, ev in ACTS_SAME:
        add("chat_para", "chat-after-para", f"How long should I wait to {act} after {ev}?", f"After {ev}, how soon can I {act}?", "same")


LIMITS_DIFF = [
    ("laptops", 16, "GB of RAM"),
    ("used cars", 5, "seats"),
    ("vacation rentals", 3, "bathrooms"),
    ("phones", 2, "SIM slots"),
    ("restaurants near me", 4, "stars"),
    ("monitors", 144, "Hz refresh rate"),
    ("hikes near Denver", 10, "miles"),
    ("podcasts about history", 60, "minutes per episode"),
    ("desks", 150, "cm of width"),
    ("cameras", 24, "megapixels"),
]
LIMITS_SAME = [
    ("tablets", 128, "GB of storage"),
    ("apartments in Lisbon", 2, "balconies"),
    ("SUVs", 7, "seats"),
    ("TVs", 65, "inches"),
    ("e-bikes", 80, "km of range"),
    ("power banks", 20000, "mAh"),
    ("gaming PCs", 32, "GB of RAM"),
    ("sleeping bags", 3, "seasons of rating"),
]


def limits() -> None:
    for i, (item, n, feat) in enumerate(LIMITS_DIFF):
        lo, hi = (("at least", "at most"), ("more than", "fewer than"), ("no less than", "no more than"))[i % 3]
        add("chat_change", "chat-limit", f"Show me {item} with {lo} {n} {feat}.", f"Show me {item} with {hi} {n} {feat}.", "different")
    for item, n, feat in LIMITS_SAME:
        add(
            "chat_para",
            "chat-limit-para",
            f"Show me {item} with at least {n} {feat}.",
            f"List {item} that have {n} {feat} or more.",
            "same",
        )


UNITS = [
    (5, "miles", "kilometers"),
    (12, "pounds", "kilograms"),
    (3, "gallons", "liters"),
    (70, "Fahrenheit", "Celsius"),
    (8, "ounces", "grams"),
    (6, "feet", "meters"),
    (40, "knots", "mph"),
    (2, "acres", "hectares"),
    (15, "inches", "centimeters"),
    (9, "stone", "pounds"),
]


def units() -> None:
    for i, (n, u, v) in enumerate(UNITS):
        if i % 2 == 0:
            add("paws_swap", "paws-unit-direction", f"Convert {n} {u} to {v}.", f"Convert {n} {v} to {u}.", "different")
        else:
            add("paws_keep", "paws-unit-para", f"Convert {n} {u} to {v}.", f"How many {v} is {n} {u}?", "same")


RELATIONS = [
    ("check the balance on", "debit card", "daughter's"),
    ("cancel", "gym membership", "husband's"),
    ("renew", "passport", "father's"),
    ("change the PIN on", "SIM card", "grandmother's"),
    ("update the address on", "driver's license", "roommate's"),
    ("recover", "Facebook account", "late uncle's"),
    ("file", "tax return", "elderly mother's"),
    ("unlock", "iPhone", "kid's"),
]


def possessive() -> None:
    for act, thing, rel in RELATIONS:
        add("chat_change", "chat-possessive2", f"How do I {act} my {thing}?", f"How do I {act} my {rel} {thing}?", "different")


COMP_SAME = [
    ("Is a heat pump cheaper to run than a gas furnace?", "Does a heat pump cost less to run than a gas furnace?"),
    ("Is the Pacific deeper than the Atlantic?", "Is the Atlantic shallower than the Pacific?"),
    ("Is Mount Kilimanjaro higher than Mont Blanc?", "Is Mont Blanc lower than Mount Kilimanjaro?"),
    ("Are electric cars more efficient than diesel cars?", "Are diesel cars less efficient than electric cars?"),
    ("Is a marathon longer than 40 km?", "Is 40 km shorter than a marathon?"),
    ("Is Canada larger than the United States?", "Is the United States smaller than Canada?"),
]

COMP_DIFF2 = [
    ("Is a heat pump more expensive to install than a boiler?", "Is a boiler more expensive to install than a heat pump?"),
    ("Is Lake Baikal deeper than Lake Tanganyika?", "Is Lake Tanganyika deeper than Lake Baikal?"),
    ("Is Jupiter's moon Ganymede bigger than Mercury?", "Is Mercury bigger than Jupiter's moon Ganymede?"),
    ("Are hybrid cars more reliable than electric ones?", "Are electric cars more reliable than hybrid ones?"),
    ("Is Brazil more populous than Pakistan?", "Is Pakistan more populous than Brazil?"),
    ("Is the Nile longer than the Amazon?", "Is the Amazon longer than the Nile?"),
]

ARTICLE2 = [
    ("Did a student from my class win the science fair?", "Did the student from my class win the science fair?"),
    ("Book a table at an Italian place near the office.", "Book a table at the Italian place near the office."),
    ("Is there a charger in the drawer?", "Is the charger in the drawer?"),
    ("Write a reply to an email from the landlord.", "Write a reply to the email from the landlord."),
    ("Find a hotel close to a metro station in Paris.", "Find a hotel close to the metro station in Paris."),
    ("Did someone leave a package at the door?", "Did someone leave the package at the door?"),
]

CONJ2 = [
    ("Suggest a movie that is scary and funny.", "Suggest a movie that is scary but not funny."),
    ("Can I bring a laptop and a tablet in my carry-on?", "Can I bring a laptop or a tablet in my carry-on?"),
    ("I want a pet that is small and quiet.", "I want a pet that is small but loud."),
    ("Plan a trip to Peru and Bolivia in two weeks.", "Plan a trip to Peru or Bolivia in two weeks."),
    ("Recommend a wine that pairs with steak and salmon.", "Recommend a wine that pairs with steak or salmon."),
    ("Find a flat with a garden and a garage.", "Find a flat with a garden but without a garage."),
]

QWORD2 = [
    ("How much does it cost to replace a car battery?", "How many car batteries can I recycle at once?"),
    ("Who sent me this invoice?", "Whose invoice is this?"),
    ("How many eggs do I need for a sponge cake?", "How much butter do I need for a sponge cake?"),
    ("What time does the bakery open on Saturday?", "What time does the bakery close on Saturday?"),
    ("Which languages are spoken in Switzerland?", "How many languages are spoken in Switzerland?"),
    ("Why is my tomato plant turning yellow?", "When is my tomato plant turning yellow?"),
]

PREP2 = [
    ("What should I wear to a wedding in October?", "What should I wear to a wedding on October 1?"),
    ("Where can I park near the stadium?", "Where can I park inside the stadium?"),
    ("Can I hang a mirror over the fireplace?", "Can I hang a mirror beside the fireplace?"),
    ("Is it safe to swim in the lake after sunset?", "Is it safe to swim in the lake before sunrise?"),
    ("I left my phone in the taxi, what do I do?", "I left my phone on the taxi roof, what do I do?"),
    ("Is there a good cafe inside the museum?", "Is there a good cafe opposite the museum?"),
]

PARA2 = [
    ("What's a good name for a golden retriever puppy?", "Suggest some names for my new golden retriever puppy."),
    ("How do I politely decline a meeting invite?", "What's a polite way to say no to a meeting invitation?"),
    ("Explain photosynthesis like I'm five.", "Describe photosynthesis in a way a small child would understand."),
    ("Give me a workout I can do at home without equipment.", "Suggest a no-equipment workout I can do at home."),
    ("What is a good gift for a coworker who is retiring?", "Any ideas for a retirement present for a colleague?"),
    ("How can I be more productive when working from home?", "Tips for getting more done while working remotely?"),
    ("Recommend a few podcasts about true crime.", "Which true crime podcasts should I listen to?"),
    ("What are good conversation starters for a first date?", "What can I talk about on a first date to break the ice?"),
    ("How do I tell my landlord the heater is broken?", "Help me write a message to my landlord about the broken heater."),
    ("How do I make my sourdough starter more active?", "My sourdough starter is sluggish, how do I liven it up?"),
]


def templated(rng: random.Random) -> None:
    routes2()
    events(rng)
    best_for()
    features()
    deals()
    before_after()
    limits()
    units()
    possessive()
    same("paws_keep", "paws-comparison-converse", COMP_SAME)
    diff("paws_swap", "paws-comparison-swap", COMP_DIFF2)
    diff("chat_change", "chat-article2", ARTICLE2)
    diff("chat_change", "chat-conjunction2", CONJ2)
    diff("chat_change", "chat-question-word2", QWORD2)
    diff("chat_change", "chat-prep2", PREP2)
    same("chat_para", "chat-para-misc", PARA2)


QQP_DUP2 = [
    ("How do I become a better public speaker?", "What can I do to improve my public speaking?"),
    ("What is the healthiest breakfast cereal?", "Which breakfast cereal is the most nutritious?"),
    ("Why do my ears pop on airplanes?", "What causes ear popping during a flight?"),
    ("Is it worth learning Latin today?", "Does it still make sense to study Latin nowadays?"),
    ("How do I deal with a toxic coworker?", "What's the best way to handle a toxic colleague?"),
    ("What are the best exercises for lower back pain?", "Which exercises help most with lower back pain?"),
    ("How can I tell if an egg is still good?", "How do I check whether an egg has gone bad?"),
    ("What is the meaning of life according to Buddhism?", "What does Buddhism say is the purpose of life?"),
    ("How do I stop my glasses from fogging up with a mask?", "How can I keep my glasses from fogging when I wear a mask?"),
    ("Why is my cat sneezing so much?", "What could make a cat sneeze a lot?"),
    ("What is the fastest land animal?", "Which animal runs the fastest on land?"),
    ("How do I apologize to a friend I hurt?", "What's a good way to say sorry to a friend I upset?"),
    ("Can I freeze cooked rice?", "Is it okay to put leftover cooked rice in the freezer?"),
    ("Which is healthier, brown rice or quinoa?", "Is quinoa healthier than brown rice, or the other way around?"),
    ("How do noise-cancelling headphones work?", "What is the technology behind active noise cancellation in headphones?"),
    ("Should I tip at a buffet in the US?", "In America, is tipping expected at a buffet restaurant?"),
    ("Why do leaves change color in autumn?", "What makes tree leaves turn colors in the fall?"),
    ("How much should I save for an emergency fund?", "What is a good size for an emergency fund?"),
]

QQP_INTENT2 = [
    ("Can I take a cat on a plane in the cabin?", "Can I take a cat on a train in Europe?", "qqp-entity"),
    ("What is the best time to visit Bali?", "What is the worst time to visit Bali?", "qqp-polarity"),
    ("How many calories are in a banana?", "How much potassium is in a banana?", "qqp-entity"),
    ("Is it safe to travel to Mexico City alone?", "Is it safe to travel to Mexico City with kids?", "qqp-constraint"),
    ("How do I become a pilot in the US?", "How do I become a pilot in the UK?", "qqp-entity"),
    ("What should I do in Tokyo for one day?", "What should I do in Tokyo for one week?", "qqp-constraint"),
    ("Why is my left eye twitching?", "Why is my left arm tingling?", "qqp-entity"),
    ("What is the minimum wage in California in 2023?", "What is the minimum wage in California in 2016?", "qqp-time"),
    ("How do I make my hair grow faster?", "How do I make my hair grow thicker?", "qqp-constraint"),
    ("Is it better to rent a car or take taxis in Crete?", "Is it better to rent a car or take buses in Crete?", "qqp-constraint"),
]

PAWS_KEEP2 = [
    ("Tomorrow morning, remind me to water the plants.", "Remind me to water the plants tomorrow morning."),
    ("Quickly explain what a mortgage is.", "Explain what a mortgage is quickly."),
    ("For my history class, summarize the causes of World War I.", "Summarize the causes of World War I for my history class."),
    ("In plain English, what does this contract clause mean?", "What does this contract clause mean in plain English?"),
    ("Using only pantry staples, what can I bake?", "What can I bake using only pantry staples?"),
    ("At the end of the email, add a short signature.", "Add a short signature at the end of the email."),
]

CHAT_CHANGE3 = [
    ("Turn the heating up slightly before I get home.", "Turn the heating up slightly after I get home."),
    ("Is the pharmacy across the street open?", "Is the pharmacy down the street open?"),
    ("Put the meeting on my calendar for the morning of the 5th.", "Put the meeting on my calendar for the morning of the 15th."),
    ("Can you lower the price a bit for repeat customers?", "Can you raise the price a bit for repeat customers?"),
    ("Write a limerick about a goat who hates mountains.", "Write a limerick about a goat who loves mountains."),
    ("Is it rude to arrive early to a dinner party?", "Is it rude to arrive late to a dinner party?"),
    ("Can my landlord enter my apartment without notice?", "Can I enter my landlord's apartment without notice?"),
    ("What's the penalty for paying taxes a week early?", "What's the penalty for paying taxes a week late?"),
    ("Set an alarm for 7 pm.", "Set an alarm for 7 am."),
    ("Is it okay to give my dog half a tablet?", "Is it okay to give my dog two tablets?"),
]


def more() -> None:
    same("qqp_dup", "qqp-dup2", QQP_DUP2)
    for a, b, g in QQP_INTENT2:
        add("qqp_intent", g, a, b, "different")
    same("paws_keep", "paws-moved-adverbial2", PAWS_KEEP2)
    diff("chat_change", "chat-misc-change", CHAT_CHANGE3)


def build() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    PAIRS.clear()
    paws_routes(rng)
    diff("paws_swap", "paws-subj-obj", SUBJ_OBJ)
    diff("paws_swap", "paws-adj-swap", ADJ_SWAP)
    diff("paws_swap", "paws-moved-modifier", MOVED_MOD)
    diff("paws_swap", "paws-clause-swap", CLAUSE_SWAP)
    diff("paws_swap", "paws-number-swap", NUM_SWAP)
    paws_operands()
    same("paws_keep", "paws-active-passive", ACTIVE_PASSIVE)
    same("paws_keep", "paws-symmetric", SYMMETRIC)
    same("paws_keep", "paws-moved-adverbial", MOVED_ADV)
    same("paws_keep", "paws-clause-keep", CLAUSE_KEEP)
    same("paws_keep", "paws-synonym-swap", SAME_SWAP)
    qqp_howto(rng)
    same("qqp_dup", "qqp-dup", QQP_DUP)
    for a, b, g in QQP_INTENT:
        add("qqp_intent", g, a, b, "different")
    for g, items in CHAT_CHANGE.items():
        diff("chat_change", g, items)
    for g, items in CHAT_PARA.items():
        same("chat_para", g, items)
    templated(rng)
    more()
    # Sides in a random (seeded) order so neither side is always the "original".
    out = []
    for p in PAIRS:
        if rng.random() < 0.5:
            p = {**p, "a": p["b"], "b": p["a"]}
        out.append(p)
    rng.shuffle(out)
    texts = [t for p in out for t in (p["a"], p["b"])]
    dup = {t for t in texts if texts.count(t) > 1}
    assert not dup, f"a text appears in more than one pair: {sorted(dup)[:5]}"
    for p in out:
        assert p["a"] != p["b"], p
    return out


def main() -> None:
    pairs = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
    n_same = sum(p["label"] == "same" for p in pairs)
    kinds: dict[str, int] = {}
    for p in pairs:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    print(f"{len(pairs)} pairs ({n_same} same, {len(pairs) - n_same} different), {len({p['group'] for p in pairs})} families -> {OUT}")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    main()
