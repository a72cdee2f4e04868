"""A judge is checked against reference-graded answers before its labels are used (issue #14).

The judge here is a scripted function in place of the engine call, so the check's arithmetic is
tested exactly; tests/test_eval_label.py runs the refusal through the CLI with a real judge.
"""

from __future__ import annotations

import asyncio

import pytest

from eval_harness.label import LabelSpec, LabelSummary, _Caller, judge_refusal, label_records
from eval_harness.traffic import TrafficRecord
from policies.schema import Tier

MODEL = "m"


def _records(n_ref: int, n_open: int) -> list[TrafficRecord]:
    # Logged answers are reused, so no answering engine is needed: even ids answer right.
    out = [
        TrafficRecord(
            id=f"r{i}",
            messages=[{"role": "user", "content": f"What is {i} + 1?"}],
            responses={MODEL: str(i + 1 if i % 2 == 0 else i + 7)},
            meta={"reference": i + 1},
        )
        for i in range(n_ref)
    ]
    out += [
        TrafficRecord(id=f"o{i}", messages=[{"role": "user", "content": f"Write a poem {i}"}], responses={MODEL: "roses"})
        for i in range(n_open)
    ]
    return out


def _run(records: list[TrafficRecord], judge_says: dict[str, int | None], spec: LabelSpec) -> LabelSummary:
    summary = LabelSummary()

    class Scripted(_Caller):
        async def __call__(self, model, messages, max_tokens, temperature):  # type: ignore[override]
            text = messages[-1]["content"]
            answer = text.split("[The Start of Assistant's Answer]")[1].split("[The End")[0].strip()
            rating = judge_says.get(answer)
            return (f"Rating: [[{rating}]]" if rating is not None else "no idea"), {}

    call = Scripted({}, None, asyncio.Semaphore(2), summary)  # type: ignore[arg-type]
    asyncio.run(label_records(records, spec, call, [MODEL], {MODEL: Tier(engine="openai", model=MODEL, base_url="http://127.0.0.1:9/v1")}))
    return summary


def test_a_judge_that_agrees_passes() -> None:
    # Right answers (even i: "1", "3", ...) rated 9, wrong ones ("8", "10", ...) rated 2.
    records = _records(10, 2)
    says = {str(i + 1): 9 for i in range(0, 10, 2)} | {str(i + 7): 2 for i in range(1, 10, 2)} | {"roses": 7}
    spec = LabelSpec(judge="j", judge_min_checks=10)
    summary = _run(records, says, spec)
    assert summary.judge_agreement == 1.0 and len(summary.judge_checks) == 10
    assert judge_refusal(summary, spec) is None


def test_a_judge_that_rates_everything_high_is_refused() -> None:
    records = _records(10, 2)
    says = {str(i + 1): 10 for i in range(0, 10, 2)} | {str(i + 7): 10 for i in range(1, 10, 2)} | {"roses": 10}
    spec = LabelSpec(judge="j", judge_min_checks=10, judge_min_agreement=0.7)
    summary = _run(records, says, spec)
    assert summary.judge_agreement == pytest.approx(0.5)  # right on the 5 right answers only
    why = judge_refusal(summary, spec)
    assert why is not None and "agreed with the reference graders on 50% of 10 answers, below the minimum 70%" in why
    assert judge_refusal(summary, spec.model_copy(update={"trust_judge": True})) is None


def test_no_rating_counts_as_disagreement_and_too_few_checks_refuse() -> None:
    summary = _run(_records(10, 1), {"roses": 5}, LabelSpec(judge="j"))
    assert summary.judge_agreement == 0.0
    few = _run(_records(4, 1), {"roses": 5}, LabelSpec(judge="j"))
    why = judge_refusal(few, LabelSpec(judge="j", judge_min_checks=5))
    assert why is not None and "only 4 reference-graded answers (need 5)" in why


def test_judge_not_used_needs_no_check() -> None:
    summary = _run(_records(3, 0), {}, LabelSpec(judge="j"))
    assert not summary.judge_used()
    assert judge_refusal(summary, LabelSpec(judge="j")) is None


class _PricedEngine:
    """Bills a prompt at 4 characters a token (the cap's own estimate) and a full 10-token answer."""

    async def complete(self, request):
        chars = sum(len(m["content"]) for m in request.messages)
        return {"choices": [{"message": {"content": "4"}}], "usage": {"prompt_tokens": chars // 4, "completion_tokens": 10}}


def test_cost_cap_stops_before_the_call_that_would_cross_it(tmp_path) -> None:
    from eval_harness.label import CostCapReached, ResponseCache

    summary = LabelSummary()
    cache = ResponseCache(tmp_path / "cache")
    # $1 per prompt token, $2 per completion token: each call (16 characters, 10 tokens out) costs $24.
    call = _Caller({MODEL: _PricedEngine()}, cache, asyncio.Semaphore(1), summary, prices={MODEL: (1.0, 2.0)}, max_cost_usd=100.0)  # type: ignore[dict-item]
    records = [
        TrafficRecord(id=str(i), messages=[{"role": "user", "content": f"What is {i}+{i}? pad"}], meta={"reference": 2 * i})
        for i in range(5)
    ]
    with pytest.raises(CostCapReached, match=r"cost cap \$100.0000 reached after \$96.0000 \(4 calls\)"):
        asyncio.run(
            label_records(
                records,
                LabelSpec(max_tokens=10),
                call,
                [MODEL],
                {MODEL: Tier(engine="openai", model=MODEL, base_url="http://127.0.0.1:9/v1")},
            )
        )
    assert summary.calls == 4 and summary.cost_usd == 96.0  # a fifth call would have crossed $100
    cache.close()


def test_checks_stop_at_enough() -> None:
    from eval_harness.label import JUDGE_CHECKS_ENOUGH

    records = _records(JUDGE_CHECKS_ENOUGH + 20, 0)
    summary = _run(records, {}, LabelSpec(judge="j"))
    assert len(summary.judge_checks) == JUDGE_CHECKS_ENOUGH  # not one judge call per reference-graded answer
