"""Fourth independent red-team set for the semantic cache: what the same-words normalisation ignores.

Writes ``bench/data/semantic_redteam4.jsonl`` (pure Python, seeded, deterministic):

    .venv/bin/python bench/semantic_redteam4_gen.py
    HF_HUB_OFFLINE=1 .venv/bin/python bench/semantic_cache.py --data bench/data/semantic_redteam4.jsonl --skip-latency

The verifier is said to accept two prompts with "the same words up to letter case, contractions
spelled out, 'please', an opening greeting or discourse marker, a closing thanks, and 'how can I'
read as 'how do I'". This set attacks exactly those equivalences with pairs whose meaning the
normalisation changes, plus pairs that differ only by punctuation or by where a word breaks:

- ``case``: letter case alone changes the word (Turkey/turkey, March/march, IT/it, Grace/grace);
- ``punctuation``: commas, quotes, hyphens, decimal points, a question mark turning a statement
  (or command) into a question;
- ``contraction``: a contraction against the word it looks like (we'll/well, she'll/shell) or a
  task whose answer depends on whether the contraction is written (count / add contractions);
- ``greeting_content``: greeting, discourse-marker and thanks words that are the content
  (Hey Jude, well water, "how do I say no thanks");
- ``howcan``: "how can I" (how is it possible) against "how do I" (what is the method), and
  "can I" / "how can you" read the same way;
- ``please_content``: 'please' as the subject of the question ("please note", "yes please");
- ``whitespace``: one word against two (login / log in, everyday / every day, into / in to);
- ``reworded`` (label ``same``): true rewordings along the same equivalences (case, contractions,
  greetings, thanks, please, "how can I" for a method), a recall check.

Every pair is in the ``report`` split (nothing here was tuned on); ``group`` is ``kind:family``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).parent / "data" / "semantic_redteam4.jsonl"
SEED = 20261201

D = "different"
S = "same"

# ---------------------------------------------------------------------------------------------
# case: letter case alone changes the meaning
CASE_WORDS = [  # (proper / acronym, common word)
    ("Turkey", "turkey"), ("China", "china"), ("Polish", "polish"), ("March", "march"),
    ("May", "may"), ("Bill", "bill"), ("Grace", "grace"), ("Nice", "nice"), ("August", "august"),
    ("Java", "java"), ("Python", "python"), ("Amazon", "amazon"), ("Jersey", "jersey"),
    ("Mercury", "mercury"), ("Apple", "apple"), ("Hope", "hope"),
]


def case_pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    fam = {
        "translate_fr": "Translate the word '{w}' into French",
        "say_german": "How do you say {w} in German?",
        "tell_about": "Tell me about {w} in three sentences.",
        "define": "Give me a one-line definition of {w}.",
        "poem": "Write a four-line poem about {w}.",
    }
    for name, tpl in fam.items():
        words = rng.sample(CASE_WORDS, 7)
        for up, low in words:
            out.append((name, tpl.format(w=up), tpl.format(w=low), D))
    out += [("names_mean", f"What does {a} mean?", f"What does {b} mean?", D) for a, b in
            [("Grace", "grace"), ("Hope", "hope"), ("Faith", "faith"), ("Rose", "rose"), ("Frank", "frank"), ("Bill", "bill"),
             ("Amber", "amber")]]
    acr = [
        ("Who should I ask about IT?", "Who should I ask about it?"),
        ("How do I get into IT with no degree?", "How do I get into it with no degree?"),
        ("Does this offer apply to US customers?", "Does this offer apply to us customers?"),
        ("Write a short poem about US history and us.", "Write a short poem about us history and US."),
        ("Should I learn IT or marketing first?", "Should I learn it or marketing first?"),
        ("What does OR mean on a hospital sign?", "What does or mean on a hospital sign?"),
        ("What does WHO recommend for a sore throat?", "What does who recommend for a sore throat?"),
        ("Is it worth moving to the US?", "Is it worth moving to the us?"),
    ]
    out += [("acronym", a, b, D) for a, b in acr]
    places = [
        ("Is Turkey safe right now?", "Is turkey safe right now?"),
        ("How big is Amazon?", "How big is amazon?"),
        ("What is the history of China?", "What is the history of china?"),
        ("Where is Nice?", "Where is nice?"),
        ("How hot does Mercury get?", "How hot does mercury get?"),
        ("What can I do in Reading this weekend?", "What can I do in reading this weekend?"),
        ("Is Java hard to learn?", "Is java hard to learn?"),
    ]
    out += [("place_brand", a, b, D) for a, b in places]
    return out


# ---------------------------------------------------------------------------------------------
# punctuation: the same words, a different meaning
def punctuation_pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    stmts = ["you are coming tomorrow", "she speaks German", "the shop is closed", "they won the match",
             "he already paid", "we are lost", "it is raining again"]
    for lang, n in (("Spanish", 4), ("French", 3)):
        for s in rng.sample(stmts, n):
            out.append(("question_mark_translate", f"Translate into {lang}: {s.capitalize()}.",
                        f"Translate into {lang}: {s.capitalize()}?", D))
    cmds = ["Delete the old backups", "Cancel my gym membership", "Sell my shares now", "Quit my job",
            "Tell her the truth", "Move to Berlin next year", "Refinance the mortgage"]
    out += [("question_mark_command", f"{c}.", f"{c}?", D) for c in cmds]
    quotes = [
        ("How many letters are in 'the alphabet'?", "How many letters are in the alphabet?"),
        ("How many vowels are in 'English'?", "How many vowels are in English?"),
        ("How many characters are in 'Chinese'?", "How many characters are in Chinese?"),
        ("How many syllables are in 'a haiku'?", "How many syllables are in a haiku?"),
        ("How many words are in 'the Bible'?", "How many words are in the Bible?"),
        ("How many letters does 'the Greek alphabet' have?", "How many letters does the Greek alphabet have?"),
        ("How many notes are in 'an octave'?", "How many notes are in an octave?"),
    ]
    out += [("quotes_use_mention", a, b, D) for a, b in quotes]
    hyph = [
        ("How do I re-cover an old armchair?", "How do I recover an old armchair?"),
        ("Should I re-sign with my football club?", "Should I resign with my football club?"),
        ("Is a man-eating shark common in Florida?", "Is a man eating shark common in Florida?"),
        ("Where can I buy a little-used car?", "Where can I buy a little used car?"),
        ("Plan a dinner for twenty-odd guests.", "Plan a dinner for twenty odd guests."),
        ("How do I become a small-business owner?", "How do I become a small business owner?"),
        ("Where can I find an old-furniture dealer?", "Where can I find an old furniture dealer?"),
        ("How does a heavy-metal detector work?", "How does a heavy metal detector work?"),
        ("Should I re-lease the flat to the same tenant?", "Should I release the flat to the same tenant?"),
    ]
    out += [("hyphen", a, b, D) for a, b in hyph]
    nums = [
        ("Add 1,2 and 3.", "Add 1.2 and 3."),
        ("Convert 1.5 miles to kilometres.", "Convert 15 miles to kilometres."),
        ("What is 3.14 squared?", "What is 314 squared?"),
        ("Round 2.675 to two decimal places.", "Round 2,675 to two decimal places."),
        ("Is a salary of 45.000 euros good in Madrid?", "Is a salary of 45,000 euros good in Madrid?"),
        ("What is 1,000 divided by 8?", "What is 1.000 divided by 8?"),
        ("Sort these numbers: 10, 2.5, 33", "Sort these numbers: 10, 2, 5, 33"),
    ]
    out += [("decimal_thousands", a, b, D) for a, b in nums]
    commas = [
        ("Translate into German: Let's eat, grandma.", "Translate into German: Let's eat grandma."),
        ("Write a thank-you card to my parents, Ayn Rand and God.", "Write a thank-you card to my parents Ayn Rand and God."),
        ("Write a birthday card for my brother, Sam and Lucy.", "Write a birthday card for my brother Sam and Lucy."),
        ("Draw a panda that eats, shoots and leaves.", "Draw a panda that eats shoots and leaves."),
        ("Seat my sister, the doctor and the pilot at one table.", "Seat my sister the doctor and the pilot at one table."),
        ("Rewrite for a child: I like cooking, my family and my dog.", "Rewrite for a child: I like cooking my family and my dog."),
    ]
    out += [("comma", a, b, D) for a, b in commas]
    return out


# ---------------------------------------------------------------------------------------------
# contraction against a look-alike word, or a task about the contraction itself
LOOKALIKE = [("we'll", "well"), ("she'll", "shell"), ("we're", "were"), ("won't", "wont"), ("can't", "cant"),
             ("I'll", "ill"), ("he'll", "hell"), ("it's", "its"), ("let's", "lets"), ("we'd", "wed"),
             ("she'd", "shed"), ("you're", "your"), ("who's", "whose"), ("they're", "their"), ("I'd", "id")]


def contraction_pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    fam = {
        "define": "What does '{w}' mean?",
        "translate": "Translate '{w}' into Spanish.",
        "sentence": "Use '{w}' in a sentence.",
        "backwards": "Spell '{w}' backwards.",
        "part_of_speech": "What part of speech is '{w}'?",
    }
    for name, tpl in fam.items():
        for c, w in rng.sample(LOOKALIKE, 7):
            out.append((name, tpl.format(w=c), tpl.format(w=w), D))
    task = [
        ("How many contractions are in: I can't and won't go?", "How many contractions are in: I cannot and will not go?"),
        ("Add contractions to: I do not know where it is.", "Add contractions to: I don't know where it's."),
        ("Is this too informal for a cover letter: I'm sure you're busy?",
         "Is this too informal for a cover letter: I am sure you are busy?"),
        ("Make this sound more casual: we are not going.", "Make this sound more casual: we aren't going."),
        ("Does 'I'm' need an apostrophe?", "Does 'I am' need an apostrophe?"),
        ("Find the contraction in: she's left already.", "Find the contraction in: she is left already."),
        ("Count the apostrophes in: they're sure it's fine.", "Count the apostrophes in: they are sure it is fine."),
    ]
    out += [("contraction_task", a, b, D) for a, b in task]
    return out


# ---------------------------------------------------------------------------------------------
# greeting / discourse marker / thanks words that carry the meaning
def greeting_pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    opening = [
        ("Hey Jude: who wrote it?", "Jude: who wrote it?"),
        ("Hello Kitty backpacks: where are they cheapest?", "Kitty backpacks: where are they cheapest?"),
        ("Hello Fresh or Gousto: which is cheaper?", "Fresh or Gousto: which is cheaper?"),
        ("OK Computer: is it Radiohead's best album?", "Computer: is it Radiohead's best album?"),
        ("Oh Canada lyrics in French?", "Canada lyrics in French?"),
        ("Hey Arnold: how many seasons were made?", "Arnold: how many seasons were made?"),
        ("Hello Dolly: who starred in the film?", "Dolly: who starred in the film?"),
    ]
    out += [("title_opening", a, b, D) for a, b in opening]
    well = [
        ("Well water: is it safe to drink without a filter?", "Water: is it safe to drink without a filter?"),
        ("Well drilling: what does it cost per foot?", "Drilling: what does it cost per foot?"),
        ("Well pumps: which brand lasts longest?", "Pumps: which brand lasts longest?"),
        ("Right angle: how do I measure one with a phone?", "Angle: how do I measure one with a phone?"),
        ("So long: what does it mean as a goodbye?", "Long: what does it mean as a goodbye?"),
        ("Now or never: who sang it?", "Or never: who sang it?"),
        ("Well done steak: how long per side?", "Done steak: how long per side?"),
    ]
    out += [("marker_as_noun", a, b, D) for a, b in well]
    thanks = [
        ("How do I politely say no thanks", "How do I politely say no"),
        ("What's a formal way to say no thank you", "What's a formal way to say no"),
        ("Write a short poem about giving thanks", "Write a short poem about giving"),
        ("Write a two-minute sermon on giving thanks", "Write a two-minute sermon on giving"),
        ("When do Americans give thanks", "When do Americans give"),
        ("Reply to the party invite with a simple no thanks", "Reply to the party invite with a simple no"),
        ("Is it rude to answer a compliment with just thanks", "Is it rude to answer a compliment with just"),
    ]
    out += [("closing_thanks_content", a, b, D) for a, b in thanks]
    words = ["hey", "hi", "so", "well", "thanks", "hello", "okay"]
    langs = ["Dutch", "Welsh", "Japanese", "Korean", "Swahili", "Finnish"]
    for lang in rng.sample(langs, 5):
        x, y = rng.sample(words, 2)
        out.append(("which_greeting_word", f"What does '{x}' mean in {lang}?", f"What does '{y}' mean in {lang}?", D))
    for lang in rng.sample(langs, 5):
        x, y = rng.sample(words, 2)
        out.append(("which_greeting_word", f"How do you say {x} in {lang}?", f"How do you say {y} in {lang}?", D))
    mid = [
        ("Say hi to my mum in Welsh.", "Say to my mum in Welsh."),
        ("Is my English so bad?", "Is my English bad?"),
        ("Is the steak cooked well?", "Is the steak cooked?"),
        ("How do I say hello to my landlord in Greek?", "How do I say to my landlord in Greek?"),
        ("Why do Canadians say so sorry?", "Why do Canadians say sorry?"),
        ("Can my dog swim well?", "Can my dog swim?"),
    ]
    out += [("marker_mid_sentence", a, b, D) for a, b in mid]
    quoted = [
        ("Translate 'thank you' into Japanese.", "Translate 'you' into Japanese."),
        ("Translate 'hey there' into Italian.", "Translate 'there' into Italian."),
        ("What does 'well, well' mean in English?", "What does 'well' mean in English?"),
        ("So what does 'so' mean?", "What does 'so what' mean?"),
        ("Is 'thanks a lot' sarcastic?", "Is 'a lot' sarcastic?"),
    ]
    out += [("quoted_greeting", a, b, D) for a, b in quoted]
    return out


# ---------------------------------------------------------------------------------------------
# how can I (possibility, surprise) vs how do I (method)
def howcan_pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    puzzle = [
        "fail a drug test after eating poppy seeds", "get sunburned through a car window", "catch a cold in summer",
        "get a cavity if I brush twice a day", "gain weight eating so little", "sleep ten hours and still be tired",
        "run out of mobile data so fast", "hear my heartbeat in my ear", "get a speeding ticket going five over",
        "owe tax when my employer already withheld it", "lose money on a bond", "get a virus on an iPhone",
    ]
    picks = rng.sample(puzzle, 12)
    for i, p in enumerate(picks):
        fam = "puzzle_health" if i < 6 else "puzzle_money_tech"
        out.append((fam, f"How can I {p}?", f"How do I {p}?", D))
    nots = ["not love this song", "not laugh at that", "not worry about money", "not be angry about it",
            "not cry at this film", "not miss her"]
    out += [("how_can_i_not", f"How can I {n}?", f"How do I {n}?", D) for n in nots]
    can = [
        ("Can I swim after eating?", "Do I swim after eating?"),
        ("Can I eat raw cookie dough?", "Do I eat raw cookie dough?"),
        ("Can I pay my rent late?", "Do I pay my rent late?"),
        ("Can I drive with a broken toe?", "Do I drive with a broken toe?"),
        ("Can I take ibuprofen with coffee?", "Do I take ibuprofen with coffee?"),
        ("Where can I smoke at the airport?", "Where do I smoke at the airport?"),
    ]
    out += [("can_i_vs_do_i", a, b, D) for a, b in can]
    you = [
        ("How can you say that?", "How do you say that?"),
        ("How can you be so calm about it?", "How do you be so calm about it?"),
        ("How can you eat that?", "How do you eat that?"),
        ("How can we still be friends?", "How do we still be friends?"),
        ("How can you tell her that?", "How do you tell her that?"),
        ("How can they afford that house?", "How do they afford that house?"),
    ]
    out += [("how_can_you_we", a, b, D) for a, b in you]
    could = [
        ("How could I have missed the deadline?", "How do I have missed the deadline?"),
        ("How could I lose my keys twice in a day?", "How do I lose my keys twice in a day?"),
        ("How can I be so unlucky with flights?", "How do I stop being so unlucky with flights?"),
        ("How can I be so forgetful?", "How do I stop being so forgetful?"),
        ("How can I get a refund without a receipt?", "Can I get a refund without a receipt?"),
    ]
    out += [("other_modal", a, b, D) for a, b in could]
    return out


# ---------------------------------------------------------------------------------------------
# 'please' as content
def please_pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    phrases = [("please wait", "wait"), ("yes please", "yes"), ("please hold", "hold"), ("please note", "note"),
               ("please find attached", "find attached"), ("pretty please", "pretty"), ("please yourself", "yourself"),
               ("please advise", "advise")]
    for lang in ("Arabic", "Korean", "Portuguese"):
        for x, y in rng.sample(phrases, 2):
            out.append(("translate", f"Translate '{x}' into {lang}.", f"Translate '{y}' into {lang}.", D))
    for x, y in rng.sample(phrases, 7):
        out.append(("meaning", f"What does '{x}' mean in an email?", f"What does '{y}' mean in an email?", D))
    for x, y in rng.sample(phrases, 5):
        out.append(("formality", f"Is '{x}' too formal for a text message?", f"Is '{y}' too formal for a text message?", D))
    edits = [
        ("Count the words in: please come home", "Count the words in: come home"),
        ("Make this less polite: please send me the file", "Make this less polite: send me the file"),
        ("Remove the word please from: please call me back", "Remove the word please from: call me back"),
        ("Is this rude: please be quiet", "Is this rude: be quiet"),
        ("Rewrite more politely: please close the door", "Rewrite more politely: close the door"),
        ("Does this sound passive-aggressive: please see above", "Does this sound passive-aggressive: see above"),
    ]
    out += [("edit_task", a, b, D) for a, b in edits]
    etiq = [
        ("Why do British people say please so much?", "Why do British people say so much?"),
        ("Is it rude not to say please in Japan?", "Is it rude not to say in Japan?"),
        ("How do I teach my toddler to say please?", "How do I teach my toddler to say?"),
        ("Should I say please to Alexa?", "Should I say to Alexa?"),
        ("Do Germans say please when ordering?", "Do Germans say when ordering?"),
        ("Why does my boss never say please?", "Why does my boss never say?"),
    ]
    out += [("etiquette", a, b, D) for a, b in etiq]
    verb = [
        ("How do I please my in-laws?", "How do I my in-laws?"),
        ("What gifts please a picky teenager?", "What gifts a picky teenager?"),
        ("Why is my cat so hard to please?", "Why is my cat so hard to?"),
        ("Can you ever please everyone at work?", "Can you ever everyone at work?"),
        ("Is it wrong to do as I please at home?", "Is it wrong to do as I at home?"),
        ("Please note the deadline: what is it?", "Note the deadline: what is it?"),
    ]
    out += [("please_verb", a, b, D) for a, b in verb]
    return out


# ---------------------------------------------------------------------------------------------
# one word against two
SPLITS = [("login", "log in"), ("setup", "set up"), ("workout", "work out"), ("backup", "back up"),
          ("checkout", "check out"), ("breakup", "break up"), ("signup", "sign up"), ("pickup", "pick up"),
          ("takeoff", "take off"), ("shutdown", "shut down"), ("everyday", "every day"), ("maybe", "may be"),
          ("anyone", "any one"), ("sometime", "some time"), ("already", "all ready"), ("altogether", "all together"),
          ("anymore", "any more"), ("into", "in to"), ("apart", "a part"), ("awhile", "a while"), ("everyone", "every one")]


def whitespace_pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    fam = {
        "verb_or_noun": ("Is '{w}' a verb or a noun?", SPLITS[:11]),
        "word_count": ("How many words is '{w}'?", SPLITS),
        "translate": ("Translate '{w}' into Spanish.", SPLITS[10:]),
        "use_in_sentence": ("Use '{w}' in a sentence.", SPLITS[10:]),
        "define": ("Define '{w}' for an English learner.", SPLITS),
    }
    for name, (tpl, pool) in fam.items():
        for one, two in rng.sample(pool, 7):
            a, b = tpl.format(w=one), tpl.format(w=two)
            out.append((name, a, b, D) if rng.random() < 0.5 else (name, b, a, D))
    sent = [
        ("Should I turn myself in to the police?", "Should I turn myself into the police?"),
        ("Could you love me any more?", "Could you love me anymore?"),
        ("Were the kids all together at the party?", "Were the kids altogether at the party?"),
        ("Is the team all ready for Monday?", "Is the team already for Monday?"),
        ("Can any one person fix this bug?", "Can anyone person fix this bug?"),
        ("Is the screen a part of the warranty?", "Is the screen apart of the warranty?"),
        ("Can I work out at home without equipment?", "Can I workout at home without equipment?"),
    ]
    # The last four are near-typos (the same question misspelt), so they are left out.
    out += [("sentence", a, b, D) for a, b in sent[:3]]
    return out


# ---------------------------------------------------------------------------------------------
# true rewordings: should hit
def reworded_pairs(rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    case = [
        ("what is the capital of australia", "What is the capital of Australia?"),
        ("how many moons does jupiter have", "How many moons does Jupiter have?"),
        ("WHO PAINTED THE MONA LISA", "Who painted the Mona Lisa?"),
        ("how do i convert a pdf to word", "How do I convert a PDF to Word?"),
        ("when did world war two end", "When did World War Two end?"),
        ("what is the boiling point of water in fahrenheit", "What is the boiling point of water in Fahrenheit?"),
        ("how tall is mount everest", "How tall is Mount Everest?"),
        ("who wrote pride and prejudice", "Who wrote Pride and Prejudice?"),
        ("what language do they speak in brazil", "What language do they speak in Brazil?"),
        ("how long is the river nile", "How long is the River Nile?"),
        ("What Is The Speed Of Light", "What is the speed of light?"),
        ("explain photosynthesis simply", "Explain photosynthesis simply."),
        ("what year did the berlin wall fall", "What year did the Berlin Wall fall?"),
        ("how do I install python on windows", "How do I install Python on Windows?"),
        ("what time zone is new york in", "What time zone is New York in?"),
        ("Who Invented The Telephone?", "Who invented the telephone?"),
        ("what is the population of tokyo", "What is the population of Tokyo?"),
        ("HOW DO I MAKE PANCAKES", "How do I make pancakes?"),
        ("is pluto still a planet", "Is Pluto still a planet?"),
        ("what currency does japan use", "What currency does Japan use?"),
    ]
    out += [("case", a, b, S) for a, b in case]
    contr = [
        ("What's the difference between a virus and a bacterium?", "What is the difference between a virus and a bacterium?"),
        ("Why don't cats like water?", "Why do not cats like water?"),
        ("I can't sleep at night, what should I try?", "I cannot sleep at night, what should I try?"),
        ("Why isn't my code compiling after the update?", "Why is not my code compiling after the update?"),
        ("What's the best way to store fresh basil?", "What is the best way to store fresh basil?"),
        ("I'm learning Spanish: which app is best?", "I am learning Spanish: which app is best?"),
        ("Why won't my car start in the cold?", "Why will not my car start in the cold?"),
        ("It's too hot to sleep: any tips?", "It is too hot to sleep: any tips?"),
        ("Who's the author of The Hobbit?", "Who is the author of The Hobbit?"),
        ("Where's the best place to see the northern lights?", "Where is the best place to see the northern lights?"),
        ("Why doesn't ice sink in water?", "Why does ice not sink in water?"),
        ("What's a good name for a black cat?", "What is a good name for a black cat?"),
        ("I've got a headache, should I take paracetamol?", "I have got a headache, should I take paracetamol?"),
        ("Why aren't my tomatoes turning red?", "Why are not my tomatoes turning red?"),
        ("They're coming for dinner: what's a quick vegetarian main?", "They are coming for dinner: what is a quick vegetarian main?"),
        ("What's the weather usually like in Lisbon in April?", "What is the weather usually like in Lisbon in April?"),
        ("Why didn't the Romans use zero?", "Why did not the Romans use zero?"),
        ("I'd like to learn chess: where do I start?", "I would like to learn chess: where do I start?"),
        ("What's the longest river in Europe?", "What is the longest river in Europe?"),
        ("We're moving house: what should we pack first?", "We are moving house: what should we pack first?"),
    ]
    contr[10] = (contr[10][0], "Why does not ice sink in water?")
    out += [("contraction", a, b, S) for a, b in contr]
    greet = ["Hi,", "Hey,", "Hello,", "So,", "Well,", "Hi there,", "Hey there,", "Okay so,"]
    qs = [
        "how do I remove a stripped screw?", "what's a good substitute for buttermilk?", "how long do I boil an egg?",
        "why is the sky blue?", "how do I reset my router?", "what causes hiccups?", "how do I unclog a drain?",
        "what is a Roth IRA?", "how many cups are in a litre?", "how do I get rid of fruit flies?",
        "what does a VPN actually do?", "how do I make cold brew coffee?",
        "how do I descale a kettle?", "what is the difference between weather and climate?",
        "how do I get candle wax out of a tablecloth?", "why do onions make you cry?",
        "how many hours of sleep does a teenager need?", "what is a good first houseplant?",
    ]
    for q in qs:
        g = rng.choice(greet)
        out.append(("greeting", f"{g} {q}", q[0].upper() + q[1:], S))
    thanks = ["thanks", "thank you", "thanks!", "thank you!", "thanks a lot"]
    qs2 = [
        "How do I hard boil eggs so they peel easily?", "What temperature should I roast a chicken at?",
        "How do I center a div in CSS?", "What is the fastest way to learn touch typing?",
        "How do I remove a wine stain from carpet?", "How do I tie a bowline knot?",
        "How do I undo the last git commit?", "What's a good stretch for lower back pain?",
        "How often should I water a snake plant?", "How do I calculate compound interest?",
        "How do I clean a cast iron pan?", "What is the best way to memorise a speech?",
        "How long should I rest after a marathon?", "How do I write a cover letter with no experience?",
        "How do I keep cut flowers fresh longer?", "Why does my phone battery drain overnight?",
    ]
    for q in qs2:
        t = rng.choice(thanks)
        out.append(("thanks", f"{q} {t.capitalize()}", q, S))
    please = [
        ("Please explain how vaccines work.", "Explain how vaccines work."),
        ("Can you please list the planets in order?", "Can you list the planets in order?"),
        ("Summarise the plot of Hamlet, please.", "Summarise the plot of Hamlet."),
        ("Please give me a recipe for banana bread.", "Give me a recipe for banana bread."),
        ("Convert 100 Fahrenheit to Celsius please", "Convert 100 Fahrenheit to Celsius"),
        ("Please tell me how to change a bike tyre.", "Tell me how to change a bike tyre."),
        ("Could you please explain what inflation is?", "Could you explain what inflation is?"),
        ("What are the symptoms of dehydration, please?", "What are the symptoms of dehydration?"),
        ("Please suggest a name for my goldfish.", "Suggest a name for my goldfish."),
        ("Could you please translate 'good night' into Italian?", "Could you translate 'good night' into Italian?"),
    ]
    out += [("please", a, b, S) for a, b in please]
    how = [
        "renew my passport online", "get rid of mould in the shower", "improve my credit score", "stop my dog barking at night",
        "back up my iPhone to a computer", "make my WiFi faster", "get a tax refund", "remove a background from a photo",
        "fix a squeaky door", "learn to code for free",
    ]
    for h in how:
        out.append(("how_can_i_method", f"How can I {h}?", f"How do I {h}?", S))
    combo = [
        ("hey, what's the capital of canada? thanks", "What is the capital of Canada?"),
        ("Hi! How can I make my sourdough rise more? Thank you", "How do I make my sourdough rise more?"),
        ("so what's the best way to learn french please", "What is the best way to learn French?"),
        ("Hello, can you please tell me why it's called the Big Apple? Thanks!", "Can you tell me why it is called the Big Apple?"),
        ("well, how can I tell if an egg's gone bad? thanks", "How do I tell if an egg has gone bad?"),
        ("HEY, WHAT'S THE TALLEST BUILDING IN THE WORLD", "What is the tallest building in the world?"),
        ("Hi there, how can I stop my glasses fogging up? Thanks a lot", "How do I stop my glasses fogging up?"),
        ("Okay so what's a prime number? thanks", "What is a prime number?"),
    ]
    out += [("combined", a, b, S) for a, b in combo]
    return out


def main() -> None:
    rng = random.Random(SEED)
    kinds = [
        ("case", case_pairs), ("punctuation", punctuation_pairs), ("contraction", contraction_pairs),
        ("greeting_content", greeting_pairs), ("howcan", howcan_pairs), ("please_content", please_pairs),
        ("whitespace", whitespace_pairs), ("reworded", reworded_pairs),
    ]
    rows, seen = [], set()
    for kind, make in kinds:
        for family, a, b, label in make(rng):
            if a == b or (a, b) in seen or (b, a) in seen:
                continue
            seen.add((a, b))
            if rng.random() < 0.5:  # which side is cached: both directions
                a, b = b, a
            rows.append({"group": f"{kind}:{family}", "split": "report", "a": a, "b": b, "label": label, "kind": kind})
    # A text that appears in two pairs must not join two meanings: drop later pairs that reuse a text.
    used: set[str] = set()
    final = []
    for r in rows:
        if r["a"] in used or r["b"] in used:
            continue
        used.update((r["a"], r["b"]))
        final.append(r)
    rng.shuffle(final)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as fh:
        for i, r in enumerate(final):
            fh.write(json.dumps({"id": f"r4-{i:04d}", **r}) + "\n")
    by: dict[str, list[int]] = {}
    for r in final:
        c = by.setdefault(r["kind"], [0, 0, 0])
        c[0] += 1
        c[1] += r["label"] == "same"
    fams = {k: len({r["group"] for r in final if r["kind"] == k}) for k in by}
    print(f"wrote {len(final)} pairs to {OUT} ({len(rows) - len(final)} dropped for reusing a text)")
    for k, (n, s, _) in by.items():
        print(f"  {k:18s} {n:4d} pairs ({s} same), {fams[k]} families")


if __name__ == "__main__":
    main()
