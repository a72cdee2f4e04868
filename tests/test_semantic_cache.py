"""SemanticIndex (scope, threshold, TTL, eviction, IVF bound, threads) and the meaning guards."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pytest

from router.cache.guards import compatible, incompatibility
from router.cache.semantic import SemanticIndex

DIM = 16


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, cos: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector with cosine exactly ``cos`` to unit vector ``v``."""
    r = rng.standard_normal(v.shape[0]).astype(np.float32)
    r -= (r @ v) * v
    r /= np.linalg.norm(r)
    out = cos * v + np.sqrt(1 - cos**2) * r
    return (out / np.linalg.norm(out)).astype(np.float32)


def test_hit_and_scope_isolation() -> None:
    rng = np.random.default_rng(0)
    idx = SemanticIndex(dim=DIM, threshold=0.9)
    v = unit(rng)
    idx.add("tenant-a|m", v, "how do I sort a list", "answer-a")
    got = idx.lookup("tenant-a|m", v, "how do I sort a list")
    assert got is not None and got[0] == "answer-a" and got[1] == pytest.approx(1.0, abs=1e-5)
    assert idx.lookup("tenant-b|m", v, "how do I sort a list") is None
    assert idx.lookup("tenant-a|other-model", v, "how do I sort a list") is None


def test_threshold_and_best_match() -> None:
    rng = np.random.default_rng(1)
    idx = SemanticIndex(dim=DIM, threshold=0.9)
    q = unit(rng)
    idx.add("s", near(q, 0.95, rng), "how do I sort a list", "close")
    idx.add("s", near(q, 0.91, rng), "how do I sort my list", "farther")
    got = idx.lookup("s", q, "how can I sort a list")
    assert got is not None and got[0] == "close" and got[1] == pytest.approx(0.95, abs=1e-4)
    assert idx.lookup("s", q, "how can I sort a list", threshold=0.96) is None
    only = SemanticIndex(dim=DIM, threshold=0.9)
    only.add("s", near(q, 0.89, rng), "how do I sort a list", "below")
    assert only.lookup("s", q, "how do I sort a list") is None
    assert only.lookup("s", q, "how do I sort a list", threshold=0.85) is not None


def test_guard_vetoes_and_falls_back_to_next_candidate() -> None:
    rng = np.random.default_rng(2)
    idx = SemanticIndex(dim=DIM, threshold=0.8)
    q = unit(rng)
    idx.add("s", near(q, 0.99, rng), "Is Python not a compiled language?", "negated")
    idx.add("s", near(q, 0.90, rng), "Is Python a compiled programming language?", "plain")
    got = idx.lookup("s", q, "Is Python a compiled language?")
    assert got is not None and got[0] == "plain"
    assert idx.stats()["guard_rejects"] == 1


def test_ttl_expiry() -> None:
    rng = np.random.default_rng(3)
    clock = FakeClock()
    idx = SemanticIndex(dim=DIM, ttl_s=60, clock=clock)
    v = unit(rng)
    idx.add("s", v, "q1", "default-ttl")
    w = unit(rng)
    idx.add("s", w, "q2", "short-ttl", ttl_s=5)
    clock.now += 6
    assert idx.lookup("s", w, "q2") is None
    assert idx.lookup("s", v, "q1") is not None
    assert len(idx) == 1
    clock.now += 60
    assert idx.lookup("s", v, "q1") is None
    assert len(idx) == 0


def test_eviction_is_lru() -> None:
    rng = np.random.default_rng(4)
    idx = SemanticIndex(dim=DIM, max_entries=3)
    vecs = [unit(rng) for _ in range(4)]
    for i in range(3):
        idx.add("s", vecs[i], f"prompt {i}", str(i))
    assert idx.lookup("s", vecs[0], "prompt 0") is not None  # touch 0: 1 is now the oldest
    idx.add("s", vecs[3], "prompt 3", "3")
    assert len(idx) == 3
    assert idx.lookup("s", vecs[1], "prompt 1") is None
    for i in (0, 2, 3):
        hit = idx.lookup("s", vecs[i], f"prompt {i}")
        assert hit is not None and hit[0] == str(i)


def test_same_prompt_replaces_and_clear() -> None:
    rng = np.random.default_rng(5)
    idx = SemanticIndex(dim=DIM)
    v = unit(rng)
    idx.add("s", v, "same prompt", "old")
    idx.add("s", v, "same prompt", "new")
    assert len(idx) == 1
    assert idx.lookup("s", v, "same prompt") == ("new", pytest.approx(1.0, abs=1e-5))
    idx.clear()
    assert len(idx) == 0 and idx.lookup("s", v, "same prompt") is None


def test_rejects_wrong_dimension() -> None:
    idx = SemanticIndex(dim=DIM)
    with pytest.raises(ValueError):
        idx.add("s", np.ones(DIM + 1, dtype=np.float32), "x", "y")
    with pytest.raises(ValueError):
        idx.lookup("s", np.zeros(DIM, dtype=np.float32), "x")


def test_partitioned_scope_matches_brute_force() -> None:
    """Past flat_max the scope is split into k-means lists; on clustered data the list bound
    must prune without losing any match that brute force finds."""
    rng = np.random.default_rng(6)
    centres = rng.standard_normal((40, DIM)).astype(np.float32)
    data = centres[rng.integers(0, 40, 3000)] + 0.15 * rng.standard_normal((3000, DIM)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    idx = SemanticIndex(dim=DIM, threshold=0.95, flat_max=500, max_probe=10_000, guard=None)
    for i, v in enumerate(data):
        idx.add("s", v, f"p{i}", str(i))
    shard = idx._shards["s"]
    assert shard.centroids is not None and len(shard.blocks) > 1
    for i in range(0, 3000, 15):
        q = near(data[i], 0.97, rng)
        sims = data @ q
        best = int(np.argmax(sims))
        got = idx.lookup("s", q, "q")
        assert got is not None
        assert got[1] == pytest.approx(float(sims[best]), abs=1e-5)
    # Removal from a partitioned scope keeps the rest findable.
    for i in range(0, 3000, 2):
        idx._remove(i)
    for i in range(1, 3000, 50):
        got = idx.lookup("s", data[i], "q")
        assert got is not None and got[1] == pytest.approx(1.0, abs=1e-5)


def test_thread_safety_smoke() -> None:
    rng = np.random.default_rng(7)
    idx = SemanticIndex(dim=DIM, max_entries=500, flat_max=200)
    vecs = [unit(rng) for _ in range(2000)]
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for i in range(offset, 2000, 4):
                idx.add(f"scope{i % 3}", vecs[i], f"prompt {i}", str(i))
                hit = idx.lookup(f"scope{i % 3}", vecs[i], f"prompt {i}")
                assert hit is None or hit[0] == str(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert len(idx) == 500
    assert sum(len(s) for s in idx._shards.values()) == 500


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("How far is 5 km in miles?", "How far is 50 km in miles?", "numbers"),
        ("What is 2.5 times 4?", "What is 2.55 times 4?", "numbers"),
        ("Write a poem with four lines.", "Write a poem with fourteen lines.", "numbers"),
        ("Convert 5 km to miles", "Convert 5 miles to km", "units"),
        ("What is 7 + 8?", "What is 7 times 8?", "operators"),
        ("Is Python a compiled language?", "Is Python not a compiled language?", "negation"),
        ("Can I return an item after 30 days?", "Can't I return an item after 30 days?", "negation"),
        ("How do I make bread with yeast?", "How do I make bread without yeast?", "negation"),
        ("Is it legal to record a call?", "Is it illegal to record a call?", "negation"),
        ("Do you never ship abroad?", "Do you ship abroad?", "negation"),
        ("What is the capital of France?", "What is the capital of Germany?", "entities"),
        ("Did Alice pay Bob?", "Did Bob pay Alice?", "entities"),
        ("How do I use os.path.join?", "How do I use os.path.split?", "entities"),
        ('What does the "grep" command do?', 'What does the "awk" command do?', "quoted"),
        ("Find the max of a list", "Find the min of a list", "direction"),
        ("What should I eat before a run?", "What should I eat after a run?", "direction"),
        ("How do I encode base64?", "How do I decode base64?", "direction"),
        ("Sort the list in ascending order", "Sort the list in descending order", "direction"),
    ],
)
def test_guards_reject_meaning_changes(a: str, b: str, reason: str) -> None:
    assert incompatibility(a, b) == reason
    assert not compatible(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How far is five km in miles?", "How far is 5 kilometres in miles?"),
        ("What is three million divided by two?", "What is 3 million divided by 2?"),
        ("What is 7 x 8?", "What is 7 times 8?"),
        ("What is the capital of France?", "France's capital city is what?"),
        ("How do I sort a list in Python?", "What's the way to sort a Python list?"),
        ("Why can't I log in?", "I'm unable to log in, what's wrong?"),
        ("Which one is better for beginners?", "Which is better for beginners?"),
        ("What is the 1st element of the array?", "What is the first element of the array?"),
    ],
)
def test_guards_allow_paraphrases(a: str, b: str) -> None:
    assert compatible(a, b), incompatibility(a, b)


# Tokens whose letter case carries the meaning: SI prefixes (m/M, k/K), bits against bytes (b/B),
# code identifiers and quoted literals. A rewording that only lower-cases plain words stays allowed.
@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("Is a 40 mW transmitter legal for hobbyists?", "Is a 40 MW transmitter legal for hobbyists?", "units"),
        ("How many photos fit in 16 Gb of storage?", "How many photos fit in 16 GB of storage?", "units"),
        ("Is a ping of 250 ms slow for gaming?", "Is a ping of 250 Ms slow for gaming?", "units"),
        ("My plan gives 300 mb per day, is that enough?", "My plan gives 300 MB per day, is that enough?", "units"),
        ("Is 50 Kbps usable for a voice call?", "Is 50 KBps usable for a voice call?", "units"),
        ("Which is faster in practice, Gbps or GBps?", "Which is faster in practice, GBps or Gbps?", "case"),
        ("Why does userList.sort() return nothing here?", "Why does UserList.sort() return nothing here?", "case"),
        ("What does the isNaN helper check?", "What does the isnan helper check?", "case"),
        ('Replace "Total" with "total" in the header row', 'Replace "total" with "Total" in the header row', "quoted"),
    ],
)
def test_guards_compare_case_significant_tokens_exactly(a: str, b: str, reason: str) -> None:
    assert incompatibility(a, b) == reason
    assert incompatibility(b, a) == reason


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How many songs fit in 8 GB?", "how many songs fit in 8 gigabytes"),
        ("Is 3 Mb a big file?", "Is 3 megabits a big file?"),
        ("Is 250 ms of latency noticeable?", "is 250 milliseconds of latency noticeable"),
        ("How do I write a SQL join in Postgres?", "how do i write a sql join in postgres"),
        ("How do I call getElementById?", "how do I call getElementById ?"),
        ("Is 20 km a long run?", "is 20 kilometres a long run"),
        ("How many MW does a wind turbine make?", "how many megawatts does a wind turbine make"),
    ],
)
def test_guards_allow_case_changes_that_keep_the_meaning(a: str, b: str) -> None:
    assert compatible(a, b), incompatibility(a, b)


def _embedder_or_skip() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    embed = pytest.importorskip("classifiers.embed")
    spec = embed.EmbedderSpec(backend="onnx-int8", head_tokens=96, tail_tokens=32)
    if not embed.onnx_path(quantized=True).is_file():
        pytest.skip("MiniLM ONNX export not built on this machine")
    return embed.Embedder(spec)


def test_real_embedder_paraphrase_hits_and_negation_misses() -> None:
    embedder = _embedder_or_skip()
    cached = "How can I cancel my subscription?"
    para = "I want to cancel my subscription, how do I do that?"
    negated = "Why can't I cancel my subscription?"
    vec_c, vec_p, vec_n = embedder.embed([cached, para, negated])
    idx = SemanticIndex(dim=embedder.dim)
    idx.add("t|m", vec_c, cached, "cancel-answer")
    # The negated near-duplicate is close enough in embedding space that only the guard stops it.
    assert float(vec_c @ vec_n) >= 0.8
    hit = idx.lookup("t|m", vec_p, para, threshold=0.8)
    assert hit is not None and hit[0] == "cancel-answer"
    assert idx.lookup("t|m", vec_n, negated, threshold=0.8) is None
