"""`switchyard learn`: close the loop from the ledger's traffic to a better router (eval_harness/learn.py).

Exit codes: 0 a run finished (promoted or not: the report says which and why), 2 bad input,
3 refused before training (coverage, an unchecked judge, too few labels), 4 the gateway refused
the reload (the policy file was rolled back).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from policies.settings import DATABASE_HELP
from policies.settings import current as current_settings

if TYPE_CHECKING:
    from eval_harness.label import LabelSummary
    from policies.schema import Policy

console = Console(stderr=True, soft_wrap=True)
_EVERY = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SHIPPED_DATA = Path(__file__).resolve().parents[2] / "shared/data/routing/mmlu-train.jsonl"


def parse_every(value: str | None) -> float | None:
    if value is None:
        return None
    found = _EVERY.match(value.strip())
    if not found:
        raise typer.BadParameter(f"{value!r}: give a period such as 30m, 6h or 1d")
    period = float(found.group(1)) * _UNIT_S[found.group(2)]
    # 0s ran learn back to back for ever (labeling calls cost money); past a year, sleep() overflowed after a run.
    if not 1 <= period <= 366 * 86400:
        raise typer.BadParameter(f"{value!r}: give a period from 1s to 366d")
    return period


def _export_and_label(
    policy: Path,
    workdir: Path,
    since: str,
    database_url: str | None,
    judge: str | None,
    sample: int,
    max_tokens: int,
    trust_judge: bool,
    max_cost: float,
) -> Path:
    """Ledger -> traffic JSONL -> labeled JSONL (each tier answers; reference, feedback, then the judge grade)."""
    import asyncio

    import orjson

    from eval_harness.label import LabelSpec, LabelSummary, label_file
    from policies.loader import load_policy
    from router.cli import parse_when
    from router.cli_tenancy import open_ledger
    from router.export import export

    loaded = load_policy(policy)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    raw, labeled = workdir / f"traffic-{stamp}.jsonl", workdir / f"labeled-{stamp}.jsonl"
    ledger = open_ledger(database_url)
    written = 0
    with os.fdopen(os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:  # prompts, as in the ledger
        for record in export(ledger, parse_when(since), None, False, {n: t.model for n, t in loaded.tiers.items()}):
            handle.write(orjson.dumps(record) + b"\n")
            written += 1
    ledger.close()
    console.print(f"exported {written} requests from the ledger (since {since})", highlight=False)
    spec = LabelSpec(
        judge=judge, limit=sample, cache_dir=workdir / "label-cache", max_tokens=max_tokens, trust_judge=trust_judge, max_cost_usd=max_cost
    )
    summary = LabelSummary()
    try:
        asyncio.run(label_file(raw, labeled, loaded, spec, console=console, summary=summary))
    finally:  # a refused run (cost cap, a judge that failed its check) spent its calls all the same
        book_learn_spend(database_url, loaded, summary, judge, f"learn {stamp}")
    console.print(summary.describe(), highlight=False)
    return labeled


def book_learn_spend(database_url: str | None, policy: Policy, summary: LabelSummary, judge: str | None, source: str) -> int:
    """Write what labeling spent into the ledger's overhead_spend, one row per tier and kind ('judge' for the
    judge's verdicts, 'label_answer' for the tiers' answers), priced as the gateway prices a request; the
    console and `report spend` take it off the net savings. Returns the nano-dollars booked."""
    from datetime import UTC, datetime

    from router.ledger import Ledger
    from router.ledger.store import to_nanousd
    from router.ledger.tables import overhead_spend

    # Labeling calls engines by model: the tier is the judge's where the model is the judge's, else the cheapest with it.
    tier_of_model: dict[str, str] = {}
    for name in policy.by_cost():
        tier_of_model.setdefault(policy.tiers[name].model, name)
    judge_model = policy.tiers[judge].model if judge in policy.tiers else None
    if judge_model is not None:
        tier_of_model[judge_model] = str(judge)
    now = datetime.now(UTC)
    rows = []
    for model, used in sorted(summary.spent.items()):
        name = tier_of_model[model]
        prompt, completion = int(used["prompt_tokens"]), int(used["completion_tokens"])
        rows.append(
            {
                "created_at": now,
                "kind": "judge" if model == judge_model else "label_answer",
                "tier": name,
                "model": model,
                "calls": int(used["calls"]),
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "cost_nanousd": to_nanousd(policy.tiers[name].cost(prompt, completion)),
                "source": source,
            }
        )
    if not rows:
        return 0
    ledger = Ledger(database_url)
    try:
        ledger.migrate()
        with ledger.engine.begin() as connection:
            connection.execute(overhead_spend.insert(), rows)
    finally:
        ledger.close()
    return sum(int(r["cost_nanousd"]) for r in rows)


def register(app: typer.Typer) -> None:
    @app.command("learn")
    def learn(
        policy: Annotated[Path, typer.Option("--policy", "-p", help="The policy the gateway runs (rewritten on promotion).", exists=True)],
        data: Annotated[
            Path | None, typer.Option("--data", "-d", help="Labeled traffic to learn from (default: export and label the ledger's).")
        ] = None,
        since: Annotated[str, typer.Option(help="With no --data: the ledger's requests since this age or date.")] = "24h",
        database_url: Annotated[str | None, typer.Option(help=DATABASE_HELP)] = None,
        judge: Annotated[str | None, typer.Option(help="Tier that grades answers without a reference or feedback.")] = None,
        trust_judge: Annotated[bool, typer.Option("--trust-judge", help="Use the judge without checking it on references.")] = False,
        sample: Annotated[int, typer.Option(help="Label at most this many exported requests.", min=1)] = 300,
        max_label_cost: Annotated[float, typer.Option(help="Labeling stops (refused) before spending more US$ than this.", min=0)] = 5.0,
        max_tokens: Annotated[int, typer.Option(help="max_tokens for each tier's answers while labeling.", min=1)] = 256,
        shipped_data: Annotated[
            Path | None, typer.Option(help="Shipped training data the labels are added to (default: the shared MMLU file if present).")
        ] = None,
        operator_only: Annotated[bool, typer.Option("--operator-only", help="Train on the operator's labels alone.")] = False,
        weight: Annotated[float, typer.Option(help="Training weight of each operator label.", min=0.01)] = 3.0,
        holdout: Annotated[float, typer.Option(help="Share of distinct prompts held back to compare the routers.", min=0.1, max=0.9)] = 0.4,
        min_coverage: Annotated[float, typer.Option(help="Refuse (exit 3) below this labeled share.", min=0.0, max=1.0)] = 0.8,
        min_gain: Annotated[float, typer.Option(help="Promote only if the candidate's held-back APGR beats the current's by this.")] = 0.0,
        workdir: Annotated[Path, typer.Option(help="Runs, artifacts, reports and rollback copies.")] = Path(".switchyard/learn"),
        reload_url: Annotated[
            str | None, typer.Option(help="Gateway base URL: POST /admin/policy/reload after a change (else its file watcher).")
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would change; never promote.")] = False,
        rollback_: Annotated[bool, typer.Option("--rollback", help="Restore the policy file the last promotion replaced.")] = False,
        every: Annotated[str | None, typer.Option(help="Repeat every period (30m, 6h, 1d) until stopped or --runs.")] = None,
        runs: Annotated[int | None, typer.Option(help="With --every: stop after this many runs.", min=1)] = None,
        bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the held-back replay.", min=0)] = 200,
    ) -> None:
        """Export traffic, label a sample, train, calibrate, replay candidate vs current, promote if the gate passes."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from eval_harness.label import LabelError
        from eval_harness.learn import LearnConfig, LearnRefused, learn_once, reload_gateway, rollback

        admin_key = current_settings().admin_key or ""
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file at --workdir was a FileExistsError traceback
            console.print(f"[red]error:[/red] --workdir {escape(str(workdir))}: {escape(exc.strerror or str(exc))}", highlight=False)
            raise typer.Exit(2) from None

        def reload_or_revert() -> None:
            if reload_url is None:
                return
            try:
                reload_gateway(reload_url, admin_key)
            except Exception as exc:  # noqa: BLE001 - any failure: put the old file back and say why
                console.print(f"[red]reload failed:[/red] {escape(str(exc))}", highlight=False)
                raise typer.Exit(4) from None
            console.print(f"gateway at {reload_url} reloaded the policy", highlight=False)

        if rollback_:
            try:
                restored = rollback(policy, workdir)
            except LearnRefused as exc:
                console.print(f"[red]refused:[/red] {escape(str(exc))}", highlight=False)
                raise typer.Exit(3) from None
            console.print(f"restored {policy} from {restored}", highlight=False)
            reload_or_revert()
            return

        period = parse_every(every)
        shipped = shipped_data if shipped_data is not None else (SHIPPED_DATA if SHIPPED_DATA.is_file() else None)
        shipped = None if operator_only else shipped
        cfg = LearnConfig(
            policy_path=policy,
            workdir=workdir,
            shipped_data=shipped,
            operator_weight=weight,
            holdout=holdout,
            min_coverage=min_coverage,
            min_gain=min_gain,
            n_boot=bootstrap,
        )
        done = 0
        while True:
            try:
                labeled = data or _export_and_label(
                    policy, workdir, since, database_url, judge, sample, max_tokens, trust_judge, max_label_cost
                )
                outcome = learn_once(labeled, cfg, promote_ok=not dry_run)
            except (LearnRefused, LabelError) as exc:
                console.print(f"[red]refused:[/red] {escape(str(exc))}", highlight=False)
                if period is None:
                    raise typer.Exit(3) from None
            except (ValueError, KeyError) as exc:
                console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
                raise typer.Exit(2) from None
            else:
                console.print(outcome.coverage.line(), highlight=False)
                console.print(outcome.summary(), highlight=False)
                console.print(f"report: {outcome.html_path}", highlight=False)
                if outcome.promoted:
                    try:
                        reload_or_revert()
                    except typer.Exit:
                        rollback(policy, workdir)
                        raise
            done += 1
            if period is None or (runs is not None and done >= runs):
                return
            time.sleep(period)
