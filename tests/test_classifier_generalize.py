"""Generalization and adaptation of the trained router: weighted operator files, family-holdout
CV, the learning curve. Synthetic data with a known answer; margins wide enough that no float
detail or BLAS matters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.routing_generalization import learning_curve
from classifiers.families import GROUPS
from classifiers.trained import load_artifact
from classifiers.training import LabeledData, family_splits, parse_dataset, read_datasets, train

WEAK, STRONG = "weak-model", "strong-model"


def _write(path: Path, rows: list[tuple[str, str, float, float]]) -> Path:
    with path.open("w") as fh:
        for i, (domain, text, w, s) in enumerate(rows):
            meta = {"domain": domain} if domain else {}
            fh.write(
                json.dumps(
                    {
                        "id": f"{path.stem}-{i}",
                        "messages": [{"role": "user", "content": text}],
                        "scores": {WEAK: w, STRONG: s},
                        "meta": meta,
                    }
                )
                + "\n"
            )
    return path


def _family(kind: str, n: int, seed: int) -> list[tuple[str, str, float, float]]:
    """'explain' and 'recall' prompts; in the base data recall needs the strong model (the weak
    one fails it), in the 'flipped' family explaining does."""
    rng = np.random.default_rng(seed)
    nouns = ["river", "poem", "engine", "market", "planet", "protein", "treaty", "algorithm"]
    hard = "recall" if kind == "base" else "explain"
    rows = []
    for i in range(n):
        noun = nouns[int(rng.integers(len(nouns)))]
        if i % 2 == 0:
            domain, text = "explain", f"Explain why the {noun} behaves this way, case {i}."
        else:
            domain, text = "recall", f"Recall the exact year the {noun} was first recorded, item {i}."
        rows.append((domain, text, 0.0 if domain == hard else 1.0, 1.0))
    return rows


def _route(artifact: Path, texts: list[str]) -> np.ndarray:
    return load_artifact(artifact).route_scores(texts)


PROBES_EXPLAIN = [f"Explain why the river behaves this way, case {900 + i}." for i in range(5)]
PROBES_RECALL = [f"Recall the exact year the poem was first recorded, item {900 + i}." for i in range(5)]


def test_weighted_operator_file_flips_its_family(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.jsonl", _family("base", 300, 0))
    operator = _write(tmp_path / "operator.jsonl", [("", t, w, s) for _d, t, w, s in _family("flipped", 200, 1)])
    train(base, tmp_path / "before", folds=0, progress=False)
    before = _route(tmp_path / "before", PROBES_EXPLAIN).mean() - _route(tmp_path / "before", PROBES_RECALL).mean()
    report = train([base, (operator, 5.0)], tmp_path / "after", folds=0, progress=False)
    after = _route(tmp_path / "after", PROBES_EXPLAIN).mean() - _route(tmp_path / "after", PROBES_RECALL).mean()
    # Shipped data alone: recall needs the strong model. The operator's weighted labels say the opposite.
    assert before < -0.15
    assert after > 0.05
    meta = json.loads((tmp_path / "after" / "metadata.json").read_text())
    files = meta["training_data"]["files"]
    assert [(f["path"], f["weight"], f["rows"]) for f in files] == [("base.jsonl", 1.0, 300), ("operator.jsonl", 5.0, 200)]
    assert report["rows"] == 500


def test_unweighted_operator_labels_move_less_than_weighted(tmp_path: Path) -> None:
    base = _write(tmp_path / "base.jsonl", _family("base", 300, 0))
    operator = _write(tmp_path / "op.jsonl", [("", t, w, s) for _d, t, w, s in _family("flipped", 60, 2)])
    gaps = {}
    for weight in (0.2, 10.0):
        out = tmp_path / f"w{weight}"
        train([base, (operator, weight)], out, folds=0, progress=False)
        gaps[weight] = _route(out, PROBES_EXPLAIN).mean() - _route(out, PROBES_RECALL).mean()
    assert gaps[10.0] > gaps[0.2] + 0.1


def test_read_datasets_weights_and_file_family(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", _family("base", 10, 0))
    b = _write(tmp_path / "traffic.jsonl", [("", "hello there, what is 2+2?", 0.0, 1.0)])
    data = read_datasets([a, (b, 4.0)])
    assert list(data.row_weights()) == [1.0] * 10 + [4.0]
    assert data.domains[-1] == "file:traffic"
    with pytest.raises(ValueError, match="weight must be positive"):
        read_datasets([(a, 0.0)])
    assert parse_dataset("x/y.jsonl:2.5") == (Path("x/y.jsonl"), 2.5)
    assert parse_dataset("x/y.jsonl") == (Path("x/y.jsonl"), 1.0)


def test_family_splits_keep_families_disjoint() -> None:
    subjects = sorted(GROUPS)
    domains = [subjects[i % len(subjects)] for i in range(570)] + ["file:ops"] * 30
    data = LabeledData([str(i) for i in range(600)], ["x"] * 600, [WEAK, STRONG], np.ones((600, 2)), domains)
    splits, held_out = family_splits(data)
    assert len(splits) == 5
    assert sorted(f for fams in held_out for f in fams) == ["file:ops", "humanities", "other", "social_sciences", "stem"]
    seen = np.zeros(600, dtype=int)
    for (tr, te), fams in zip(splits, held_out, strict=True):
        fam_of = lambda rows: {GROUPS.get(domains[i], domains[i]) for i in rows}  # noqa: E731
        assert fam_of(te) == set(fams)
        assert not fam_of(tr) & fam_of(te)
        seen[te] += 1
    assert np.all(seen == 1)  # every row is tested exactly once


def _new_family(n: int, seed: int) -> list[tuple[str, str, float, float]]:
    """A family the base data never saw: derivations need the strong model, lists do not."""
    rng = np.random.default_rng(seed)
    things = ["valve", "ledger", "glacier", "vaccine", "bridge", "compiler", "orchid", "satellite"]
    rows = []
    for i in range(n):
        thing = things[int(rng.integers(len(things)))]
        if i % 2 == 0:
            rows.append(("new-derive", f"Ticket {i}: derive the governing equation for the {thing} from first principles.", 0.0, 1.0))
        else:
            rows.append(("new-list", f"Ticket {i}: list three colours a {thing} can have.", 1.0, 1.0))
    return rows


def test_learning_curve_rises_with_the_new_familys_labels(tmp_path: Path) -> None:
    from classifiers.embed import EmbedderSpec, get_embedder

    path = _write(tmp_path / "all.jsonl", _family("base", 300, 0) + _new_family(400, 3))
    data = read_datasets(path)
    emb = get_embedder(EmbedderSpec()).embed(data.texts)
    curve = learning_curve(data, emb, np.arange(300), np.arange(300, 700), label_counts=(0, 100), seeds=2, weight=3.0, pool_size=200)
    assert set(curve) == {0, 100}
    # 100 labels of the new family teach it which of its requests need the strong model.
    # Half the rows gain from the strong model: a perfect ranking scores 0.75 APGR here.
    assert curve[0]["router"] < 0.45
    assert curve[100]["router"] > 0.7
    assert curve[0]["random, cost-matched"] == pytest.approx(0.5)


def test_cli_train_takes_weighted_extra_files_and_prints_both_cvs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from router.cli import app

    base = _write(tmp_path / "base.jsonl", _family("base", 200, 0) + [("other-" + d, t, w, s) for d, t, w, s in _new_family(100, 5)])
    operator = _write(tmp_path / "ops.jsonl", [("", t, w, s) for _d, t, w, s in _family("flipped", 60, 1)])
    out = tmp_path / "artifact"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--data", str(base), "--extra", f"{operator}:4", "--folds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "random folds" in result.output and "whole families held out" in result.output
    assert "kNN router" in result.output and "cost-matched random" in result.output
    meta = json.loads((out / "metadata.json").read_text())
    assert [f["weight"] for f in meta["training_data"]["files"]] == [1.0, 4.0]
    assert meta["grouped_metrics"]["per_fold"]
    bad = runner.invoke(app, ["train", "--data", str(base), "--extra", str(tmp_path / "missing.jsonl"), "--out", str(out)])
    assert bad.exit_code == 2 and "no such file" in bad.output
