"""Labeled-traffic JSONL: validated streaming reads, writes, and a columnar loader for replay.

One request per line (docs/ARCHITECTURE.md, "Data formats"):
``{"id", "tenant"?, "messages", "scores"?: {model: q}, "usage"?: {model: {prompt_tokens,
completion_tokens}}, "confidence"?: {model: c}, "responses"?: {model: text}, "meta"?: {...}}``.

``confidence`` is each model's own confidence in its answer, in [0, 1]: exp(mean token
log-probability), the signal a cascade compares with its ``min_confidence``
(``router/cascade.py``). The gateway's log export writes it for the cascade stages it judged;
replay uses it to replay cascade policies. It is optional and additive: files without it read
as before, and a cascade stage with no confidence counts as not confident (it escalates).

Two ways in:

- :func:`iter_records` streams :class:`TrafficRecord` objects (pydantic-validated); a bad line
  raises :class:`TrafficError` naming the file, the line number and the field.
- :func:`load_columns` turns a file (or any record iterable) into :class:`TrafficColumns`: numpy
  arrays (requests x models) plus an index into the unique prompt texts, which is what replay
  needs to route each distinct prompt once and then work on whole columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

__all__ = [
    "Message",
    "TrafficColumns",
    "TrafficError",
    "TrafficRecord",
    "Usage",
    "iter_records",
    "load_columns",
    "read_records",
    "routing_text",
    "write_records",
]


class TrafficError(ValueError):
    """A labeled-traffic file that cannot be read, with where and why."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class Message(BaseModel):
    # Unknown keys (name, tool_calls, ...) are kept: the gateway's log export writes what clients sent.
    model_config = ConfigDict(extra="allow")

    role: str = Field(min_length=1)
    content: str | list[Any] | None = None


class Usage(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class TrafficRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    tenant: str | None = None
    messages: list[Message] = Field(min_length=1)
    scores: dict[str, float] = Field(default_factory=dict)
    usage: dict[str, Usage] = Field(default_factory=dict)
    confidence: dict[str, float] = Field(default_factory=dict)
    responses: dict[str, str] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("scores", "confidence")
    @classmethod
    def _in_unit_interval(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        what = "score" if info.field_name == "scores" else "confidence"
        for model, x in value.items():
            if not (math.isfinite(x) and 0.0 <= x <= 1.0):
                raise ValueError(f"{what} for {model!r} must be within [0, 1], got {x}")
        return value

    def text(self) -> str:
        return routing_text(self.messages)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def routing_text(messages: Sequence[Message | Mapping[str, Any]]) -> str:
    """What the classifier reads: the last user turn, as the gateway extracts it.

    Mirrors ``router.gateway.routing_text`` (eval_harness may not import router); replay must
    route on the same text the gateway would, or replayed decisions would not match live ones.
    """
    for message in reversed(messages):
        role = message.role if isinstance(message, Message) else message.get("role")
        if role == "user":
            content = message.content if isinstance(message, Message) else message.get("content")
            return _content_text(content)
    return ""


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(record)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _parse_line(raw: bytes, source: str, line_no: int) -> TrafficRecord:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TrafficError(source, line_no, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TrafficError(source, line_no, f"expected a JSON object, got {type(data).__name__}")
    try:
        return TrafficRecord.model_validate(data)
    except ValidationError as exc:
        raise TrafficError(source, line_no, _format_validation(exc)) from None


def iter_records(path: str | Path, *, unique_ids: bool = True) -> Iterator[TrafficRecord]:
    """Stream validated records from a JSONL file; blank lines are skipped.

    Raises :class:`TrafficError` at the first bad line (with its 1-based number), or on a
    repeated ``id`` when ``unique_ids`` (labels and caches are keyed by id).
    """
    source = str(path)
    try:
        handle = open(path, "rb")  # closed in finally: the generator owns it
    except OSError as exc:
        raise TrafficError(source, None, f"cannot open: {exc.strerror or exc}") from None
    seen: dict[str, int] = {}
    try:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            record = _parse_line(raw, source, line_no)
            if unique_ids:
                first = seen.setdefault(record.id, line_no)
                if first != line_no:
                    raise TrafficError(source, line_no, f"duplicate id {record.id!r} (first on line {first})")
            yield record
    finally:
        handle.close()


def read_records(path: str | Path) -> list[TrafficRecord]:
    return list(iter_records(path))


def record_json(record: TrafficRecord) -> bytes:
    """One JSONL line, without empty optional sections (keeps files diffable and small)."""
    data = record.model_dump(mode="json", exclude_none=True)
    for key in ("scores", "usage", "confidence", "responses", "meta"):
        if not data.get(key):
            data.pop(key, None)
    return orjson.dumps(data) + b"\n"


def write_records(target: str | Path | IO[bytes], records: Iterable[TrafficRecord]) -> int:
    """Write records as JSONL (to a path, atomically, or to an open binary handle); returns the count."""
    if not isinstance(target, (str, Path)):
        n = 0
        for record in records:
            target.write(record_json(record))
            n += 1
        return n
    path = Path(target)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        n = write_records(handle, records)
    tmp.replace(path)
    return n


@dataclass
class TrafficColumns:
    """Labeled traffic as columns: row i is request i, column j is ``models[j]``.

    Missing values are NaN (a score not labeled, usage or confidence not logged). ``prompt_index[i]``
    points into ``texts`` (the distinct routing texts), so classifiers run once per distinct prompt.
    ``confidence`` defaults to all NaN, so columns built without it (benchmarks) still replay.
    """

    ids: NDArray[np.object_]
    models: list[str]
    scores: NDArray[np.float64]
    prompt_tokens: NDArray[np.float64]
    completion_tokens: NDArray[np.float64]
    prompt_index: NDArray[np.int64]
    texts: list[str]
    text_chars: NDArray[np.int64]
    tenants: NDArray[np.object_] = field(default_factory=lambda: np.empty(0, dtype=object))
    source: str = "<memory>"
    confidence: NDArray[np.float64] = field(default_factory=lambda: np.empty((0, 0)))

    def __post_init__(self) -> None:
        if self.confidence.shape != self.scores.shape:
            if self.confidence.size:
                raise ValueError(f"confidence has shape {self.confidence.shape}, scores {self.scores.shape}")
            self.confidence = np.full(self.scores.shape, np.nan)

    @property
    def n(self) -> int:
        return len(self.prompt_index)

    def column(self, model: str) -> int:
        try:
            return self.models.index(model)
        except ValueError:
            raise KeyError(f"model {model!r} is not in the traffic (models: {', '.join(self.models)})") from None

    def take(self, rows: NDArray[np.int64]) -> TrafficColumns:
        """A row subset (or a resample, with repeats), sharing the prompt texts."""
        return TrafficColumns(
            ids=self.ids[rows],
            models=list(self.models),
            scores=self.scores[rows],
            prompt_tokens=self.prompt_tokens[rows],
            completion_tokens=self.completion_tokens[rows],
            prompt_index=self.prompt_index[rows],
            texts=self.texts,
            text_chars=self.text_chars,
            tenants=self.tenants[rows] if len(self.tenants) else self.tenants,
            source=self.source,
            confidence=self.confidence[rows],
        )


def load_columns(source: str | Path | Iterable[TrafficRecord], models: Sequence[str] | None = None) -> TrafficColumns:
    """Columnar view of labeled traffic. ``models`` fixes the columns (default: every model seen)."""
    name = str(source) if isinstance(source, (str, Path)) else "<records>"
    records: Iterable[TrafficRecord] = iter_records(source) if isinstance(source, (str, Path)) else source
    ids: list[str] = []
    tenants: list[str | None] = []
    rows_scores: list[dict[str, float]] = []
    rows_usage: list[dict[str, Usage]] = []
    rows_confidence: list[dict[str, float]] = []
    prompt_index: list[int] = []
    text_ids: dict[str, int] = {}
    seen_models: dict[str, None] = dict.fromkeys(models or ())
    for record in records:
        ids.append(record.id)
        tenants.append(record.tenant)
        rows_scores.append(record.scores)
        rows_usage.append(record.usage)
        rows_confidence.append(record.confidence)
        text = record.text()
        prompt_index.append(text_ids.setdefault(text, len(text_ids)))
        if models is None:
            for model in (*record.scores, *record.usage, *record.confidence):
                seen_models.setdefault(model)
    if not ids:
        raise TrafficError(name, None, "no records")
    cols = list(seen_models)
    col_of = {m: j for j, m in enumerate(cols)}
    n, m = len(ids), len(cols)
    scores = np.full((n, m), np.nan)
    prompt_tokens = np.full((n, m), np.nan)
    completion_tokens = np.full((n, m), np.nan)
    confidence = np.full((n, m), np.nan)
    for i, (row_scores, row_usage, row_confidence) in enumerate(zip(rows_scores, rows_usage, rows_confidence, strict=True)):
        for model, score in row_scores.items():
            j = col_of.get(model)
            if j is not None:
                scores[i, j] = score
        for model, conf in row_confidence.items():
            j = col_of.get(model)
            if j is not None:
                confidence[i, j] = conf
        for model, usage in row_usage.items():
            j = col_of.get(model)
            if j is not None:
                prompt_tokens[i, j] = usage.prompt_tokens
                completion_tokens[i, j] = usage.completion_tokens
    texts = list(text_ids)
    return TrafficColumns(
        ids=np.asarray(ids, dtype=object),
        models=cols,
        scores=scores,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        prompt_index=np.asarray(prompt_index, dtype=np.int64),
        texts=texts,
        text_chars=np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)),
        tenants=np.asarray(tenants, dtype=object),
        source=name,
        confidence=confidence,
    )
