"""`switchyard train`, `classify` and `calibrate`: the routing classifier's life cycle."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _check_data(path: Path, option: str = "--data") -> int:
    """Refuse labeled traffic the classifier's readers would stop on part-way (a traceback, a half-written
    --out), with the file, line and field: they read it unvalidated, so a malformed line, a wrong type or
    bytes that are not UTF-8 were an AttributeError, JSONDecodeError or UnicodeDecodeError. Returns how
    many records it holds."""
    from eval_harness.traffic import TrafficError, iter_records

    count = 0
    try:
        for _ in iter_records(path, unique_ids=False):
            count += 1
    except TrafficError as exc:
        err.print(f"error: {option}: {exc}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    return count


def _fail(exc: Exception) -> typer.Exit:
    """One line for what the classifier refused (too few labels, an artifact that is not one, an --out
    that cannot be written), exit 2."""
    err.print(f"error: {exc}", highlight=False, markup=False)
    return typer.Exit(2)
DataOption = Annotated[Path, typer.Option("--data", "-d", exists=True, dir_okay=False, help="Labeled traffic JSONL.")]
ClassifierOption = Annotated[Path | None, typer.Option("--classifier", help="Artifact directory (default: the bundled one).")]
WeakOption = Annotated[str | None, typer.Option(help="The cheap model of the pair (default: the artifact's).")]
StrongOption = Annotated[str | None, typer.Option(help="The strong model of the pair (default: the artifact's).")]


def train(
    data: DataOption,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where to write the versioned artifact directory.")] = Path(
        "classifiers/artifacts/trained"
    ),
    weak: WeakOption = None,
    strong: StrongOption = None,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    limit: Annotated[int | None, typer.Option(help="Train on the first N records only.")] = None,
    report: Annotated[Path | None, typer.Option(help="Also write the CV report as JSON here.")] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option("--extra", help="Operator labeled traffic as PATH or PATH:WEIGHT (repeatable); trained on beside --data."),
    ] = None,
) -> None:
    """Cross-validate (random folds and whole families held out), print both, fit on all the data, write the artifact."""
    from classifiers.trained import ArtifactError
    from classifiers.training import parse_dataset
    from classifiers.training import train as fit

    datasets: list[Path | tuple[Path, float]] = [data]
    for spec in extra or []:
        path, weight = parse_dataset(spec)
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {path}", param_hint="--extra")
        if not (math.isfinite(weight) and weight > 0):  # an infinite weight made every sum NaN
            raise typer.BadParameter(f"weight must be a positive number: {spec}", param_hint="--extra")
        datasets.append((path, weight))
    if limit is not None and limit < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--limit")
    if out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} is a file; give a folder", param_hint="--out")
    for each in datasets:
        _check_data(each if isinstance(each, Path) else each[0], "--data" if each is data else "--extra")
    try:
        result = fit(datasets, out_dir, weak, strong, folds=folds, progress=True, limit=limit)
        if report is not None:
            report.write_text(json.dumps(result, indent=2) + "\n")
    except (ValueError, ArtifactError, OSError) as exc:
        raise _fail(exc) from None
    out.print(f"artifact written to {out_dir}", highlight=False)


def classify(
    data: DataOption,
    output: Annotated[Path, typer.Option("--out", "-o", help="Where to write one JSON line per record.")],
    classifier: ClassifierOption = None,
    weak: WeakOption = None,
    strong: StrongOption = None,
) -> None:
    """Score every record: {"id", "predicted": {model: p}, "route_score"} (input scores are ignored)."""
    from classifiers.scoring import classify_file
    from classifiers.trained import ArtifactError

    if _check_data(data) == 0:
        # Else an empty --out and exit 0, which a batch job reads as every request scored.
        err.print(f"error: --data: {data} holds no requests (it is empty or only blank lines)", highlight=False, markup=False)
        raise typer.Exit(2)
    try:
        count = classify_file(data, output, classifier, weak, strong)
    except (ValueError, ArtifactError, OSError) as exc:
        raise _fail(exc) from None
    err.print(f"wrote {count} records to {output}", highlight=False)


def calibrate(
    data: DataOption,
    strong_share: Annotated[float | None, typer.Option(min=0, max=1, help="Target share of strong-model calls.")] = None,
    quality_target: Annotated[float | None, typer.Option(min=0, max=1, help="Share of the strong model's quality to keep.")] = None,
    classifier: ClassifierOption = None,
    weak: WeakOption = None,
    strong: StrongOption = None,
) -> None:
    """The route-score threshold that meets a strong-call share or a quality target on this data."""
    from classifiers.scoring import calibrate as fit_threshold

    if (strong_share is None) == (quality_target is None):
        raise typer.BadParameter("give exactly one of --strong-share and --quality-target")
    from classifiers.trained import ArtifactError

    _check_data(data)
    try:
        result = fit_threshold(data, strong_share=strong_share, quality_target=quality_target, classifier_dir=classifier,
                               weak=weak, strong=strong)
    except (ValueError, ArtifactError, OSError) as exc:
        raise _fail(exc) from None
    # No label at all gives an infinite threshold (never strong): JSON has no Infinity or NaN, so null.
    finite = {k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in result.items()}
    out.print(json.dumps(finite, indent=2, allow_nan=False), highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(classify)
    app.command()(calibrate)
