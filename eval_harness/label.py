"""Label traffic: answer each request with a policy's tiers, grade the answers, fill ``scores``.

For every record and every labeled tier (scores are keyed by the tier's ``model``, the name the
replay maps tiers to), the answer is, in order: already in the record's ``responses`` (a logged
answer is reused, never re-bought), in the on-disk cache, or requested from the tier's engine.
Calls run concurrently under one ``asyncio.Semaphore`` with a rich progress bar. Every answer and
every judge verdict is written to the cache (SQLite, keyed by model and a hash of the request)
as soon as it arrives, so an interrupted run resumes where it stopped and a re-run is free.

Grades come from ``eval_harness.graders``: the reference grader when the record has an answer,
else user feedback, else the judge tier (when ``--judge`` names one). A record keeps the grade's
provenance in ``meta.grades[model]``; models that no source could grade get no score.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from engines.base import Engine, EngineError, EngineRequest
from engines.factory import build_engine
from eval_harness import graders
from eval_harness.graders import Grade
from eval_harness.traffic import TrafficError, TrafficRecord, Usage, iter_records, record_json, routing_text
from policies.schema import Policy, Tier

__all__ = ["JudgeRejected", "LabelError", "LabelSpec", "LabelSummary", "ResponseCache", "build_engine", "label_file", "label_records"]


class LabelError(Exception):
    pass


# Agreement measured on this many answers is precise enough (+-0.13 at 95%); more checks only cost judge calls.
JUDGE_CHECKS_ENOUGH = 50


class CostCapReached(LabelError):
    """Labeling stopped before a call that could exceed ``max_cost_usd``; nothing was written."""


class JudgeRejected(LabelError):
    """The judge disagreed with the reference graders (or could not be checked): its labels are not used."""


class LabelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tiers: list[str] | None = None
    concurrency: int = Field(default=4, ge=1)
    judge: str | None = None
    judge_mode: Literal["single", "pairwise"] = "single"
    cache_dir: Path = Path(".switchyard/label-cache")
    max_tokens: int | None = Field(default=None, ge=1)
    judge_max_tokens: int = Field(default=64, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    limit: int | None = Field(default=None, ge=1)
    overwrite: bool = False
    chunk_size: int = Field(default=256, ge=1, description="Records held in memory at once.")
    judge_min_agreement: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Share of reference-graded answers the judge must grade the same way (pass/fail)."
    )
    judge_min_checks: int = Field(default=10, ge=1, description="Reference-graded answers the judge must be checked on.")
    trust_judge: bool = Field(default=False, description="Use the judge's labels without checking it against references.")
    max_cost_usd: float | None = Field(default=None, ge=0, description="Stop before spending more than this on answers and verdicts.")


@dataclass
class LabelSummary:
    records: int = 0
    calls: int = 0
    cached: int = 0
    reused: int = 0
    errors: list[str] = field(default_factory=list)
    graders: Counter[str] = field(default_factory=Counter)
    ungraded: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0
    # (reference says pass, judge says pass or None when it gave no rating), per reference-graded answer.
    judge_checks: list[tuple[bool, bool | None]] = field(default_factory=list)
    judge_checks_started: int = 0
    # Calls and tokens per model, answers and verdicts alike, for whoever books the spend (`switchyard learn`).
    spent: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def judge_agreement(self) -> float | None:
        if not self.judge_checks:
            return None
        return sum(ref == judged for ref, judged in self.judge_checks) / len(self.judge_checks)

    def judge_used(self) -> bool:
        return any(k.startswith("judge:") and v for k, v in self.graders.items())

    def describe(self) -> str:
        by = ", ".join(f"{k} {v}" for k, v in sorted(self.graders.items())) or "none"
        text = (
            f"labeled {self.records} records in {self.seconds:.1f}s: {self.calls} model calls, {self.cached} from cache, "
            f"{self.reused} logged answers reused; grades by {by}; {self.ungraded} answers left ungraded; ${self.cost_usd:.4f} spent"
        )
        if self.judge_checks:
            text += f"; judge agreed with the reference graders on {self.judge_agreement:.0%} of {len(self.judge_checks)} answers"
        if self.errors:
            text += f"; {len(self.errors)} errors, first: {self.errors[0]}"
        return text


def judge_refusal(summary: LabelSummary, spec: LabelSpec) -> str | None:
    """Why the judge's labels must not be used; None when it passed its check or was not used.

    A judge is only as good as its agreement with answers we can grade for sure: every answer that
    has a reference grade is also judged, and the judge must call pass/fail (rating >= 5.5, i.e.
    score >= 0.5) as the reference did. A judge that gives no rating disagrees.
    """
    if not summary.judge_used() or spec.trust_judge:
        return None
    n, agreement = len(summary.judge_checks), summary.judge_agreement
    if n < spec.judge_min_checks:
        return (
            f"the judge could be checked on only {n} reference-graded answers (need {spec.judge_min_checks}): include records "
            "with meta.reference / meta.answer, or pass --trust-judge knowingly"
        )
    if agreement is not None and agreement < spec.judge_min_agreement:
        return (
            f"the judge agreed with the reference graders on {agreement:.0%} of {n} answers, below the minimum "
            f"{spec.judge_min_agreement:.0%}: its labels are not used (use a stronger judge tier)"
        )
    return None


def request_hash(messages: Sequence[dict[str, Any]], params: dict[str, Any]) -> str:
    payload = orjson.dumps({"messages": list(messages), "params": params}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


class ResponseCache:
    """Answers on disk, keyed by (model, request hash): SQLite, one row per call, committed at once."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "responses.sqlite"
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (model TEXT NOT NULL, request_hash TEXT NOT NULL, "
            "content TEXT NOT NULL, usage TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (model, request_hash))"
        )
        self._db.commit()

    def get(self, model: str, key: str) -> tuple[str, dict[str, int]] | None:
        row = self._db.execute("SELECT content, usage FROM responses WHERE model = ? AND request_hash = ?", (model, key)).fetchone()
        return (row[0], orjson.loads(row[1])) if row else None

    def put(self, model: str, key: str, content: str, usage: dict[str, int]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)", (model, key, content, orjson.dumps(usage).decode(), time.time())
        )
        self._db.commit()

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._db.close()


@dataclass
class _Caller:
    """Runs engine calls through the cache under the shared concurrency limit."""

    engines: dict[str, Engine]
    cache: ResponseCache
    semaphore: asyncio.Semaphore
    summary: LabelSummary
    progress: Progress | None = None
    task: Any = None
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)  # model -> US$ per token in, out
    max_cost_usd: float | None = None

    async def __call__(
        self, model: str, messages: list[dict[str, Any]], max_tokens: int | None, temperature: float
    ) -> tuple[str, dict[str, int]]:
        params = {"max_tokens": max_tokens, "temperature": temperature}
        key = request_hash(messages, params)
        if self.progress is not None:
            # Totals grow as calls are scheduled: judge calls depend on answers not yet seen.
            self.progress.update(self.task, total=(self.progress.tasks[self.task].total or 0) + 1)
        try:
            hit = self.cache.get(model, key)
            if hit is not None:
                self.summary.cached += 1
                return hit
            async with self.semaphore:
                self._check_budget(model, messages, max_tokens)
                response = await self.engines[model].complete(
                    EngineRequest(model=model, messages=messages, max_tokens=max_tokens, temperature=temperature)
                )
            content = (response["choices"][0].get("message") or {}).get("content") or ""
            usage = {k: int(v) for k, v in (response.get("usage") or {}).items() if k in ("prompt_tokens", "completion_tokens")}
            self.cache.put(model, key, content, usage)
            self.summary.calls += 1
            self.summary.spent.setdefault(model, Counter()).update(calls=1, **usage)
            price_in, price_out = self.prices.get(model, (0.0, 0.0))
            self.summary.cost_usd += usage.get("prompt_tokens", 0) * price_in + usage.get("completion_tokens", 0) * price_out
            return content, usage
        finally:
            if self.progress is not None:
                self.progress.advance(self.task)

    def _check_budget(self, model: str, messages: list[dict[str, Any]], max_tokens: int | None) -> None:
        """Refuse a call whose worst case (prompt ~chars/4, a full max_tokens answer) would cross the cap."""
        if self.max_cost_usd is None:
            return
        price_in, price_out = self.prices.get(model, (0.0, 0.0))
        chars = sum(len(str(m.get("content") or "")) for m in messages)
        worst = chars / 4 * price_in + (max_tokens or 1024) * price_out
        if self.summary.cost_usd + worst > self.max_cost_usd:
            raise CostCapReached(
                f"cost cap ${self.max_cost_usd:.4f} reached after ${self.summary.cost_usd:.4f} ({self.summary.calls} calls): "
                "raise --max-label-cost or label fewer requests"
            )


def _labeled_tiers(policy: Policy, spec: LabelSpec) -> list[str]:
    names = spec.tiers or [t for t in policy.by_cost() if policy.tiers[t].enabled and t != spec.judge]
    unknown = [t for t in names if t not in policy.tiers]
    if unknown:
        raise LabelError(f"unknown tier(s) {', '.join(unknown)}; the policy has {', '.join(policy.tiers)}")
    if spec.judge is not None and spec.judge not in policy.tiers:
        raise LabelError(f"judge tier {spec.judge!r} is not in the policy ({', '.join(policy.tiers)})")
    off = []
    for name in [*names, *([spec.judge] if spec.judge else [])]:
        enabled, why = policy.tiers[name].status()
        if not enabled:
            off.append(f"{name} ({why})")
    if off:
        raise LabelError(f"tier(s) not usable: {'; '.join(off)}")
    return names


def _served_by(record: TrafficRecord) -> str | None:
    model = record.meta.get("model")
    if isinstance(model, str):
        return model
    return next(iter(record.responses)) if len(record.responses) == 1 else None


async def _answer_all(
    records: list[TrafficRecord], models: list[str], tier_of: dict[str, Tier], spec: LabelSpec, call: _Caller
) -> dict[tuple[int, str], tuple[str, dict[str, int]] | None]:
    answers: dict[tuple[int, str], tuple[str, dict[str, int]] | None] = {}
    jobs = []
    keys = []
    for i, record in enumerate(records):
        for model in models:
            if model in record.scores and not spec.overwrite:
                continue
            if model in record.responses:
                answers[(i, model)] = (record.responses[model], {})
                call.summary.reused += 1
                continue
            messages = [m.model_dump(exclude_none=True) for m in record.messages]
            max_tokens = spec.max_tokens or tier_of[model].max_output_tokens
            keys.append((i, model))
            jobs.append(call(model, messages, max_tokens, spec.temperature))
    for key, result in zip(keys, await asyncio.gather(*jobs, return_exceptions=True), strict=True):
        if isinstance(result, EngineError):
            call.summary.errors.append(f"{records[key[0]].id} / {key[1]}: {result.message}")
            answers[key] = None
        elif isinstance(result, BaseException):
            raise result
        else:
            answers[key] = result
    return answers


async def _judge_single(question: str, answer: str, reference: Any, judge: str, spec: LabelSpec, call: _Caller) -> Grade:
    try:
        verdict, _ = await call(judge, graders.single_messages(question, answer, reference), spec.judge_max_tokens, 0.0)
    except EngineError as exc:
        return Grade(None, "judge:single", f"judge failed: {exc.message}")
    rating = graders.parse_rating(verdict)
    if rating is None:
        return Grade(None, "judge:single", f"no rating in {verdict[:120]!r}")
    return Grade(graders.rating_score(rating), "judge:single", f"rating {rating}/10: {verdict[:120]!r}")


async def _judge_pairwise(
    question: str, answers: dict[str, str], reference: Any, judge: str, spec: LabelSpec, call: _Caller
) -> dict[str, Grade]:
    points: dict[str, list[float]] = {m: [] for m in answers}
    notes: dict[str, list[str]] = {m: [] for m in answers}
    for a, b in itertools.combinations(answers, 2):
        # Both orders: small and large judges alike favour one position.
        for first, second in ((a, b), (b, a)):
            try:
                text, _ = await call(
                    judge, graders.pairwise_messages(question, answers[first], answers[second], reference), spec.judge_max_tokens, 0.0
                )
            except EngineError as exc:
                notes[first].append(f"judge failed: {exc.message}")
                continue
            verdict = graders.parse_verdict(text)
            if verdict is None:
                notes[first].append(f"no verdict in {text[:60]!r}")
                continue
            win = {"A": 1.0, "B": 0.0, "C": 0.5}[verdict]
            points[first].append(win)
            points[second].append(1.0 - win)
            notes[first].append(f"vs {second}: {verdict}")
    return {
        m: Grade(sum(p) / len(p) if p else None, "judge:pairwise", "; ".join(notes[m]) or f"{len(p)} comparisons")
        for m, p in points.items()
    }


async def _grade_record(
    record: TrafficRecord, answers: dict[str, tuple[str, dict[str, int]] | None], spec: LabelSpec, call: _Caller
) -> dict[str, Grade]:
    question = routing_text(record.messages)
    reference = record.meta.get("reference", record.meta.get("answer"))
    served_by = _served_by(record)
    grades: dict[str, Grade] = {}
    to_judge: dict[str, str] = {}
    checks: list[tuple[float, Any]] = []
    for model, answer in answers.items():
        if answer is None:
            grades[model] = Grade(None, "error", "no answer (engine error)")
            continue
        text = answer[0]
        reference_grade = graders.reference_grade(record.meta, text, question)
        grade = reference_grade or graders.feedback_grade(record.meta, model, served_by)
        checking = call.summary.judge_checks_started < max(spec.judge_min_checks, JUDGE_CHECKS_ENOUGH)
        if (
            checking
            and reference_grade is not None
            and reference_grade.score is not None
            and spec.judge is not None
            and not spec.trust_judge
        ):
            call.summary.judge_checks_started += 1  # counted when scheduled: records are graded concurrently
            checks.append((reference_grade.score, _judge_single(question, text, None, spec.judge, spec, call)))
        if grade is not None:
            grades[model] = grade
        elif spec.judge is not None:
            to_judge[model] = text
        else:
            grades[model] = Grade(None, "none", "no reference, feedback or judge")
    if spec.judge is not None and to_judge:
        if spec.judge_mode == "pairwise" and len(to_judge) >= 2:
            grades.update(await _judge_pairwise(question, to_judge, reference, spec.judge, spec, call))
        else:
            singles = await asyncio.gather(*(_judge_single(question, t, reference, spec.judge, spec, call) for t in to_judge.values()))
            grades.update(dict(zip(to_judge, singles, strict=True)))
    # The check judges without the reference (as the judge works on open questions).
    for ref, verdict in zip([r for r, _ in checks], await asyncio.gather(*(c for _, c in checks)), strict=True):
        call.summary.judge_checks.append((ref >= 0.5, None if verdict.score is None else verdict.score >= 0.5))
    return grades


async def label_records(
    records: list[TrafficRecord], spec: LabelSpec, call: _Caller, models: list[str], tier_of: dict[str, Tier]
) -> list[TrafficRecord]:
    """Answer and grade one chunk of records; returns them with scores, responses, usage and meta.grades."""
    answers = await _answer_all(records, models, tier_of, spec, call)
    per_record: dict[int, dict[str, tuple[str, dict[str, int]] | None]] = {}
    for (i, model), answer in answers.items():
        per_record.setdefault(i, {})[model] = answer
    grades_list = await asyncio.gather(*(_grade_record(records[i], per_record[i], spec, call) for i in sorted(per_record)))
    out = list(records)
    for i, grades in zip(sorted(per_record), grades_list, strict=True):
        record = records[i]
        scores, responses, usage = dict(record.scores), dict(record.responses), dict(record.usage)
        meta = dict(record.meta)
        meta_grades = dict(meta.get("grades") or {})
        for model, grade in grades.items():
            answer = per_record[i][model]
            if answer is not None:
                responses[model] = answer[0]
                if {"prompt_tokens", "completion_tokens"} <= answer[1].keys():
                    usage[model] = Usage.model_validate(answer[1])
            meta_grades[model] = grade.as_meta()
            call.summary.graders[grade.grader] += 1
            if grade.score is None:
                call.summary.ungraded += 1
            else:
                scores[model] = grade.score
        meta["grades"] = meta_grades
        out[i] = record.model_copy(update={"scores": scores, "responses": responses, "usage": usage, "meta": meta})
    return out


def _chunks(records: Iterable[TrafficRecord], size: int, limit: int | None) -> Iterable[list[TrafficRecord]]:
    it = iter(records) if limit is None else itertools.islice(records, limit)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


async def label_file(
    data: Path, out: Path, policy: Policy, spec: LabelSpec, console: Console | None = None, summary: LabelSummary | None = None
) -> LabelSummary:
    """Label ``data`` into ``out`` (written atomically when done); records stream through in chunks. A caller's
    ``summary`` keeps what was spent even when labeling is refused part way."""
    started = time.perf_counter()
    names = _labeled_tiers(policy, spec)
    tier_of = {policy.tiers[t].model: policy.tiers[t] for t in names}
    models = list(tier_of)
    engine_tiers = {policy.tiers[t].model: policy.tiers[t] for t in [*names, *([spec.judge] if spec.judge else [])]}
    engines = {model: build_engine(tier) for model, tier in engine_tiers.items()}
    judge_model = policy.tiers[spec.judge].model if spec.judge else None
    spec = spec.model_copy(update={"judge": judge_model})
    summary = summary if summary is not None else LabelSummary()
    cache = ResponseCache(spec.cache_dir)
    tmp = out.with_name(out.name + ".tmp")
    progress = (
        Progress(
            TextColumn("[bold]labeling"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        if console is not None
        else None
    )
    try:
        for engine in engines.values():
            await engine.start()
        with progress if progress is not None else nullcontext():
            task = progress.add_task("calls", total=0) if progress is not None else None
            prices = {m: (float(t.prices.input_per_mtok) / 1e6, float(t.prices.output_per_mtok) / 1e6) for m, t in engine_tiers.items()}
            call = _Caller(engines, cache, asyncio.Semaphore(spec.concurrency), summary, progress, task, prices, spec.max_cost_usd)
            with open(tmp, "wb") as handle:
                for chunk in _chunks(iter_records(data), spec.chunk_size, spec.limit):
                    labeled = await label_records(chunk, spec, call, models, tier_of)
                    for record in labeled:
                        handle.write(record_json(record))
                    summary.records += len(labeled)
        refusal = judge_refusal(summary, spec)
        if refusal is not None:
            raise JudgeRejected(refusal + f" ({summary.describe()})")
        tmp.replace(out)
    except TrafficError as exc:
        raise LabelError(str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)
        cache.close()
        for engine in engines.values():
            await engine.aclose()
    summary.seconds = time.perf_counter() - started
    return summary
