from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval_harness.traffic import TrafficError, TrafficRecord, iter_records, load_columns, write_records

GOOD = [
    {
        "id": "a",
        "tenant": "t1",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "What is 2+2?"}],
        "scores": {"weak": 0.0, "strong": 1.0},
        "usage": {"weak": {"prompt_tokens": 10, "completion_tokens": 3}},
        "meta": {"answer": "4"},
    },
    {"id": "b", "messages": [{"role": "user", "content": [{"type": "text", "text": "Name a colour."}]}], "scores": {"strong": 0.5}},
    {"id": "c", "messages": [{"role": "user", "content": "What is 2+2?"}], "scores": {"weak": 1.0, "strong": 1.0}},
]


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_round_trip_and_columns(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [*GOOD[:1], "", *GOOD[1:]])  # blank lines are allowed
    records = list(iter_records(src))
    assert [r.id for r in records] == ["a", "b", "c"]
    out = tmp_path / "out.jsonl"
    assert write_records(out, records) == 3
    assert [TrafficRecord.model_validate_json(line) for line in out.read_text().splitlines()] == records

    cols = load_columns(out)
    assert cols.models == ["weak", "strong"]
    np.testing.assert_array_equal(cols.scores[:, 0], [0.0, np.nan, 1.0])
    np.testing.assert_array_equal(cols.scores[:, 1], [1.0, 0.5, 1.0])
    np.testing.assert_array_equal(cols.prompt_tokens[:, 0], [10, np.nan, np.nan])
    # Routing text is the last user turn, so "a" and "c" share one prompt (classified once).
    assert cols.texts == ["What is 2+2?", "Name a colour."]
    assert cols.prompt_index.tolist() == [0, 1, 0]
    assert cols.text_chars.tolist() == [12, 14]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"id": "x", "messages": []}), "messages: List should have at least 1 item"),
        (json.dumps({"id": "x", "messages": [{"role": "user", "content": "q"}], "scores": {"m": 1.5}}), "within [0, 1]"),
        (
            json.dumps(
                {"id": "x", "messages": [{"role": "user", "content": "q"}], "usage": {"m": {"prompt_tokens": -1, "completion_tokens": 0}}}
            ),
            "usage.m.prompt_tokens",
        ),
        (json.dumps({"id": "x", "messages": [{"role": "user", "content": "q"}], "extra_field": 1}), "extra_field"),
        (json.dumps({"id": "a", "messages": [{"role": "user", "content": "q"}]}), "duplicate id 'a' (first on line 1)"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, line: str, expected: str) -> None:
    src = _write(tmp_path / "bad.jsonl", [GOOD[0], line])
    with pytest.raises(TrafficError) as info:
        list(iter_records(src))
    assert info.value.line == 2
    assert f"{src}:2:" in str(info.value)
    assert expected in str(info.value)


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(TrafficError, match="cannot open"):
        list(iter_records(tmp_path / "nope.jsonl"))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(TrafficError, match="no records"):
        load_columns(tmp_path / "empty.jsonl")


def test_reads_are_streamed(tmp_path: Path) -> None:
    # A bad line far down must not stop the good records before it from being yielded.
    src = _write(tmp_path / "t.jsonl", [*GOOD, "oops"])
    it = iter_records(src)
    assert next(it).id == "a"
    assert next(it).id == "b"
    assert next(it).id == "c"
    with pytest.raises(TrafficError):
        next(it)
