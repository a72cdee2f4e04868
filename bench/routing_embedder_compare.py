"""Does a contextual embedding route better than the static one away from the training data? (dev splits only)

Reproduce (about 3 minutes on the 2-core machine; embeddings cached in /tmp)::

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.routing_embedder_compare [--head 96 224]

The shipped router embeds with MiniLM's static token table (``EmbedderSpec()``, ~1 ms a request);
the issue's reference for chat (a plain logistic regression on MiniLM embeddings, 0.742 APGR on a
hidden chat set against the router's 0.533) used the contextual model. This trains the same routers
(``bench.routing_generalization.evaluate``: the router, v2, plain LR, kNN) on each embedding and
scores them on the MMLU development groups held out in turn (STEM, humanities, social sciences;
trained on the other two) and on random folds of the development population. The report group
("other") is not read, so the result can choose an embedder without spending it.

``--family`` adds the generated family's development task types (``bench/data/routing_tasks3-labeled.jsonl``,
its report types not read) with a normal pair, Qwen2.5-Coder-0.5B strong and SmolLM2-135M weak, every router
trained on all of MMLU: an unseen family, as the hidden sets are, rather than an unseen MMLU group.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bench.routing_generalization import DATA, evaluate
from bench.routing_three_tiers import TASKS3
from classifiers.embed import Embedder, EmbedderSpec, get_embedder
from classifiers.families import DEV_GROUPS, GROUPS
from classifiers.training import read_labeled


def embed(texts: list[str], spec: EmbedderSpec) -> NDArray[np.float32]:
    key = hashlib.sha256(("\n".join(texts) + spec.name).encode()).hexdigest()[:16]
    cache = Path(f"/tmp/switchyard-emb-{key}.npy")
    if cache.is_file():
        return np.load(cache)
    start = time.perf_counter()
    out = (get_embedder(spec) if spec.backend == "static" else Embedder(spec)).embed(texts)
    print(f"embedded {len(texts)} prompts with {spec.name} in {time.perf_counter() - start:.0f} s", flush=True)
    np.save(cache, out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--head", type=int, nargs="+", default=[96, 224], help="contextual head word pieces (tail 32)")
    parser.add_argument("--family", nargs="*", type=Path, metavar="LABELED",
                        help="also these labeled families' dev types, Qwen vs SmolLM2 (no value: the 1,730-task family)")
    parser.add_argument("--skip-mmlu", action="store_true", help="only the families")
    args = parser.parse_args()
    data = read_labeled(DATA)
    fam = np.array([GROUPS[d] for d in data.domains])
    dev = np.isin(fam, DEV_GROUPS)
    specs = [EmbedderSpec(), *(EmbedderSpec(backend="onnx-int8", head_tokens=h, tail_tokens=32) for h in args.head)]
    for spec in [] if args.skip_mmlu else specs:
        emb = embed(data.texts, spec)
        held: dict[str, list[float]] = {}
        for target in DEV_GROUPS:
            result = evaluate(data, emb, np.flatnonzero(dev & (fam != target)), np.flatnonzero(fam == target))
            for name, r in result.items():
                if not name.startswith("_"):
                    held.setdefault(name, []).append(r["apgr"])
        pop = np.flatnonzero(dev)
        perm = np.random.default_rng(0).permutation(pop)
        folds = [evaluate(data, emb, np.setdiff1d(pop, perm[k::5]), np.sort(perm[k::5])) for k in range(5)]
        print(f"\n## {spec.name}: APGR with {', '.join(DEV_GROUPS)} held out | their mean | random 5 folds of the dev population")
        for name, values in held.items():
            random_folds = np.mean([f[name]["apgr"] for f in folds])
            print(f"  {name:36s} {' '.join(f'{v:.3f}' for v in values)} | {np.mean(values):.3f} | {random_folds:.3f}", flush=True)
    if args.family is not None:
        for path in args.family or [TASKS3]:
            family_dev(specs, path)
    print("\nreproduce: HF_HUB_OFFLINE=1 .venv/bin/python -m bench.routing_embedder_compare --head " + " ".join(map(str, args.head)))
    return 0


def family_dev(specs: list[EmbedderSpec], path: Path) -> None:
    from bench.routing_unseen import combined

    data, mmlu_rows, fam_rows, splits = combined(path, ("smollm2-135m", "qwen2.5-coder-0.5b"))
    dev_rows = fam_rows[np.array([sp == "dev" for sp in splits])]
    print(f"\n## {path.name}: dev types (n={len(dev_rows)}), Qwen vs SmolLM2, trained on all MMLU: APGR")
    for spec in specs:
        result = evaluate(data, embed(data.texts, spec), mmlu_rows, dev_rows)
        print(f"  {spec.name}: " + ", ".join(f"{name} {r['apgr']:.3f}" for name, r in result.items() if not name.startswith("_")),
              flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
