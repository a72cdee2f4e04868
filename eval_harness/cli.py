"""`switchyard eval`: replay policies over labeled traffic, and label traffic with real models.

Mounted by ``router.cli`` as ``app.add_typer(eval_app, name="eval")``; also runnable on its own
(``python -m eval_harness.cli``). Exit codes: 0 ok, 1 the quality gate failed, 2 bad input,
3 label coverage below ``--min-coverage`` (no figures are reported then).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from eval_harness.coverage import DEFAULT_MIN_COVERAGE

eval_app = typer.Typer(help="Offline evaluation: replay policies on labeled traffic, label traffic.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)

DataOption = Annotated[Path, typer.Option("--data", "-d", help="Labeled traffic (JSONL).", exists=True, dir_okay=False)]


def _load_policies(paths: list[Path]) -> list[tuple[str, object]]:
    from policies.loader import PolicyError, load_policy

    loaded = []
    names: set[str] = set()
    for path in paths:
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            console.print(f"[red]policy rejected[/red]\n{escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        # Two files may share a policy name; the report needs distinct rows.
        name = policy.name if policy.name not in names else f"{policy.name} ({path.stem})"
        names.add(name)
        loaded.append((name, policy))
    return loaded


@eval_app.command("run")
def run(
    data: DataOption,
    policy: Annotated[list[Path] | None, typer.Option("--policy", "-p", help="Policy YAML to replay; repeat for several.")] = None,
    weak: Annotated[str | None, typer.Option(help="Weak model (as named in the traffic's scores).")] = None,
    strong: Annotated[str | None, typer.Option(help="Strong model (as named in the traffic's scores).")] = None,
    classifier: Annotated[
        str, typer.Option(help="Without --policy: 'default' (trained artifact), 'rules', or an artifact path.")
    ] = "default",
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Without --policy: route score at which requests go to the strong model "
            "(default: the shipped policy's for the default classifier, else 0.5).",
            min=0.0,
            max=1.0,
        ),
    ] = None,
    long_prompt_words: Annotated[int, typer.Option(help="Without --policy: the length rule's saturation point.")] = 400,
    weak_prices: Annotated[
        str, typer.Option(help="Without a policy pricing it: weak model 'IN,OUT' $/Mtok (RouteLLM's Mixtral price).")
    ] = "0.24,0.24",
    strong_prices: Annotated[
        str, typer.Option(help="Without a policy pricing it: strong model 'IN,OUT' $/Mtok (GPT-4 Turbo's list price).")
    ] = "10,30",
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout (the table is not printed).")] = False,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report with cost-quality curves.", dir_okay=False)
    ] = None,
    min_quality_retained: Annotated[
        float | None,
        typer.Option(help="Gate: fail (exit 1) if a policy keeps less than this fraction of the best tier's quality.", min=0.0),
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="Gate: fail (exit 1) if a policy costs more than this many US$ per 1,000 requests.", min=0.0)
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for confidence intervals (0: none).", min=0)] = 1000,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.", min=0.5, max=0.999)] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed for the bootstrap and the random router.")] = 0,
    completion_tokens: Annotated[int, typer.Option(help="Completion length assumed when the data logs none for any model.", min=1)] = 256,
    no_baselines: Annotated[bool, typer.Option("--no-baselines", help="Leave out random, oracle, always-weak and always-strong.")] = False,
    min_coverage: Annotated[
        float,
        typer.Option(help="Refuse (exit 3) when fewer than this share of requests is labeled for every model replayed.", min=0.0, max=1.0),
    ] = DEFAULT_MIN_COVERAGE,
) -> None:
    """Replay policies over labeled traffic: quality, cost, tier shares, APGR/CPT, with CIs."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from eval_harness.coverage import coverage
    from eval_harness.replay import ReplaySpec, as_json, gate_failures, parse_prices, replay, required_models
    from eval_harness.report import print_table, render_html
    from eval_harness.traffic import TrafficError, load_columns

    if (weak is None) != (strong is None):
        console.print("[red]give both --weak and --strong, or neither[/red]")
        raise typer.Exit(2)
    if not policy and weak is None:
        console.print("[red]nothing to replay: give --policy, or --weak and --strong[/red]")
        raise typer.Exit(2)
    if not policy and classifier not in ("default", "rules") and not Path(classifier).exists():
        # The gateway falls back to the length rule to keep serving; an evaluation asked for this artifact.
        console.print(f"[red]--classifier: no artifact at {escape(classifier)}[/red]", highlight=False)
        raise typer.Exit(2)
    if html_path is not None and not html_path.parent.is_dir():  # found out after the replay, it was a traceback
        console.print(f"[red]--html: no folder {escape(str(html_path.parent))}[/red]", highlight=False)
        raise typer.Exit(2)
    try:
        spec = ReplaySpec(
            policies=_load_policies(policy or []),  # type: ignore[arg-type]
            weak=weak,
            strong=strong,
            classifier=classifier,
            threshold=threshold,
            long_prompt_words=long_prompt_words,
            weak_prices=parse_prices(weak_prices),
            strong_prices=parse_prices(strong_prices),
            baselines=not no_baselines,
            n_boot=bootstrap,
            confidence=confidence,
            seed=seed,
            default_completion_tokens=completion_tokens,
        )
        traffic = load_columns(data)
        labeled = coverage(traffic, required_models(spec, traffic))
        refusal = labeled.refusal(min_coverage)
        if refusal is not None:
            console.print(labeled.line(), highlight=False)
            console.print(f"[red]refused:[/red] {escape(str(refusal))}", highlight=False)
            raise typer.Exit(3)
        with console.status("replaying", spinner="dots"):
            report = replay(traffic, spec)
    except (TrafficError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        console.print(f"[red]error:[/red] {escape(str(message))}", highlight=False)
        raise typer.Exit(2) from None
    gated = min_quality_retained is not None or max_cost is not None
    failures = gate_failures(report, min_quality_retained, max_cost)
    if json_out:
        payload = as_json(report)
        payload["gate"] = {
            "min_quality_retained": min_quality_retained,
            "max_cost_per_1k": max_cost,
            "passed": not failures,
            "failures": failures,
        }
        sys.stdout.buffer.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        # Piped output would otherwise wrap at 80 columns and fold every interval.
        print_table(report, Console(soft_wrap=False, width=None if sys.stdout.isatty() else 180))
    if html_path is not None:
        try:
            html_path.write_text(render_html(report, failures if gated else None), encoding="utf-8")
        except OSError as exc:
            console.print(f"[red]cannot write {escape(str(html_path))}: {escape(exc.strerror or str(exc))}[/red]", highlight=False)
            raise typer.Exit(2) from None
        console.print(f"HTML report: {html_path}", highlight=False)
    for entry in report.entries:
        if entry.kind in ("policy", "classifier"):
            console.print(f"{entry.name}: classifier used: {entry.classifier}", highlight=False, markup=False)
    if failures:
        console.print("[red]quality gate failed[/red]")
        for failure in failures:
            console.print(f"  {failure}", highlight=False, markup=False)
        raise typer.Exit(1)
    if gated:
        console.print("[green]quality gate passed[/green]")


@eval_app.command("label")
def label(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the labeled traffic (JSONL).", dir_okay=False)],
    policy: Annotated[Path, typer.Option("--policy", "-p", help="Policy whose tiers answer the requests.")],
    tiers: Annotated[list[str] | None, typer.Option("--tier", help="Only these tiers (repeatable; default: every enabled tier).")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once, over all tiers.", min=1)] = 4,
    judge: Annotated[str | None, typer.Option(help="Tier that grades answers without a reference (LLM-as-judge).")] = None,
    judge_mode: Annotated[str, typer.Option(help="'single' (1-10 rating per answer) or 'pairwise' (both orders).")] = "single",
    cache: Annotated[Path, typer.Option(help="Directory of the response cache (makes runs resumable).")] = Path(".switchyard/label-cache"),
    max_tokens: Annotated[
        int | None, typer.Option(help="max_tokens for the answers (default: each tier's max_output_tokens).", min=1)
    ] = None,
    judge_max_tokens: Annotated[int, typer.Option(help="max_tokens for the judge's verdicts.", min=1)] = 64,
    limit: Annotated[int | None, typer.Option(help="Label only the first N requests.", min=1)] = None,
    overwrite: Annotated[bool, typer.Option(help="Re-grade models that already have a score.")] = False,
    judge_min_agreement: Annotated[
        float, typer.Option(help="Refuse (exit 3) when the judge grades reference-graded answers differently more often.", min=0, max=1)
    ] = 0.7,
    judge_checks: Annotated[int, typer.Option(help="Reference-graded answers the judge must be checked on.", min=1)] = 10,
    trust_judge: Annotated[bool, typer.Option("--trust-judge", help="Use the judge's labels without checking it.")] = False,
    max_cost: Annotated[
        float | None, typer.Option(help="Stop (exit 3, nothing written) before spending more than this many US$ on calls.", min=0)
    ] = None,
) -> None:
    """Answer each request with the policy's tiers, grade the answers, and write `scores`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import asyncio

    from eval_harness.label import CostCapReached, JudgeRejected, LabelError, LabelSpec, label_file

    if judge_mode not in ("single", "pairwise"):
        console.print("[red]--judge-mode must be 'single' or 'pairwise'[/red]")
        raise typer.Exit(2)
    if not out.parent.is_dir():  # found out after the tiers had started, it was a traceback
        console.print(f"[red]--out: no folder {escape(str(out.parent))}[/red]", highlight=False)
        raise typer.Exit(2)
    if cache.exists() and not cache.is_dir():
        console.print(f"[red]--cache {escape(str(cache))} is a file; give a folder[/red]", highlight=False)
        raise typer.Exit(2)
    (loaded,) = _load_policies([policy])
    spec = LabelSpec(
        tiers=tiers or None,
        concurrency=concurrency,
        judge=judge,
        judge_mode=judge_mode,  # type: ignore[arg-type]
        cache_dir=cache,
        max_tokens=max_tokens,
        judge_max_tokens=judge_max_tokens,
        limit=limit,
        overwrite=overwrite,
        judge_min_agreement=judge_min_agreement,
        judge_min_checks=judge_checks,
        trust_judge=trust_judge,
        max_cost_usd=max_cost,
    )
    try:
        summary = asyncio.run(label_file(data, out, loaded[1], spec, console=console))  # type: ignore[arg-type]
    except (JudgeRejected, CostCapReached) as exc:
        console.print(f"[red]refused:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(3) from None
    except LabelError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except OSError as exc:  # the output or the cache could not be written (a full disk, a folder made read-only)
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    console.print(summary.describe(), highlight=False)


def main() -> None:
    eval_app()


if __name__ == "__main__":
    main()
