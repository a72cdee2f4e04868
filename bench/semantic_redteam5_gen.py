"""Generate bench/data/semantic_redteam5.jsonl: a fifth red-team set aimed at the "same words after
normalisation" rule of the semantic cache.

The rule under attack (fixed before this set was written) serves a cached answer only when the two last
user messages become the same sequence of words and punctuation after it: collapses whitespace and
straightens curly quotes; folds case only for a sentence's first letter and the pronoun "I"; drops the
final "." / "!" / "..." and a final "?" when a question word leads; spells out contractions; drops
openers ("so", "well", "please", "hey,", "hi!", "hello,"), closing thanks and a leading "could you /
can you / would you / will you"; skips the folds (whitespace excepted) when a mention guard fires
(quote, colon, newline, or words such as spell, count, word, mean); and keeps exact guards for numbers,
negation, entities, code symbols and the like.

Every ``different`` pair is built so that, read literally, the rule's steps make (or may make) the two
prompts equal while a careful rater would not serve one answer for the other:

* whitespace: Python / Makefile / YAML / Markdown indentation, spaces inside strings, a space after a
  line-continuation backslash, poem and table layout (the newline fires the mention guard, which still
  lets whitespace differ);
* curly_quotes: curly vs straight quotes inside code, JSON, shell, SQL, spreadsheet formulas, HTML/CSS;
* case_sentence_start: a case-sensitive identifier or symbol that opens a sentence (Java wrappers,
  TypeScript types, Go exports, Python/JSON literals, SI symbols);
* case_pronoun_i: the letter I / i as identity matrix, imaginary unit, ASCII code, Turkish dotted i;
* final_punct: a final "!" or "." or "..." that is content (factorial, double factorial, repeating
  decimals, infinite series, shell "." / ".." / "!!", Morse code);
* final_question: a final "?" that belongs to a regex, a Ruby method or a nullable type (all arguable);
* contraction: "'d" read as "would", and "isn't" / "is not" as an operator;
* opener / closer: "please", "hey,", "so", "well" and "thanks" / "thank you" that are the content;
* could_you: "can / will / would you X" where the assistant's ability or stance is the question;
* mention_miss: text-form requests the guard words miss (syllables, vowels, rhymes, palindromes,
  backwards, Morse, acronyms, camelCase, counting dots) where a contraction, first-letter case or
  final punctuation is the very thing asked about.

Pairs a careful rater could defend either way carry the kind suffix ``_arguable`` so they can be
reported apart. The ``same`` pairs are casual retypings of one request (lower-case start, missing "?",
greetings, thanks, "could you", contractions, extra spaces, curly apostrophes) that the rule should accept.

Independence: written without reading the verifier (router/cache), its calibration, the evaluation set or
any earlier red-team set or generator. Nothing was tuned on this set: it is for a single report-only
measurement (every pair has split "report").

Reproduce: .venv/bin/python bench/semantic_redteam5_gen.py   (deterministic; rewrites the data file)
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

OUT = Path(__file__).parent / "data" / "semantic_redteam5.jsonl"
SEED = 5005


class Pair(NamedTuple):
    kind: str
    family: str
    a: str
    b: str
    label: str


Rows = list[tuple[str, str]]


def _family(kind: str, family: str, rows: Rows, label: str = "different") -> list[Pair]:
    return [Pair(kind, family, a, b, label) for a, b in rows]


# --------------------------------------------------------------------------------------------------
# Step 1: whitespace. The newline (and often a colon or quote) fires the mention guard, which still
# lets whitespace differ; in these prompts the layout decides the answer.

WS_PY_INDENT: Rows = [
    ("What does this print?\nfor i in range(3):\n    total = i * 2\n    print(total)",
     "What does this print?\nfor i in range(3):\n    total = i * 2\nprint(total)"),
    ("What does f(4) return?\ndef f(n):\n    s = 0\n    for k in range(n):\n        s += k\n        return s",
     "What does f(4) return?\ndef f(n):\n    s = 0\n    for k in range(n):\n        s += k\n    return s"),
    ("What gets printed when x is 0?\nif x > 0:\n    print('positive')\n    print('checked')",
     "What gets printed when x is 0?\nif x > 0:\n    print('positive')\nprint('checked')"),
    ("How many times is done printed?\nfor n in [1, 2, 3]:\n    if n > 5:\n        break\nelse:\n    print('done')",
     "How many times is done printed?\nfor n in [1, 2, 3]:\n    if n > 5:\n        break\n    else:\n        print('done')"),
    ("What is printed?\ni = 0\nwhile i < 3:\n    i += 1\n    print(i)",
     "What is printed?\ni = 0\nwhile i < 3:\n    i += 1\nprint(i)"),
    ("What does out contain after this runs?\nout = []\nfor x in range(3):\n    if x % 2 == 0:\n        out.append(x)\n"
     "    out.append(-1)",
     "What does out contain after this runs?\nout = []\nfor x in range(3):\n    if x % 2 == 0:\n        out.append(x)\n"
     "        out.append(-1)"),
    ("Is the file still open when print runs?\nwith open('a.txt') as f:\n    data = f.read()\n    print(f.closed)",
     "Is the file still open when print runs?\nwith open('a.txt') as f:\n    data = f.read()\nprint(f.closed)"),
    ("Is greet a method of Dog here?\nclass Dog:\n    def bark(self):\n        return 'woof'\n    def greet(self):\n"
     "        return 'hi'",
     "Is greet a method of Dog here?\nclass Dog:\n    def bark(self):\n        return 'woof'\ndef greet(self):\n"
     "    return 'hi'"),
    ("What does evens([2, 4, 5]) return?\ndef evens(xs):\n    n = 0\n    for x in xs:\n        if x % 2 == 0:\n"
     "            n += 1\n    return n",
     "What does evens([2, 4, 5]) return?\ndef evens(xs):\n    n = 0\n    for x in xs:\n        if x % 2 == 0:\n"
     "            n += 1\n            return n"),
]

WS_PY_RETURN: Rows = [
    ("What does first_even([1, 2]) return?\ndef first_even(xs):\n    for x in xs:\n        if x % 2 == 0:\n"
     "            return x\n    return None",
     "What does first_even([1, 2]) return?\ndef first_even(xs):\n    for x in xs:\n        if x % 2 == 0:\n"
     "            return x\n        return None"),
]

WS_PY_ERRORS: Rows = [
    ("Why does Python 3 raise TabError here?\nif ready:\n\tstart()\n        log()",
     "Why does Python 3 raise TabError here?\nif ready:\n        start()\n        log()"),
    ("Why does this raise IndentationError?\nx = 1\n    y = 2",
     "Why does this raise IndentationError?\nx = 1\ny = 2"),
    ("Why does Python reject this line continuation?\ntotal = 1 + \\ \n    2",
     "Why does Python reject this line continuation?\ntotal = 1 + \\\n    2"),
]

WS_MAKEFILE: Rows = [
    ("Why does make fail on this Makefile?\nbuild:\n\tgcc main.c -o app",
     "Why does make fail on this Makefile?\nbuild:\n    gcc main.c -o app"),
    ("Will make run my test target with this?\ntest:\n\tpytest -q",
     "Will make run my test target with this?\ntest:\n  pytest -q"),
    ("Why does make report missing separator here?\nclean:\n        rm -rf build",
     "Why does make report missing separator here?\nclean:\n\trm -rf build"),
]

WS_YAML: Rows = [
    ("Is retries nested under server in this YAML?\nserver:\n  port: 8080\nretries: 3",
     "Is retries nested under server in this YAML?\nserver:\n  port: 8080\n  retries: 3"),
    ("Why is DEBUG not set in my container?\nservices:\n  web:\n    image: nginx\n  environment:\n    - DEBUG=1",
     "Why is DEBUG not set in my container?\nservices:\n  web:\n    image: nginx\n    environment:\n      - DEBUG=1"),
    ("Why does my GitHub Actions step not run pytest?\nsteps:\n  - name: Test\n  run: pytest",
     "Why does my GitHub Actions step not run pytest?\nsteps:\n  - name: Test\n    run: pytest"),
    ("Which key is host under in this config?\ndatabase:\n  user: app\ncache:\n  ttl: 60\nhost: db.local",
     "Which key is host under in this config?\ndatabase:\n  user: app\ncache:\n  ttl: 60\n  host: db.local"),
]

WS_MARKDOWN: Rows = [
    ("Will this show as a code block in GitHub Markdown?\n\n    npm install",
     "Will this show as a code block in GitHub Markdown?\n\nnpm install"),
    ("Will these render on two separate lines in Markdown?\nRoses are red  \nViolets are blue",
     "Will these render on two separate lines in Markdown?\nRoses are red\nViolets are blue"),
    ("Is the second bullet nested under the first in Markdown?\n- fruit\n  - apple",
     "Is the second bullet nested under the first in Markdown?\n- fruit\n- apple"),
    ("Does Markdown render this as two paragraphs?\nfirst part\n\nsecond part",
     "Does Markdown render this as two paragraphs?\nfirst part\nsecond part"),
]

WS_STRINGS: Rows = [
    ('What does len("a  b") return in Python?', 'What does len("a b") return in Python?'),
    ("What does 'a  b'.split(' ') return in Python?", "What does 'a b'.split(' ') return in Python?"),
    ('Is "foo  bar" === "foo bar" true in JavaScript?', 'Is "foo bar" === "foo bar" true in JavaScript?'),
    ('How many spaces are between the two parts of "hello   world"?', 'How many spaces are between the two parts of "hello world"?'),
]

WS_BASH: Rows = [
    ("Why does bash run the second line as its own command?\nls -la \\ \n  /tmp",
     "Why does bash run the second line as its own command?\nls -la \\\n  /tmp"),
]

WS_LAYOUT: Rows = [
    ("How many syllables are on each line of my haiku?\nautumn moonlight\na worm digs silently\ninto the chestnut",
     "How many syllables are on each line of my haiku?\nautumn moonlight a\nworm digs silently into\nthe chestnut"),
    ("How many lines does this limerick have?\nThere once was a man from Peru who dreamed he was eating his shoe\n"
     "he woke with a fright in the middle of the night\nand found that his dream had come true",
     "How many lines does this limerick have?\nThere once was a man from Peru\nwho dreamed he was eating his shoe\n"
     "he woke with a fright\nin the middle of the night\nand found that his dream had come true"),
    ("Do the last syllables of my lines rhyme?\nthe cat sat on\nthe mat and the dog\nlay in the fog",
     "Do the last syllables of my lines rhyme?\nthe cat sat on the mat\nand the dog lay\nin the fog"),
    ("Under which header is the 7 in this plain-text table?\nA    B    C\n          7",
     "Under which header is the 7 in this plain-text table?\nA    B    C\n     7"),
    ("Which column has no value for bob in this table?\nname   age   city\nbob          paris",
     "Which column has no value for bob in this table?\nname   age   city\nbob   paris"),
    ("What shape does this ASCII drawing make?\n *\n***\n *",
     "What shape does this ASCII drawing make?\n*\n***\n*"),
]

# Step 1: curly quotes become straight ones; in code, data and formulas they are not quotes at all.
CURLY_PYTHON: Rows = [
    ("Why does print(“hello”) raise a SyntaxError in Python?", 'Why does print("hello") raise a SyntaxError in Python?'),
    ("Why does name = ‘Ada’ fail in Python 3?", "Why does name = 'Ada' fail in Python 3?"),
    ("Why does open(“data.csv”) give an invalid character error?", 'Why does open("data.csv") give an invalid character error?'),
    ("Why does my f-string f“{x}” not work?", 'Why does my f-string f"{x}" not work?'),
    ("Why does os.getenv(‘HOME’) fail in my script?", "Why does os.getenv('HOME') fail in my script?"),
]

CURLY_JSON: Rows = [
    ("Is {“id”: 7} valid JSON?", 'Is {"id": 7} valid JSON?'),
    ("Why does JSON.parse fail on [“a”, “b”]?", 'Why does JSON.parse fail on ["a", "b"]?'),
    ("Will jq accept {“ok”: true} as input?", 'Will jq accept {"ok": true} as input?'),
    ("Why does my config file with {“debug”: false} fail to load?", 'Why does my config file with {"debug": false} fail to load?'),
]

CURLY_SHELL: Rows = [
    ("What does echo ‘$HOME’ print in bash?", "What does echo '$HOME' print in bash?"),
    ("Why does grep “error” app.log print nothing when the log has errors?",
     'Why does grep "error" app.log print nothing when the log has errors?'),
    ("Why does cd “My Documents” fail in bash?", 'Why does cd "My Documents" fail in bash?'),
]

CURLY_FORMULA: Rows = [
    ("Why does =IF(A1=“yes”,1,0) give #NAME? in Excel?", 'Why does =IF(A1="yes",1,0) give #NAME? in Excel?'),
    ("Why does =COUNTIF(B:B,“done”) return an error in Google Sheets?", 'Why does =COUNTIF(B:B,"done") return an error in Google Sheets?'),
]

CURLY_SQL: Rows = [
    ("Why does SELECT * FROM users WHERE name = ‘Ana’ give a syntax error in Postgres?",
     "Why does SELECT * FROM users WHERE name = 'Ana' give a syntax error in Postgres?"),
    ("Why does INSERT INTO tags VALUES (‘red’) fail in MySQL?", "Why does INSERT INTO tags VALUES ('red') fail in MySQL?"),
]

CURLY_WEB: Rows = [
    ("Why doesn't <a href=“/about”>About</a> go to my about page?", 'Why doesn\'t <a href="/about">About</a> go to my about page?'),
    ("Why is font-family: “Inter” ignored in my CSS?", 'Why is font-family: "Inter" ignored in my CSS?'),
    ("Why does <img src=‘logo.png’> show a broken image?", "Why does <img src='logo.png'> show a broken image?"),
]

# --------------------------------------------------------------------------------------------------
# Step 2: first-letter case folds at a sentence start; for case-sensitive identifiers and symbols it
# is the whole question.

CASE_JAVA: Rows = [
    ("Boolean fields default to what in Java?", "boolean fields default to what in Java?"),
    ("Double fields default to what in Java?", "double fields default to what in Java?"),
    ("Long fields default to what in Java?", "long fields default to what in Java?"),
    ("Integer values compared with == can be unequal even when the numbers match in Java, right?",
     "integer values compared with == can be unequal even when the numbers match in Java, right?"),
]

CASE_TS: Rows = [
    ("String is the type I should use for text in TypeScript?", "string is the type I should use for text in TypeScript?"),
    ("Number is a primitive type in TypeScript?", "number is a primitive type in TypeScript?"),
    ("Object accepts primitive values like 42 in TypeScript?", "object accepts primitive values like 42 in TypeScript?"),
]

CASE_GO: Rows = [
    ("Config is exported from my Go package, right?", "config is exported from my Go package, right?"),
    ("Handler can be called from another package in Go?", "handler can be called from another package in Go?"),
    ("NewClient is visible outside its Go package?", "newClient is visible outside its Go package?"),
    ("ParseDate can be used by code in other Go packages, right?", "parseDate can be used by code in other Go packages, right?"),
]

CASE_LITERALS: Rows = [
    ("True is a keyword in Python 3, right?", "true is a keyword in Python 3, right?"),
    ("None is a reserved keyword in Python, right?", "none is a reserved keyword in Python, right?"),
    ("List is deprecated for type hints since Python 3.9, right?", "list is deprecated for type hints since Python 3.9, right?"),
    ("Dict is deprecated for type hints since Python 3.9?", "dict is deprecated for type hints since Python 3.9?"),
    ("True is a valid JSON value?", "true is a valid JSON value?"),
    ("Null is a valid JSON value?", "null is a valid JSON value?"),
    ("T is an alias for TRUE in R?", "t is an alias for TRUE in R?"),
    ("Maybe is a type constructor in Haskell, right?", "maybe is a type constructor in Haskell, right?"),
    ("Foo is an atom in Erlang?", "foo is an atom in Erlang?"),
    ("Nginx is a valid Docker repository name?", "nginx is a valid Docker repository name?"),
]

CASE_SYMBOLS: Rows = [
    ("c is the symbol for what in physics?", "C is the symbol for what in physics?"),
    ("Quick physics question. g is the symbol for what?", "Quick physics question. G is the symbol for what?"),
    ("k is the symbol for what in physics?", "K is the symbol for what in physics?"),
    ("h is the symbol for what in physics?", "H is the symbol for what in physics?"),
    ("m is the SI prefix for what?", "M is the SI prefix for what?"),
    ("Networking question. b is the symbol for bits or bytes?", "Networking question. B is the symbol for bits or bytes?"),
    ("t is the unit symbol for what?", "T is the unit symbol for what?"),
]

# Autocorrect capitalises the first word, so a capital here may be an accident: arguable.
CASE_COMMANDS_ARGUABLE: Rows = [
    ("Ls gives command not found on Ubuntu, why?", "ls gives command not found on Ubuntu, why?"),
    ("Grep is not found on my Linux server, why?", "grep is not found on my Linux server, why?"),
    ("Banana sorts before apple in ASCII order, right?", "banana sorts before apple in ASCII order, right?"),
    ("Zebra comes before apple in a case-sensitive sort?", "zebra comes before apple in a case-sensitive sort?"),
]

# Step 2: "i" folds to "I" everywhere, also where it is not the pronoun.
CASE_I: Rows = [
    ("Is I squared equal to I?", "Is i squared equal to i?"),
    ("What is I cubed?", "What is i cubed?"),
    ("What is the inverse of I?", "What is the inverse of i?"),
    ("Is I before a in ASCII order?", "Is i before a in ASCII order?"),
    ("Which comes first in ASCII, I or Z?", "Which comes first in ASCII, i or Z?"),
    ("Does Python's sorted put I ahead of b?", "Does Python's sorted put i ahead of b?"),
    ("In Turkish, does i keep a dot in all caps?", "In Turkish, does I keep a dot in all caps?"),
    ("In Turkish, what is the small form of I?", "In Turkish, what is the small form of i?"),
]

CASE_I_ARGUABLE: Rows = [
    ("Is I a halogen?", "Is i a halogen?"),
    ("Is i a real number?", "Is I a real number?"),
]

# --------------------------------------------------------------------------------------------------
# Step 3: the final "!" / "." / "..." is content.

FACT_LAST_DIGIT: Rows = [
    ("What's the last digit of 7!", "What's the last digit of 7?"),
    ("What is the units digit of 9!", "What is the units digit of 9?"),
    ("what's the final digit of 13!", "what's the final digit of 13?"),
    ("What's the last nonzero digit of 5!", "What's the last nonzero digit of 5?"),
]

FACT_EQUAL: Rows = [
    ("Is 720 equal to 6!", "Is 720 equal to 6?"),
    ("Is 24 the same as 4!", "Is 24 the same as 4?"),
    ("Does 5040 equal 7!", "Does 5040 equal 7?"),
    ("Is 120 equal to 5!", "Is 120 equal to 5?"),
]

FACT_COMPARE: Rows = [
    ("Which is bigger, 500 or 6!", "Which is bigger, 500 or 6?"),
    ("Which is larger, 100 or 5!", "Which is larger, 100 or 5?"),
    ("Which is greater, 4000 or 7!", "Which is greater, 4000 or 7?"),
    ("Is 5000 less than 7!", "Is 5000 less than 7?"),
]

FACT_FACTORS: Rows = [
    ("What is the prime factorization of 10!", "What is the prime factorization of 10?"),
    ("List the divisors of 6!", "List the divisors of 6."),
    ("What are the factors of 4!", "What are the factors of 4?"),
    ("Find the prime factors of 8!", "Find the prime factors of 8."),
    ("How many digits are in 25!", "How many digits are in 25?"),
    ("How many trailing zeros are in 100!", "How many trailing zeros are in 100?"),
]

FACT_DOUBLE: Rows = [
    ("What is 7!!", "What is 7!"),
    ("What's 8!!", "What's 8!"),
    ("Compute 9!!", "Compute 9!"),
]

REPEATING: Rows = [
    ("What fraction is 0.333...", "What fraction is 0.333?"),
    ("Is 1 equal to 0.999...", "Is 1 equal to 0.999?"),
    ("Convert to a fraction 0.8333...", "Convert to a fraction 0.8333"),
    ("What's 3 times 0.333...", "What's 3 times 0.333?"),
    ("Is 2/3 equal to 0.666...", "Is 2/3 equal to 0.666?"),
]

SERIES: Rows = [
    ("What's the sum of 1 + 1/2 + 1/4 + 1/8...", "What's the sum of 1 + 1/2 + 1/4 + 1/8?"),
    ("What is 1/2 + 1/4 + 1/8 + 1/16...", "What is 1/2 + 1/4 + 1/8 + 1/16?"),
    ("What is 1 - 1/3 + 1/5 - 1/7...", "What is 1 - 1/3 + 1/5 - 1/7?"),
    ("What is 0.9 + 0.09 + 0.009...", "What is 0.9 + 0.09 + 0.009?"),
]

SHELL_DOTS: Rows = [
    ("In bash, what happens when I type cd ..", "In bash, what happens when I type cd"),
    ("What happens if I run ls ..", "What happens if I run ls"),
    ("What happens if I run code .", "What happens if I run code"),
    ("On a Mac, what happens if I run open .", "On a Mac, what happens if I run open"),
    ("What happens if I run cp notes.txt ..", "What happens if I run cp notes.txt"),
    ("What happens if I run mv report.pdf ..", "What happens if I run mv report.pdf"),
    ("What happens if I run git checkout .", "What happens if I run git checkout"),
    ("What happens if I run git restore .", "What happens if I run git restore"),
    ("What happens if I run git add .", "What happens if I run git add"),
    ("What happens if I run docker build .", "What happens if I run docker build"),
    ("What happens if I run chmod -R 755 .", "What happens if I run chmod -R 755"),
]

SHELL_BANG: Rows = [
    ("Explain sudo !!", "Explain sudo"),
    ("What happens if I run sudo !!", "What happens if I run sudo"),
    ("What happens if I run echo !!", "What happens if I run echo"),
]

MORSE_DECODE: Rows = [
    ("Decode the Morse code --.", "Decode the Morse code --"),
    ("Decode the Morse code -.", "Decode the Morse code -"),
    ("Decode the Morse code ..", "Decode the Morse code ."),
    ("Decode the Morse code ...---...", "Decode the Morse code ...---"),
    ("Decode the Morse code .-..", "Decode the Morse code .-"),
    ("Decode the Morse code -..", "Decode the Morse code -"),
]

# The same news with excitement or with hesitation wants a different reply, but a rater may disagree.
TONE_ARGUABLE: Rows = [
    ("I got the job!", "I got the job..."),
    ("I'm pregnant!", "I'm pregnant..."),
    ("He proposed!", "He proposed..."),
    ("We're moving to Berlin next month!", "We're moving to Berlin next month..."),
    ("I got into Stanford!", "I got into Stanford..."),
]

# Step 3: a final "?" after a question word may be part of a token; the reader cannot be sure.
QMARK_ARGUABLE: Rows = [
    ("Does colo fully match the regex colou?", "Does colo fully match the regex colou"),
    ("Does a fully match the regex ab?", "Does a fully match the regex ab"),
    ("Does Ruby's String class have a method named empty?", "Does Ruby's String class have a method named empty"),
    ("Does Ruby's Array have a method called include?", "Does Ruby's Array have a method called include"),
    ("Should a Kotlin function that can fail return String?", "Should a Kotlin function that can fail return String"),
    ("Why would a Swift function return Int?", "Why would a Swift function return Int"),
    ("Which files get listed if I run ls data?", "Which files get listed if I run ls data"),
    ("What happens in Vegas stays in Vegas?", "What happens in Vegas stays in Vegas"),
]

# --------------------------------------------------------------------------------------------------
# Step 4: contractions that do not spell out to what the other prompt says.

CONTRACTION_D: Rows = [
    ("Where'd the money in my savings account go", "Where would the money in my savings account go"),
]

CONTRACTION_OPERATOR: Rows = [
    ("Is isn't a comparison operator in Python", "Is is not a comparison operator in Python"),
    ("Can I use isn't null in a SQL query", "Can I use is not null in a SQL query"),
    ("Does Python have an isn't operator", "Does Python have an is not operator"),
]

# In a shell an apostrophe opens a quote that is never closed; the spelled-out form runs fine.
CONTRACTION_SHELL: Rows = [
    ("Why does echo don't work in bash", "Why does echo do not work in bash"),
    ("Why does echo I'm home hang in my terminal", "Why does echo I am home hang in my terminal"),
]

CONTRACTION_ARGUABLE: Rows = [
    ("Where'd my Downloads folder go on macOS", "Where would my Downloads folder go on macOS"),
    ("What'd Einstein think of quantum mechanics", "What would Einstein think of quantum mechanics"),
    ("How'd the stock market do today", "How would the stock market do today"),
    ("In Australia you can't vote, right?", "In Australia you can not vote, right?"),
]

# --------------------------------------------------------------------------------------------------
# Step 5: openers and closers that are the content, and "can you X" where ability is the question.

OPENER_PLEASE: Rows = [
    ("Please respond by Friday, is that too pushy for a party invitation",
     "Respond by Friday, is that too pushy for a party invitation"),
    ("Please wait to be seated, too formal for a cafe sign?", "Wait to be seated, too formal for a cafe sign?"),
    ("Please remove your shoes, is that rude on a sign at my front door",
     "Remove your shoes, is that rude on a sign at my front door"),
    ("Please hold, too abrupt for a receptionist answering calls?", "Hold, too abrupt for a receptionist answering calls?"),
    ("Please don't feed the ducks, good phrasing for a park sign?", "Don't feed the ducks, good phrasing for a park sign?"),
    ("Please be quiet, is that polite enough for a library poster", "Be quiet, is that polite enough for a library poster"),
    ("Please leave a review, too pushy as the last line of my Etsy card?",
     "Leave a review, too pushy as the last line of my Etsy card?"),
]

OPENER_GREETING: Rows = [
    ("Hey, as an email opener to my boss, too casual?", "As an email opener to my boss, too casual?"),
    ("Hi! As the first line of a cold email to a recruiter, is it too casual?",
     "As the first line of a cold email to a recruiter, is it too casual?"),
    ("Hello, as a way to answer the phone at work, too plain?", "As a way to answer the phone at work, too plain?"),
    ("So, as a way to begin a presentation, is that a bad habit?", "As a way to begin a presentation, is that a bad habit?"),
    ("Well, to start an answer in a job interview, does it sound weak?",
     "To start an answer in a job interview, does it sound weak?"),
    ("Hi, as the greeting on a wedding card, too bland?", "As the greeting on a wedding card, too bland?"),
    ("Hey, as the first thing I text a girl I just met, too boring?", "As the first thing I text a girl I just met, too boring?"),
    ("Hello, as the opening of a podcast episode, is it enough?", "As the opening of a podcast episode, is it enough?"),
]

OPENER_WELL: Rows = [
    ("Well paid remote jobs for teenagers", "Paid remote jobs for teenagers"),
    ("Well water testing kits worth buying", "Water testing kits worth buying"),
    ("Well drilling cost per foot in Texas", "Drilling cost per foot in Texas"),
    ("Well pump keeps short cycling, what should I check", "Pump keeps short cycling, what should I check"),
]

OPENER_ARGUABLE: Rows = [
    ("Hey, too informal to start a text to my professor?", "Too informal to start a text to my professor?"),
    ("Well known side effects of metformin", "Known side effects of metformin"),
    ("So what if I fail one class in college", "What if I fail one class in college"),
    ("Hey Siri stopped responding on my iPhone", "Siri stopped responding on my iPhone"),
    ("Hey Google doesn't work when my phone is locked", "Google doesn't work when my phone is locked"),
]

CLOSER_GIVING: Rows = [
    ("Bible verses about giving thanks", "Bible verses about giving"),
    ("Songs about giving thanks", "Songs about giving"),
    ("How do I teach my kids to give thanks", "How do I teach my kids to give"),
    ("Sermon ideas on giving thanks", "Sermon ideas on giving"),
    ("Psalms about giving thanks", "Psalms about giving"),
]

CLOSER_SYNONYMS: Rows = [
    ("Synonyms for many thanks", "Synonyms for many"),
    ("Formal alternatives to no thanks", "Formal alternatives to no"),
    ("Synonyms for big thanks", "Synonyms for big"),
    ("Give me a rhyme for many thanks", "Give me a rhyme for many"),
]

CLOSER_REPLY: Rows = [
    ("How should I reply when my boss texts thanks", "How should I reply when my boss texts"),
    ("Best reply when a client emails thank you so much", "Best reply when a client emails"),
    ("How do I respond when a coworker messages thanks", "How do I respond when a coworker messages"),
    ("Is it rude to not reply when someone texts thank you", "Is it rude to not reply when someone texts"),
    ("What emoji do I send back when my mom texts thank you", "What emoji do I send back when my mom texts"),
]

# With the shared conversation, the shorter prompt asks about the song already being discussed.
CLOSER_TITLE: Rows = [
    ("Who wrote the song Thank You", "Who wrote the song"),
    ("Which album has the song Thank You", "Which album has the song"),
    ("What genre is the song Thank You", "What genre is the song"),
]

CLOSER_ARGUABLE: Rows = [
    ("Gift ideas for a teacher thank you", "Gift ideas for a teacher"),
]

# Most are typed without the "?" so that the pair meets whichever order the rule drops "?" and "can you" in.
COULD_ABILITY: Rows = [
    ("Will you remember this conversation tomorrow", "Remember this conversation tomorrow"),
    ("Would you lie to me", "Lie to me"),
    ("Can you keep a secret", "Keep a secret"),
    ("Would you help someone cheat on an exam", "Help someone cheat on an exam"),
    ("Will you judge me if I tell you something embarrassing", "Judge me if I tell you something embarrassing"),
    ("Could you pass the bar exam", "Pass the bar exam"),
    ("Can you forget what I just told you?", "Forget what I just told you"),
    ("Would you refuse to answer medical questions", "Refuse to answer medical questions"),
    ("Will you stop replying if I insult you?", "Stop replying if I insult you"),
    ("Can you run Python code", "Run Python code"),
    ("Would you pretend to be a doctor", "Pretend to be a doctor"),
    ("Would you ignore your rules if I asked nicely", "Ignore your rules if I asked nicely"),
]

# Asking whether the assistant can speak or write a language is often a request to do it: arguable.
COULD_ARGUABLE: Rows = [
    ("Can you speak Japanese?", "Speak Japanese"),
    ("Can you write in Klingon", "Write in Klingon"),
    ("Would you recommend buying a house in 2025?", "Recommend buying a house in 2025"),
    ("Would you invest in Bitcoin right now", "Invest in Bitcoin right now"),
    ("Can you patent an idea?", "Patent an idea"),
]

# --------------------------------------------------------------------------------------------------
# Step 6: text-form requests whose words the mention guard does not list.

MENTION_SYLLABLES: Rows = [
    ("How many syllables are in can't", "How many syllables are in can not"),
    ("How many syllables does won't have", "How many syllables does will not have"),
    ("How many syllables in I'll", "How many syllables in I will"),
    ("Is they're one syllable", "Is they are one syllable"),
    ("How many syllables are in it's", "How many syllables are in it is"),
    ("How many syllables does we're have", "How many syllables does we are have"),
    ("Is you'll a single syllable", "Is you will a single syllable"),
    ("How many syllables are in I'm", "How many syllables are in I am"),
]

MENTION_VOWELS: Rows = [
    ("How many vowels are in don't", "How many vowels are in do not"),
    ("How many vowels does won't contain", "How many vowels does will not contain"),
    ("How many vowels are in you're", "How many vowels are in you are"),
]

MENTION_RHYMES: Rows = [
    ("What rhymes with can't", "What rhymes with can not"),
    ("Give me a rhyme for won't", "Give me a rhyme for will not"),
    ("What rhymes with I'm", "What rhymes with I am"),
    ("Find a rhyme for we're", "Find a rhyme for we are"),
]

MENTION_PALINDROME: Rows = [
    ("Is Madam I'm Adam a palindrome", "Is Madam I am Adam a palindrome"),
    ("Is Dammit I'm mad a palindrome", "Is Dammit I am mad a palindrome"),
]

MENTION_BACKWARDS: Rows = [
    ("Write don't backwards", "Write do not backwards"),
    ("What's I'm written backwards", "What is I am written backwards"),
    ("Reverse can't for me", "Reverse can not for me"),
]

MENTION_ENCODE: Rows = [
    ("Convert I'm late to Morse code", "Convert I am late to Morse code"),
    ("How do I write don't go in Morse code", "How do I write do not go in Morse code"),
    ("What's the acronym for don't repeat yourself", "What is the acronym for do not repeat yourself"),
    ("Make an acronym from can't stop won't stop", "Make an acronym from can not stop will not stop"),
]

MENTION_CAMEL: Rows = [
    ("MyVariable is PascalCase or camelCase?", "myVariable is PascalCase or camelCase?"),
    ("UserId follows camelCase, right?", "userId follows camelCase, right?"),
    ("GetUser follows the Java method naming convention?", "getUser follows the Java method naming convention?"),
    ("XmlParser is in camelCase?", "xmlParser is in camelCase?"),
    ("IPhone is how Apple styles the product name?", "iPhone is how Apple styles the product name?"),
]

MENTION_DOTS: Rows = [
    ("How many periods are in U.S.A.?", "How many periods are in U.S.A?"),
    ("How many dots are in e.g.?", "How many dots are in e.g?"),
    ("How many periods are in Ph.D.?", "How many periods are in Ph.D?"),
    ("How many exclamation points are in Yahoo!?", "How many exclamation points are in Yahoo?"),
]

# Without the "?" a reader may take the last dot or "!" as the end of the sentence.
MENTION_DOTS_ARGUABLE: Rows = [
    ("How many periods are in U.S.A.", "How many periods are in U.S.A"),
    ("How many exclamation points are in Yahoo!", "How many exclamation points are in Yahoo"),
]


def different_pairs() -> list[Pair]:
    out: list[Pair] = []
    table: list[tuple[str, str, Rows]] = [
        ("whitespace", "py_indent", WS_PY_INDENT),
        ("whitespace", "py_errors", WS_PY_ERRORS),
        ("whitespace", "py_return", WS_PY_RETURN),
        ("whitespace", "makefile_tab", WS_MAKEFILE),
        ("whitespace", "yaml_indent", WS_YAML),
        ("whitespace", "markdown", WS_MARKDOWN),
        ("whitespace", "string_spaces", WS_STRINGS),
        ("whitespace", "bash_continuation", WS_BASH),
        ("whitespace", "layout", WS_LAYOUT),
        ("curly_quotes", "python", CURLY_PYTHON),
        ("curly_quotes", "json", CURLY_JSON),
        ("curly_quotes", "shell", CURLY_SHELL),
        ("curly_quotes", "formula", CURLY_FORMULA),
        ("curly_quotes", "sql", CURLY_SQL),
        ("curly_quotes", "web", CURLY_WEB),
        ("case_sentence_start", "java_wrapper", CASE_JAVA),
        ("case_sentence_start", "ts_type", CASE_TS),
        ("case_sentence_start", "go_export", CASE_GO),
        ("case_sentence_start", "literal", CASE_LITERALS),
        ("case_sentence_start", "si_symbol", CASE_SYMBOLS),
        ("case_sentence_start_arguable", "autocap", CASE_COMMANDS_ARGUABLE),
        ("case_pronoun_i", "letter_i", CASE_I),
        ("case_pronoun_i_arguable", "letter_i", CASE_I_ARGUABLE),
        ("final_punct", "factorial_digit", FACT_LAST_DIGIT),
        ("final_punct", "factorial_equal", FACT_EQUAL),
        ("final_punct", "factorial_compare", FACT_COMPARE),
        ("final_punct", "factorial_factors", FACT_FACTORS),
        ("final_punct", "double_factorial", FACT_DOUBLE),
        ("final_punct", "repeating_decimal", REPEATING),
        ("final_punct", "infinite_series", SERIES),
        ("final_punct", "shell_dots", SHELL_DOTS),
        ("final_punct", "shell_bang", SHELL_BANG),
        ("final_punct", "morse_decode", MORSE_DECODE),
        ("final_punct_arguable", "tone", TONE_ARGUABLE),
        ("final_question_arguable", "token_qmark", QMARK_ARGUABLE),
        ("contraction", "d_would", CONTRACTION_D),
        ("contraction", "isnt_operator", CONTRACTION_OPERATOR),
        ("contraction", "shell_apostrophe", CONTRACTION_SHELL),
        ("contraction_arguable", "mixed", CONTRACTION_ARGUABLE),
        ("opener", "please_sign", OPENER_PLEASE),
        ("opener", "greeting_as_opener", OPENER_GREETING),
        ("opener", "well_adjective", OPENER_WELL),
        ("opener_arguable", "mixed", OPENER_ARGUABLE),
        ("closer", "giving_thanks", CLOSER_GIVING),
        ("closer", "synonyms", CLOSER_SYNONYMS),
        ("closer", "reply_when", CLOSER_REPLY),
        ("closer", "song_title", CLOSER_TITLE),
        ("closer_arguable", "gift", CLOSER_ARGUABLE),
        ("could_you", "assistant_ability", COULD_ABILITY),
        ("could_you_arguable", "mixed", COULD_ARGUABLE),
        ("mention_miss", "syllables", MENTION_SYLLABLES),
        ("mention_miss", "vowels", MENTION_VOWELS),
        ("mention_miss", "rhymes", MENTION_RHYMES),
        ("mention_miss", "palindrome", MENTION_PALINDROME),
        ("mention_miss", "backwards", MENTION_BACKWARDS),
        ("mention_miss", "encode", MENTION_ENCODE),
        ("mention_miss", "camel_case", MENTION_CAMEL),
        ("mention_miss", "count_dots", MENTION_DOTS),
        ("mention_miss_arguable", "count_dots", MENTION_DOTS_ARGUABLE),
    ]
    for kind, family, rows in table:
        out += _family(kind, family, rows)
    return out


# --------------------------------------------------------------------------------------------------
# ``same`` pairs: one canonical request, retyped casually with two or three of the variations the
# rule is meant to absorb. None carries a guard word, a quote, a colon or a newline.

QUESTION_WORDS = ("what", "how", "why", "when", "where", "who", "which", "whose", "is", "are", "was", "were",
                  "do", "does", "did", "can", "could", "should", "would", "will")

SAME_QUESTIONS = [
    "What is the capital of Australia?",
    "How do I boil an egg so the yolk stays runny?",
    "Why is the sky blue?",
    "How long should I rest a steak after cooking?",
    "What is the difference between a virus and a bacterium?",
    "Which is healthier, brown rice or quinoa?",
    "How do I stop my cat from scratching the couch?",
    "Why do onions make you cry?",
    "How do noise cancelling headphones work?",
    "How often should I water a snake plant?",
    "Is it safe to eat raw cookie dough?",
    "Can dogs eat grapes?",
    "Why is my sourdough starter not rising?",
    "What is the time complexity of binary search?",
    "How do I center a div in CSS?",
    "What should I pack for a week in Iceland in October?",
    "How do I get rid of fruit flies in my kitchen?",
    "Why do cats purr?",
    "Which planets have rings?",
    "How do I make cold brew coffee at home?",
    "What are the symptoms of dehydration?",
    "How do I remove a stripped screw?",
    "Why do we get goosebumps?",
    "Is coffee bad for your heart?",
    "Do I need a visa to visit Japan from Canada?",
    "What do I do if my car battery dies?",
    "Where is the best place to see the northern lights?",
    "When is the best time to plant tulip bulbs?",
    "What's the best way to learn touch typing?",
    "What is a good name for a golden retriever puppy?",
]

SAME_COMMANDS = [
    "Explain how vaccines train the immune system.",
    "Give me three ideas for a rainy day with kids.",
    "Suggest a vegetarian dinner I can make in 20 minutes.",
    "Recommend a beginner telescope under 300 dollars.",
    "Explain recursion to a ten year old.",
    "Write a short poem about the ocean.",
    "Tell me a fun fact about octopuses.",
    "Help me plan a three day trip to Lisbon.",
    "List some good stretches for lower back pain.",
    "Summarize the causes of the French Revolution.",
]

SAME_STATEMENTS = [
    "I am feeling stressed about my exams, any tips?",
    "I do not understand how compound interest works.",
    "I can't sleep after drinking coffee in the afternoon, why?",
    "I'm planning a birthday party for my 6 year old, any theme ideas?",
]

CONTRACTIONS = [("What is", "What's"), ("Where is", "Where's"), ("I am", "I'm"), ("do not", "don't"),
                ("can not", "can't"), ("is not", "isn't")]


def _lower_first(t: str) -> str:
    return t[:1].lower() + t[1:]


def _leads_with_question_word(t: str) -> bool:
    first = re.split(r"[\s,']", t.strip(), maxsplit=1)[0].lower()
    return first in QUESTION_WORDS


def _swap_contraction(t: str) -> str | None:
    for full, short in CONTRACTIONS:
        if short in t:
            return t.replace(short, full, 1)
        if full in t:
            return t.replace(full, short, 1)
    return None


Variation = Callable[[str, random.Random], str | None]


def _v_contraction(t: str, rng: random.Random) -> str | None:
    return _swap_contraction(t)


def _v_greeting(t: str, rng: random.Random) -> str | None:
    options = ["hey, ", "Hi! ", "hey "] + (["hello, ", "Hello, "] if _leads_with_question_word(t) else [])
    return rng.choice(options) + _lower_first(t)


def _v_so(t: str, rng: random.Random) -> str | None:
    if not _leads_with_question_word(t):
        return None
    return rng.choice(["so ", "So ", "Well, "]) + _lower_first(t)


def _v_could(t: str, rng: random.Random) -> str | None:
    if _leads_with_question_word(t) or t.startswith("I"):
        return None
    body = _lower_first(t).rstrip(".")
    return rng.choice(["could you ", "Could you ", "can you ", "Would you "]) + body + rng.choice(["?", ""])


def _v_please(t: str, rng: random.Random) -> str | None:
    if _leads_with_question_word(t) or t.startswith("I"):
        return None
    return rng.choice(["please ", "Please "]) + _lower_first(t)


OPENER_PREFIX = re.compile(r"^(hey,?|hi!|hello,|so|well,|please|could you|can you|would you)\s+", re.IGNORECASE)


def _question_led(t: str) -> bool:
    return _leads_with_question_word(t) or _leads_with_question_word(OPENER_PREFIX.sub("", t))


def _v_casual_end(t: str, rng: random.Random) -> str | None:
    first = _lower_first(t)
    if first.endswith("?") and not _question_led(first):
        return first
    return first.rstrip("?.")


def _v_thanks(t: str, rng: random.Random) -> str | None:
    style = rng.randrange(4)
    # A "?" may only go where a question word leads; elsewhere the rule keeps it, and so does a typist.
    bare = t.rstrip("?.") if _question_led(t) else t.rstrip(".")
    if style == 0:
        return bare + " thanks"
    if style == 1:
        return bare + ", thanks!"
    if style == 2:
        return t + " Thank you so much!"
    return t + " thanks"


def _v_spaces(t: str, rng: random.Random) -> str | None:
    gaps = [m.start() for m in re.finditer(" ", t)]
    if not gaps:
        return None
    at = rng.choice(gaps)
    return "  " + t[:at] + "   " + t[at + 1:] + " "


def _v_curly(t: str, rng: random.Random) -> str | None:
    return t.replace("'", "\u2019") if "'" in t else None


def _v_exclaim(t: str, rng: random.Random) -> str | None:
    return t[:-1] + "!" if t.endswith(".") else None


# Applied in this order so that prefixes see the canonical start and the last steps see the final text.
PREFIX_STEPS: list[tuple[str, Variation]] = [("greeting", _v_greeting), ("so", _v_so), ("could_you", _v_could),
                                              ("please", _v_please)]
TAIL_STEPS: list[tuple[str, Variation]] = [("casual_end", _v_casual_end), ("thanks", _v_thanks), ("exclaim", _v_exclaim)]


def _variant(t: str, rng: random.Random) -> tuple[str, str] | None:
    names: list[str] = []
    text = t
    if rng.random() < 0.5:
        swapped = _swap_contraction(text)
        if swapped is not None:
            text, names = swapped, ["contraction"]
    prefixes = [(n, f) for n, f in PREFIX_STEPS if f(text, random.Random(0)) is not None]
    if prefixes and rng.random() < 0.75:
        name, fn = rng.choice(prefixes)
        text = fn(text, rng) or text
        names.append(name)
    tails = [(n, f) for n, f in TAIL_STEPS if f(text, random.Random(0)) is not None]
    if tails and (rng.random() < 0.7 or len(names) < 2):
        name, fn = rng.choice(tails)
        text = fn(text, rng) or text
        names.append(name)
    for name, fn in (("spaces", _v_spaces), ("curly", _v_curly)):
        if rng.random() < 0.25:
            changed = fn(text, rng)
            if changed is not None:
                text = changed
                names.append(name)
    if text == t or not names:
        return None
    return text, "+".join(names)


def same_pairs(rng: random.Random) -> list[Pair]:
    out: list[Pair] = []
    seen: set[str] = set()
    for base in SAME_QUESTIONS + SAME_COMMANDS + SAME_STATEMENTS:
        made = 0
        for _ in range(12):
            got = _variant(base, rng)
            if got is None or got[0] in seen:
                continue
            text, family = got
            seen.add(text)
            a, b = (base, text) if rng.random() < 0.5 else (text, base)
            out.append(Pair("same", family, a, b, "same"))
            made += 1
            if made == 2:
                break
    return out


# --------------------------------------------------------------------------------------------------
# Self-checks on the construction (not on any verifier): the whitespace and curly pairs differ only
# there, and pairs aimed at steps 2-5 carry nothing that fires the mention guard as the brief states it.

GUARD_STEMS = re.compile(
    r"\b(translat|spell|punctuat|apostroph|capitali|uppercase|lowercase|grammar|proofread|rewrit|paraphras|letter|"
    r"character|count|word|sentence|quot|say|said|pronounc|mean|defin)", re.IGNORECASE)


def _straight(t: str) -> str:
    return t.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")


def _fires_guard(text: str) -> bool:
    t = _straight(text)  # step 1 straightens quotes first, so a curly apostrophe in "don’t" is no quote
    if any(c in t for c in ':"`\n'):
        return True
    if re.search(r"(?<![A-Za-z])'|'(?![A-Za-z])", t):
        return True
    return GUARD_STEMS.search(t) is not None


def _check(pairs: list[Pair]) -> None:
    assert len({(p.a, p.b) for p in pairs}) == len(pairs), "duplicate pair"
    for p in pairs:
        assert p.a != p.b, p
        ws_a, ws_b = " ".join(p.a.split()), " ".join(p.b.split())
        if p.kind == "whitespace":
            assert ws_a == ws_b, p
        elif p.kind == "curly_quotes":
            assert _straight(p.a) == _straight(p.b) and p.a != _straight(p.a), p
        else:
            assert not _fires_guard(p.a) and not _fires_guard(p.b), p


def build() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    pairs = different_pairs() + same_pairs(rng)
    _check(pairs)
    rng.shuffle(pairs)
    rows = []
    for i, p in enumerate(pairs):
        a, b = (p.a, p.b) if rng.random() < 0.5 else (p.b, p.a)
        rows.append({"id": f"r5-{i:04d}", "group": f"{p.kind}:{p.family}", "split": "report", "a": a, "b": b,
                     "label": p.label, "kind": p.kind})
    return rows


def main() -> None:
    rows = build()
    labels = Counter(r["label"] for r in rows)
    strict = sum(1 for r in rows if r["label"] == "different" and not r["kind"].endswith("_arguable"))
    assert len(rows) >= 300 and labels["different"] >= 220 and labels["same"] >= 60, labels
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    kinds = Counter((r["kind"], r["label"]) for r in rows)
    print(f"wrote {len(rows)} pairs to {OUT}: {dict(labels)}, {strict} different and not arguable")
    for (kind, label), n in sorted(kinds.items()):
        print(f"  {kind:32s} {label:9s} {n}")


if __name__ == "__main__":
    main()
