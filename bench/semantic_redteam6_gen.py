"""Sixth red-team set for the semantic cache: untargeted, realistic chat traffic (writes bench/data/semantic_redteam6.jsonl).

What it covers
--------------
Pairs of last user messages (earlier turns and the system prompt are taken to be identical within a pair), labelled
"different" when serving the stored answer for one to the other would be wrong, "same" when it would be right.

* different (about 265 pairs, twenty kinds, at least five template families each): case that changes a word
  (translated words, unit prefixes, code literals, regex classes, CLI flags, acronyms), punctuation that changes the
  meaning (parentheses, minus sign, decimal point, list commas, thousands separators, hyphens, a vocative comma), one
  changed word (entity, number, unit, negation, quantifier, comparative, tense, modal, preposition, article, pronoun),
  the order of two nouns, PAWS-style swaps inside a sentence, question vs statement, an instruction vs a question
  about that instruction, typos that make a different real word, spacing that changes a word, and code that differs
  in one or two characters.  Most families whose content does not hinge on case or punctuation also get the surface
  noise real users add (both sides lower-cased, the question mark dropped, a greeting or "thanks" on both sides, and
  in about a quarter of those pairs an extra greeting, "thanks" or dropped question mark on one side only), so a
  rule that folds surface noise still has to see the real change.
* same (about 160 pairs): the same request retyped: case changes, missing or extra punctuation, a greeting or
  thanks, "please" and other polite wrappers, contractions, extra whitespace, obvious non-word typos, a mix of
  these, and true paraphrases (including order that does not matter, "difference between A and B" vs "B and A").

Pairs a careful rater could argue about carry the kind suffix "_arguable" (e.g. "Gb" vs "GB" RAM, "can I" vs
"should I", "desert" vs "dessert", "Doesn't coffee dehydrate you?" vs "Does coffee dehydrate you?").

Record format, one JSON object a line:
    {"id": "r6-0000", "group": "<kind>:<family>", "split": "report", "a": "...", "b": "...",
     "label": "different"|"same", "kind": "<kind>"}

Regenerate (pure Python, seeded, deterministic, no downloads; the output is byte-identical on every run):

    .venv/bin/python bench/semantic_redteam6_gen.py

Independence
------------
Written blind: its author did not read the verifier (router/cache/*), its calibration, the hard eval set or the
earlier red-team sets and generators.  Nothing was tuned on it: the set was committed before anyone measured the
cache against it, and every pair was written from the brief's description of realistic traffic, not from failures.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

SEED = 20261201
OUT = Path(__file__).resolve().parent / "data" / "semantic_redteam6.jsonl"


class P(NamedTuple):
    a: str
    b: str
    arguable: bool = False


def arg(a: str, b: str) -> P:
    return P(a, b, True)


@dataclass(frozen=True)
class Family:
    kind: str
    name: str
    label: str
    pairs: tuple[P, ...]
    # Whether users' surface noise (case, '?', greetings) may be layered on; off where case or punctuation is the point.
    noise: bool = False


def diff(kind: str, name: str, pairs: list[P | tuple[str, str]], noise: bool = True) -> Family:
    return Family(kind, name, "different", tuple(p if isinstance(p, P) else P(*p) for p in pairs), noise)


# --------------------------------------------------------------------------------------------------------------------
# different
# --------------------------------------------------------------------------------------------------------------------

DIFFERENT: list[Family] = [
    # ---- case that changes a word -------------------------------------------------------------------------------
    diff("case", "translate_word", [
        ("how do you say 'Polish' in French?", "how do you say 'polish' in French?"),
        ("what's the German word for 'Turkey'", "what's the German word for 'turkey'"),
        ("translate 'China' into French", "translate 'china' into French"),
        arg("translate March to Spanish", "translate march to Spanish"),
        arg("how do I say Nice in Italian", "how do I say nice in Italian"),
    ], noise=False),
    diff("case", "unit_prefix", [
        ("how long to download 500 MB at 100 Mbps?", "how long to download 500 Mb at 100 Mbps?"),
        ("convert 3 MW to watts", "convert 3 mW to watts"),
        arg("is 4 GB of RAM enough for a chromebook?", "is 4 Gb of RAM enough for a chromebook?"),
        arg("how many kB are in 1 MB", "how many kb are in 1 MB"),
    ], noise=False),
    diff("case", "code_literal", [
        ("why does `x = True` give an error in python?", "why does `x = true` give an error in python?"),
        ("what does `'Hello'.startswith('H')` return", "what does `'Hello'.startswith('h')` return"),
        ("in java what's the default value of a `Boolean` field", "in java what's the default value of a `boolean` field"),
        ("what does `Math.round(2.5)` return in javascript", "what does `math.round(2.5)` return in javascript"),
    ], noise=False),
    diff("case", "regex_class", [
        (r"what does the regex `\d+` match", r"what does the regex `\D+` match"),
        (r"what does `\s` match in a regex?", r"what does `\S` match in a regex?"),
        (r"what does `\b` do in regex", r"what does `\B` do in regex"),
        ("will `[A-Z]+` match anything in 'hello world'?", "will `[a-z]+` match anything in 'hello world'?"),
    ], noise=False),
    diff("case", "cli_flag", [
        ("what does the -c flag do in grep", "what does the -C flag do in grep"),
        ("what does `curl -o` do", "what does `curl -O` do"),
        ("what does `sort -r` do", "what does `sort -R` do"),
        ("what does `git branch -d feature` do?", "what does `git branch -D feature` do?"),
        ("what does `ssh -x` do", "what does `ssh -X` do"),
    ], noise=False),
    diff("case", "acronym", [
        ("who founded the WHO?", "who founded the Who?"),
        ("what does MAD mean", "what does mad mean"),
        ("what does SAD mean", "what does sad mean"),
        arg("is IT a good career for introverts?", "is it a good career for introverts?"),
        arg("how do I get US citizenship", "how do I get us citizenship"),
    ], noise=False),
    # ---- punctuation that changes the meaning -------------------------------------------------------------------
    diff("punct", "math_parens", [
        ("what's 10 - 2 * 3", "what's (10 - 2) * 3"),
        ("calculate 2 + 3^2", "calculate (2 + 3)^2"),
        ("solve 20 / 4 * 5", "solve 20 / (4 * 5)"),
        arg("what is -3^2", "what is (-3)^2"),
    ], noise=False),
    diff("punct", "minus_sign", [
        ("what is the square root of -16", "what is the square root of 16"),
        ("convert -40 F to celsius", "convert 40 F to celsius"),
        ("is -1 a natural number?", "is 1 a natural number?"),
        ("what's -7 % 3 in python", "what's 7 % 3 in python"),
    ], noise=False),
    diff("punct", "decimal_point", [
        ("convert 1.5 hours to minutes", "convert 15 hours to minutes"),
        ("how much is 2.5 kg in pounds?", "how much is 25 kg in pounds?"),
        ("is 0.5 mg of melatonin enough to fall asleep?", "is 5 mg of melatonin enough to fall asleep?"),
    ], noise=False),
    diff("punct", "list_comma", [
        ("how many names are in this list: Mary Ann, Lee, Joe", "how many names are in this list: Mary, Ann, Lee, Joe"),
        ("split into a list: salt, pepper, olive oil, garlic", "split into a list: salt, pepper, olive, oil, garlic"),
        ("find the largest number: 3, 41, 7", "find the largest number: 3, 4, 17"),
    ], noise=False),
    diff("punct", "thousands_separator", [
        arg("what's 1,500 divided by 3", "what's 1.500 divided by 3"),
        arg("round 2,345 to the nearest hundred", "round 2.345 to the nearest hundred"),
    ], noise=False),
    diff("punct", "hyphen", [
        ("what does re-sign mean", "what does resign mean"),
        ("what is a co-op?", "what is a coop?"),
        ("what's the meaning of re-creation", "what's the meaning of recreation"),
        arg("how do I re-cover an old armchair", "how do I recover an old armchair"),
    ], noise=False),
    diff("punct", "vocative_comma", [
        ("is this sentence correct: let's eat grandma", "is this sentence correct: let's eat, grandma"),
        arg("call me Sam", "call me, Sam"),
    ], noise=False),
    # ---- one changed word: entity -------------------------------------------------------------------------------
    diff("entity", "capital", [
        ("what's the capital of Austria?", "what's the capital of Australia?"),
        ("what's the capital of Niger?", "what's the capital of Nigeria?"),
        ("what is the capital city of Slovakia", "what is the capital city of Slovenia"),
        ("capital of Iran?", "capital of Iraq?"),
    ]),
    diff("entity", "creator", [
        ("who wrote War and Peace?", "who wrote Crime and Punishment?"),
        ("who painted The Starry Night", "who painted The Night Watch"),
        ("who composed The Four Seasons?", "who composed The Planets?"),
    ]),
    diff("entity", "programming_language", [
        ("how do I reverse a string in Python?", "how do I reverse a string in Go?"),
        ("how to read a file line by line in Java", "how to read a file line by line in Rust"),
        ("how do I declare a constant in JavaScript", "how do I declare a constant in C"),
    ]),
    diff("entity", "place", [
        ("what time is it in Tokyo right now?", "what time is it in Sydney right now?"),
        ("best time of year to visit Iceland?", "best time of year to visit Ireland?"),
        ("do I need a visa to visit Brazil as a US citizen?", "do I need a visa to visit China as a US citizen?"),
    ]),
    diff("entity", "person", [
        ("what is Nikola Tesla famous for?", "what is Thomas Edison famous for?"),
        ("when was Isaac Newton born", "when was Albert Einstein born"),
        ("how tall is Shaquille O'Neal", "how tall is Kevin Hart"),
    ]),
    diff("entity", "tool_platform", [
        ("how do I undo a commit in git", "how do I undo a commit in mercurial"),
        ("how do I install nginx on ubuntu", "how do I install nginx on windows"),
        ("keyboard shortcut to take a screenshot on mac", "keyboard shortcut to take a screenshot on windows"),
    ]),
    diff("entity", "animal_food", [
        ("can dogs eat chocolate?", "can dogs eat carrots?"),
        ("how long do parrots live?", "how long do hamsters live?"),
        ("how many calories are in an avocado", "how many calories are in a banana"),
    ]),
    # ---- one changed word: number -------------------------------------------------------------------------------
    diff("number", "conversion_amount", [
        ("how many ounces in 3 cups?", "how many ounces in 4 cups?"),
        ("convert 72 F to celsius", "convert 27 F to celsius"),
        ("how many km is 26 miles", "how many km is 62 miles"),
    ]),
    diff("number", "year", [
        ("who won the world cup in 2014?", "who won the world cup in 2018?"),
        ("who was the US president in 1990", "who was the US president in 1999"),
        ("what happened in 1066", "what happened in 1666"),
    ]),
    diff("number", "output_length", [
        ("write a 100 word bio for my linkedin", "write a 500 word bio for my linkedin"),
        ("give me 3 tips for a job interview", "give me 10 tips for a job interview"),
        ("summarize the water cycle in 2 sentences", "summarize the water cycle in 5 sentences"),
    ]),
    diff("number", "arithmetic", [
        ("is 91 prime?", "is 97 prime?"),
        ("what's 17 x 24", "what's 17 x 42"),
        ("what's 15% of 80", "what's 15% of 800"),
    ]),
    diff("number", "codes", [
        ("what does HTTP 403 mean", "what does HTTP 404 mean"),
        ("what does chmod 644 do", "what does chmod 664 do"),
        ("what usually runs on port 22?", "what usually runs on port 23?"),
    ]),
    diff("number", "age", [
        ("is it normal for a 2 year old to not talk yet?", "is it normal for a 4 year old to not talk yet?"),
        ("how much should a 6 month old baby sleep", "how much should a 9 month old baby sleep"),
    ]),
    # ---- one changed word: unit ---------------------------------------------------------------------------------
    diff("unit", "conversion", [
        ("how many grams in a cup of flour?", "how many ounces in a cup of flour?"),
        ("convert 5 feet to meters", "convert 5 yards to meters"),
    ]),
    diff("unit", "time", [
        ("what date is 3 weeks from today", "what date is 3 months from today"),
        ("how much sleep does a 5 month old need?", "how much sleep does a 5 year old need?"),
    ]),
    diff("unit", "temperature", [
        ("how long to bake chicken breast at 200 C", "how long to bake chicken breast at 200 F"),
        ("is 38 degrees celsius a fever?", "is 38 degrees fahrenheit a fever?"),
    ]),
    diff("unit", "cooking", [
        ("is 2 tablespoons of salt too much for one loaf of bread?", "is 2 teaspoons of salt too much for one loaf of bread?"),
        ("how many calories in a cup of cooked rice", "how many calories in a pound of cooked rice"),
    ]),
    diff("unit", "rate", [
        ("how much is 5% interest per month on $10,000", "how much is 5% interest per year on $10,000"),
        ("I earn $4000 a week, what's that per year?", "I earn $4000 a month, what's that per year?"),
    ]),
    diff("unit", "distance_speed", [
        ("how long does it take to walk 10 km?", "how long does it take to walk 10 miles?"),
        ("convert 60 mph to km/h", "convert 60 knots to km/h"),
    ]),
    # ---- one changed word: negation -----------------------------------------------------------------------------
    diff("negation", "list_filter", [
        ("which EU countries use the euro?", "which EU countries don't use the euro?"),
        ("name fruits that are citrus", "name fruits that are not citrus"),
    ]),
    diff("negation", "premise", [
        ("why is 1 not a prime number?", "why is 1 a prime number?"),
        ("why doesn't oil mix with water", "why does oil mix with water"),
    ]),
    diff("negation", "advice", [
        ("what foods should I eat during pregnancy?", "what foods should I not eat during pregnancy?"),
        ("what should I say in a job interview", "what should I never say in a job interview"),
    ]),
    diff("negation", "code_condition", [
        ("python function that returns True if a number is even", "python function that returns True if a number is not even"),
        ("sql query for customers who have placed an order", "sql query for customers who have never placed an order"),
    ]),
    diff("negation", "translate", [
        ("translate 'I like it' into Spanish", "translate 'I don't like it' into Spanish"),
        ("how do you say 'I'm hungry' in German?", "how do you say 'I'm not hungry' in German?"),
    ]),
    diff("negation", "legal", [
        arg("is it legal to carry pepper spray in the UK?", "is it illegal to carry pepper spray in the UK?"),
    ]),
    # ---- one changed word: quantifier ---------------------------------------------------------------------------
    diff("quantifier", "all_some", [
        ("do all mammals give birth to live young?", "do some mammals give birth to live young?"),
        ("can all birds fly?", "can most birds fly?"),
    ]),
    diff("quantifier", "at_least_most", [
        ("sql query for users with at least 3 orders", "sql query for users with at most 3 orders"),
        ("regex for passwords with at least 8 characters", "regex for passwords with at most 8 characters"),
    ]),
    diff("quantifier", "every_any", [
        ("is every rectangle a square?", "is any rectangle a square?"),
        arg("can every number be written as a fraction?", "can any number be written as a fraction?"),
    ]),
    diff("quantifier", "ordinal", [
        ("how do I get the first element of a list in python", "how do I get the last element of a list in python"),
        ("what's the first letter of the greek alphabet?", "what's the last letter of the greek alphabet?"),
    ]),
    diff("quantifier", "one_all", [
        ("how do I replace every comma in a string in javascript", "how do I replace one comma in a string in javascript"),
        ("how do I delete all rows in a sql table", "how do I delete one row in a sql table"),
    ]),
    diff("quantifier", "some_all", [
        ("name a few countries in South America", "name all the countries in South America"),
        ("list some prime numbers under 100", "list all prime numbers under 100"),
    ]),
    # ---- one changed word: comparative / superlative ------------------------------------------------------------
    diff("comparative", "size", [
        ("which is bigger, a liter or a quart?", "which is smaller, a liter or a quart?"),
        ("which planet is bigger, Venus or Mars?", "which planet is smaller, Venus or Mars?"),
    ]),
    diff("comparative", "cost_speed", [
        ("what's the cheapest way to get from London to Paris", "what's the fastest way to get from London to Paris"),
        ("most expensive city in europe to live in?", "least expensive city in europe to live in?"),
    ]),
    diff("comparative", "amount", [
        ("which foods have more iron than spinach?", "which foods have less iron than spinach?"),
        ("does brown rice have more fiber than white rice", "does brown rice have less fiber than white rice"),
    ]),
    diff("comparative", "age", [
        ("who is older, Venus or Serena Williams?", "who is younger, Venus or Serena Williams?"),
        ("what's the oldest university in the world", "what's the newest university in the world"),
    ]),
    diff("comparative", "best_worst", [
        ("what's the best time to post on Instagram?", "what's the worst time to post on Instagram?"),
        ("best foods to eat before bed", "worst foods to eat before bed"),
    ]),
    diff("comparative", "higher_lower", [
        ("does a higher f-stop let in more light?", "does a lower f-stop let in more light?"),
    ]),
    # ---- one changed word: tense --------------------------------------------------------------------------------
    diff("tense", "fact_vs_prediction", [
        ("who won the Super Bowl?", "who will win the Super Bowl?"),
        ("how did the stock market do today", "how will the stock market do today"),
    ]),
    diff("tense", "current_vs_past", [
        arg("who is the prime minister of the UK?", "who was the prime minister of the UK?"),
        arg("what is the population of Rome", "what was the population of Rome"),
    ]),
    diff("tense", "grammar", [
        ("what's the past tense of 'swim'?", "what's the past participle of 'swim'?"),
        ("conjugate 'tener' in the preterite", "conjugate 'tener' in the present"),
    ]),
    diff("tense", "translate", [
        ("translate 'I ate breakfast' into French", "translate 'I will eat breakfast' into French"),
        ("how do you say 'we went to the beach' in Italian?", "how do you say 'we go to the beach' in Italian?"),
    ]),
    diff("tense", "situation", [
        arg("I lost my passport abroad, what do I do?", "if I lose my passport abroad, what do I do?"),
        ("my flight got cancelled, what are my rights?", "my flight might get cancelled, what are my rights?"),
    ]),
    # ---- one changed word: modal --------------------------------------------------------------------------------
    diff("modal", "can_should", [
        arg("can I take ibuprofen with coffee?", "should I take ibuprofen with coffee?"),
        arg("can a 16 year old drive in the US?", "should a 16 year old drive in the US?"),
    ]),
    diff("modal", "need_can", [
        ("do I need a visa to work in Canada?", "can I get a visa to work in Canada?"),
    ]),
    diff("modal", "must_can", [
        arg("which vaccines must my puppy get?", "which vaccines can my puppy get?"),
        arg("what documents must I bring to renew my passport", "what documents can I bring to renew my passport"),
    ]),
    diff("modal", "have_to_can", [
        arg("do I have to tip in Japan?", "can I tip in Japan?"),
    ]),
    diff("modal", "legal_vs_advice", [
        arg("can my landlord enter my apartment without notice?", "should my landlord enter my apartment without notice?"),
    ]),
    diff("modal", "must_may", [
        ("must I file a tax return if I earned under $10k?", "may I file a tax return if I earned under $10k?"),
    ]),
    # ---- one changed word: preposition --------------------------------------------------------------------------
    diff("preposition", "with_without", [
        ("can I take ibuprofen with food?", "can I take ibuprofen without food?"),
        ("how to make pancakes without milk", "how to make pancakes with milk"),
    ]),
    diff("preposition", "before_after", [
        ("what should I eat before a workout?", "what should I eat after a workout?"),
        ("should I stretch before running", "should I stretch after running"),
    ]),
    diff("preposition", "over_under", [
        ("best laptops under $1000", "best laptops over $1000"),
        ("do kids under 12 fly free on domestic flights?", "do kids over 12 fly free on domestic flights?"),
    ]),
    diff("preposition", "for_against", [
        ("give me arguments for nuclear power", "give me arguments against nuclear power"),
        ("what's the case for a four-day work week?", "what's the case against a four-day work week?"),
    ]),
    diff("preposition", "to_from", [
        ("how do I transfer money to my PayPal account", "how do I transfer money from my PayPal account"),
    ]),
    diff("preposition", "above_below", [
        ("what happens to your body above 8000 meters?", "what happens to your body below 8000 meters?"),
        ("which US states have a speed limit above 70 mph", "which US states have a speed limit below 70 mph"),
    ]),
    # ---- one changed word: article (all arguable) ---------------------------------------------------------------
    diff("article", "joke_reference", [
        arg("tell me a joke", "tell me the joke"),
        arg("show me an example", "show me the example"),
    ]),
    diff("article", "doc_reference", [
        arg("write a summary of the report", "write a summary of a report"),
        arg("can you recommend the book?", "can you recommend a book?"),
    ]),
    diff("article", "few_vs_a_few", [
        arg("why do few people read privacy policies?", "why do a few people read privacy policies?"),
    ]),
    diff("article", "little_vs_a_little", [
        arg("I have little time to study, how should I plan?", "I have a little time to study, how should I plan?"),
    ]),
    diff("article", "name_vs_common", [
        arg("what is the Bible", "what is a Bible"),
        arg("what is the big bang", "what is a big bang"),
    ]),
    # ---- one changed word: pronoun ------------------------------------------------------------------------------
    diff("pronoun", "translate", [
        ("translate 'I love you' into Spanish", "translate 'I love him' into Spanish"),
        ("how do you say 'she is tired' in French?", "how do you say 'he is tired' in French?"),
    ]),
    diff("pronoun", "user_vs_assistant", [
        ("what's my IP address?", "what's your IP address?"),
        ("what's my name?", "what's your name?"),
    ]),
    diff("pronoun", "message_content", [
        ("write a text to my sister saying I'll be late", "write a text to my sister saying she'll be late"),
        ("draft an email telling my team we missed the deadline", "draft an email telling my team they missed the deadline"),
    ]),
    diff("pronoun", "grammar_check", [
        ("is this correct: 'me and him went to the store'", "is this correct: 'he and I went to the store'"),
        ("convert to passive voice: she wrote the letter", "convert to passive voice: they wrote the letter"),
    ]),
    diff("pronoun", "gender", [
        arg("how do I know if she likes me?", "how do I know if he likes me?"),
    ]),
    # ---- order of two nouns -------------------------------------------------------------------------------------
    diff("order", "unit_direction", [
        ("convert 10 km to miles", "convert 10 miles to km"),
        ("how many cups in a liter?", "how many liters in a cup?"),
    ]),
    diff("order", "comparison", [
        ("is python faster than c++?", "is c++ faster than python?"),
        ("is a crocodile bigger than an alligator", "is an alligator bigger than a crocodile"),
    ]),
    diff("order", "arithmetic", [
        ("subtract 7 from 20", "subtract 20 from 7"),
        ("divide 10 by 4", "divide 4 by 10"),
        ("what is 2 to the power of 5", "what is 5 to the power of 2"),
    ]),
    diff("order", "travel", [
        ("cheapest flights from Boston to Denver in March", "cheapest flights from Denver to Boston in March"),
        arg("how do I get from the airport to downtown Chicago?", "how do I get from downtown Chicago to the airport?"),
    ]),
    diff("order", "code_conversion", [
        ("convert a list to a string in python", "convert a string to a list in python"),
        ("how to migrate from MySQL to Postgres", "how to migrate from Postgres to MySQL"),
    ]),
    diff("order", "category", [
        ("is a square a rectangle?", "is a rectangle a square?"),
        ("is a dolphin a type of whale?", "is a whale a type of dolphin?"),
    ]),
    diff("order", "relationship", [
        ("should I text him first?", "should he text me first?"),
        ("what do I owe my landlord if I break the lease?", "what does my landlord owe me if I break the lease?"),
    ]),
    # ---- PAWS-style swaps inside a sentence ---------------------------------------------------------------------
    diff("paws_swap", "subject_object", [
        ("summarize: the startup acquired the bank in 2021 after a long legal fight",
         "summarize: the bank acquired the startup in 2021 after a long legal fight"),
        ("is this sentence true: the moon orbits the earth", "is this sentence true: the earth orbits the moon"),
    ]),
    diff("paws_swap", "cause_effect", [
        ("does stress cause high blood pressure?", "does high blood pressure cause stress?"),
        ("can poor sleep lead to depression?", "can depression lead to poor sleep?"),
    ]),
    diff("paws_swap", "attribute_swap", [
        ("draw an ascii art of a big cat and a small dog", "draw an ascii art of a small cat and a big dog"),
        ("write a story about a brave mouse and a scared lion", "write a story about a scared mouse and a brave lion"),
    ]),
    diff("paws_swap", "place_time_swap", [
        ("fact check: Einstein was born in Ulm and died in Princeton", "fact check: Einstein was born in Princeton and died in Ulm"),
        ("true or false: Canberra, not Sydney, is the capital of Australia",
         "true or false: Sydney, not Canberra, is the capital of Australia"),
    ]),
    diff("paws_swap", "rewrite_swap", [
        ("rewrite more formally: flights from New York to Florida are cheaper than flights from Florida to New York",
         "rewrite more formally: flights from Florida to New York are cheaper than flights from New York to Florida"),
        ("translate to German: the teacher thanked the student for his help",
         "translate to German: the student thanked the teacher for his help"),
    ]),
    diff("paws_swap", "quantity_swap", [
        ("I have 3 apples and 5 oranges, how many more oranges than apples do I have?",
         "I have 5 apples and 3 oranges, how many more oranges than apples do I have?"),
    ]),
    # ---- question vs statement ----------------------------------------------------------------------------------
    diff("question_vs_statement", "translate", [
        ("translate to Spanish: you are hungry", "translate to Spanish: are you hungry?"),
        ("what's the French for 'it is raining'", "what's the French for 'is it raining?'"),
    ], noise=False),
    diff("question_vs_statement", "punctuate", [
        ("add the right punctuation: she is coming tomorrow", "add the right punctuation: is she coming tomorrow"),
    ], noise=False),
    diff("question_vs_statement", "grammar", [
        ("is this grammatically correct: 'Where you are going?'", "is this grammatically correct: 'Where are you going?'"),
    ], noise=False),
    diff("question_vs_statement", "claim", [
        arg("I should quit my job.", "Should I quit my job?"),
        arg("Python is slower than Java.", "Is Python slower than Java?"),
        arg("You can read PDFs.", "Can you read PDFs?"),
    ], noise=False),
    diff("question_vs_statement", "rewrite", [
        ("turn this into a question: the store opens at 9", "turn this into a question: does the store open at 9?"),
    ], noise=False),
    # ---- an instruction vs a question about the instruction -----------------------------------------------------
    diff("instruction_vs_meta", "create_vs_howto", [
        ("write a haiku about autumn", "how do I write a haiku about autumn?"),
        ("generate a strong password for me", "how do I generate a strong password?"),
    ]),
    diff("instruction_vs_meta", "artifact_vs_advice", [
        ("write a cover letter for a nursing job", "what should a cover letter for a nursing job include?"),
        ("write a wedding toast for my brother", "how long should a wedding toast for my brother be?"),
    ]),
    diff("instruction_vs_meta", "do_vs_about", [
        ("summarize the plot of Hamlet", "is the plot of Hamlet hard to summarize?"),
        ("tell me a joke about cats", "why are jokes about cats so popular?"),
    ]),
    diff("instruction_vs_meta", "validate", [
        ("write a regex that matches email addresses", "is it a good idea to validate email addresses with a regex?"),
        arg("correct this sentence: their going to the park", "is this sentence correct: their going to the park"),
    ]),
    diff("instruction_vs_meta", "act_vs_explain", [
        arg("delete all files in /tmp", "how do I delete all files in /tmp?"),
        arg("explain recursion", "what's the best way to explain recursion to a beginner?"),
    ]),
    diff("instruction_vs_meta", "translate_vs_meta", [
        ("translate 'good night' into Japanese", "is 'good night' hard to translate into Japanese?"),
    ]),
    # ---- typos that make a different real word ------------------------------------------------------------------
    diff("typo_word", "homophone", [
        ("write a short story about a knight", "write a short story about a night"),
        ("write a poem about the sun", "write a poem about the son"),
        arg("is it safe to eat raw flour?", "is it safe to eat raw flower?"),
        arg("what's a popular dessert in Egypt?", "what's a popular desert in Egypt?"),
    ]),
    diff("typo_word", "transposition", [
        ("how do I start a diary", "how do I start a dairy"),
        ("how do I draw an angel?", "how do I draw an angle?"),
    ]),
    diff("typo_word", "vowel_change", [
        ("what's the plural of mouse?", "what's the plural of moose?"),
        ("how do I clean my pan", "how do I clean my pen"),
    ]),
    diff("typo_word", "consonant_change", [
        ("best way to wash wool", "best way to wash wood"),
        ("how often should I wash my car?", "how often should I wash my cat?"),
        ("how long to boil beets", "how long to boil beans"),
    ]),
    diff("typo_word", "insertion_deletion", [
        ("how to store rice", "how to store ice"),
        ("what do cows eat?", "what do crows eat?"),
    ]),
    # ---- spacing that changes a word ----------------------------------------------------------------------------
    diff("spacing", "word_count", [
        ("how many words are in 'ice cream sandwich'?", "how many words are in 'icecream sandwich'?"),
        ("count the words: a lot of people came", "count the words: alot of people came"),
    ], noise=False),
    diff("spacing", "compound", [
        ("what is a greenhouse?", "what is a green house?"),
        arg("what's a darkroom used for", "what's a dark room used for"),
    ], noise=False),
    diff("spacing", "split_word", [
        ("translate 'nowhere' into French", "translate 'now here' into French"),
        arg("what does 'everyday' mean", "what does 'every day' mean"),
    ], noise=False),
    diff("spacing", "grammar_check", [
        ("is this correct: 'I maybe late'", "is this correct: 'I may be late'"),
        ("is this correct: 'please login to your account'", "is this correct: 'please log in to your account'"),
    ], noise=False),
    diff("spacing", "numbers", [
        arg("sort these numbers: 12, 5 3, 9", "sort these numbers: 12, 53, 9"),
    ], noise=False),
    diff("spacing", "shell_path", [
        ("what does `rm -rf /tmp/build` do", "what does `rm -rf / tmp/build` do"),
        ("what does `cd ..` do in bash", "what does `cd..` do in bash"),
    ], noise=False),
    # ---- code differing in one or two characters ----------------------------------------------------------------
    diff("code", "operator", [
        ("what does `x += 1` do in python", "what does `x =+ 1` do in python"),
        ("what does `print(7 / 2)` output in python 3", "what does `print(7 // 2)` output in python 3"),
        ("what's `2 ** 3` in python?", "what's `2 * 3` in python?"),
    ], noise=False),
    diff("code", "comparison", [
        ("why is `if (x = 5)` always true in C?", "why is `if (x == 5)` always true in C?"),
        ("what does `'1' == 1` return in javascript", "what does `'1' === 1` return in javascript"),
    ], noise=False),
    diff("code", "slice_index", [
        ("what does `s[1:]` give for s = 'hello'", "what does `s[:1]` give for s = 'hello'"),
        ("what does `a[-1]` return in python?", "what does `a[1]` return in python?"),
        ("what does `nums[::2]` do", "what does `nums[:2]` do"),
    ], noise=False),
    diff("code", "shell", [
        ("what does `echo hi > notes.txt` do", "what does `echo hi >> notes.txt` do"),
        ("what does `make 2>&1 | tee log` do", "what does `make 2>1 | tee log` do"),
        ("what does `cmd1 && cmd2` do", "what does `cmd1 || cmd2` do"),
    ], noise=False),
    diff("code", "literal", [
        ("what type is `{}` in python?", "what type is `[]` in python?"),
        ("what does `print('5' * 3)` print", "what does `print(5 * 3)` print"),
    ], noise=False),
    diff("code", "sql", [
        ("which rows does `WHERE age > 18` return", "which rows does `WHERE age >= 18` return"),
        ("what does `LIKE 'a%'` match in sql", "what does `LIKE '%a'` match in sql"),
    ], noise=False),
    diff("code", "regex_quantifier", [
        ("what does the regex `ab*` match", "what does the regex `ab+` match"),
        ("what does the regex `^cat` match?", "what does the regex `cat$` match?"),
    ], noise=False),
]


# --------------------------------------------------------------------------------------------------------------------
# same: retypings of one request
# --------------------------------------------------------------------------------------------------------------------

# Everyday requests whose meaning survives any change of case, punctuation, greeting or whitespace
# (no unit prefixes, code, or names that collide with a common word when lower-cased).
POOL: list[tuple[str, str]] = [
    ("How do I reverse a list in Python?", "Q"),
    ("What's the best way to learn Spanish as an adult?", "Q"),
    ("Can you explain how compound interest works?", "Q"),
    ("How long should I boil an egg for a runny yolk?", "Q"),
    ("What are some good stretches for lower back pain?", "Q"),
    ("How do I center a div in CSS?", "Q"),
    ("What is the difference between a virus and a bacterium?", "Q"),
    ("Give me a simple recipe for banana bread.", "I"),
    ("Why is the sky blue?", "Q"),
    ("How many cups are in a gallon?", "Q"),
    ("What should I pack for a week-long beach vacation?", "Q"),
    ("How do I remove a stripped screw?", "Q"),
    ("Write a short birthday message for my coworker.", "I"),
    ("What does a product manager do?", "Q"),
    ("How can I improve my credit score?", "Q"),
    ("How do I undo the last commit in git?", "Q"),
    ("Suggest a name for a golden retriever puppy.", "I"),
    ("How do I get rid of fruit flies in my kitchen?", "Q"),
    ("What are the symptoms of dehydration?", "Q"),
    ("Help me write a resignation letter.", "I"),
    ("Is it bad to charge my phone overnight?", "Q"),
    ("How do I convert a PDF to a Word document?", "Q"),
    ("How do I unclog a bathroom sink?", "Q"),
    ("What are the main causes of inflation?", "Q"),
    ("Recommend a few sci-fi books for a beginner.", "I"),
    ("How do I make cold brew coffee at home?", "Q"),
    ("What's the fastest way to cool down a hot room?", "Q"),
    ("How do I tie a tie?", "Q"),
    ("Explain photosynthesis in simple terms.", "I"),
    ("How many hours of sleep does a teenager need?", "Q"),
    ("How do I reset my router?", "Q"),
    ("Translate 'thank you very much' into French.", "I"),
    ("How do I sort a dictionary by value in Python?", "Q"),
    ("Plan a weekend itinerary for Lisbon.", "I"),
    ("How do I stop procrastinating?", "Q"),
    ("Why do cats knead blankets?", "Q"),
    ("How do I clean white sneakers?", "Q"),
    ("What's the difference between baking soda and baking powder?", "Q"),
    ("How often should I water a cactus?", "Q"),
    ("Write a haiku about rain.", "I"),
    ("Give me some good questions to ask at the end of an interview.", "I"),
    ("How do I merge two dictionaries in Python?", "Q"),
    ("Explain what an API is in simple terms.", "I"),
    ("Summarize the causes of the French Revolution.", "I"),
    ("What is a good beginner workout routine?", "Q"),
    ("How do I calculate the area of a circle?", "Q"),
    ("List some healthy snacks for work.", "I"),
    ("Why does my dog eat grass?", "Q"),
]

QUESTIONS = [t for t, k in POOL if k == "Q"]
IMPERATIVES = [t for t, k in POOL if k == "I"]


def lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


def strip_final(s: str) -> str:
    return s.rstrip("?.!")


def title_case(s: str) -> str:
    return " ".join(w[:1].upper() + w[1:].lower() if w[:1].isalpha() else w for w in s.split(" "))


def shift_slip(s: str) -> str:
    return s[:2].upper() + s[2:]


def emphasis(s: str, rng: random.Random) -> str:
    words = s.split(" ")
    idx = [i for i, w in enumerate(words) if i > 0 and w.isalpha() and len(w) >= 5]
    i = rng.choice(idx)
    words[i] = words[i].upper()
    return " ".join(words)


def drop_apostrophes(s: str) -> str:
    return re.sub(r"(?<=\w)'(?=\w)", "", s)


def extra_marks(s: str, rng: random.Random) -> str:
    return strip_final(s) + rng.choice(["??", "?!", "???"] if s.endswith("?") else ["!!", "!!!"])


def ellipsis(s: str) -> str:
    return strip_final(s) + "..."


def imperative_as_question(s: str) -> str:
    return strip_final(s) + "?"


def double_space(s: str, rng: random.Random) -> str:
    words = s.split(" ")
    i = rng.randrange(1, len(words))
    words[i] = " " + words[i]
    return " ".join(words)


def pad(s: str) -> str:
    return "  " + s + " "


def trailing_newline(s: str) -> str:
    return s + "\n"


def space_before_punct(s: str) -> str:
    return (strip_final(s) + " " + s[-1]) if s[-1] in "?.!" else s + " "


def multi_space(s: str) -> str:
    return s.replace(" ", "   ", 2)


Transform = Callable[[str, random.Random], str]


def pool_family(kind: str, name: str, n: int, rng: random.Random, fn: Transform, source: list[str] | None = None,
                when: Callable[[str], bool] | None = None) -> Family:
    candidates = [s for s in (source or [t for t, _ in POOL]) if when is None or when(s)]
    picked = rng.sample(candidates, n)
    return Family(kind, name, "same", tuple(P(s, fn(s, rng)) for s in picked))


def same(kind: str, name: str, pairs: list[P | tuple[str, str]]) -> Family:
    return Family(kind, name, "same", tuple(p if isinstance(p, P) else P(*p) for p in pairs))


def build_same(rng: random.Random) -> list[Family]:
    fams: list[Family] = []
    # case
    fams.append(pool_family("same_case", "all_lower", 4, rng, lambda s, r: s.lower()))
    fams.append(pool_family("same_case", "title_case", 3, rng, lambda s, r: title_case(s)))
    fams.append(pool_family("same_case", "caps_lock", 3, rng, lambda s, r: s.upper()))
    fams.append(pool_family("same_case", "shift_slip", 3, rng, lambda s, r: shift_slip(s), when=lambda s: s[:2].isalpha()))
    fams.append(pool_family("same_case", "emphasis_caps", 3, rng, emphasis,
                            when=lambda s: any(w.isalpha() and len(w) >= 5 for w in s.split(" ")[1:])))
    # punctuation
    fams.append(pool_family("same_punct", "drop_final", 4, rng, lambda s, r: strip_final(s)))
    fams.append(pool_family("same_punct", "drop_apostrophe", 3, rng, lambda s, r: drop_apostrophes(s),
                            when=lambda s: re.search(r"(?<=\w)'(?=\w)", s) is not None))
    fams.append(pool_family("same_punct", "extra_marks", 3, rng, extra_marks))
    fams.append(pool_family("same_punct", "ellipsis", 3, rng, lambda s, r: ellipsis(s)))
    fams.append(pool_family("same_punct", "imperative_qmark", 3, rng, lambda s, r: imperative_as_question(s), source=IMPERATIVES))
    # greetings and thanks
    fams.append(pool_family("same_greeting", "hi_prefix", 3, rng, lambda s, r: r.choice(["hi! ", "Hello! "]) + s))
    fams.append(pool_family("same_greeting", "hey_there", 3, rng, lambda s, r: "hey there, " + lower_first(s)))
    fams.append(pool_family("same_greeting", "thanks_suffix", 3, rng, lambda s, r: s + r.choice([" thanks!", " Thanks.", " thx"])))
    fams.append(pool_family("same_greeting", "thanks_in_advance", 3, rng, lambda s, r: s + " Thanks in advance!"))
    fams.append(pool_family("same_greeting", "quick_question", 3, rng, lambda s, r: "Quick question: " + lower_first(s),
                            source=QUESTIONS))
    fams.append(pool_family("same_greeting", "good_morning", 3, rng, lambda s, r: "Good morning! " + s))
    fams.append(pool_family("same_greeting", "hello_and_thanks", 3, rng, lambda s, r: "Hello! " + s + " Thank you so much!"))
    # politeness
    fams.append(pool_family("same_polite", "please_prefix", 3, rng, lambda s, r: "Please " + lower_first(s), source=IMPERATIVES))
    fams.append(pool_family("same_polite", "please_suffix", 3, rng, lambda s, r: strip_final(s) + ", please.", source=IMPERATIVES))
    fams.append(pool_family("same_polite", "can_you", 3, rng, lambda s, r: "Can you " + lower_first(strip_final(s)) + "?",
                            source=IMPERATIVES))
    fams.append(pool_family("same_polite", "could_you_please", 3, rng,
                            lambda s, r: "Could you please " + lower_first(strip_final(s)) + "?", source=IMPERATIVES))
    fams.append(pool_family("same_polite", "question_preamble", 3, rng,
                            lambda s, r: r.choice(["I have a question: ", "Sorry if this is a dumb question, but "]) + lower_first(s),
                            source=QUESTIONS))
    fams.append(pool_family("same_polite", "appreciation_suffix", 3, rng,
                            lambda s, r: s + r.choice([" Any help is appreciated.", " I'd really appreciate it."])))
    # contractions
    fams.append(same("same_contraction", "what_is", [
        ("What is the boiling point of water?", "What's the boiling point of water?"),
        ("What is the best way to store fresh herbs?", "What's the best way to store fresh herbs?"),
        ("What's the difference between baking soda and baking powder?",
         "What is the difference between baking soda and baking powder?"),
    ]))
    fams.append(same("same_contraction", "do_not", [
        ("I do not understand how recursion works, can you explain?", "I don't understand how recursion works, can you explain?"),
        ("Why does my code not print anything?", "Why doesn't my code print anything?"),
    ]))
    fams.append(same("same_contraction", "i_am", [
        ("I am learning Python, what should I build first?", "I'm learning Python, what should I build first?"),
        ("I am going to Rome next week, what should I see?", "I'm going to Rome next week, what should I see?"),
    ]))
    fams.append(same("same_contraction", "cannot", [
        ("Why can I not connect to my wifi?", "Why can't I connect to my wifi?"),
        ("I cannot log in to my email, what should I do?", "I can't log in to my email, what should I do?"),
    ]))
    fams.append(same("same_contraction", "it_is", [
        ("It is my first job interview tomorrow, any tips?", "It's my first job interview tomorrow, any tips?"),
        ("What should I do if it is too hot to sleep?", "What should I do if it's too hot to sleep?"),
    ]))
    fams.append(same("same_contraction", "will_not", [
        ("My car will not start, what could be wrong?", "My car won't start, what could be wrong?"),
        ("Why will my laptop not turn on?", "Why won't my laptop turn on?"),
    ]))
    # whitespace
    fams.append(pool_family("same_whitespace", "double_space", 3, rng, double_space))
    fams.append(pool_family("same_whitespace", "padded", 3, rng, lambda s, r: pad(s)))
    fams.append(pool_family("same_whitespace", "trailing_newline", 3, rng, lambda s, r: trailing_newline(s)))
    fams.append(pool_family("same_whitespace", "space_before_punct", 3, rng, lambda s, r: space_before_punct(s)))
    fams.append(pool_family("same_whitespace", "multi_space", 3, rng, lambda s, r: multi_space(s)))
    # obvious non-word typos of the same word
    fams.append(same("same_typo", "transposition", [
        ("How do I reverse a list in Python?", "How do I reverse a list in Pyhton?"),
        ("Why is the sky blue?", "Why is teh sky blue?"),
        ("How do I center a div in CSS?", "How do I cetner a div in CSS?"),
        ("What are the symptoms of dehydration?", "What are the sympotms of dehydration?"),
    ]))
    fams.append(same("same_typo", "omission", [
        ("What's the difference between baking soda and baking powder?", "What's the diffrence between baking soda and baking powder?"),
        ("Recommend a few sci-fi books for a beginner.", "Recomend a few sci-fi books for a beginner."),
        ("How do I get rid of fruit flies in my kitchen?", "How do I get rid of fruit flies in my kitchn?"),
        ("How do I make cold brew coffee at home?", "How do I make cold brew coffe at home?"),
    ]))
    fams.append(same("same_typo", "doubling", [
        ("How often should I water a cactus?", "How oftten should I water a cactus?"),
        ("How many hours of sleep does a teenager need?", "How many hours of sleep does a teenagger need?"),
        ("Give me a simple recipe for banana bread.", "Give me a simple recipe for bananna bread."),
    ]))
    fams.append(same("same_typo", "adjacent_key", [
        ("How do I reset my router?", "How do I reset my riuter?"),
        ("How do I clean white sneakers?", "How do I clean white sneakwrs?"),
        ("Write a haiku about rain.", "Write a haiku abour rain."),
        ("How do I unclog a bathroom sink?", "How do I unclog a bathroon sink?"),
    ]))
    fams.append(same("same_typo", "misspelling", [
        ("How do I receive money on PayPal?", "How do I recieve money on PayPal?"),
        ("Should I use separate cutting boards for meat and vegetables?", "Should I use seperate cutting boards for meat and vegetables?"),
        ("Why does my dog make a weird noise when he sleeps?", "Why does my dog make a wierd noise when he sleeps?"),
        ("How can I keep accommodation costs low when traveling?", "How can I keep accomodation costs low when traveling?"),
    ]))
    # true paraphrases
    fams.append(same("same_paraphrase", "howto_rephrase", [
        ("How do I reverse a list in Python?", "What's the way to reverse a Python list?"),
        ("How can I get rid of hiccups?", "What's a good way to stop hiccups?"),
        ("How do I remove a stripped screw?", "What's the best way to get a stripped screw out?"),
    ]))
    fams.append(same("same_paraphrase", "imperative_vs_question", [
        ("Give me three tips for better sleep.", "What are 3 tips for sleeping better?"),
        ("Tell me the boiling point of water at sea level.", "What's the boiling point of water at sea level?"),
        ("Translate 'good morning' into Spanish.", "How do you say 'good morning' in Spanish?"),
    ]))
    fams.append(same("same_paraphrase", "request_wrapper", [
        ("Summarize the plot of Hamlet.", "Can you summarize the plot of Hamlet?"),
        ("Explain how vaccines work.", "Could you explain how vaccines work?"),
        ("I need a recipe for vegan chili.", "Give me a recipe for vegan chili."),
    ]))
    fams.append(same("same_paraphrase", "conversion_rephrase", [
        ("Convert 10 miles to kilometers.", "How many kilometers is 10 miles?"),
        ("What is 15% of 80?", "What is fifteen percent of 80?"),
        ("How many ounces are in a pound?", "A pound is how many ounces?"),
    ]))
    fams.append(same("same_paraphrase", "symmetric_order", [
        ("What's the difference between TCP and UDP?", "What's the difference between UDP and TCP?"),
        ("Is a tomato a fruit or a vegetable?", "Is a tomato a vegetable or a fruit?"),
        ("How far is Paris from London?", "How far is London from Paris?"),
        ("Compare cats and dogs as pets.", "Compare dogs and cats as pets."),
    ]))
    fams.append(same("same_paraphrase", "factual_rephrase", [
        ("Who wrote Pride and Prejudice?", "Who is the author of Pride and Prejudice?"),
        ("When did World War II end?", "What year did WW2 end?"),
        ("What is the capital of Canada?", "Canada's capital city is what?"),
        ("How many legs does a spider have?", "How many legs do spiders have?"),
    ]))
    fams.append(same("same_paraphrase", "negative_yes_no", [arg("Does coffee dehydrate you?", "Doesn't coffee dehydrate you?")]))
    fams.append(same("same_paraphrase", "modal_synonym", [
        arg("Can I bring a power bank on a plane?", "May I bring a power bank on a plane?"),
        arg("What will happen if I stop paying my credit card?", "What would happen if I stop paying my credit card?"),
    ]))
    fams.append(same("same_paraphrase", "grammar_slip", [
        arg("Is it bad to lie down right after eating?", "Is it bad to lay down right after eating?"),
    ]))
    fams.append(same("same_paraphrase", "near_synonym", [
        arg("How long should I boil an egg for a soft yolk?", "How long should I boil an egg for a runny yolk?"),
    ]))
    # several retyping habits at once
    fams.append(pool_family("same_combo", "lazy_lower", 3, rng, lambda s, r: drop_apostrophes(strip_final(s.lower()))))
    fams.append(pool_family("same_combo", "greet_lower", 3, rng, lambda s, r: "hey " + strip_final(s.lower()) + " thanks"))
    fams.append(pool_family("same_combo", "polite_thanks", 3, rng,
                            lambda s, r: "could you please " + lower_first(strip_final(s)) + "? thank you!", source=IMPERATIVES))
    fams.append(pool_family("same_combo", "shouty", 3, rng, lambda s, r: extra_marks(s.upper(), r)))
    fams.append(pool_family("same_combo", "messy_spacing", 3, rng, lambda s, r: " " + double_space(strip_final(s.lower()), r) + "  "))
    return fams


# --------------------------------------------------------------------------------------------------------------------
# surface noise on "different" pairs
# --------------------------------------------------------------------------------------------------------------------

GREETINGS = ["hey ", "hi, ", "quick q: ", "hello! "]
THANKS = [" thanks", " thx", " thank you!"]


def noisy(a: str, b: str, rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 0.40:
        pass
    elif r < 0.60:
        a, b = a.lower(), b.lower()
    elif r < 0.72:
        a, b = strip_final(a), strip_final(b)
    elif r < 0.86:
        g = rng.choice(GREETINGS)
        a, b = g + lower_first(a), g + lower_first(b)
    else:
        t = rng.choice(THANKS)
        a, b = a + t, b + t
    if rng.random() < 0.25:
        # One side retyped a little differently, as a second user would.
        side_a = rng.random() < 0.5
        s = a if side_a else b
        ops = [op for op, ok in (("greet", not s.startswith(tuple(GREETINGS))),
                                 ("thanks", not s.endswith(tuple(THANKS))),
                                 ("strip", s.endswith(("?", ".")))) if ok]
        op = rng.choice(ops) if ops else ""
        if op == "greet":
            s = rng.choice(GREETINGS) + lower_first(s)
        elif op == "thanks":
            s = s + rng.choice(THANKS)
        elif op == "strip":
            s = strip_final(s)
        if side_a:
            a = s
        else:
            b = s
    return a, b


# --------------------------------------------------------------------------------------------------------------------


def build() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    families = DIFFERENT + build_same(rng)
    rows: list[dict[str, str]] = []
    for fam in families:
        for p in fam.pairs:
            a, b = p.a, p.b
            if fam.label == "different" and fam.noise:
                a, b = noisy(a, b, rng)
            if rng.random() < 0.5:
                a, b = b, a
            kind = fam.kind + ("_arguable" if p.arguable else "")
            rows.append({"group": f"{kind}:{fam.name}", "a": a, "b": b, "label": fam.label, "kind": kind})
    rng.shuffle(rows)
    out = [
        {"id": f"r6-{i:04d}", "group": r["group"], "split": "report", "a": r["a"], "b": r["b"], "label": r["label"], "kind": r["kind"]}
        for i, r in enumerate(rows)
    ]
    check(out, families)
    return out


def check(rows: list[dict[str, str]], families: list[Family]) -> None:
    seen: set[frozenset[str]] = set()
    for r in rows:
        assert r["a"] != r["b"], r
        key = frozenset((r["a"], r["b"]))
        assert key not in seen, r
        seen.add(key)
    labels = Counter(r["label"] for r in rows)
    assert len(rows) >= 400 and labels["different"] >= 250 and labels["same"] >= 120, labels
    fams_per_kind: dict[str, set[str]] = defaultdict(set)
    for f in families:
        fams_per_kind[f.kind].add(f.name)
    thin = {k: len(v) for k, v in fams_per_kind.items() if len(v) < 5}
    assert not thin, thin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts = Counter((r["kind"], r["label"]) for r in rows)
    for (kind, label), n in sorted(counts.items()):
        print(f"{label:9s} {kind:34s} {n}")
    print(f"total {len(rows)}: {dict(Counter(r['label'] for r in rows))} -> {args.out}")


if __name__ == "__main__":
    main()
