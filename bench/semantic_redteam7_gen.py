"""Generate bench/data/semantic_redteam7.jsonl: a seventh red-team set for the semantic cache's final rule.

What it attacks. The shipped rule accepts two prompts (same context, different last user message) only when
they normalise to the same sequence of words and punctuation marks: a mention/code guard demands identity for
texts that talk about words or code; otherwise curly apostrophes, a closing thanks, opening fillers
("so", "hi", "kindly" ...), a leading "can/could/would/will you", contractions, a final "." (and a final "?"
on a question-word sentence), spaces between tokens and the case of some sentence-initial words are folded.
Every ``different`` pair here survives that normalisation (``rule_normalise`` below, this generator's own
reading of the rule, not the product's code, asserts it for every pair) yet asks for a different answer:

- contraction_mention: the prompt talks about contractions without any guarded word ("replace don't with
  do not", "my phone keeps changing can't to cannot", "can't vs cannot" against "can not vs cannot"); the
  folding erases the direction or the very pair being asked about.
- numeric_spacing: a thousands separator ("2,500") against a list ("2, 500"); spaces between tokens are
  ignored, so the sum, average, median or maximum changes.
- thanks_content: the closing ", thank you" is the phrase being asked about ("In Japanese, how do you say
  no, thank you").
- abbrev_case: "U.S. Open" (the tournament) against "U.S. open"; the "." of the abbreviation makes "Open"
  sentence-initial, where it folds.
- can_you_request: "Would you plan a trip to Iceland in November" asks an opinion; "Plan a trip ..." asks for
  an itinerary.
- ``*_arguable`` kinds: pairs a careful rater could call the same (ability questions against instructions,
  "can not" meaning "may skip" against "cannot", a statement against the same words as a question, a final
  "." that is part of the reply being asked about, "kindly" as manner, "i" the number against "I").
Every ``same`` pair is a true retyping (contractions, politeness, greeting, thanks, final punctuation,
sentence-initial case, curly apostrophes, spacing) that the rule should accept.

Nothing was tuned on it: it was written blind, from the rule's description only (no verifier code, calibration
data or earlier red-team set was read), and it was not measured against the product before commit.

Regenerate: .venv/bin/python bench/semantic_redteam7_gen.py   (seeded and deterministic; rewrites the data file)
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 7707
OUT = Path(__file__).resolve().parent / "data" / "semantic_redteam7.jsonl"

# ---------------------------------------------------------------------------------------------------------
# This generator's reading of the rule (steps 1-6 of the brief). Guard words match as substrings of the
# lower-cased text, which is stricter than any word-boundary reading, so a pair that passes here passes there.
GUARD_CHARS = set('"`\n:(){}[]<>=|\\/$#@*^~_') | {"\u201c", "\u201d"}
GUARD_WORDS = (
    "translat", "spell", "punctuation", "apostrophe", "capital", "uppercase", "lowercase", "case", "grammar",
    "proofread", "rewrite", "rephrase", "paraphrase", "letter", "character", "count", "word", "sentence", "phrase",
    "quot", "pronoun", "mean", "defin", "acronym", "abbreviat", "initials", "typo", "syllable", "rhyme", "anagram",
    "palindrome", "backward", "alphabet", "morse", "cipher", "encod", "decod", "vowel", "consonant", "digit",
    "symbol", "dot", "comma", "period", "hyphen", "exclamation", "text", "string", "literal", "regex", "format",
    "emoji", "code", "syntax", "command", "shell", "bash", "terminal", "matrix", "factorial", "imaginary", "complex",
)
OPENERS = {"so", "well", "please", "kindly", "um", "uh", "hey", "hi", "hello", "ok", "okay"}
QWORDS = {"what", "how", "why", "when", "where", "who", "which", "whose", "can", "could", "is", "are", "was", "were",
          "do", "does", "did", "should", "would", "will"}
REQUEST_VERBS = {"explain", "tell", "give", "write", "list", "help", "show", "summarize", "describe", "suggest",
                 "recommend", "make", "create", "generate", "find", "compare", "provide", "draft", "calculate",
                 "compute", "convert", "check", "fix", "sort", "name", "outline", "plan", "review", "teach", "walk"}
FOLD_FIRST = {
    "what", "how", "why", "when", "where", "who", "which", "whose", "is", "are", "was", "were", "do", "does", "did",
    "can", "could", "should", "would", "shall", "has", "have", "had", "am", "the", "a", "an", "my", "our", "your",
    "this", "that", "these", "those", "there", "here", "it", "its", "if", "in", "on", "at", "for", "to", "from",
    "with", "please", "tell", "explain", "give", "write", "list", "help", "show", "describe", "summarize", "suggest",
    "recommend", "make", "create", "generate", "find", "compare", "provide", "draft", "calculate", "compute",
    "convert", "check", "fix", "sort", "outline", "plan", "review", "teach", "set", "turn", "put", "add", "remove",
    "delete", "open", "close", "start", "stop", "send", "buy", "get", "use", "run", "move", "change", "update",
    "install", "read", "keep", "take", "let", "try", "learn",
}
I_NEXT = {"am", "was", "have", "had", "do", "did", "can", "could", "should", "would", "will", "want", "need", "think",
          "know", "get", "got", "use", "like", "love", "hate", "feel", "see", "go", "tried", "try", "wonder", "made",
          "make", "found", "lost", "bought", "forgot", "keep", "just", "really", "also", "still", "never", "always",
          "often"}
I_PREV = {"do", "did", "does", "can", "could", "should", "would", "will", "shall", "am", "was", "may", "might", "must",
          "if", "when", "where", "how", "why", "what", "and", "but", "so", "that"}
CONTRACTIONS = {
    "what's": "what is", "it's": "it is", "that's": "that is", "there's": "there is", "who's": "who is",
    "don't": "do not", "doesn't": "does not", "didn't": "did not", "can't": "can not", "cannot": "can not",
    "won't": "will not", "isn't": "is not", "aren't": "are not", "wasn't": "was not", "weren't": "were not",
    "haven't": "have not", "hasn't": "has not", "shouldn't": "should not", "wouldn't": "would not",
    "couldn't": "could not", "i'm": "I am", "i've": "I have", "i'll": "I will", "you're": "you are",
    "we're": "we are", "they're": "they are", "you've": "you have", "we've": "we have",
}
THANKS_RE = re.compile(r"([,.!?])\s*(?:thanks|thank you)(?:\s+(?:so|very)\s+much|\s+a\s+lot)?\s*[.!]*\s*$", re.I)
TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)*|\.\.\.|[^\sA-Za-z0-9]")


def guarded(text: str) -> bool:
    """True when the mention/code guard of step 1 fires (then only identical texts match)."""
    if any(c in GUARD_CHARS for c in text):
        return True
    if re.search(r"(?<![A-Za-z])['\u2018\u2019]|['\u2018\u2019](?![A-Za-z])", text):
        return True
    low = text.lower()
    return any(w in low for w in GUARD_WORDS)


def _match_case(src: str, repl: str) -> str:
    return repl[0].upper() + repl[1:] if src[:1].isupper() and repl[:1].islower() else repl


def _fold_first(word: str) -> str:
    rest_lower = word[1:] == word[1:].lower()
    return word.lower() if word.lower() in FOLD_FIRST and rest_lower else word


def rule_normalise(text: str) -> tuple[str, ...] | str:
    """Steps 1-6 of the rule as this generator reads them; a guarded text is returned as itself (identity)."""
    if guarded(text):
        return "\n".join(line.rstrip() for line in text.strip().split("\n"))
    t = re.sub(r"(?<=[A-Za-z])\u2019(?=[A-Za-z])", "'", text).strip()
    m = THANKS_RE.search(t)
    if m:
        keep = m.group(1) if m.group(1) in "?!." else ""
        t = (t[: m.start()] + keep).rstrip()
    while True:  # step 2: opening fillers, then step 4: can/could/would/will you (please)
        m = re.match(r"(\w+)\s*([,!.]+)?\s*(\w+)?", t)
        if not m or m.group(1).lower() not in OPENERS:
            break
        nxt = (m.group(3) or "").lower()
        if m.group(2) or nxt in QWORDS | OPENERS | REQUEST_VERBS:
            t = t[m.end(2) if m.group(2) else m.end(1):].lstrip()
            continue
        break
    m = re.match(r"(?i)(can|could|would|will)\s+you\s+(please\s+)?(\w+)", t)
    if m and m.group(3).lower() in REQUEST_VERBS:
        t = t[m.start(3):]
    t = re.sub(r"[A-Za-z]+'[A-Za-z]+|\b[Cc]annot\b",
               lambda mm: _match_case(mm.group(0), CONTRACTIONS.get(mm.group(0).lower(), mm.group(0))), t)
    # step 5a: sentence-initial fold (text start, or after . ! ? that follows a letter, plus a space)
    t = re.sub(r"(^|(?<=[A-Za-z][.!?]) )([A-Za-z]+)", lambda mm: mm.group(1) + _fold_first(mm.group(2)), t)
    toks = TOKEN_RE.findall(t)
    for i, tok in enumerate(toks):  # step 5b: "i" -> "I"
        if tok == "i":
            nxt = toks[i + 1].lower() if i + 1 < len(toks) else ""
            prv = toks[i - 1].lower() if i else ""
            if nxt in I_NEXT or prv in I_PREV:
                toks[i] = "I"
    if len(toks) >= 2 and toks[-1] == "." and toks[-2][-1:].isalpha():  # step 3
        toks.pop()
    elif len(toks) >= 2 and toks[-1] == "?" and toks[-2][-1:].isalpha():
        start = 0
        for j in range(len(toks) - 1):
            if toks[j] in {".", "!", "?", "..."} and j and toks[j - 1][-1:].isalpha():
                start = j + 1
        if toks[start].lower() in QWORDS:
            toks.pop()
    return tuple(toks)


# ---------------------------------------------------------------------------------------------------------
# Pair families. Each builder returns (family, a, b) triples; the kind is the dict key in main().
Pair = tuple[str, str, str]


def contraction_mention(rng: random.Random) -> list[Pair]:
    pairs = [("don't", "do not"), ("can't", "cannot"), ("isn't", "is not"), ("it's", "it is"), ("won't", "will not"),
             ("I'm", "I am"), ("you're", "you are"), ("doesn't", "does not"), ("didn't", "did not"),
             ("haven't", "have not"), ("aren't", "are not"), ("what's", "what is"), ("shouldn't", "should not"),
             ("wouldn't", "would not"), ("we're", "we are"), ("they're", "they are"), ("I've", "I have"),
             ("I'll", "I will"), ("wasn't", "was not"), ("couldn't", "could not")]
    docs = ["cover email", "wedding toast", "PhD thesis", "LinkedIn summary", "grant proposal", "legal contract",
            "college essay", "product manual", "eulogy", "press release", "job application", "user guide"]
    frames: list[tuple[str, str]] = [
        ("replace", "Should I replace {x} with {y} in my {d}"),
        ("instead_of", "Does using {x} instead of {y} make a {d} sound less professional"),
        ("autocorrect", "My phone keeps changing {x} to {y}, how do I stop it"),
        ("more_formal", "Does {x} sound more formal than {y}?"),
        ("editor", "My editor changed every {x} to {y} in my {d}, should I push back"),
        ("prefer", "Why do style guides prefer {x} over {y} in a {d}"),
        ("tts", "Why does my screen reader say {x} as {y}"),
        ("victorian", "In Victorian novels, was {x} more common than {y}"),
    ]
    out: list[Pair] = []
    for fam, tpl in frames:
        for x, y in rng.sample(pairs, 8):
            d = rng.choice(docs)
            a = tpl.format(x=x, y=y, d=d)
            b = tpl.format(x=y, y=x, d=d)
            if rng.random() < 0.5:
                a, b = b, a
            out.append((fam, a, b))
    # "can't vs cannot" against "can not vs cannot": all three fold to "can not".
    triplets = [("can't", "cannot", "can not", "cannot"), ("can't", "can not", "cannot", "can not"),
                ("cannot", "can't", "can not", "can't")]
    tri_frames = ["Is there any real difference between {p} and {q}", "Which is more common in British English, {p} or {q}",
                  "Which looks better in a formal {d}, {p} or {q}", "Do Americans use {p} and {q} differently"]
    for tpl in tri_frames:
        for p1, q1, p2, q2 in triplets:
            d = rng.choice(docs)
            out.append(("cannot_triplet", tpl.format(p=p1, q=q1, d=d), tpl.format(p=p2, q=q2, d=d)))
    return out


def numeric_spacing(rng: random.Random) -> list[Pair]:
    out: list[Pair] = []
    bigs = ["1,200", "2,500", "3,400", "1,050", "4,750", "6,300", "7,020", "9,100", "2,080", "5,600", "8,400", "1,999"]
    smalls = ["35", "90", "120", "300", "45", "250", "60", "17"]
    frames = [("average", "What is the average of {n} and {m}"), ("sum", "What is the sum of {n} and {m}"),
              ("larger", "Which is larger, {n} or {m}"), ("median", "Find the median of {n}, {m} and {k}"),
              ("sort", "Sort {n}, {m} and {k} from smallest to largest")]
    for fam, tpl in frames:
        for n in rng.sample(bigs, 4):
            m, k = rng.sample(smalls, 2)
            a = tpl.format(n=n, m=m, k=k)
            b = tpl.format(n=n.replace(",", ", "), m=m, k=k)
            out.append((fam, a, b) if rng.random() < 0.5 else (fam, b, a))
    return out


def thanks_content(rng: random.Random) -> list[Pair]:
    langs = ["Japanese", "French", "Korean", "Italian", "German", "Portuguese", "Mandarin", "Spanish", "Dutch", "Greek"]
    phrases = [("no, thank you", "no"), ("yes, thanks", "yes"), ("fine, thank you", "fine"), ("okay, thanks", "okay"),
               ("good, thank you", "good")]
    out: list[Pair] = []
    for lang in rng.sample(langs, 6):
        full, short = rng.choice(phrases)
        out.append(("how_say", f"In {lang}, how do you say {full}", f"In {lang}, how do you say {short}"))
    for lang in rng.sample(langs, 6):
        full, short = rng.choice(phrases)
        out.append(("what_is_for", f"What is the {lang} for {full}", f"What is the {lang} for {short}"))
    invites = ["a wedding invitation", "a dinner party invite", "a LinkedIn connection request", "a sales call",
               "a second date request", "a baby shower invite"]
    for inv in invites:
        out.append(("reply_with", f"Is it rude to reply to {inv} with just no, thanks",
                    f"Is it rude to reply to {inv} with just no"))
    people = ["my boss", "my manager", "my sister", "a coworker", "my landlord", "my professor"]
    for who in people:
        reply = rng.choice(["ok, thanks", "sure, thanks", "fine, thanks"])
        short = reply.split(",")[0]
        out.append(("replies_everything", f"How should I take it when {who} answers everything with {reply}",
                    f"How should I take it when {who} answers everything with {short}"))
    signoffs = [("Best, thanks", "Best"), ("Cheers, thanks", "Cheers"), ("Regards, thank you", "Regards")]
    for full, short in signoffs:
        out.append(("signoff", f"Is it too casual to sign off a work email with {full}",
                    f"Is it too casual to sign off a work email with {short}"))
    return out


def abbrev_case(rng: random.Random) -> list[Pair]:
    return [
        ("us_open", "Is the U.S. Open this week or next week", "Is the U.S. open this week or next week"),
        ("us_open", "Is the U.K. Open this weekend", "Is the U.K. open this weekend"),
        ("us_open", "Is the U.S. Open yet", "Is the U.S. open yet"),
    ]


def can_you_request(rng: random.Random) -> list[Pair]:
    trips = ["a trip to Iceland in November", "a honeymoon in Bali during the rainy season",
             "a road trip through Utah in July", "a week in Venice in August", "a family trip to Tokyo over New Year",
             "a ski trip to Colorado in April", "a safari in Kenya in May", "a beach holiday in Thailand in September"]
    out: list[Pair] = []
    for trip in trips:
        out.append(("would_plan", f"Would you plan {trip}", f"Plan {trip}"))
    return out


def can_you_request_arguable(rng: random.Random) -> list[Pair]:
    out: list[Pair] = []
    dishes = ["bread without yeast", "mayonnaise without eggs", "risotto with basmati rice", "pesto without pine nuts",
              "whipped cream with milk", "meringue with aquafaba", "pizza dough in a blender", "ice cream without a churn"]
    for d in dishes:
        out.append(("make_dish", f"Can you make {d}", f"Make {d}"))
    myths = ["a scratched CD with toothpaste", "a cracked phone screen with toothpaste", "a wet phone with rice",
             "a dent in a car with boiling water", "a squeaky door with cooking oil", "a slow laptop by deleting cookies"]
    for m in myths:
        out.append(("fix_myth", f"Can you fix {m}", f"Fix {m}"))
    algos = ["sort a linked list in linear time", "find the median of an unsorted array in linear time",
             "find shortest paths with negative edges using Dijkstra", "sort a million integers in linear time",
             "check if a graph is bipartite with a single BFS", "compute the nth Fibonacci number in logarithmic time"]
    for al in algos:
        verb, rest = al.split(" ", 1)
        out.append(("algo_feasible", f"Can you {al}", f"{verb.capitalize()} {rest}"))
    diffs = ["Coke and Pepsi in a blind taste test", "real and fake AirPods by the sound",
             "a cheap and an expensive wine", "farmed and wild salmon by the colour", "a real and a fake diamond at home"]
    for dd in diffs:
        out.append(("tell_difference", f"Can you tell the difference between {dd}",
                    f"Tell the difference between {dd}"))
    recs = ["a laptop under 800 dollars for video editing", "a used car for a new driver", "a mattress for back pain",
            "a budget camera for a beginner", "a standing desk for a small apartment"]
    for r in recs:
        out.append(("would_recommend", f"Would you recommend {r}", f"Recommend {r}"))
    return out


def cannot_split_arguable(rng: random.Random) -> list[Pair]:
    claims = ["freelancers {c} register for VAT if they earn under the threshold", "you {c} tip in Japan",
              "students {c} take the final if they already have an A", "you {c} attend jury duty if you are a student",
              "you {c} file taxes if you earn below the minimum", "employees {c} join the union and still get the raise",
              "you {c} vaccinate your kids and still enroll them in public school",
              "tenants {c} pay the last month of rent if they paid a deposit", "you {c} vote in the primary and still vote in November"]
    out: list[Pair] = []
    for c in claims:
        a = "Is it true that " + c.format(c="can not")
        b = "Is it true that " + c.format(c="cannot")
        out.append(("may_skip", a, b) if rng.random() < 0.5 else ("may_skip", b, a))
    return out


def qmark_statement_arguable(rng: random.Random) -> list[Pair]:
    stmts = [("title", "Where the Crawdads Sing is based on a true story"), ("title", "What We Do in the Shadows is on Hulu"),
             ("title", "How I Met Your Mother is overrated"), ("title", "Who Framed Roger Rabbit was made by Disney"),
             ("name", "Will Smith won an Oscar"), ("name", "Will Ferrell was in Elf"),
             ("name", "Will Poulter played Adam Warlock"), ("name", "Will Arnett voices BoJack Horseman"),
             ("imperative", "Do not wash raw chicken before cooking it"), ("imperative", "Do not put foil in the microwave"),
             ("noun", "Can openers were invented after cans")]
    out: list[Pair] = []
    for fam, s in stmts:
        a, b = s + ".", s + "?"
        out.append((fam, a, b) if rng.random() < 0.5 else (fam, b, a))
    return out


def period_reply_arguable(rng: random.Random) -> list[Pair]:
    out: list[Pair] = []
    for who in ["my boss", "my girlfriend", "my mom", "a client", "my teenager", "a recruiter"]:
        reply = rng.choice(["ok", "fine", "sure", "k", "noted", "sounds good"])
        out.append(("reply_period", f"Why does {who} get upset when I answer with {reply}.",
                    f"Why does {who} get upset when I answer with {reply}"))
    return out


def opening_content_arguable(rng: random.Random) -> list[Pair]:
    out: list[Pair] = [
        ("kindly_manner", "Kindly explain to my six year old why our dog had to be put down",
         "Explain to my six year old why our dog had to be put down"),
        ("kindly_manner", "Kindly tell my team their project is being cancelled",
         "Tell my team their project is being cancelled"),
        ("kindly_manner", "Kindly explain to my elderly dad why he can no longer drive",
         "Explain to my elderly dad why he can no longer drive"),
        ("kindly_manner", "Kindly tell my roommate she needs to move out", "Tell my roommate she needs to move out"),
        ("greeting_is_content", "Hi, how are you in Korean", "How are you in Korean"),
        ("greeting_is_content", "Hello, nice to meet you in Japanese", "nice to meet you in Japanese"),
        ("greeting_is_content", "Hey, long time no see in Mandarin", "long time no see in Mandarin"),
        ("greeting_is_content", "Hi, where is the train station in German", "Where is the train station in German"),
    ]
    return out


def i_number_arguable(rng: random.Random) -> list[Pair]:
    return [
        ("euler", "What do e, pi and i have in common", "What do e, pi and I have in common"),
        ("euler", "Explain how e, pi and i are connected", "Explain how e, pi and I are connected"),
        ("euler", "Why are e and i so important in physics", "Why are e and I so important in physics"),
    ]


# ---------------------------------------------------------------------------------------------------------
def same_pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(kind, family, a, b): retypings whose answers are interchangeable."""
    out: list[tuple[str, str, str, str]] = []
    contr = [("I don't understand why my sourdough is so dense", "I do not understand why my sourdough is so dense"),
             ("What's the best way to store fresh basil", "What is the best way to store fresh basil"),
             ("I can't fall asleep after drinking wine, why", "I cannot fall asleep after drinking wine, why"),
             ("My cat isn't eating her dry food, should I worry", "My cat is not eating her dry food, should I worry"),
             ("I'm planning a trip to Lisbon, which neighbourhood should I stay in",
              "I am planning a trip to Lisbon, which neighbourhood should I stay in"),
             ("It's my first marathon, how should I pace it", "It is my first marathon, how should I pace it"),
             ("My basil doesn't grow indoors, what am I doing wrong", "My basil does not grow indoors, what am I doing wrong"),
             ("I've never had a job interview, how do I prepare",
              "I have never had a job interview, how do I prepare"),
             ("My car won't start in cold weather, why", "My car will not start in cold weather, why"),
             ("You're a nutritionist, is oat milk healthy", "You are a nutritionist, is oat milk healthy"),
             ("I didn't sleep last night, how do I get through work", "I did not sleep last night, how do I get through work"),
             ("Which houseplants aren't toxic to cats", "Which houseplants are not toxic to cats")]
    out += [("same_contraction", "expand", a, b) for a, b in contr]
    canyou = [("Can you explain how vaccines train the immune system", "Explain how vaccines train the immune system"),
              ("Could you give me a packing checklist for a beach holiday", "Give me a packing checklist for a beach holiday"),
              ("Would you please suggest a name for my bakery", "Suggest a name for my bakery"),
              ("Can you recommend some sci-fi novels for a teenager", "Recommend some sci-fi novels for a teenager"),
              ("Could you summarize the causes of the French Revolution", "Summarize the causes of the French Revolution"),
              ("Will you help me plan a birthday party for my son", "Help me plan a birthday party for my son"),
              ("Can you please write a toast for my brother's wedding", "Write a toast for my brother's wedding"),
              ("Could you outline a beginner strength training program", "Outline a beginner strength training program"),
              ("Can you list some healthy snacks for work", "List some healthy snacks for work"),
              ("Would you draft a polite reminder to a client about an unpaid invoice",
               "Draft a polite reminder to a client about an unpaid invoice")]
    out += [("same_can_you", "drop_can_you", a, b) for a, b in canyou]
    opening = [("Hi, what is the best way to learn Spanish as an adult?", "What is the best way to learn Spanish as an adult?"),
               ("So, how do solar panels work?", "How do solar panels work?"),
               ("Hey, which is healthier, rice or quinoa?", "Which is healthier, rice or quinoa?"),
               ("Please explain how interest rates affect mortgages", "Explain how interest rates affect mortgages"),
               ("Okay, give me three ideas for a rainy Sunday", "Give me three ideas for a rainy Sunday"),
               ("Hello! Why do cats knead blankets?", "Why do cats knead blankets?"),
               ("Um, how long should I boil an egg for a runny yolk?", "How long should I boil an egg for a runny yolk?"),
               ("Well, what should I bring to a potluck?", "What should I bring to a potluck?")]
    out += [("same_opening", "drop_opener", a, b) for a, b in opening]
    thanks = [("How do I get rid of fruit flies in my kitchen? Thanks!", "How do I get rid of fruit flies in my kitchen?"),
              ("Suggest a good stretching routine for runners, thanks", "Suggest a good stretching routine for runners"),
              ("Why is the sky blue? Thank you so much", "Why is the sky blue?"),
              ("Recommend a board game for four adults, thank you!", "Recommend a board game for four adults"),
              ("How should I clean a cast iron pan? Thanks a lot", "How should I clean a cast iron pan?"),
              ("Give me a simple lentil soup recipe, thanks!", "Give me a simple lentil soup recipe"),
              ("What should I feed a new kitten? Thank you", "What should I feed a new kitten?"),
              ("Describe the water cycle for a ten year old, thanks", "Describe the water cycle for a ten year old")]
    out += [("same_thanks", "drop_thanks", a, b) for a, b in thanks]
    case = [("how do I get red wine out of a carpet", "How do I get red wine out of a carpet"),
            ("i think my sourdough starter is dead, how can I tell", "I think my sourdough starter is dead, how can I tell"),
            ("what should i pack for a week in Scotland", "What should I pack for a week in Scotland"),
            ("suggest a weekend itinerary for Prague", "Suggest a weekend itinerary for Prague"),
            ("is it safe to eat raw cookie dough", "Is it safe to eat raw cookie dough"),
            ("My flight got cancelled. what are my rights in the EU", "My flight got cancelled. What are my rights in the EU"),
            ("i just moved to Denver, where should I hike first", "I just moved to Denver, where should I hike first"),
            ("compare the Kindle and the Kobo for reading in bed", "Compare the Kindle and the Kobo for reading in bed")]
    out += [("same_case", "first_word_and_i", a, b) for a, b in case]
    punct = [("Give me a recipe for banana bread.", "Give me a recipe for banana bread"),
             ("What is the tallest mountain in Africa?", "What is the tallest mountain in Africa"),
             ("How do I descale a kettle?", "How do I descale a kettle"),
             ("Suggest a name for a golden retriever puppy.", "Suggest a name for a golden retriever puppy"),
             ("Why do onions make you cry?", "Why do onions make you cry"),
             ("Is it worth watching How I Met Your Mother?", "Is it worth watching How I Met Your Mother"),
             ("Should I learn piano or guitar first?", "Should I learn piano or guitar first"),
             ("List some easy houseplants for beginners.", "List some easy houseplants for beginners")]
    out += [("same_final_punct", "final_mark", a, b) for a, b in punct]
    curly = [("What\u2019s the difference between baking soda and baking powder",
              "What's the difference between baking soda and baking powder"),
             ("Why doesn\u2019t my dough rise", "Why doesn't my dough rise"),
             ("I\u2019m nervous about my driving test, any tips", "I'm nervous about my driving test, any tips"),
             ("Where\u2019s the best place to see the northern lights", "Where's the best place to see the northern lights"),
             ("My neighbour\u2019s dog barks all night, what can I do", "My neighbour's dog barks all night, what can I do"),
             ("Can\u2019t decide between a Mac and a PC for college, help", "Can't decide between a Mac and a PC for college, help")]
    out += [("same_apostrophe", "curly_to_straight", a, b) for a, b in curly]
    spacing = [("Compare tea , coffee and matcha for focus", "Compare tea, coffee and matcha for focus"),
               ("Is it safe to fly while pregnant ?", "Is it safe to fly while pregnant?"),
               ("Which is better for a beginner,Python or JavaScript", "Which is better for a beginner, Python or JavaScript"),
               ("Suggest a three-day itinerary for Rome", "Suggest a three - day itinerary for Rome"),
               ("I want to run a half marathon ,where do I start", "I want to run a half marathon, where do I start")]
    out += [("same_spacing", "space_around_marks", a, b) for a, b in spacing]
    sym = [("Which sounds friendlier in a support reply, don't or do not", "Which sounds friendlier in a support reply, do not or don't"),
           ("Is there a difference in tone between it's and it is", "Is there a difference in tone between it is and it's"),
           ("Should a wedding toast use I'm or I am", "Should a wedding toast use I am or I'm"),
           ("For a formal thesis, won't or will not", "For a formal thesis, will not or won't")]
    out += [("same_contraction_symmetric", "order_swap", a, b) for a, b in sym]
    return out


def main() -> None:
    rng = random.Random(SEED)
    diff_builders = {
        "contraction_mention": contraction_mention,
        "numeric_spacing": numeric_spacing,
        "thanks_content": thanks_content,
        "abbrev_case": abbrev_case,
        "can_you_request": can_you_request,
        "can_you_request_arguable": can_you_request_arguable,
        "cannot_split_arguable": cannot_split_arguable,
        "qmark_statement_arguable": qmark_statement_arguable,
        "period_reply_arguable": period_reply_arguable,
        "opening_content_arguable": opening_content_arguable,
        "i_number_arguable": i_number_arguable,
    }
    rows: list[dict[str, str]] = []
    for kind, build in diff_builders.items():
        for fam, a, b in build(rng):
            rows.append({"group": f"{kind}:{fam}", "a": a, "b": b, "label": "different", "kind": kind})
    for kind, fam, a, b in same_pairs(rng):
        rows.append({"group": f"{kind}:{fam}", "a": a, "b": b, "label": "same", "kind": kind})
    seen: set[tuple[str, str]] = set()
    for r in rows:  # the self-check: every pair passes this reading of the rule, none is a duplicate
        assert r["a"] != r["b"], r
        assert not guarded(r["a"]) and not guarded(r["b"]), r
        na, nb = rule_normalise(r["a"]), rule_normalise(r["b"])
        assert na == nb, (r, na, nb)
        key = (r["a"], r["b"])
        assert key not in seen and key[::-1] not in seen, r
        seen.add(key)
    rng.shuffle(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as fh:
        for i, r in enumerate(rows):
            rec = {"id": f"r7-{i:04d}", "group": r["group"], "split": "report", "a": r["a"], "b": r["b"],
                   "label": r["label"], "kind": r["kind"]}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    kinds: dict[tuple[str, str], int] = {}
    for r in rows:
        kinds[(r["kind"], r["label"])] = kinds.get((r["kind"], r["label"]), 0) + 1
    for (k, lab), n in sorted(kinds.items()):
        print(f"{lab:9s} {k:28s} {n}")
    print(f"total {len(rows)}: different {sum(r['label'] == 'different' for r in rows)}, "
          f"same {sum(r['label'] == 'same' for r in rows)}")


if __name__ == "__main__":
    main()
