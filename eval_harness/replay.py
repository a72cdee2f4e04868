"""Offline replay: what each policy would have done on labeled traffic, without calling a model.

For every policy, the route score of each *distinct* prompt is computed once (in batches) by the
policy's classifier, the decision function is applied to whole columns (:func:`decide_vectorized`,
a numpy re-implementation of ``policies.decide.decide`` kept equal to it by a test), and each
request is charged the chosen tier's prices times the token usage logged for that tier's model.
Where usage is missing, tokens are estimated: prompt characters / 4 (as ``engines.base`` does) and
the median completion length logged for that model, else for any model, else a default.

A policy's tiers map to the traffic's model names through ``tier.quality_model`` or else
``tier.model``; tiers that map to no model in the traffic cannot be scored and are left out (the
report says so). Offline, a tier counts as enabled unless the policy sets ``enabled: false``:
``enabled_when`` and API keys describe a deployment, not the policy being evaluated.

A policy with ``routing.cascade`` is replayed as the gateway runs it, not by its classifier:
each request asks the stages cheapest first and stops at the first whose logged ``confidence``
(in the traffic) reaches ``min_confidence``, or at the last; a stage with no confidence logged
escalates. Quality is the answering stage's score, cost the sum over every stage called
(:class:`CascadeStages`; :func:`cascade_curve` sweeps ``min_confidence`` with the same code).

For a weak/strong pair the report adds APGR and CPT(50%/80%) from ``eval_harness.metrics``
(route score = the classifier's difficulty), and reference routers: random, oracle (knows which
model is right), always-weak and always-strong. Random and oracle are run at the same share of
strong calls as the first router evaluated, so their rows compare like with like. A two-stage
cascade's route score is 1 - the first stage's confidence (escalating is routing on it), so its
APGR measures how well the confidence signal ranks the requests that need the strong model.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field, ValidationError

from classifiers.base import Classifier, Prediction
from classifiers.rules import LengthRuleClassifier
from eval_harness import baselines, metrics
from eval_harness.bootstrap import BlockCurve, Resampler, percentile_interval
from eval_harness.coverage import Coverage, coverage
from eval_harness.traffic import TrafficColumns
from policies.decide import DEFAULT_QUALITY_TARGET, NoTierAvailable
from policies.loader import load_policy
from policies.schema import MILLION, Policy, Prices, Routing, Tier

log = logging.getLogger("switchyard.eval")

DEFAULT_COMPLETION_TOKENS = 256
CHARS_PER_TOKEN = 4
CURVE_POINTS = 101
CPT_TARGETS = (0.5, 0.8)
EntryKind = Literal["policy", "classifier", "random", "oracle", "always-weak", "always-strong", "best-tier", "random-cost", "knn"]


# --------------------------------------------------------------------------- classifiers


def load_classifier(spec: str, long_prompt_words: int) -> tuple[Classifier, str]:
    """The classifier a policy names, and a sentence saying which one was actually used.

    Same rules as the gateway's ``router.tiers.load_classifier`` (which eval_harness may not
    import): ``rules`` -> the length rule; ``default`` or a path -> the trained artifact via
    ``classifiers.trained``; any failure falls back to the length rule, and the sentence says why.
    """
    rules = LengthRuleClassifier(long_prompt_words)
    if spec == "rules":
        return rules, "length rule (asked for rules)"
    try:
        trained = importlib.import_module("classifiers.trained")
        load_artifact = trained.load_artifact
        artifact = trained.DEFAULT_ARTIFACT if spec == "default" else Path(spec)
    except (ImportError, AttributeError) as exc:
        return rules, f"length rule (trained classifier unavailable: {exc})"
    try:
        classifier = load_artifact(artifact)
    except Exception as exc:  # noqa: BLE001 - any load failure falls back, and the report says so
        log.warning("classifier %s did not load, using the length rule: %s", spec, exc)
        return rules, f"length rule (artifact {spec!r} did not load: {exc})"
    return classifier, f"trained classifier {getattr(classifier, 'name', '?')} from {spec}"


@dataclass
class RoutePredictions:
    """Predictions for distinct prompts as columns: difficulty (u,), quality per label (u,), NaN = unknown."""

    difficulty: NDArray[np.float64]
    quality: dict[str, NDArray[np.float64]]
    classifier: str
    description: str = ""


def predict_columns(classifier: Classifier, texts: Sequence[str], batch_size: int = 512, description: str = "") -> RoutePredictions:
    """Run the classifier once per text, in batches, and turn its predictions into columns."""
    predictions: list[Prediction] = []
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        out = classifier.predict(batch)
        if len(out) != len(batch):
            raise ValueError(f"classifier {classifier.name} returned {len(out)} predictions for {len(batch)} texts")
        predictions.extend(out)
    return predictions_to_columns(predictions, classifier.name, description)


def predictions_to_columns(predictions: Sequence[Prediction], classifier: str = "", description: str = "") -> RoutePredictions:
    difficulty = np.fromiter((float(p.difficulty) for p in predictions), dtype=np.float64, count=len(predictions))
    labels: dict[str, None] = {}
    for p in predictions:
        labels.update(dict.fromkeys(p.quality))
    quality = {label: np.full(len(predictions), np.nan) for label in labels}
    for i, p in enumerate(predictions):
        for label, q in p.quality.items():
            quality[label][i] = float(q)
    return RoutePredictions(difficulty, quality, classifier, description)


# --------------------------------------------------------------------------- decisions


def predicted_quality_matrix(
    policy: Policy, difficulty: NDArray[np.float64], quality: Mapping[str, NDArray[np.float64]], tiers: Sequence[str]
) -> NDArray[np.float64]:
    """``policies.decide.predicted_quality`` for every row and tier: (rows, tiers), rounded as decide rounds."""
    out = np.empty((len(difficulty), len(tiers)))
    for j, name in enumerate(tiers):
        tier = policy.tiers[name]
        col = np.power(tier.quality_prior, 1.0 + 2.0 * difficulty)
        # decide prefers quality_model over model: apply model first so quality_model overrides it.
        for label in (tier.model, tier.quality_model):
            if label and label in quality:
                known = quality[label]
                col = np.where(np.isnan(known), col, known)
        out[:, j] = col
    return np.round(out, 6)


def decide_vectorized(
    policy: Policy,
    difficulty: NDArray[np.float64],
    quality: Mapping[str, NDArray[np.float64]],
    enabled: Sequence[str],
) -> tuple[list[str], NDArray[np.int64]]:
    """``policies.decide.decide`` for whole columns: candidate tiers (cheapest first) and the index chosen per row."""
    candidates = policy.by_cost([t for t in policy.tiers if t in enabled])
    if not candidates:
        raise NoTierAvailable("no tier of the policy is enabled")
    score = np.asarray(difficulty, dtype=np.float64)
    chosen = np.zeros(len(score), dtype=np.int64)
    thresholds = policy.routing.thresholds
    if thresholds is not None:
        # Ascending price order, later matches win: the dearest tier whose threshold is reached.
        for j, tier in enumerate(candidates):
            limit = thresholds.get(tier)
            if limit is not None:
                chosen[score >= limit] = j
        return candidates, chosen
    target = policy.routing.quality_target
    target = DEFAULT_QUALITY_TARGET if target is None else target
    predicted = predicted_quality_matrix(policy, score, quality, candidates)
    meets = predicted >= target
    # argmax returns the first True / the first maximum: the cheapest tier, as decide picks.
    chosen = np.where(meets.any(axis=1), np.argmax(meets, axis=1), np.argmax(predicted, axis=1))
    return candidates, chosen.astype(np.int64)


# --------------------------------------------------------------------------- tokens and prices


@dataclass
class TokenUsage:
    """Per-request, per-model token counts with estimates filled in, and what was estimated."""

    prompt_tokens: NDArray[np.float64]
    completion_tokens: NDArray[np.float64]
    notes: dict[str, str]
    estimated_prompt: int
    estimated_completion: int


def fill_usage(traffic: TrafficColumns, default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS) -> TokenUsage:
    pt = traffic.prompt_tokens.copy()
    ct = traffic.completion_tokens.copy()
    missing_p = np.isnan(pt)
    missing_c = np.isnan(ct)
    # (chars + 3) // 4, as engines.base.estimate_tokens, so estimates match the gateway's fallback.
    est_prompt = np.maximum(1, (traffic.text_chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)[traffic.prompt_index]
    notes: dict[str, str] = {}
    logged = ct[~missing_c]
    overall = float(np.median(logged)) if len(logged) else None
    for j, model in enumerate(traffic.models):
        pt[:, j] = np.where(missing_p[:, j], est_prompt, pt[:, j])
        have = ~missing_c[:, j]
        if have.all():
            notes[model] = "logged usage"
            continue
        if have.any():
            fill, why = float(np.median(ct[have, j])), f"median of {int(have.sum())} logged completions"
        elif overall is not None:
            fill, why = overall, f"median of {len(logged)} logged completions of other models"
        else:
            fill, why = float(default_completion_tokens), "the default: no usage logged"
        ct[:, j] = np.where(have, ct[:, j], fill)
        n_est = int((~have).sum())
        notes[model] = f"{n_est} completions estimated at {fill:g} tokens ({why}); prompts estimated at chars/4 where missing"
    return TokenUsage(pt, ct, notes, int(missing_p.sum()), int(missing_c.sum()))


def price_floats(prices: Prices) -> tuple[float, float]:
    # Floats are fine for a report's aggregate; the ledger keeps Decimal (tests compare with Tier.cost).
    return float(prices.input_per_mtok), float(prices.output_per_mtok)


def parse_prices(text: str) -> Prices:
    """``"IN,OUT"`` dollars per million tokens (or one number for both)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise ValueError(f"prices must be 'IN,OUT' dollars per Mtok, got {text!r}")
    try:  # 'abc' raised decimal's InvalidOperation (a traceback), -1 pydantic's many-line report
        return Prices(input_per_mtok=Decimal(parts[0]), output_per_mtok=Decimal(parts[1]))
    except (ArithmeticError, ValidationError):
        raise ValueError(f"prices must be 'IN,OUT' dollars per Mtok, each a number of at least 0, got {text!r}") from None


# --------------------------------------------------------------------------- routers to evaluate


@dataclass(frozen=True)
class Option:
    """A place a request can go: a tier (or a baseline's model), its traffic column and prices."""

    tier: str
    model: str
    column: int
    price_in: float
    price_out: float


@dataclass(frozen=True)
class Pair:
    weak: str
    strong: str
    weak_prices: Prices
    strong_prices: Prices


@dataclass
class Assignment:
    """One router's decisions on the traffic: an option per request, plus its route score."""

    name: str
    kind: EntryKind
    classifier: str
    options: list[Option]
    choice: NDArray[np.int64]
    route: NDArray[np.float64] | None
    pair: Pair | None
    notes: list[str] = field(default_factory=list)
    cascade: CascadeReplay | None = None  # set for a cascade: options are its stages, choice the answering one


def map_tiers(policy: Policy, models: Sequence[str], names: Sequence[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """Tier -> traffic model (quality_model first, then model), and notes on tiers left out.

    ``names`` restricts the mapping to those tiers, in that order (a cascade's stages); default: every tier.
    """
    mapped: dict[str, str] = {}
    notes: list[str] = []
    for name in policy.tiers if names is None else names:
        tier = policy.tiers[name]
        if not tier.enabled:
            notes.append(f"tier {name} is disabled in the policy")
            continue
        label = next((m for m in (tier.quality_model, tier.model) if m and m in models), None)
        if label is None:
            wanted = " or ".join(repr(m) for m in (tier.quality_model, tier.model) if m)
            notes.append(f"tier {name} left out: no {wanted} in the traffic's scores")
        else:
            mapped[name] = label
    return mapped, notes


def policy_pair(policy: Policy, mapped: Mapping[str, str], weak: str | None, strong: str | None) -> Pair | None:
    """The weak/strong pair a policy's routing metrics use: the given models, else its cheapest and dearest tiers."""
    order = policy.by_cost(list(mapped))
    if weak is None or strong is None:
        if len(order) < 2 or mapped[order[0]] == mapped[order[-1]]:
            return None
        weak_tier, strong_tier = order[0], order[-1]
    else:
        weak_tier = next((t for t in order if mapped[t] == weak), None)
        strong_tier = next((t for t in reversed(order) if mapped[t] == strong), None)
        if weak_tier is None or strong_tier is None:
            return None
    return Pair(mapped[weak_tier], mapped[strong_tier], policy.tiers[weak_tier].prices, policy.tiers[strong_tier].prices)


def policy_assignment(
    policy: Policy,
    traffic: TrafficColumns,
    predictions: RoutePredictions,
    *,
    name: str | None = None,
    kind: EntryKind = "policy",
    weak: str | None = None,
    strong: str | None = None,
) -> Assignment:
    mapped, notes = map_tiers(policy, traffic.models)
    if not mapped:
        raise ValueError(f"policy {policy.name!r}: no tier maps to a model in the traffic ({'; '.join(notes)})")
    candidates, chosen_u = decide_vectorized(policy, predictions.difficulty, predictions.quality, list(mapped))
    options = [Option(t, mapped[t], traffic.column(mapped[t]), *price_floats(policy.tiers[t].prices)) for t in candidates]
    route_u = predictions.difficulty
    return Assignment(
        name=name or policy.name,
        kind=kind,
        classifier=predictions.description or predictions.classifier,
        options=options,
        choice=chosen_u[traffic.prompt_index],
        route=route_u[traffic.prompt_index],
        pair=policy_pair(policy, mapped, weak, strong),
        notes=notes,
    )


RULES_THRESHOLD = 0.5


def default_threshold(classifier: str) -> float:
    """The threshold a bare classifier is evaluated at when none is given.

    The trained classifier's route scores bunch above 0.5 (0.5 sent 98.5% of MMLU to the strong
    model), so it is evaluated where the shipped policy runs it: the threshold of the shipped
    policy's dearest tier. Other classifiers (the length rule, other artifacts) use 0.5.
    """
    if classifier != "default":
        return RULES_THRESHOLD
    thresholds = load_policy().routing.thresholds or {}
    return float(max(thresholds.values())) if thresholds else RULES_THRESHOLD


def pair_policy(pair: Pair, threshold: float, classifier: str = "default", long_prompt_words: int = 400) -> Policy:
    """A two-tier thresholds policy over a weak/strong pair: how a bare classifier is evaluated."""
    return Policy(
        name="pair",
        tiers={
            "weak": Tier(engine="openai", model=pair.weak, prices=pair.weak_prices),
            "strong": Tier(engine="openai", model=pair.strong, prices=pair.strong_prices),
        },
        routing=Routing(classifier=classifier, thresholds={"strong": threshold}, long_prompt_words=long_prompt_words),
    )


def _pair_options(pair: Pair, traffic: TrafficColumns) -> list[Option]:
    return [
        Option("weak", pair.weak, traffic.column(pair.weak), *price_floats(pair.weak_prices)),
        Option("strong", pair.strong, traffic.column(pair.strong), *price_floats(pair.strong_prices)),
    ]


def top_share_choice(route: NDArray[np.float64], share: float, rng: np.random.Generator) -> NDArray[np.int64]:
    """Send the ``share`` of requests with the highest route scores to option 1, ties broken at random."""
    n = len(route)
    k = round(share * n)
    order = np.lexsort((rng.random(n), -route))
    choice = np.zeros(n, dtype=np.int64)
    choice[order[:k]] = 1
    return choice


def baseline_assignments(pair: Pair, traffic: TrafficColumns, share: float, seed: int = 0) -> list[Assignment]:
    """Random, oracle, always-weak and always-strong on a pair; random and oracle at ``share`` strong calls."""
    options = _pair_options(pair, traffic)
    n = traffic.n
    rng = np.random.default_rng(seed)
    w = traffic.scores[:, options[0].column]
    s = traffic.scores[:, options[1].column]
    # One random score per distinct prompt: still independent of quality, and it keeps tie blocks
    # within prompts, which the bootstrap's block representation relies on for its size.
    random_route = rng.random(len(traffic.texts))[traffic.prompt_index]
    oracle_route = metrics.oracle_route_scores(w, s)
    at = f"at {share:.1%} strong calls (as the first router)"
    return [
        Assignment(
            "random", "random", "uniform random score", options, top_share_choice(random_route, share, rng), random_route, pair, [at]
        ),
        Assignment("oracle", "oracle", "knows the labels", options, top_share_choice(oracle_route, share, rng), oracle_route, pair, [at]),
        Assignment("always-weak", "always-weak", "-", options, np.zeros(n, dtype=np.int64), None, pair),
        Assignment("always-strong", "always-strong", "-", options, np.ones(n, dtype=np.int64), None, pair),
    ]


def comparison_assignments(
    pair: Pair, first: Assignment, traffic: TrafficColumns, usage: TokenUsage, seed: int = 0, embeddings: NDArray[np.floating] | None = None
) -> list[Assignment]:
    """The baselines a router must beat (``eval_harness.baselines``), on the first router's terms.

    Best fixed tier over the first router's own tiers; a random router costing what it costs; a
    cross-fitted kNN router on the shipped embeddings at its share of strong calls.
    """
    rng = np.random.default_rng([seed, 1])
    quality = traffic.scores[:, [o.column for o in first.options]]
    best = baselines.best_fixed_tier(quality)
    fixed = Assignment(
        f"best fixed tier ({first.options[best].tier})",
        "best-tier",
        "-",
        list(first.options),
        np.full(traffic.n, best, dtype=np.int64),
        None,
        pair,
    )
    options = _pair_options(pair, traffic)
    cw, cs = _row_costs(options[0], usage), _row_costs(options[1], usage)
    rows = np.arange(traffic.n)
    first_cost = np.stack([_row_costs(o, usage) for o in first.options], axis=1)[rows, first.choice]
    extra = float(np.sum(first_cost) - np.sum(cw))
    random_cost = Assignment(
        "random (cost-matched)",
        "random-cost",
        "uniform random order, strong until the router's extra spend",
        options,
        baselines.cost_matched_random_choice(cw, cs, extra, rng),
        None,
        pair,
        [f"spends what {first.name} spends over always-weak (${extra:.4f})"],
    )
    w, s = traffic.scores[:, options[0].column], traffic.scores[:, options[1].column]
    u = len(traffic.texts)
    counts = np.bincount(traffic.prompt_index, minlength=u)
    gain = np.bincount(traffic.prompt_index, weights=s - w, minlength=u) / np.maximum(counts, 1)
    emb = embeddings if embeddings is not None else baselines.embed_texts(traffic.texts)
    route = baselines.crossfit_knn_route_scores(emb, gain, seed=seed)[traffic.prompt_index]
    strong_idx = [j for j, o in enumerate(first.options) if o.model == pair.strong]
    share = float(np.mean(np.isin(first.choice, strong_idx)))
    knn = Assignment(
        f"kNN (k={baselines.DEFAULT_K})",
        "knn",
        "shipped embeddings, 5-fold cross-fitted",
        options,
        top_share_choice(route, share, rng),
        route,
        pair,
        [f"at {share:.1%} strong calls (as the first router); labels of its own fold never seen"],
    )
    return [fixed, random_cost, knn]


# --------------------------------------------------------------------------- cascades


def cascade_stops(confidence: NDArray[np.float64], min_confidence: float) -> NDArray[np.int64]:
    """The stage whose answer stands, per request: the first judged stage at least ``min_confidence`` confident, else the last.

    ``confidence`` is (requests, stages), cheapest stage first; the last column is never read (that
    stage's answer is final). NaN (no confidence logged) is not confident, so it escalates, as
    ``router/pipeline.py`` does with an answer that carries no log-probabilities.
    """
    judged = confidence.shape[1] - 1
    stop = np.full(confidence.shape[0], judged, dtype=np.int64)
    # Dearest judged stage first, so a cheaper accepting stage overwrites it: the first one wins.
    # (A loop over the few stages is ~4x faster than argmax over a boolean matrix.)
    with np.errstate(invalid="ignore"):
        for s in range(judged - 1, -1, -1):
            stop[confidence[:, s] >= min_confidence] = s
    return stop


@dataclass(frozen=True)
class CascadeOutcome:
    """A cascade at one ``min_confidence``: answering stage, quality and charged cost, per request."""

    stop: NDArray[np.int64]
    quality: NDArray[np.float64]
    cost: NDArray[np.float64]


@dataclass
class CascadeStages:
    """A cascade's stages as columns over the traffic: what every threshold is evaluated on.

    ``costs[i, s]`` is what request i pays stage s if it calls it; ``charged[i, s]`` what it pays
    in all when stage s answers (every stage up to s was called, and each is billed).
    """

    tiers: list[str]
    models: list[str]
    scores: NDArray[np.float64]
    confidence: NDArray[np.float64]
    costs: NDArray[np.float64]
    charged: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        self.charged = np.cumsum(self.costs, axis=1)

    @classmethod
    def build(cls, traffic: TrafficColumns, usage: TokenUsage, options: Sequence[Option]) -> CascadeStages:
        cols = [o.column for o in options]
        return cls(
            tiers=[o.tier for o in options],
            models=[o.model for o in options],
            scores=traffic.scores[:, cols],
            confidence=traffic.confidence[:, cols],
            costs=np.stack([_row_costs(o, usage) for o in options], axis=1),
        )

    @property
    def n(self) -> int:
        return self.scores.shape[0]

    def outcome(self, min_confidence: float) -> CascadeOutcome:
        stop = cascade_stops(self.confidence, min_confidence)
        rows = np.arange(self.n)
        return CascadeOutcome(stop, self.scores[rows, stop], self.charged[rows, stop])

    def paid(self, stop: NDArray[np.int64]) -> NDArray[np.float64]:
        """US$ each stage was paid in all, given where each request stopped."""
        return np.array([float(np.sum(self.costs[stop >= s, s])) for s in range(len(self.tiers))])

    def escalation_route(self) -> NDArray[np.float64]:
        """A route score ordering requests as a two-stage cascade escalates them: least confident first.

        At threshold t exactly the requests scoring above 1 - t escalate; those without confidence
        (2.0) escalate at every threshold, so they rank first.
        """
        first = self.confidence[:, 0]
        return np.where(np.isnan(first), 2.0, 1.0 - first)


@dataclass(frozen=True)
class CascadePoint:
    """A cascade's quality and cost at one ``min_confidence``, over ``n`` requests.

    ``answered[s]``: share of requests whose answer came from stage s; ``called[s]``: share that
    called stage s (reached it); ``escalation_rate`` = ``called[1]``, the share the first stage did
    not settle. ``quality_retained`` is relative to the stage model with the best mean score.
    """

    min_confidence: float
    n: int
    quality: float
    cost_usd: float
    cost_per_1k: float
    escalation_rate: float
    answered: tuple[float, ...]
    called: tuple[float, ...]
    quality_retained: float


def _cascade_point(stages: CascadeStages, min_confidence: float, best_quality: float) -> CascadePoint:
    out = stages.outcome(min_confidence)
    k = len(stages.tiers)
    answered = np.bincount(out.stop, minlength=k) / stages.n
    called = np.cumsum(answered[::-1])[::-1]  # reaching stage s = answered by s or later
    quality = float(np.mean(out.quality))
    return CascadePoint(
        min_confidence=float(min_confidence),
        n=stages.n,
        quality=quality,
        cost_usd=float(np.sum(out.cost)),
        cost_per_1k=float(np.mean(out.cost) * 1000.0),
        escalation_rate=float(called[1]),
        answered=tuple(float(a) for a in answered),
        called=tuple(float(c) for c in called),
        quality_retained=quality / best_quality if best_quality > 0 else math.nan,
    )


def _sweep(stages: CascadeStages, thresholds: Sequence[float]) -> list[CascadePoint]:
    best = float(np.max(np.mean(stages.scores, axis=0)))
    return [_cascade_point(stages, t, best) for t in thresholds]


def cascade_curve(
    traffic: TrafficColumns,
    models: Sequence[str],
    prices: Sequence[tuple[float, float]],
    thresholds: Sequence[float],
    *,
    default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS,
) -> list[CascadePoint]:
    """Quality and cost of the cascade ``models[0] > models[1] > ...`` at each ``min_confidence`` in ``thresholds``.

    ``prices`` are (input, output) US$ per million tokens per stage. Requests without a score for
    every stage model are left out, as replay leaves them out (each point's ``n`` says how many
    remain); missing usage is estimated as replay estimates it, and missing confidence escalates.
    This is the computation replay uses for a cascade policy's operating point and curve.
    """
    if len(models) < 2:
        raise ValueError(f"a cascade needs at least two stages, got {len(models)}")
    if len(prices) != len(models):
        raise ValueError(f"{len(models)} models but {len(prices)} prices")
    bad = [t for t in thresholds if not (math.isfinite(t) and 0.0 <= t <= 1.0)]
    if bad:
        raise ValueError(f"thresholds must be within [0, 1], got {bad}")
    cols = [traffic.column(m) for m in models]
    complete = ~np.isnan(traffic.scores[:, cols]).any(axis=1)
    if not complete.any():
        raise ValueError(f"no request has scores for every cascade model ({', '.join(models)})")
    if not complete.all():
        traffic = traffic.take(np.flatnonzero(complete))
    usage = fill_usage(traffic, default_completion_tokens)
    options = [Option(m, m, c, float(p_in), float(p_out)) for m, c, (p_in, p_out) in zip(models, cols, prices, strict=True)]
    return _sweep(CascadeStages.build(traffic, usage, options), thresholds)


def curve_thresholds(confidence: NDArray[np.float64]) -> NDArray[np.float64]:
    """Thresholds for a cascade's curve: an even grid over [0, 1] plus the first stage's confidence percentiles.

    Cheap models' confidences bunch up (often 0.8-1.0), where an even grid alone would draw the
    curve's interesting part with a handful of points. About CURVE_POINTS in all: each costs a pass
    over the traffic (~15 ms a million requests).
    """
    half = CURVE_POINTS // 2 + 1
    grid = np.linspace(0.0, 1.0, half)
    known = confidence[np.isfinite(confidence)]
    if len(known):
        grid = np.concatenate([grid, np.quantile(known, np.linspace(0.0, 1.0, half))])
    return np.unique(np.clip(grid, 0.0, 1.0))


@dataclass
class CascadeReplay:
    """What replay keeps about a cascade policy besides its Assignment: stages, setting and curve."""

    stages: CascadeStages
    min_confidence: float
    signal: str
    outcome: CascadeOutcome
    curve: list[CascadePoint]


def _cascade_options(policy: Policy, traffic: TrafficColumns) -> tuple[list[Option], list[str]]:
    """The cascade's stages that map to traffic models, in the cascade's order, and notes on those left out."""
    cascade = policy.routing.cascade
    assert cascade is not None
    # The live gateway skips cascade tiers it has no engine for; offline, tiers it cannot score.
    mapped, notes = map_tiers(policy, traffic.models, cascade.tiers)
    options = [Option(t, m, traffic.column(m), *price_floats(policy.tiers[t].prices)) for t, m in mapped.items()]
    return options, notes


def cascade_assignment(
    policy: Policy,
    traffic: TrafficColumns,
    usage: TokenUsage,
    *,
    name: str | None = None,
    weak: str | None = None,
    strong: str | None = None,
) -> Assignment:
    """A cascade policy replayed: each request walks the stages on the traffic's logged confidence."""
    cascade = policy.routing.cascade
    if cascade is None:
        raise ValueError(f"policy {policy.name!r} has no routing.cascade")
    options, notes = _cascade_options(policy, traffic)
    if len(options) < 2:
        raise ValueError(f"policy {policy.name!r}: fewer than two cascade tiers map to models in the traffic ({'; '.join(notes)})")
    stages = CascadeStages.build(traffic, usage, options)
    outcome = stages.outcome(cascade.min_confidence)
    curve = _sweep(stages, curve_thresholds(stages.confidence[:, 0]))
    for s, model in enumerate(stages.models[:-1]):
        missing = int(np.isnan(stages.confidence[:, s]).sum())
        if missing:
            what = "no request has" if missing == stages.n else f"{missing:,} of {stages.n:,} requests have no"
            notes.append(f"{what} confidence logged for {model} (stage {stages.tiers[s]}): those escalate, as they would live")
    pair = None
    # With two stages, escalating is exactly routing to the strong model by (1 - confidence).
    if len(options) == 2 and (weak is None or (weak, strong) == (options[0].model, options[1].model)):
        pair = Pair(options[0].model, options[1].model, policy.tiers[options[0].tier].prices, policy.tiers[options[1].tier].prices)
        notes.append(
            f"APGR/CPT rank requests by {pair.weak}'s confidence, least confident first (how the cascade escalates); "
            "no bootstrap interval for them: confidence varies per request, not per prompt"
        )
    return Assignment(
        name=name or policy.name,
        kind="policy",
        classifier=f"cascade {' > '.join(stages.tiers)} on {cascade.signal} confidence >= {cascade.min_confidence:g}",
        options=options,
        choice=outcome.stop,
        route=stages.escalation_route() if pair is not None else None,
        pair=pair,
        notes=notes,
        cascade=CascadeReplay(stages, cascade.min_confidence, cascade.signal, outcome, curve),
    )


def replays_as_cascade(policy: Policy, models: Sequence[str]) -> bool:
    """Whether replay walks the policy's cascade: it has one and two of its tiers map to traffic models.

    With fewer, the gateway would not cascade either (``router.cascade.stages``): it routes.
    """
    cascade = policy.routing.cascade
    return cascade is not None and len(map_tiers(policy, models, cascade.tiers)[0]) >= 2


# --------------------------------------------------------------------------- results


class Interval(BaseModel):
    low: float | None = None
    high: float | None = None


class TierShare(BaseModel):
    tier: str
    model: str
    share: float = Field(description="Share of requests this tier answered")
    share_ci: Interval | None = None
    cost_usd: float = Field(description="US$ paid to this tier (for a cascade, every call to it, answering or not)")


class PairMetrics(BaseModel):
    weak: str
    strong: str
    quality_weak: float
    quality_strong: float
    strong_share: float
    apgr: float | None
    apgr_ci: Interval | None = None
    cpt50: float | None
    cpt50_ci: Interval | None = None
    cpt80: float | None
    cpt80_ci: Interval | None = None


class Curve(BaseModel):
    """Quality against strong-call share and cost when the top-k route scores go to the strong model.

    For a cascade: quality and cost at each ``min_confidence`` (ascending), ``share`` being the
    share of requests that reached the last (strongest) stage.
    """

    share: list[float]
    quality: list[float]
    cost_per_1k: list[float]
    min_confidence: list[float] | None = None


class CascadeSummary(BaseModel):
    """A cascade entry's own figures; its ``tiers`` shares are the shares each stage answered."""

    stages: list[str]
    models: list[str]
    signal: str
    min_confidence: float
    escalation_rate: float = Field(description="Share of requests the first stage did not settle")
    escalation_rate_ci: Interval | None = None
    called: list[float] = Field(description="Share of requests that called each stage (each was billed)")
    missing_confidence: list[float] = Field(description="Per judged stage: share of requests with no confidence logged")


class EntryResult(BaseModel):
    name: str
    kind: EntryKind
    classifier: str
    n: int
    quality: float
    quality_ci: Interval | None = None
    cost_usd: float
    cost_per_1k: float = Field(description="US dollars per 1,000 requests")
    cost_per_1k_ci: Interval | None = None
    best_tier: str
    best_model: str
    best_quality: float
    quality_retained: float
    quality_retained_ci: Interval | None = None
    tiers: list[TierShare]
    pair: PairMetrics | None = None
    curve: Curve | None = None
    cascade: CascadeSummary | None = None
    notes: list[str] = Field(default_factory=list)


class ReplayReport(BaseModel):
    data: str
    coverage: Coverage | None = None
    rows: int
    evaluated: int
    skipped: int
    skipped_reason: str = ""
    models: list[str]
    token_usage: dict[str, str]
    bootstrap: int
    confidence: float
    seed: int
    entries: list[EntryResult]
    oracle_curve: Curve | None = None
    random_curve: Curve | None = None


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _interval(row: NDArray[np.float64] | None) -> Interval | None:
    if row is None:
        return None
    return Interval(low=_finite(row[0]), high=_finite(row[1]))


def _cost_fraction(route: NDArray[np.float64], cost_weak: NDArray[np.float64], cost_strong: NDArray[np.float64]) -> NDArray[np.float64]:
    """Fraction of the weak->strong cost gap spent after routing the top-k (k = 0..n), tie-aware.

    Same cumulative-gain-over-total-gap as PGR, so ``metrics.pgr_curve`` computes it; it only
    refuses a non-positive gap, so a strong model that is cheaper is handled by negating both.
    """
    gap = float(np.sum(cost_strong) - np.sum(cost_weak))
    n = len(route)
    if gap == 0.0:
        return np.zeros(n + 1)
    if gap < 0:
        cost_weak, cost_strong = -cost_weak, -cost_strong
    return metrics.pgr_curve(route, cost_weak, cost_strong)[1]


def _grid(shares: NDArray[np.float64], values: NDArray[np.float64]) -> list[float]:
    return [float(v) for v in np.interp(np.linspace(0.0, 1.0, CURVE_POINTS), shares, values)]


@dataclass
class _Prepared:
    assignment: Assignment
    quality_row: NDArray[np.float64]
    cost_row: NDArray[np.float64]
    onehot: NDArray[np.float64]
    best: int
    best_row: NDArray[np.float64]
    weak_row: NDArray[np.float64] | None = None
    strong_row: NDArray[np.float64] | None = None
    block: BlockCurve | None = None
    boot: dict[str, list[NDArray[np.float64]]] = field(default_factory=dict)


def _row_costs(option: Option, usage: TokenUsage) -> NDArray[np.float64]:
    j = option.column
    return (usage.prompt_tokens[:, j] * option.price_in + usage.completion_tokens[:, j] * option.price_out) / float(MILLION)


def _pair_curve(
    route: NDArray[np.float64], w: NDArray[np.float64], s: NDArray[np.float64], cw: NDArray[np.float64], cs: NDArray[np.float64]
) -> Curve:
    n = len(route)
    shares, pgr = metrics.pgr_curve(route, w, s)
    quality = np.mean(w) + pgr * (np.mean(s) - np.mean(w))
    cost = (np.sum(cw) + _cost_fraction(route, cw, cs) * (np.sum(cs) - np.sum(cw))) / n * 1000.0
    return Curve(share=_grid(shares, shares), quality=_grid(shares, quality), cost_per_1k=_grid(shares, cost))


def evaluate(
    assignments: Sequence[Assignment],
    traffic: TrafficColumns,
    usage: TokenUsage,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[EntryResult]:
    """Quality, cost, tier shares, quality retained and pair metrics, with bootstrap intervals."""
    n = traffic.n
    rows = np.arange(n)
    prepared: list[_Prepared] = []
    for a in assignments:
        cols = np.array([o.column for o in a.options])
        if a.cascade is not None:
            quality_row, cost_row = a.cascade.outcome.quality, a.cascade.outcome.cost
        else:
            quality_row = traffic.scores[rows, cols[a.choice]]
            costs = np.stack([_row_costs(o, usage) for o in a.options], axis=1)
            cost_row = costs[rows, a.choice]
        onehot = (a.choice[:, None] == np.arange(len(a.options))[None, :]).astype(np.float64)
        means = np.array([np.mean(traffic.scores[:, c]) for c in cols])
        best = int(np.argmax(means))
        p = _Prepared(a, quality_row, cost_row, onehot, best, traffic.scores[:, cols[best]])
        if a.pair is not None:
            p.weak_row = traffic.scores[:, traffic.column(a.pair.weak)]
            p.strong_row = traffic.scores[:, traffic.column(a.pair.strong)]
        prepared.append(p)

    resampler = Resampler(traffic.prompt_index, n_boot, seed) if n_boot > 0 else None
    if resampler is not None:
        width = 0
        for p in prepared:
            # A cascade's route is per request (confidence), not per prompt: its tie blocks would be
            # as many as the requests, too wide for the batched bootstrap, so its APGR has no interval.
            a = p.assignment
            if a.route is not None and a.cascade is None and p.weak_row is not None and p.strong_row is not None:
                p.block = BlockCurve.build(resampler, a.route, p.strong_row - p.weak_row)
                width = max(width, len(p.block.cell_group), p.block.n_blocks)
        sums = [np.column_stack([p.quality_row, p.cost_row, p.best_row, p.onehot]) for p in prepared]
        group_sums = [resampler.group_sums(s) for s in sums]
        for mult in resampler.chunks(width):
            total = mult @ resampler.sizes
            mult_t = np.ascontiguousarray(mult.T, dtype=np.float32)
            for p, g in zip(prepared, group_sums, strict=True):
                means = (mult @ g) / total[:, None]
                p.boot.setdefault("means", []).append(means)
                if p.block is not None:
                    area, cpts = p.block.stats(mult_t, CPT_TARGETS)
                    p.boot.setdefault("pair", []).append(np.column_stack([area, cpts]))

    results = []
    for p in prepared:
        a = p.assignment
        quality = float(np.mean(p.quality_row))
        best_quality = float(np.mean(p.best_row))
        retained = quality / best_quality if best_quality > 0 else math.nan
        ci_q = ci_c = ci_r = None
        share_cis: list[NDArray[np.float64] | None] = [None] * len(a.options)
        if p.boot:
            means = np.concatenate(p.boot["means"], axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                derived = np.column_stack([means[:, 0], means[:, 1] * 1000.0, means[:, 0] / means[:, 2], means[:, 3:]])
            iv = percentile_interval(derived, confidence)
            ci_q, ci_c, ci_r = iv[0], iv[1], iv[2]
            share_cis = list(iv[3:])
        if a.cascade is not None:
            paid = a.cascade.stages.paid(a.choice).tolist()
        else:
            paid = [float(np.sum(p.cost_row[a.choice == j])) for j in range(len(a.options))]
        tiers = [
            TierShare(
                tier=o.tier,
                model=o.model,
                share=float(np.mean(p.onehot[:, j])),
                share_ci=_interval(share_cis[j]),
                cost_usd=float(paid[j]),
            )
            for j, o in enumerate(a.options)
        ]
        pair_metrics, curve = _pair_results(p, usage, traffic, confidence)
        summary = None
        if a.cascade is not None:
            curve = _cascade_curve_model(a.cascade.curve)
            summary = _cascade_summary(a.cascade, tiers, share_cis[0])
        results.append(
            EntryResult(
                name=a.name,
                kind=a.kind,
                classifier=a.classifier,
                n=n,
                quality=quality,
                quality_ci=_interval(ci_q),
                cost_usd=float(np.sum(p.cost_row)),
                cost_per_1k=float(np.mean(p.cost_row) * 1000.0),
                cost_per_1k_ci=_interval(ci_c),
                best_tier=a.options[p.best].tier,
                best_model=a.options[p.best].model,
                best_quality=best_quality,
                quality_retained=retained,
                quality_retained_ci=_interval(ci_r),
                tiers=tiers,
                pair=pair_metrics,
                curve=curve,
                cascade=summary,
                notes=a.notes,
            )
        )
    return results


def _cascade_curve_model(points: Sequence[CascadePoint]) -> Curve:
    return Curve(
        share=[p.called[-1] for p in points],
        quality=[p.quality for p in points],
        cost_per_1k=[p.cost_per_1k for p in points],
        min_confidence=[p.min_confidence for p in points],
    )


def _cascade_summary(c: CascadeReplay, tiers: Sequence[TierShare], first_share_ci: NDArray[np.float64] | None) -> CascadeSummary:
    k = len(c.stages.tiers)
    answered = np.array([t.share for t in tiers])
    called = np.cumsum(answered[::-1])[::-1]
    # Escalated = not answered by the first stage, so its interval is the first share's, mirrored.
    escalation_ci = None if first_share_ci is None else _interval(1.0 - np.asarray(first_share_ci)[::-1])
    return CascadeSummary(
        stages=list(c.stages.tiers),
        models=list(c.stages.models),
        signal=c.signal,
        min_confidence=c.min_confidence,
        escalation_rate=float(called[1]),
        escalation_rate_ci=escalation_ci,
        called=[float(x) for x in called],
        missing_confidence=[float(np.mean(np.isnan(c.stages.confidence[:, s]))) for s in range(k - 1)],
    )


def _pair_results(p: _Prepared, usage: TokenUsage, traffic: TrafficColumns, confidence: float) -> tuple[PairMetrics | None, Curve | None]:
    a = p.assignment
    if a.pair is None or p.weak_row is None or p.strong_row is None:
        return None, None
    strong_idx = [j for j, o in enumerate(a.options) if o.model == a.pair.strong]
    strong_share = float(np.mean(np.isin(a.choice, strong_idx))) if strong_idx else 0.0
    base = {
        "weak": a.pair.weak,
        "strong": a.pair.strong,
        "quality_weak": float(np.mean(p.weak_row)),
        "quality_strong": float(np.mean(p.strong_row)),
        "strong_share": strong_share,
    }
    if a.route is None:
        # A constant router has no ranking to measure; its APGR would just be the tie rule's 0.5.
        return PairMetrics(**base, apgr=None, cpt50=None, cpt80=None), None
    try:
        summary = metrics.routing_summary(a.route, p.weak_row, p.strong_row)
    except ValueError as exc:
        a.notes.append(f"no APGR/CPT: {exc}")
        return PairMetrics(**base, apgr=None, cpt50=None, cpt80=None), None
    cis: list[NDArray[np.float64] | None] = [None, None, None]
    if p.boot.get("pair"):
        cis = list(percentile_interval(np.concatenate(p.boot["pair"], axis=0), confidence))
    curve = None
    if a.cascade is None:  # a cascade pays both stages on escalation: its curve is its own threshold sweep
        weak_opt = Option("weak", a.pair.weak, traffic.column(a.pair.weak), *price_floats(a.pair.weak_prices))
        strong_opt = Option("strong", a.pair.strong, traffic.column(a.pair.strong), *price_floats(a.pair.strong_prices))
        curve = _pair_curve(a.route, p.weak_row, p.strong_row, _row_costs(weak_opt, usage), _row_costs(strong_opt, usage))
    return (
        PairMetrics(
            **base,
            apgr=_finite(summary["apgr"]),
            apgr_ci=_interval(cis[0]),
            cpt50=_finite(summary["cpt50"]),
            cpt50_ci=_interval(cis[1]),
            cpt80=_finite(summary["cpt80"]),
            cpt80_ci=_interval(cis[2]),
        ),
        curve,
    )


def reference_curves(pair: Pair, traffic: TrafficColumns, usage: TokenUsage) -> tuple[Curve, Curve] | None:
    """Oracle curve and the random router's expected curve (a straight line) for a pair."""
    w = traffic.scores[:, traffic.column(pair.weak)]
    s = traffic.scores[:, traffic.column(pair.strong)]
    opts = _pair_options(pair, traffic)
    cw, cs = _row_costs(opts[0], usage), _row_costs(opts[1], usage)
    try:
        oracle = _pair_curve(metrics.oracle_route_scores(w, s), w, s, cw, cs)
    except ValueError:
        return None
    # A constant score is one tie block: exactly the random router's expectation, a straight line.
    random = _pair_curve(np.zeros(len(w)), w, s, cw, cs)
    return oracle, random


# --------------------------------------------------------------------------- the whole run


@dataclass
class ReplaySpec:
    """What to replay: policies (with display names), or a bare classifier on a weak/strong pair."""

    policies: list[tuple[str, Policy]] = field(default_factory=list)
    weak: str | None = None
    strong: str | None = None
    classifier: str = "default"
    threshold: float | None = None  # None: default_threshold(classifier)
    long_prompt_words: int = 400
    weak_prices: Prices = field(default_factory=lambda: Prices(input_per_mtok=Decimal("0.24"), output_per_mtok=Decimal("0.24")))
    strong_prices: Prices = field(default_factory=lambda: Prices(input_per_mtok=Decimal(10), output_per_mtok=Decimal(30)))
    baselines: bool = True
    n_boot: int = 1000
    confidence: float = 0.95
    seed: int = 0
    default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS


class PredictionCache:
    """Route predictions per (classifier spec, long_prompt_words): policies sharing a classifier share the work."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self._cache: dict[tuple[str, int], RoutePredictions] = {}
        self.classified = 0  # texts sent to classifiers: one per distinct prompt per classifier
        self.seconds = 0.0

    def get(self, spec: str, long_prompt_words: int) -> RoutePredictions:
        key = (spec, long_prompt_words)
        if key not in self._cache:
            started = time.perf_counter()
            classifier, description = load_classifier(spec, long_prompt_words)
            self._cache[key] = predict_columns(classifier, self.texts, description=description)
            self.classified += len(self.texts)
            self.seconds += time.perf_counter() - started
        return self._cache[key]


def required_models(spec: ReplaySpec, traffic: TrafficColumns) -> list[str]:
    needed: dict[str, None] = {}
    for _, policy in spec.policies:
        # A cascade is scored on its stages only; the policy's other tiers play no part in it.
        tiers = policy.routing.cascade.tiers if policy.routing.cascade and replays_as_cascade(policy, traffic.models) else None
        needed.update(dict.fromkeys(map_tiers(policy, traffic.models, tiers)[0].values()))
    for model in (spec.weak, spec.strong):
        if model:
            if model not in traffic.models:
                raise KeyError(f"model {model!r} is not in the traffic (models: {', '.join(traffic.models)})")
            needed[model] = None
    return list(needed)


def replay(traffic: TrafficColumns, spec: ReplaySpec, predictions: PredictionCache | None = None) -> ReplayReport:
    """Replay every policy of ``spec`` (or its bare classifier on the pair) over ``traffic``."""
    if not spec.policies and not (spec.weak and spec.strong):
        raise ValueError("give at least one policy, or a weak and a strong model")
    rows = traffic.n
    needed = required_models(spec, traffic)
    labeled = coverage(traffic, needed)
    cols = [traffic.column(m) for m in needed]
    complete = ~np.isnan(traffic.scores[:, cols]).any(axis=1) if cols else np.ones(rows, dtype=bool)
    skipped = int(rows - complete.sum())
    if skipped:
        traffic = traffic.take(np.flatnonzero(complete))
    if traffic.n == 0:
        raise ValueError(f"no request has scores for every model replayed ({', '.join(needed)})")
    cache = predictions if predictions is not None and predictions.texts is traffic.texts else PredictionCache(traffic.texts)
    usage = fill_usage(traffic, spec.default_completion_tokens)

    assignments: list[Assignment] = []
    for name, policy in spec.policies:
        if replays_as_cascade(policy, traffic.models):
            assignments.append(cascade_assignment(policy, traffic, usage, name=name, weak=spec.weak, strong=spec.strong))
            continue
        preds = cache.get(policy.routing.classifier, policy.routing.long_prompt_words)
        assignment = policy_assignment(policy, traffic, preds, name=name, weak=spec.weak, strong=spec.strong)
        if policy.routing.cascade is not None:
            assignment.notes.append(
                "fewer than two cascade tiers map to models in the traffic: replayed as routed by its classifier, "
                "as the gateway routes when fewer than two cascade tiers are enabled"
            )
        assignments.append(assignment)
    pair: Pair | None = None
    if spec.weak and spec.strong:
        pair = next((a.pair for a in assignments if a.pair and (a.pair.weak, a.pair.strong) == (spec.weak, spec.strong)), None)
        pair = pair or Pair(spec.weak, spec.strong, spec.weak_prices, spec.strong_prices)
        if not spec.policies:
            threshold = spec.threshold if spec.threshold is not None else default_threshold(spec.classifier)
            policy = pair_policy(pair, threshold, spec.classifier, spec.long_prompt_words)
            preds = cache.get(spec.classifier, spec.long_prompt_words)
            assignments.append(
                policy_assignment(
                    policy, traffic, preds, name=f"classifier@{threshold:g}", kind="classifier", weak=pair.weak, strong=pair.strong
                )
            )
    else:
        pair = next((a.pair for a in assignments if a.pair is not None), None)
    curves = None
    if pair is not None and spec.baselines:
        first = assignments[0]
        strong_idx = [j for j, o in enumerate(first.options) if o.model == pair.strong]
        share = float(np.mean(np.isin(first.choice, strong_idx)))
        assignments.extend(baseline_assignments(pair, traffic, share, spec.seed))
        if first.cascade is None:
            assignments.extend(comparison_assignments(pair, first, traffic, usage, spec.seed))
        curves = reference_curves(pair, traffic, usage)
    entries = evaluate(assignments, traffic, usage, n_boot=spec.n_boot, confidence=spec.confidence, seed=spec.seed)
    for e in entries:
        e.notes.extend(baseline_verdicts(entries).get(e.name, []))
    return ReplayReport(
        data=traffic.source,
        coverage=labeled,
        rows=rows,
        evaluated=traffic.n,
        skipped=skipped,
        skipped_reason=f"missing a score for one of {', '.join(needed)}" if skipped else "",
        models=list(traffic.models),
        token_usage=usage.notes,
        bootstrap=spec.n_boot,
        confidence=spec.confidence,
        seed=spec.seed,
        entries=entries,
        oracle_curve=curves[0] if curves else None,
        random_curve=curves[1] if curves else None,
    )


def baseline_verdicts(entries: Sequence[EntryResult]) -> dict[str, list[str]]:
    """Per router (policy or classifier): whether it beats each baseline, with the figures.

    kNN: a higher APGR (ranking, share-independent). Cost-matched random: higher quality at the
    same spend. Best fixed tier: somewhere on the router's curve it reaches that tier's quality
    for less money (the router's own operating point may trade quality for cost on purpose).
    """
    by_kind = {e.kind: e for e in entries}
    out: dict[str, list[str]] = {}
    for e in entries:
        if e.kind not in ("policy", "classifier") or e.cascade is not None:
            continue
        lines = []
        knn = by_kind.get("knn")
        if knn is not None and knn.pair and e.pair and knn.pair.apgr is not None and e.pair.apgr is not None:
            ok = e.pair.apgr > knn.pair.apgr
            lines.append(f"{'beats' if ok else 'does NOT beat'} {knn.name}: APGR {e.pair.apgr:.3f} vs {knn.pair.apgr:.3f}")
        rnd = by_kind.get("random-cost")
        if rnd is not None:
            ok = e.quality > rnd.quality
            lines.append(
                f"{'beats' if ok else 'does NOT beat'} {rnd.name}: quality {e.quality:.4f} vs {rnd.quality:.4f} at "
                f"${e.cost_per_1k:.4g} vs ${rnd.cost_per_1k:.4g} per 1k"
            )
        fixed = by_kind.get("best-tier")
        if fixed is not None and e.curve is not None:
            q, c = np.array(e.curve.quality), np.array(e.curve.cost_per_1k)
            # 1% cheaper at least: the curve's last point is the fixed tier itself, up to interpolation.
            reach = (q >= fixed.quality - 1e-12) & (c < 0.99 * fixed.cost_per_1k)
            cheapest = float(c[reach].min()) if reach.any() else None
            lines.append(
                f"beats {fixed.name}: its quality {fixed.quality:.4f} for ${cheapest:.4g} instead of ${fixed.cost_per_1k:.4g} per 1k"
                if cheapest is not None
                else f"does NOT beat {fixed.name}: never reaches its quality {fixed.quality:.4f} for under ${fixed.cost_per_1k:.4g}/1k"
            )
        out[e.name] = lines
    return out


# --------------------------------------------------------------------------- the quality gate


def gate_failures(report: ReplayReport, min_quality_retained: float | None, max_cost_per_1k: float | None) -> list[str]:
    """Why each evaluated policy (or bare classifier) fails the gate; empty when all pass."""
    failures = []
    for e in report.entries:
        if e.kind not in ("policy", "classifier"):
            continue
        if min_quality_retained is not None and not e.quality_retained >= min_quality_retained:
            short = (min_quality_retained - e.quality_retained) * 100.0
            failures.append(
                f"{e.name}: retains {e.quality_retained:.2%} of the best tier's quality ({e.best_tier}: {e.best_quality:.4f}), "
                f"{short:.2f} points below the minimum {min_quality_retained:.2%}"
            )
        if max_cost_per_1k is not None and e.cost_per_1k > max_cost_per_1k:
            over = e.cost_per_1k - max_cost_per_1k
            failures.append(
                f"{e.name}: costs ${e.cost_per_1k:.4f} per 1,000 requests, ${over:.4f} "
                f"({over / max_cost_per_1k:.1%}) over the maximum ${max_cost_per_1k:.4f}"
                if max_cost_per_1k > 0
                else f"{e.name}: costs ${e.cost_per_1k:.4f} per 1,000 requests, over the maximum $0"
            )
    return failures


def as_json(report: ReplayReport) -> dict[str, Any]:
    return report.model_dump(mode="json")
