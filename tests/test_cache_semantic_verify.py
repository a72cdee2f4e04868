"""The semantic cache's correctness: whole-text verification, the calibrated error bound, feedback,
tenant and conversation scoping, and bounded memory.

No test here depends on a model's numerics: vectors come from a deterministic test embedder that,
like the gateway's, reads only a text's head and tail, and every decision asserted is the verifier's
exact string logic or the same text looked up again."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from policies.schema import CacheSettings
from router.cache import calibration, responses
from router.cache.calibration import choose, clopper_pearson, clopper_pearson_upper
from router.cache.guards import MAX_TEXT_CHARS
from router.cache.responses import CacheControl, ResponseCache
from router.cache.semantic import SemanticIndex
from router.cache.verify import LONG_CHARS, form, verdict
from router.schemas import parse_chat_request

DIM = 64


def window_embed(text: str, head: int = 120, tail: int = 60) -> np.ndarray:
    """Bag of hashed words of a text's head and tail: two texts equal there embed identically,
    as the gateway's 96 + 32 word-piece window makes them."""
    seen = text if len(text) <= head + tail else text[:head] + " " + text[-tail:]
    vec = np.zeros(DIM, dtype=np.float32)
    for word in seen.lower().split():
        vec[int.from_bytes(hashlib.blake2b(word.strip("?.,!").encode(), digest_size=4).digest(), "little") % DIM] += 1.0
    vec[0] += 0.01  # never the zero vector
    return vec / np.linalg.norm(vec)


def embedding_of(text: str, calls: list[str] | None = None) -> Callable[[], Awaitable[np.ndarray]]:
    async def get() -> np.ndarray:
        if calls is not None:
            calls.append(text)
        return window_embed(text)

    return get


def chat(text: str, earlier: list[dict[str, str]] | None = None) -> Any:
    return parse_chat_request({"model": "auto", "messages": [*(earlier or []), {"role": "user", "content": text}]})


def semantic_cache(**settings: Any) -> ResponseCache:
    cache = ResponseCache(CacheSettings(exact=False, semantic=True, **settings))
    cache.attach_embedder(DIM, "test-window-embedder")
    # Candidates by the test embedder's cosine; the verifier, not the cosine, is under test.
    cache.index.threshold = 0.5
    return cache


KEEP = CacheControl(lookup=True, store=True, ttl_s=600)


def store(cache: ResponseCache, tenant: str, text: str, answer: str, earlier: list[dict[str, str]] | None = None) -> None:
    async def keep() -> None:
        await cache.store(tenant, chat(text, earlier), KEEP, {"response": answer}, embedding_of(text))
        await cache.drain()  # the semantic half is stored off the request path

    asyncio.run(keep())


def lookup(
    cache: ResponseCache, tenant: str, text: str, earlier: list[dict[str, str]] | None = None, request_id: str | None = None
) -> str | None:
    hit = asyncio.run(cache.lookup(tenant, chat(text, earlier), embedding_of(text), request_id=request_id))
    return None if hit is None else hit.entry["response"]


FILLER = "The committee met to review the quarterly figures, the supplier contracts and the maintenance backlog. " * 8


def test_long_prompts_that_differ_only_in_the_middle_never_hit() -> None:
    head = "Answer using only the document below.\n\n" + FILLER
    tail = FILLER + "\nQuestion: what did the board decide?"
    expand = head + "The board agreed to expand the night shift. " + tail
    cancel = head + "The board agreed to cancel the night shift. " + tail
    assert window_embed(expand) @ window_embed(cancel) == pytest.approx(1.0)  # the embedding cannot tell them apart
    cache = semantic_cache()
    store(cache, "t", expand, "expanded")
    assert lookup(cache, "t", cancel) is None
    assert lookup(cache, "t", expand) == "expanded"  # the same text: still one request
    assert lookup(cache, "t", expand.replace("Answer using", "answer using")) is None  # a document's case is its content
    ok, _, why = verdict(cancel, expand, 0.0)
    assert not ok and why == "long text differs"


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("write a story where the fox beats the owl in a race", "write a story where the owl beats the fox in a race"),
        ("give three reasons something might be cheap", "give three reasons something might be expensive"),
        (
            "in a typical contract, when the buyer can sue the seller, what happens",
            "in a typical contract, when the seller can sue the buyer, what happens",
        ),
        ("summarise the risks of deleting all users", "summarise the risks of deleting admin users"),
        ("how do i reverse a list in rust", "how do i reverse a list in kotlin"),
    ],
)
def test_verifier_refuses_near_duplicates_that_change_the_meaning(query: str, cached: str) -> None:
    rule = calibration.rule_for(CacheSettings().max_false_hit_rate)
    assert not verdict(query, cached, rule.min_alignment)[0]


# Pairs whose content words (stemmed, function words dropped) are the same sequence: only a
# structure check can tell them apart, whatever a score says.
SAME_CONTENT_WORDS_OTHER_MEANING = [
    ("why did rome fall", "when did rome fall"),  # question word
    ("how do cats purr?", "where do cats purr?"),
    ("who is the president of france", "who was the president of france"),  # tense
    ("who will be the mayor of london", "who is the mayor of london"),
    ("how do farmers water crops", "how did farmers water crops"),
    ("can i freeze cooked rice?", "should i freeze cooked rice?"),  # possibility vs advice
    ("what is my ip address", "what is your ip address"),  # whose
    ("what is their timezone", "what is our timezone"),
    ("how do i copy photos to my phone", "how do i copy photos from my phone"),  # where to
    ("how do i log in", "how do i log out"),
    ("is it ok to have coffee and tea together", "is it ok to have coffee or tea together"),  # a choice, not a sum
    ("explain a == b with an example", "explain a is b with an example"),  # code symbols
    ("when is a <= b true", "when is a < b true"),
]


@pytest.mark.parametrize(("query", "cached"), SAME_CONTENT_WORDS_OTHER_MEANING)
def test_verifier_refuses_function_word_changes_whatever_the_score(query: str, cached: str) -> None:
    from router.cache.verify import alignment, content_words

    assert content_words(query) == content_words(cached) and alignment(query, cached) == 1.0  # alignment is blind here
    rule = calibration.rule_for(CacheSettings().max_false_hit_rate)
    assert not verdict(query, cached, rule.min_alignment)[0]
    # A pair model that calls every pair identical is vetoed by the same structure checks.
    assert not verdict(query, cached, 0.5, scorer=lambda _q, _c: 1.0)[0]


UNITS_IN_LOWER_CASE = [
    ("How long does it take to download 5 gb over wifi?", "How long does it take to download 5 tb over wifi?"),
    ("My phone has 128 gb of storage, how many photos fit?", "My phone has 128 mb of storage, how many photos fit?"),
    ("Is a 3 ghz cpu fast?", "Is a 3 mhz cpu fast?"),
    ("How big is a 2 gib file in bytes?", "How big is a 2 kib file in bytes?"),
]


SIGNS_AND_CASE_AFTER_NUMBERS = [
    ("Round -2.5 to the nearest integer", "Round 2.5 to the nearest integer"),
    ("What is -7 squared?", "What is 7 squared?"),
    ("Is the point (-4, 2) in the second quadrant?", "Is the point (4, 2) in the second quadrant?"),
    ("Is 3 T of salt too much for one loaf?", "Is 3 t of salt too much for one loaf?"),
    ("Is a 5 M resistor safe here?", "Is a 5 m resistor safe here?"),
]


@pytest.mark.parametrize(("query", "cached"), SIGNS_AND_CASE_AFTER_NUMBERS)
def test_a_numbers_sign_and_the_case_of_what_follows_it_count(query: str, cached: str) -> None:
    # Kinds an independent red-team set (v2) found: a leading minus was dropped, and "2 T" (tablespoons)
    # matched "2 t" (teaspoons). These are this test's own examples, not the red team's.
    assert not verdict(query, cached, calibration.rule_for(CacheSettings().max_false_hit_rate).min_alignment)[0]
    assert not verdict(query, cached, 0.5, scorer=lambda _q, _c: 1.0)[0]


@pytest.mark.parametrize(("query", "cached"), [("what is 5-3?", "What is 5-3?"), ("Set it to -5 degrees", "set it to -5 degrees")])
def test_subtraction_and_equal_signed_numbers_still_match(query: str, cached: str) -> None:
    assert verdict(query, cached, calibration.rule_for(CacheSettings().max_false_hit_rate).min_alignment)[0]


@pytest.mark.parametrize(("query", "cached"), UNITS_IN_LOWER_CASE)
def test_units_typed_in_lower_case_are_still_units_at_any_alignment(query: str, cached: str) -> None:
    # Found by a review: once units were read by their case, "gb"/"tb"/"mhz" were no unit at all, and
    # below alignment 1.0 (a looser max_false_hit_rate) only the alignment stood between these pairs.
    assert not verdict(query, cached, calibration.rule_for(0.05).min_alignment)[0]
    assert not verdict(query, cached, 0.5, scorer=lambda _q, _c: 1.0)[0]


def test_an_injected_scorer_decides_only_what_the_structure_checks_let_through() -> None:
    calls: list[tuple[str, str]] = []

    def scorer(query: str, cached: str) -> float:
        calls.append((query, cached))
        return 0.9 if "cook tonight" in query else 0.2

    paraphrase = ("suggest something fast i can cook tonight using rice", "give me a quick dinner recipe with rice")
    assert verdict(*paraphrase, 0.8, scorer=scorer) == (True, 0.9, "scored")
    assert verdict(*paraphrase, 0.95, scorer=scorer) == (False, 0.9, "score")
    assert verdict("give me a quick dinner recipe without rice", paraphrase[1], 0.1, scorer=scorer)[0] is False
    assert calls == [paraphrase, paraphrase]  # the negation check refused the third without asking the scorer
    head, tail = "Answer from the document.\n" + FILLER, FILLER + "\nWhat was decided?"
    long_a, long_b = head + "The board agreed. " + tail, head + "The board refused. " + tail
    assert verdict(long_b, long_a, 0.0, scorer=lambda _q, _c: 1.0) == (False, 0.0, "long text differs")


# Words an alignment of content words drops but that say which thing or who: deictic words
# (this/that, these/those, here/there), personal and possessive pronouns with their person, gender
# and case, the order of those pronouns among the content words, and the prepositions that give
# each participant its role. Most pairs' content words are the same sequence; the checks refuse
# every pair whatever a scorer says.
PARTICIPANT_CHANGES = [
    ("Rename this folder and archive that spreadsheet", "Rename that folder and archive this spreadsheet", "deixis"),
    ("Are these shoes cheaper than those boots?", "Are those shoes cheaper than these boots?", "deixis"),
    ("Why is that test flaky?", "Why is this test flaky?", "deixis"),
    ("Is that the password for this router?", "Is this the password for that router?", "deixis"),
    ("Should I park the van here or across the street?", "Should I park the van there or across the street?", "deixis"),
    ("Transfer the deposit from me to my landlord", "Transfer the deposit from my landlord to me", "person"),
    ("Can he drive her to the airport tomorrow?", "Can she drive him to the airport tomorrow?", "person"),
    ("What did they promise us last year?", "What did we promise them last year?", "person"),
    ("What is his pension age?", "What is her pension age?", "person"),
    ("Move the photos from my tablet to her laptop", "Move the photos from her tablet to my laptop", "person"),
    ("Wrap it in the towel before freezing", "Wrap the towel in it before freezing", "person"),
    ("Should you apologise to me first?", "Should I apologise to you first?", "person"),
    ("Write a thank-you speech to the volunteers", "Write a thank-you speech for the volunteers", "roles"),
    ("Is this cartoon made by kids?", "Is this cartoon made for kids?", "roles"),
    ("Plan a picnic with the neighbours", "Plan a picnic against the neighbours", "roles"),
]


@pytest.mark.parametrize(("query", "cached", "reason"), PARTICIPANT_CHANGES)
def test_verifier_refuses_changed_participants_whatever_the_score(query: str, cached: str, reason: str) -> None:
    for q, c in ((query, cached), (cached, query)):
        assert verdict(q, c, 0.5, scorer=lambda _q, _c: 1.0) == (False, 0.0, reason)


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("Could you explain how to fix my bike chain?", "explain how to fix my bike chain"),
        ("Is there a way to undo a git commit? thank you", "is there a way to undo a git commit"),  # "there is", "thank you"
        ("Hey, what should I say to my manager?", "what should I say to my manager"),
        ("please, how do I move my files to the new disk", "How do I move my files to the new disk?"),
    ],
)
def test_verifier_accepts_rewordings_that_keep_the_participants(query: str, cached: str) -> None:
    assert verdict(query, cached, 1.0)[0], verdict(query, cached, 1.0)


# Word changes the content-word alignment dropped or stemmed away, found by a third independent red-team
# set (articles, number agreement, prepositions of place); this test's own examples. The shipped rule
# (alignment 1.0) demands the same text up to what retyping changes (:func:`router.cache.verify.form`),
# so it also refuses some harmless rewordings (the last two).
@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("Recommend a novel by the author of Emma.", "Recommend the novel by the author of Emma."),
        ("Did a neighbour of mine call the police?", "Did the neighbour of mine call the police?"),
        ("What is the tallest mountain in Africa?", "What are the tallest mountains in Africa?"),
        ("Should I keep the bread on the counter?", "Should I keep the bread in the counter?"),
        ("Is the cat under the table?", "Is the cat over the table?"),
        ("translate hello to Spanish", "translate hi to Spanish"),
        ("How can I not laugh at this?", "How do I not laugh at this?"),  # a fourth red-team set's kind
        ("Rewrite more politely: pass the salt", "Rewrite more politely: please pass the salt"),
        ("How do you renew a passport?", "how do I renew a passport"),
        ("I think that the disk is full, why?", "I think the disk is full, why?"),
    ],
)
def test_the_shipped_rule_demands_the_same_words(query: str, cached: str) -> None:
    for q, c in ((query, cached), (cached, query)):
        assert verdict(q, c, 1.0) == (False, 0.0, "wording"), verdict(q, c, 1.0)


def test_the_same_words_up_to_politeness_still_hit() -> None:
    for q, c in (("So hi, what's the capital of Peru? Thanks!", "what is the capital of Peru"),
                 ("Hey what is a monad", "please what is a monad?")):
        assert verdict(q, c, 1.0)[0], verdict(q, c, 1.0)


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("How do I reverse a list in Python?", "how do i reverse a list in Python"),
        ("What's the tallest building in Oslo?", "what is the tallest building in Oslo"),
        ("hey, how do i reverse a queue in go?", "how do i reverse a queue in go"),
    ],
)
def test_verifier_accepts_rewordings(query: str, cached: str) -> None:
    rule = calibration.rule_for(CacheSettings().max_false_hit_rate)
    assert verdict(query, cached, rule.min_alignment)[0]


def test_shipped_rule_accepts_no_meaning_changing_pair_of_the_calibration_half() -> None:
    """The generated evaluation set is the committed one, and on its calibration half the shipped
    rule (exact string logic, no embedding) refuses every ``different`` pair and accepts rewordings."""
    import json
    from pathlib import Path

    from bench.semantic_eval_gen import OUT, generate

    rows = generate()
    assert OUT.read_text() == "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    splits: dict[str, set[str]] = {}
    for row in rows:
        splits.setdefault(str(row["group"]), set()).add(str(row["split"]))
    assert all(len(s) == 1 for s in splits.values())  # every family wholly in one half
    artifact = calibration.load()
    assert artifact["data_sha256"] == hashlib.sha256(Path(OUT).read_bytes()).hexdigest()[:16]  # calibrated on this set
    rule = calibration.rule_for(CacheSettings().max_false_hit_rate)
    calib = [r for r in rows if r["split"] == "calib" and "ctx_a" not in r]
    accepted_wrong = [(r["b"], r["a"]) for r in calib if r["label"] == "different" and verdict(r["b"], r["a"], rule.min_alignment)[0]]
    assert accepted_wrong == []
    reworded = [r for r in calib if r["kind"] == "reworded"]
    # A third of the light rewordings (case, punctuation, an opening or closing) still hit: 161 of 433 when
    # written, 371 before red-team sets showed that case inside a sentence, a final "!", a bare "well" or
    # "thanks" and contractions can carry meaning, and that text about text or code keeps its form.
    assert sum(verdict(r["b"], r["a"], rule.min_alignment)[0] for r in reworded) >= 0.33 * len(reworded)


def _upper_by_scan(k: int, n: int, confidence: float = 0.95) -> float:
    """The one-sided Clopper-Pearson upper bound as the Beta(k+1, n-k) quantile (scipy; independent of the code under test)."""
    stats = pytest.importorskip("scipy.stats")
    return 1.0 if k >= n else float(stats.beta.ppf(confidence, k + 1, n - k))


def test_clopper_pearson_upper_matches_independent_computations() -> None:
    for n in (10, 50, 300, 1000):
        assert clopper_pearson_upper(0, n) == pytest.approx(1 - 0.05 ** (1 / n), abs=1e-9)  # closed form for k = 0
    for k, n in ((1, 40), (3, 200), (7, 500)):
        assert clopper_pearson_upper(k, n) == pytest.approx(_upper_by_scan(k, n), abs=1e-6)
    stats = pytest.importorskip("scipy.stats")
    for k, n in ((0, 14), (13, 28), (5, 60), (28, 28)):
        lo, hi = clopper_pearson(k, n)
        assert lo == pytest.approx(0.0 if k == 0 else stats.beta.ppf(0.025, k, n - k + 1), abs=1e-6)
        assert hi == pytest.approx(1.0 if k == n else stats.beta.ppf(0.975, k + 1, n - k), abs=1e-6)


def test_calibration_picks_the_loosest_rule_whose_upper_bound_meets_the_bound() -> None:
    rng = np.random.default_rng(7)
    # Synthetic verifier scores: wrong candidates score low, right ones high, overlapping in the middle.
    wrong = rng.beta(2, 5, size=3000)
    right = rng.beta(8, 2, size=3000)
    grid = [round(0.5 + 0.05 * i, 2) for i in range(11)]
    table = [
        {"min_alignment": m, "hits": int((wrong >= m).sum() + (right >= m).sum()), "false_hits": int((wrong >= m).sum())} for m in grid
    ]
    bound = 0.02
    rule = choose(table, bound)
    assert rule.certified
    uppers = {r["min_alignment"]: _upper_by_scan(r["false_hits"], r["hits"]) for r in table}
    chosen = next(r for r in table if r["min_alignment"] == rule.min_alignment)
    assert chosen["false_hits"] / chosen["hits"] <= bound
    assert _upper_by_scan(chosen["false_hits"], chosen["hits"]) <= bound + 1e-9
    for row in table:  # every looser rule fails the bound on its upper end
        if row["min_alignment"] < rule.min_alignment and row["min_alignment"] in uppers:
            assert uppers[row["min_alignment"]] > bound
    # A bound that no row meets: the strictest rule, reported uncertified.
    strict = choose(table, 1e-5)
    assert not strict.certified and strict.min_alignment == grid[-1]
    # Of rows that made the very same hits, the strictest (the cheapest miss path, the widest margin).
    tied = [{"min_alignment": m, "hits": 400, "false_hits": 0} for m in (0.9, 0.95, 1.0)]
    assert choose([{"min_alignment": 0.85, "hits": 420, "false_hits": 9}, *tied], 0.01).min_alignment == 1.0
    # Few hits cannot certify a tight bound, however clean: 0 false of 50 has an upper bound of ~5.8%.
    assert not choose([{"min_alignment": 0.9, "hits": 50, "false_hits": 0}], 0.01).certified


def test_negative_feedback_evicts_the_entry_and_tightens_the_scope() -> None:
    cache = semantic_cache()
    cache.index.min_alignment = 0.7
    store(cache, "t", "sort the list of users by age", "by-age")
    query = "sort the list of users by the age now"
    ok, score, _ = verdict(query, "sort the list of users by age", 0.7)
    assert ok and score < 1.0
    assert lookup(cache, "t", query, request_id="req-1") == "by-age"
    assert cache.feedback("req-1", 1.0) is False  # a good verdict changes nothing
    assert lookup(cache, "t", query, request_id="req-2") == "by-age"
    assert cache.feedback("req-2", 0.0) is True
    assert cache.feedback("req-2", 0.0) is False  # once per answer
    assert lookup(cache, "t", query) is None  # the entry is gone
    store(cache, "t", "sort the list of users by age", "by-age")
    assert lookup(cache, "t", query) is None  # and this scope no longer accepts a match that loose
    assert lookup(cache, "t", "sort the list of users by age") == "by-age"  # the same text still hits
    assert lookup(cache, "other-tenant", query) is None


def test_a_wrong_same_form_hit_leaves_its_scope_only_the_very_same_text() -> None:
    cache = semantic_cache()
    assert cache.index.min_alignment == 1.0
    for tenant in ("t", "u"):
        store(cache, tenant, "what is the capital of France", "paris")
        store(cache, tenant, "what is the capital of Spain", "madrid")
    assert lookup(cache, "t", "What is the capital of France?", request_id="req-1") == "paris"
    assert cache.feedback("req-1", 0.0) is True
    # Past the same form there is nothing looser to refuse: only each entry's very own text still hits here.
    assert lookup(cache, "t", "What is the capital of Spain?") is None
    assert lookup(cache, "t", "what is the capital of Spain") == "madrid"
    assert lookup(cache, "u", "What is the capital of Spain?") == "madrid"  # another tenant's scope is untouched


def test_semantic_path_is_tenant_scoped_on_its_own() -> None:
    cache = semantic_cache()  # exact cache off: only the semantic path can answer
    assert cache.exact is None
    store(cache, "tenant-a", "how do i reverse a list in Python", "a's answer")
    assert lookup(cache, "tenant-a", "How do I reverse a list in Python?") == "a's answer"
    assert lookup(cache, "tenant-b", "How do I reverse a list in Python?") is None
    assert lookup(cache, "tenant-b", "how do i reverse a list in Python") is None


def test_multi_turn_needs_the_same_earlier_turns() -> None:
    cache = semantic_cache()
    fox = [{"role": "user", "content": "tell me about the fox"}, {"role": "assistant", "content": "The fox is an animal."}]
    owl = [{"role": "user", "content": "tell me about the owl"}, {"role": "assistant", "content": "The owl is an animal."}]
    fox_other_answer = [fox[0], {"role": "assistant", "content": "Foxes are canids."}]
    store(cache, "t", "how much does it weigh?", "fox weight", fox)
    assert lookup(cache, "t", "How much does it weigh", fox) == "fox weight"
    assert lookup(cache, "t", "how much does it weigh?", owl) is None
    assert lookup(cache, "t", "how much does it weigh?", fox_other_answer) is None
    assert lookup(cache, "t", "how much does it weigh?") is None


def test_a_miss_that_no_entry_could_pass_is_decided_without_embedding() -> None:
    cache = semantic_cache()
    assert cache.index.min_alignment >= 1.0  # the shipped rule: the same form
    calls: list[str] = []

    def ask(text: str) -> str | None:
        hit = asyncio.run(cache.lookup("t", chat(text), embedding_of(text, calls)))
        return None if hit is None else hit.entry["response"]

    assert ask("what is a monad") is None
    assert calls == []  # nothing stored in this context
    store(cache, "t", "what is a functor", "functor")
    assert ask("what is a monad") is None
    assert calls == []  # no entry with these content words: the verifier would refuse every candidate
    assert ask("What is a functor?") == "functor"
    assert calls == ["What is a functor?"]
    cache.index.min_alignment = 0.8  # a looser rule cannot be decided by a hash: it embeds
    assert ask("what is a monad") is None
    assert calls[-1] == "what is a monad"


def test_store_is_off_the_request_path_and_an_immediate_repeat_waits_for_it() -> None:
    cache = semantic_cache()
    gate = asyncio.Event()

    async def slow_embedding() -> np.ndarray:
        await gate.wait()  # an embedding that takes as long as the test says
        return window_embed("how do i reverse a list in Python")

    async def scenario() -> tuple[bool, str | None]:
        await cache.store("t", chat("how do i reverse a list in Python"), KEEP, {"response": "answer"}, slow_embedding)
        returned_before_embedding = not gate.is_set() and len(cache.index) == 0
        repeat = asyncio.create_task(
            cache.lookup("t", chat("How do I reverse a list in Python?"), embedding_of("How do I reverse a list in Python?"))
        )
        await asyncio.sleep(0)
        gate.set()  # the store finishes while the repeat waits for it
        hit = await repeat
        return returned_before_embedding, None if hit is None else hit.entry["response"]

    returned_early, repeat = asyncio.run(scenario())
    assert returned_early and repeat == "answer"


def test_memory_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    index = SemanticIndex(dim=DIM, verifier=verdict, min_alignment=1.0)
    assert not index.add("s", window_embed("x"), "x" * (MAX_TEXT_CHARS + 1), "v")  # too long to keep
    assert len(index) == 0
    monkeypatch.setattr(responses, "MAX_SERVED", 3)
    cache = semantic_cache()
    store(cache, "t", "how do i reverse a list in python", "answer")
    for i in range(6):
        assert lookup(cache, "t", "how do i reverse a list in python", request_id=f"r{i}") == "answer"
    assert list(cache._served) == ["r3", "r4", "r5"]
    monkeypatch.setattr("router.cache.semantic.MAX_TIGHTENED_SCOPES", 2)
    for i in range(4):
        index.penalize(f"scope-{i}", b"none", 0.5)
    assert list(index._tightened) == ["scope-2", "scope-3"]
    assert LONG_CHARS < MAX_TEXT_CHARS


def test_semantic_is_off_by_default_and_the_gateway_says_why() -> None:
    settings = CacheSettings()
    assert settings.semantic is False and settings.exact is True and settings.max_false_hit_rate == 0.01
    line = ResponseCache(settings).describe()
    assert "semantic cache off" in line and "max_false_hit_rate 1.0%" in line


def test_partition_built_off_the_lock_keeps_every_change_made_meanwhile() -> None:
    from router.cache.semantic import _Shard

    rng = np.random.default_rng(11)
    vecs = {i: (v / np.linalg.norm(v)).astype(np.float32) for i, v in enumerate(rng.standard_normal((300, DIM)))}
    shard = _Shard(DIM, flat_max=64, max_probe=1000)
    shard.background = True  # training is the index's job, off the lock
    for i in range(200):
        shard.insert(i, vecs[i])
    assert shard.centroids is None and shard.wants_training()
    ids, data = shard.snapshot()
    for i in range(200, 300):  # adds and removals while the partition is computed
        shard.insert(i, vecs[i])
    for i in range(0, 200, 3):
        shard.remove(i)
    shard.install(_Shard.build(ids, data, DIM), len(ids))
    assert shard.centroids is not None and shard.journal is None
    alive = {i for i in range(300) if not (i < 200 and i % 3 == 0)}
    assert set(shard.loc) == alive
    for i in alive:  # each entry is found by its own vector, exactly once
        found, _ = shard.search(vecs[i], 0.999)
        assert [eid for _, eid in found] == [i]


def test_index_partitions_a_large_scope_in_the_background() -> None:
    import time

    rng = np.random.default_rng(12)
    index = SemanticIndex(dim=DIM, flat_max=64, background_training=True, guard=None)
    vecs = [(v / np.linalg.norm(v)).astype(np.float32) for v in rng.standard_normal((200, DIM))]
    for i, v in enumerate(vecs):
        index.add("s", v, f"prompt {i}", str(i))
    deadline = time.monotonic() + 30
    while index.stats()["trainings"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert index.stats()["trainings"] >= 1
    for i, v in enumerate(vecs):
        hit = index.lookup("s", v, f"prompt {i}")
        assert hit is not None and hit[0] == str(i)


# Kinds a fourth independent red-team set found in what the same-words rule folded (letter case inside a
# sentence, punctuation, a request about text), this test's own examples; the fixed rule folds only a
# sentence's first capital, a final full stop or a question's "?", and nothing at all in a request about
# text. Also the long-text path, which compared content words (articles dropped) and now compares the form.
_LONG = "Here is our refund policy. " + "Customers may return goods within the stated period if unused. " * 6
FORM_CHANGES = [
    ("What is the GDP of the US?", "what is the GDP of the us"),  # a country, a pronoun
    ("Where can I buy Polish sausage", "where can I buy polish sausage"),
    ("Is Nice worth visiting in May?", "is nice worth visiting in may?"),
    ("Let's eat, grandma", "Let's eat grandma"),
    ("You finished the report?", "You finished the report."),  # a question without a question word
    ("Find flights to Turkey e.g. Istanbul", "find flights to turkey e.g. istanbul"),
    ("e.g. Turkey in winter", "e.g. turkey in winter"),  # a full stop after an abbreviation starts no sentence
    ("Translate to German: Where is the station?", "translate to German: where is the station"),  # text to work on
    ("How many apostrophes are in don't stop", "how many apostrophes are in do not stop"),
    ("Can you swim?", "Swim."),  # ability, not a request
    ("Tell me about the co-op", "Tell me about the coop"),
    ("Is the meeting on Monday, or Tuesday?", "Is the meeting on Monday or Tuesday?"),  # which day / either day
    # A seventh red-team set's kinds: the thanks or the contraction asked about, an opinion asked, an abbreviation.
    ("What do I reply to a text that says, thank you", "What do I reply to a text that says"),
    ("My autocorrect keeps changing can't to cannot", "My autocorrect keeps changing cannot to cannot"),
    ("Would you recommend buying a house now?", "Recommend buying a house now"),
    ("Tickets for the U.S. Open", "Tickets for the U.S. open"),
    ("What happens if I run git add .", "What happens if I run git add"),  # a fifth set's: the folder, trailing spaces
    ("Why does this fail?\nls -la \\\n  /tmp", "Why does this fail?\nls -la \\ \n  /tmp"),
    # An eighth set's: a negative contraction, a thanks that is the text to work on, tone, indentation.
    ("Doesn't eating late cause weight gain?", "Does not eating late cause weight gain?"),
    ("Put the following in French. Thank you.", "Put the following in French."),
    ("How would a pirate say this? Thanks!", "How would a pirate say this?"),
    ("Okay.", "Okay?"),  # a review's: an opening that is the whole text is what was said
    ("Can you help or would you help, which is nicer?", "Help or would you help, which is nicer?"),
    ("  x = 1\nWhy is this an IndentationError?", "x = 1\nWhy is this an IndentationError?"),
    (_LONG + "What does the policy say about a refund?", _LONG + "What does the policy say about the refund?"),
]


@pytest.mark.parametrize(("query", "cached"), FORM_CHANGES)
def test_the_shipped_rule_folds_only_what_retyping_changes(query: str, cached: str) -> None:
    assert form(query) != form(cached)  # whatever the guards say, the form alone refuses the pair
    for q, c in ((query, cached), (cached, query)):
        assert not verdict(q, c, 1.0)[0], verdict(q, c, 1.0)


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("what's the population of Peru", "What is the population of Peru?"),
        ("Hi! Could you explain how DNS works?", "explain how DNS works."),
        ("Where do I renew my passport?", "where do i renew my passport"),
        ("I think it rains. Should I take a coat?", "i think it rains. should I take a coat"),
        ("Who wrote Hamlet?   Thanks!", "who wrote Hamlet"),
        ("Translate to German: where is the station?", "Translate to German: where is the station?"),  # text: only itself
    ],
)
def test_retyped_requests_still_hit(query: str, cached: str) -> None:
    assert verdict(query, cached, 1.0)[0], verdict(query, cached, 1.0)


def test_a_typographic_apostrophe_passes_the_index_shortcut_as_it_passes_the_rule() -> None:
    # Phones type "What’s": the form key that decides a miss without embedding must fold it as form() does.
    index = SemanticIndex(dim=DIM, threshold=0.5, verifier=verdict)
    index.add("s", window_embed("What's the capital of France?"), "What's the capital of France?", "v")
    assert index.may_match("s", "What\u2019s the capital of France?")
    assert verdict("What\u2019s the capital of France?", "What's the capital of France?", 1.0)[0]
