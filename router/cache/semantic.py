"""Semantic response cache index: nearest earlier request in the same scope, above a threshold.

Entries live in *scopes* (an opaque fingerprint of tenant, model, conversation context and
sampling parameters made by the caller); a lookup only ever compares against its own scope.

Search is exact where it is cheap and bounded where it is not:

- A scope with at most ``flat_max`` entries is one contiguous float32 matrix, scanned with one
  matrix-vector product (exact; ~0.1 ms per 1,000 rows here).
- A larger scope is partitioned by k-means into inverted lists (IVF). Each list keeps its
  centroid ``mu`` and a radius ``r`` (the largest ``||x - mu||`` of its members). For unit
  vectors ``q . x = q . mu + q . (x - mu) <= q . mu + r``, so a list whose bound is below the
  threshold cannot hold a match and is skipped without loss. Lists that survive are scanned
  in order of ``q . mu``, at most ``max_probe`` of them: when more survive (data with no
  cluster structure, such as random vectors), the search becomes approximate to keep latency
  bounded, and ``stats()["capped"]`` counts how often that happened.

No third-party ANN library is needed: brute force over 100k x 384 float32 costs ~9 ms on the
2-core dev machine (memory bound), HNSW (usearch) took minutes to build 100k entries there,
while the IVF scan touches a few thousand rows.

Removal (TTL expiry, LRU eviction, replacement) swaps the last row of a list into the hole, so
lists stay contiguous; radii are not shrunk on removal (a stale radius is still an upper
bound). A scope's partition is retrained whenever it has doubled since the last training.

What one entry and one lookup may cost is bounded: texts longer than ``max_text_chars`` are
neither stored nor looked up (their requests use the exact cache only), a lookup runs the
meaning guard on at most ``max_checks`` candidates, and it runs the guard outside the index lock.
An entry may carry only a digest of its text (a peer's entry when prompts are not to be stored
anywhere): it then matches a query with the very same text only.

With a ``verifier`` (:func:`router.cache.verify.verdict`, what the gateway uses) the similarity
threshold only finds candidates; the verifier then decides on both whole texts, with a
``min_alignment`` that a scope's negative feedback raises (:meth:`SemanticIndex.penalize`): a
scope that was served a wrong answer stops accepting matches as loose as that one.

A *lazy* index (``lazy=True``; in force while the rule demands alignment 1.0, the shipped one)
needs no search structure at all: the verifier accepts only entries of the same form
(:func:`router.cache.verify.form_key`), so an entry's candidates are the entries sharing its form
key, found by a dict lookup. Entries are then added without a vector and embedded only when a later
query of the same form needs the cosine (:meth:`SemanticIndex.embedding_needs`,
:meth:`SemanticIndex.set_vector`): a store costs no embedding, a miss none either, and there is
no partition to maintain. Cosine, threshold and verifier decide as in the searched index (the very same
text ranks first in both), up to which of more than ``max_checks`` entries of one form are checked: the
newest here, the most similar there.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from router.cache.guards import MAX_TEXT_CHARS, compatible
from router.cache.verify import form_key

Vector = NDArray[np.float32]

# Chosen by bench/semantic_cache.py for the onnx-int8 MiniLM embedder: the lowest threshold whose
# false hits stay <= 1% of hits on the calibration half of bench/data/paraphrases.jsonl, guards
# on. It is embedder-specific: the static (model2vec-style) backend needs its own calibration.
DEFAULT_THRESHOLD = 0.93


class _Block:
    """A growable contiguous matrix of unit vectors plus their entry ids."""

    __slots__ = ("ids", "n", "vecs")

    def __init__(self, dim: int, capacity: int = 4) -> None:
        self.vecs: Vector = np.empty((capacity, dim), dtype=np.float32)
        self.ids: NDArray[np.int64] = np.empty(capacity, dtype=np.int64)
        self.n = 0

    def append(self, eid: int, vec: Vector) -> int:
        if self.n == len(self.ids):
            cap = max(4, 2 * self.n)
            vecs = np.empty((cap, self.vecs.shape[1]), dtype=np.float32)
            vecs[: self.n] = self.vecs[: self.n]
            ids = np.empty(cap, dtype=np.int64)
            ids[: self.n] = self.ids[: self.n]
            self.vecs, self.ids = vecs, ids
        row = self.n
        self.vecs[row] = vec
        self.ids[row] = eid
        self.n += 1
        return row

    def remove(self, row: int) -> int | None:
        """Delete ``row`` by moving the last row into it; returns the id that moved, if any."""
        last = self.n - 1
        self.n = last
        if row == last:
            return None
        self.vecs[row] = self.vecs[last]
        moved = int(self.ids[last])
        self.ids[row] = moved
        return moved


class _Shard:
    """All vectors of one scope: flat while small, k-means inverted lists when large."""

    def __init__(self, dim: int, flat_max: int, max_probe: int) -> None:
        self.dim = dim
        self.flat_max = flat_max
        self.max_probe = max_probe
        self.blocks: list[_Block] = [_Block(dim)]
        self.centroids: Vector | None = None
        self.radii: NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self._c_norm2: NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self.loc: dict[int, tuple[int, int]] = {}
        self.trained_at = 0
        # While a partition is computed off the lock: what changed since its snapshot, replayed at the swap.
        self.journal: list[tuple[int, Vector | None]] | None = None
        self.background = False

    def __len__(self) -> int:
        return len(self.loc)

    def insert(self, eid: int, vec: Vector) -> None:
        lst = 0
        if self.centroids is not None:
            # Nearest centroid in L2 (not max dot): it is what keeps the radii small.
            lst = int(np.argmax(2.0 * (self.centroids @ vec) - self._c_norm2))
            dist = float(np.linalg.norm(vec - self.centroids[lst]))
            if dist > self.radii[lst]:
                self.radii[lst] = dist
        self.loc[eid] = (lst, self.blocks[lst].append(eid, vec))
        if self.journal is not None:
            self.journal.append((eid, vec.copy()))
        elif len(self.loc) > self.flat_max and len(self.loc) >= 2 * self.trained_at and not self.background:
            self._train()

    def wants_training(self) -> bool:
        return self.journal is None and len(self.loc) > self.flat_max and len(self.loc) >= 2 * self.trained_at

    def snapshot(self) -> tuple[NDArray[np.int64], Vector]:
        """Copies of every id and vector; from now on changes are journalled until :meth:`install`."""
        self.journal = []
        parts = [self.copy_block(i) for i in range(len(self.blocks))]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def copy_block(self, i: int) -> tuple[NDArray[np.int64], Vector]:
        block = self.blocks[i]
        return block.ids[: block.n].copy(), block.vecs[: block.n].copy()

    def install(self, built: tuple[Any, ...], n: int) -> None:
        """Swap in a partition built from a snapshot, then replay what changed since (under the lock)."""
        journal, self.journal = self.journal or [], None
        self.blocks, self.loc, self.centroids, self.radii, self._c_norm2 = built
        self.trained_at = n
        # Net effect of the journal: the ids added and still alive, the ids removed (a block copy may
        # already hold a change, so each side is checked against the new locations).
        added: dict[int, Vector] = {}
        removed: set[int] = set()
        for eid, vec in journal:
            if vec is None:
                added.pop(eid, None)
                removed.add(eid)
            else:
                added[eid] = vec
        for eid in removed:
            if eid in self.loc:
                self.remove(eid)
        fresh = [(eid, vec) for eid, vec in added.items() if eid not in self.loc]
        if not fresh:
            return
        # One matrix product for all of them: a busy scope can journal thousands of adds per training.
        vecs = np.stack([vec for _, vec in fresh])
        lists = _nearest(vecs, self.centroids)
        dists = np.linalg.norm(vecs - self.centroids[lists], axis=1)
        np.maximum.at(self.radii, lists, dists.astype(np.float32))
        for (eid, vec), lst in zip(fresh, lists.tolist(), strict=True):
            self.loc[eid] = (lst, self.blocks[lst].append(eid, vec))

    def remove(self, eid: int) -> None:
        if self.journal is not None:
            self.journal.append((eid, None))
        lst, row = self.loc.pop(eid)
        moved = self.blocks[lst].remove(row)
        if moved is not None:
            self.loc[moved] = (lst, row)

    def search(self, q: Vector, threshold: float) -> tuple[list[tuple[float, int]], bool]:
        """(similarity, entry id) of every row >= threshold in the probed lists; and capped?"""
        if self.centroids is None:
            probe: list[int] | NDArray[np.intp] = [0]
            capped = False
        else:
            centre_sims = self.centroids @ q
            probe = np.flatnonzero(centre_sims + self.radii >= threshold)
            capped = len(probe) > self.max_probe
            if capped:
                best = np.argpartition(-centre_sims[probe], self.max_probe - 1)[: self.max_probe]
                probe = probe[best]
        found: list[tuple[float, int]] = []
        for lst in probe:
            block = self.blocks[lst]
            if block.n == 0:
                continue
            sims = block.vecs[: block.n] @ q
            for row in np.flatnonzero(sims >= threshold):
                found.append((float(sims[row]), int(block.ids[row])))
        return found, capped

    def _train(self) -> None:
        ids = np.concatenate([b.ids[: b.n] for b in self.blocks])
        data = np.concatenate([b.vecs[: b.n] for b in self.blocks])
        self.blocks, self.loc, self.centroids, self.radii, self._c_norm2 = self.build(ids, data, self.dim)
        self.trained_at = len(ids)

    @staticmethod
    def build(ids: NDArray[np.int64], data: Vector, dim: int, iterations: int = 3, seed: int = 0) -> tuple[Any, ...]:
        """A k-means partition of (ids, data): blocks, locations, centroids, radii, centroid norms."""
        n = len(ids)
        # ~2 sqrt(n) lists of ~sqrt(n)/2 rows: the centroid product and the scan of max_probe
        # lists then cost about the same, and both stay well under a millisecond at 100k.
        nlist = int(min(4096, max(16, round(2 * math.sqrt(n)))))
        rng = np.random.default_rng(seed + n)
        # Centroid quality only affects speed (the bound is exact whatever they are), so a
        # sample and a few Lloyd iterations are enough.
        sample = data[rng.choice(n, size=min(n, max(16 * nlist, 4096)), replace=False)]
        cents = sample[rng.choice(len(sample), size=nlist, replace=False)].copy()
        for _ in range(iterations):
            assign = _nearest(sample, cents)
            counts = np.bincount(assign, minlength=nlist)
            sums = np.zeros_like(cents)
            np.add.at(sums, assign, sample)
            empty = counts == 0
            cents[~empty] = sums[~empty] / counts[~empty, None]
            if empty.any():
                cents[empty] = sample[rng.choice(len(sample), size=int(empty.sum()), replace=False)]
        assign = _nearest(data, cents)
        dists = np.linalg.norm(data - cents[assign], axis=1)
        radii = np.full(nlist, -2.0, dtype=np.float32)  # empty list: never probed until filled
        np.maximum.at(radii, assign, dists.astype(np.float32))
        order = np.argsort(assign, kind="stable")
        bounds = np.searchsorted(assign[order], np.arange(nlist + 1))
        blocks: list[_Block] = []
        loc: dict[int, tuple[int, int]] = {}
        for lst in range(nlist):
            rows = order[bounds[lst] : bounds[lst + 1]]
            block = _Block(dim, capacity=max(4, len(rows) + len(rows) // 4))
            block.vecs[: len(rows)] = data[rows]
            block.ids[: len(rows)] = ids[rows]
            block.n = len(rows)
            blocks.append(block)
            for row, eid in enumerate(ids[rows].tolist()):
                loc[eid] = (lst, row)
        return blocks, loc, cents, radii, np.einsum("ij,ij->i", cents, cents)


def _nearest(data: Vector, cents: Vector, chunk: int = 16384) -> NDArray[np.intp]:
    c_norm2 = np.einsum("ij,ij->i", cents, cents)
    out = np.empty(len(data), dtype=np.intp)
    for start in range(0, len(data), chunk):
        part = data[start : start + chunk]
        out[start : start + chunk] = np.argmax(2.0 * (part @ cents.T) - c_norm2, axis=1)
    return out


def text_digest(scope: str, text: str) -> bytes:
    """What identifies an entry's text (salted by its scope, so equal prompts of two scopes differ)."""
    return hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"),
        digest_size=16,
        person=b"sy-semcache",
        salt=hashlib.blake2b(scope.encode(), digest_size=16).digest(),
    ).digest()


@dataclass(frozen=True, slots=True)
class Match:
    value: str
    similarity: float
    score: float  # the verifier's score (1.0 without a verifier)
    digest: bytes  # the entry's text digest: what feedback names to penalize it


Verifier = Callable[[str, str, float], tuple[bool, float, str]]
# Scopes whose rule feedback has tightened (each ~200 bytes); the least recently tightened go first.
MAX_TIGHTENED_SCOPES = 10_000


@dataclass(slots=True)
class _Entry:
    scope: str
    text: str | None  # None: only the digest is known
    digest: bytes
    value: str
    expires: float
    key: bytes | None  # its text's form key (None: only the digest is known)
    vector: Vector | None = None  # a lazy index's entries carry their own (once embedded); else it lives in a shard


class SemanticIndex:
    """Thread-safe in-process semantic cache index with TTL, LRU eviction and meaning guards.

    ``lookup`` returns the most similar live entry of the same scope whose similarity is at
    least the threshold and whose text passes :func:`router.cache.guards.compatible`.
    """

    def __init__(
        self,
        dim: int = 384,
        threshold: float = DEFAULT_THRESHOLD,
        max_entries: int = 100_000,
        ttl_s: float = 3600,
        *,
        flat_max: int = 8192,
        max_probe: int = 32,
        guard: Callable[[str, str], bool] | None = compatible,
        clock: Callable[[], float] = time.monotonic,
        max_text_chars: int = MAX_TEXT_CHARS,
        max_checks: int = 16,
        verifier: Verifier | None = None,
        min_alignment: float = 1.0,
        background_training: bool = False,
        lazy: bool = False,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.dim = dim
        self.threshold = threshold
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.flat_max = flat_max
        self.max_probe = max_probe
        self.guard = guard
        self.max_text_chars = max_text_chars
        self.max_checks = max_checks
        self.verifier = verifier
        self.min_alignment = min_alignment
        # Partition a large scope in a worker thread (the gateway's choice): adds and lookups go on meanwhile.
        self.background_training = background_training
        self._lazy = lazy
        self._scopes: dict[str, int] = {}  # live entries per scope (a lazy index has no shards to ask)
        self._tightened: OrderedDict[str, float] = OrderedDict()
        self._clock = clock
        self._lock = threading.RLock()
        self._entries: dict[int, _Entry] = {}
        self._lru: OrderedDict[int, None] = OrderedDict()
        self._by_digest: dict[tuple[str, bytes], int] = {}
        # Entries by their form key (router.cache.verify.form_key): while a scope's rule demands the same
        # form, a query without such an entry cannot hit and need not be embedded.
        self._by_form: dict[tuple[str, bytes], set[int]] = {}
        self._shards: dict[str, _Shard] = {}
        # (expires, id); ids of entries already gone are skipped when popped.
        self._expiry: list[tuple[float, int]] = []
        self._next_id = 0
        self._stats = {
            "lookups": 0,
            "hits": 0,
            "guard_rejects": 0,
            "capped": 0,
            "evicted": 0,
            "expired": 0,
            "too_long": 0,
            "verifier_rejects": 0,
            "penalized": 0,
            "trainings": 0,
        }

    # -- public API ---------------------------------------------------------------------------
    @property
    def lazy(self) -> bool:
        """Whether entries are matched by their form key and embedded only when needed (see the
        module docstring): only while that key decides every match exactly."""
        return self._lazy and self._hash_decides(None)

    def _hash_decides(self, scope: str | None) -> bool:
        # The verifier accepts only the same form: an entry without the same form key cannot hit.
        if self.verifier is None:
            return False
        need = self.min_alignment if scope is None else self._tightened.get(scope, self.min_alignment)
        return need >= 1.0

    def add(
        self,
        scope: str,
        vector: np.ndarray | None,
        text: str | None,
        value: str,
        ttl_s: float | None = None,
        *,
        digest: bytes | None = None,
    ) -> bool:
        """Store an entry; False when its text is too long to be matched by meaning (not stored).

        ``text`` may be None when ``digest`` (:func:`text_digest`) is given: the entry then only
        matches the same text. ``vector`` may be None in a lazy index (embedded when first needed)."""
        lazy = self.lazy
        if vector is None and not lazy:
            raise ValueError("an entry needs its vector unless the index is lazy")
        vec = None if vector is None else self._unit(vector)
        ttl = self.ttl_s if ttl_s is None else ttl_s
        key = None
        if text is not None:
            if len(text) > self.max_text_chars:
                return False
            digest = text_digest(scope, text)
            key = form_key(text)
        elif digest is None:
            raise ValueError("an entry needs its text or its digest")
        with self._lock:
            now = self._clock()
            self._purge_expired(now)
            old = self._by_digest.get((scope, digest))
            if old is not None:
                # Same prompt again (e.g. refreshed after a miss): replace, don't duplicate.
                self._remove(old)
            if ttl <= 0:
                return True
            eid = self._next_id
            self._next_id += 1
            entry = _Entry(scope, text, digest, value, now + ttl, key)
            self._entries[eid] = entry
            self._lru[eid] = None
            self._by_digest[(scope, digest)] = eid
            self._scopes[scope] = self._scopes.get(scope, 0) + 1
            if key is not None:
                self._by_form.setdefault((scope, key), set()).add(eid)
            heapq.heappush(self._expiry, (entry.expires, eid))
            if lazy:
                entry.vector = vec
            else:
                assert vec is not None
                self._insert(scope, eid, vec)
            while len(self._entries) > self.max_entries:
                oldest = next(iter(self._lru))
                self._remove(oldest)
                self._stats["evicted"] += 1
            if len(self._expiry) > 2 * len(self._entries) + 1024:
                # Evicted/replaced ids linger in the heap until their expiry; keep it bounded.
                self._expiry = [(e.expires, i) for i, e in self._entries.items()]
                heapq.heapify(self._expiry)
        return True

    def _insert(self, scope: str, eid: int, vec: Vector) -> None:
        shard = self._shards.get(scope)
        if shard is None:
            shard = self._shards[scope] = _Shard(self.dim, self.flat_max, self.max_probe)
            shard.background = self.background_training
        shard.insert(eid, vec)
        if shard.background and shard.wants_training():
            shard.journal = []  # from here on, changes are journalled; the thread copies block by block
            threading.Thread(target=self._train_off_lock, args=(scope, shard), daemon=True, name="semcache-train").start()

    def embedding_needs(self, scope: str, text: str) -> tuple[bool, list[tuple[int, str]]]:
        """What a lazy index's :meth:`match` of ``text`` needs embedded: (the query itself?, the
        (entry id, text) of candidates not embedded yet). The query is not needed when no candidate
        exists or every candidate is the very same text (similarity 1 without a model)."""
        with self._lock:
            ids = self._candidate_ids(scope, text)
            query = False
            missing: list[tuple[int, str]] = []
            for eid in ids:
                entry = self._entries[eid]
                if entry.text is None or entry.text == text:
                    continue
                query = True
                if entry.vector is None:
                    missing.append((eid, entry.text))
            return query, missing

    def set_vector(self, eid: int, vector: np.ndarray) -> None:
        """A lazy entry's embedding, computed when a query first needed it (a no-op once set or gone)."""
        vec = self._unit(vector)
        with self._lock:
            entry = self._entries.get(eid)
            if entry is not None and entry.vector is None:
                entry.vector = vec

    def _candidate_ids(self, scope: str, text: str) -> list[int]:
        # The entries a lazy match considers: the one of the very same text first (similarity 1: the searched
        # index ranks it first too), then the newest of the same form key; at most max_checks in all (the bound a
        # searched lookup has). A scope tightened past the same form accepts only the very same text.
        same = self._by_digest.get((scope, text_digest(scope, text)))
        ids = [] if same is None else [same]
        if self._tightened.get(scope, self.min_alignment) <= 1.0:
            others = sorted(self._by_form.get((scope, form_key(text)), ()), reverse=True)  # newest first
            ids += [eid for eid in others if eid != same][: self.max_checks - len(ids)]
        return ids

    def lookup(self, scope: str, vector: np.ndarray, text: str, threshold: float | None = None) -> tuple[str, float] | None:
        found = self.match(scope, vector, text, threshold)
        return None if found is None else (found.value, found.similarity)

    def _train_off_lock(self, scope: str, shard: _Shard) -> None:
        # Copy one block per lock hold (a block is at most a few thousand rows): requests wait for one
        # copy at most, never for the whole scope's. A block copied after a journalled change already
        # holds it; install() replays the journal idempotently.
        parts = []
        with self._lock:
            count = len(shard.blocks)
        for i in range(count):
            with self._lock:
                parts.append(shard.copy_block(i))
        ids = np.concatenate([p[0] for p in parts])
        data = np.concatenate([p[1] for p in parts])
        try:
            built = _Shard.build(ids, data, self.dim)
        except Exception:  # noqa: BLE001 - a failed training leaves the old partition serving
            built = None
        with self._lock:
            if built is None or self._shards.get(scope) is not shard:
                shard.journal = None  # the scope went away (or training failed): nothing to swap
                return
            shard.install(built, len(ids))
            self._stats["trainings"] += 1

    def has_scope(self, scope: str) -> bool:
        """Whether any entry lives in ``scope``: a lookup in an empty scope needs no embedding."""
        with self._lock:
            return scope in self._scopes

    def may_match(self, scope: str, text: str) -> bool:
        """False only when no entry could pass this scope's rule for ``text``, decided without an
        embedding (its form key): then a miss costs no embedding. Exact while the rule demands
        alignment 1.0 (the same form, as the shipped rule does); looser rules always answer True."""
        with self._lock:
            if scope not in self._scopes:
                return False
            if not self._hash_decides(scope):
                return True
            if self._tightened.get(scope, self.min_alignment) <= 1.0 and (scope, form_key(text)) in self._by_form:
                return True
            # The very same text (a digest-only entry of a peer's under store_prompts: false, or any entry of a
            # scope tightened past the same form) needs no embedding either.
            return (scope, text_digest(scope, text)) in self._by_digest

    def min_alignment_for(self, scope: str) -> float:
        with self._lock:
            return self._tightened.get(scope, self.min_alignment)

    def tighten(self, scope: str, need: float) -> float:
        """Make ``scope`` demand at least ``need`` (never loosens); returns what it demands now. What a
        peer's penalty or the shared record of tightened scopes (router/cache/responses.py) applies."""
        with self._lock:
            current = max(self._tightened.get(scope, self.min_alignment), need)
            self._tightened[scope] = current
            self._tightened.move_to_end(scope)
            while len(self._tightened) > MAX_TIGHTENED_SCOPES:
                self._tightened.popitem(last=False)
            return current

    def evict(self, scope: str, digest: bytes) -> bool:
        """Drop the entry of this text digest in ``scope``; True when it was there."""
        with self._lock:
            eid = self._by_digest.get((scope, digest))
            if eid is None:
                return False
            self._remove(eid)
            return True

    def penalize(self, scope: str, digest: bytes, score: float) -> bool:
        """A hit of this entry was a wrong answer: drop the entry, and make its scope demand more
        than the score that let it through. True when the entry was still there."""
        with self._lock:
            # Just above the failed score (never below the global rule): the same looseness fails next time.
            # Past 1.0 (a wrong hit with the very same words) only the very same text matches in this scope.
            self.tighten(scope, score + 1e-6)
            self._stats["penalized"] += 1
            return self.evict(scope, digest)

    def match(self, scope: str, vector: np.ndarray | None, text: str, threshold: float | None = None) -> Match | None:
        """The best entry for ``text`` that passes threshold and verifier. ``vector`` may be None in a
        lazy index when :meth:`embedding_needs` said the query need not be embedded."""
        q = None if vector is None else self._unit(vector)
        t = self.threshold if threshold is None else threshold
        with self._lock:
            self._stats["lookups"] += 1
            if len(text) > self.max_text_chars:
                self._stats["too_long"] += 1
                return None
            now = self._clock()
            self._purge_expired(now)
            if self.lazy:
                found = self._lazy_candidates(scope, q, text, t)
            else:
                shard = self._shards.get(scope)
                if shard is None or q is None:
                    return None
                found, capped = shard.search(q, t)
                if capped:
                    self._stats["capped"] += 1
            found.sort(reverse=True)
            candidates = [(sim, eid, entry) for sim, eid in found if (entry := self._entries[eid]).expires > now]
        # The guard runs without the lock: adds and other lookups need not wait for it.
        digest: bytes | None = None
        checks = 0
        need = self.min_alignment_for(scope) if self.verifier is not None else 1.0
        for sim, eid, entry in candidates:
            score = 1.0
            if entry.text is None:
                digest = digest or text_digest(scope, text)
                if entry.digest != digest:
                    continue
            elif self.verifier is not None:
                if checks >= self.max_checks:
                    break  # bounded work per lookup: a miss costs one model call, a stall costs everyone
                checks += 1
                ok, score, _ = self.verifier(text, entry.text, need)
                if not ok:
                    with self._lock:
                        self._stats["verifier_rejects"] += 1
                    continue
            elif self.guard is not None:
                if checks >= self.max_checks:
                    break
                checks += 1
                if not self.guard(text, entry.text):
                    with self._lock:
                        self._stats["guard_rejects"] += 1
                    continue
            with self._lock:
                if self._entries.get(eid) is not entry:
                    continue  # removed while the guard ran
                self._lru.move_to_end(eid)
                self._stats["hits"] += 1
                return Match(entry.value, sim, score, entry.digest)
        return None

    def _lazy_candidates(self, scope: str, q: Vector | None, text: str, threshold: float) -> list[tuple[float, int]]:
        found: list[tuple[float, int]] = []
        for eid in self._candidate_ids(scope, text):
            entry = self._entries[eid]
            if entry.text is None or entry.text == text:
                sim = 1.0  # the very same text (a digest-only entry matched by its digest)
            elif q is None or entry.vector is None:
                continue  # not embedded (an embedding failed): no cosine, no hit
            else:
                sim = float(entry.vector @ q)
            if sim >= threshold:
                found.append((sim, eid))
        return found

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._lru.clear()
            self._by_digest.clear()
            self._by_form.clear()
            self._scopes.clear()
            self._shards.clear()
            self._expiry.clear()
            self._tightened.clear()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._stats, "entries": len(self._entries), "scopes": len(self._scopes)}

    # -- internals ----------------------------------------------------------------------------
    def _unit(self, vector: np.ndarray) -> Vector:
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.dim:
            raise ValueError(f"expected a vector of dimension {self.dim}, got {vec.shape[0]}")
        norm = float(np.linalg.norm(vec))
        if not math.isfinite(norm) or norm == 0.0:
            raise ValueError("vector must be finite and non-zero")
        # The list bound (q . mu + r) assumes unit queries; callers' vectors are already
        # normalised, so this is a cheap safety net rather than a transformation.
        return vec / norm

    def _purge_expired(self, now: float) -> None:
        heap = self._expiry
        while heap and heap[0][0] <= now:
            expires, eid = heapq.heappop(heap)
            entry = self._entries.get(eid)
            if entry is not None and entry.expires == expires:
                self._remove(eid)
                self._stats["expired"] += 1

    def _remove(self, eid: int) -> None:
        entry = self._entries.pop(eid)
        del self._lru[eid]
        if self._by_digest.get((entry.scope, entry.digest)) == eid:
            del self._by_digest[(entry.scope, entry.digest)]
        if entry.key is not None:
            key = (entry.scope, entry.key)
            same = self._by_form.get(key)
            if same is not None:
                same.discard(eid)
                if not same:
                    del self._by_form[key]
        left = self._scopes[entry.scope] - 1
        if left:
            self._scopes[entry.scope] = left
        else:
            del self._scopes[entry.scope]
        shard = self._shards.get(entry.scope)
        if shard is not None and eid in shard.loc:
            shard.remove(eid)
            if len(shard) == 0:
                del self._shards[entry.scope]
