"""`switchyard train`, `classify` and `calibrate`: the routing classifier's life cycle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
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
    from classifiers.training import parse_dataset
    from classifiers.training import train as fit

    datasets: list[Path | tuple[Path, float]] = [data]
    for spec in extra or []:
        path, weight = parse_dataset(spec)
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {path}", param_hint="--extra")
        if not weight > 0:
            raise typer.BadParameter(f"weight must be positive: {spec}", param_hint="--extra")
        datasets.append((path, weight))
    result = fit(datasets, out_dir, weak, strong, folds=folds, progress=True, limit=limit)
    if report is not None:
        report.write_text(json.dumps(result, indent=2) + "\n")
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

    count = classify_file(data, output, classifier, weak, strong)
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
    result = fit_threshold(data, strong_share=strong_share, quality_target=quality_target, classifier_dir=classifier,
                           weak=weak, strong=strong)
    out.print(json.dumps(result, indent=2), highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(classify)
    app.command()(calibrate)
