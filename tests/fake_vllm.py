"""A small real stand-in for a vLLM replica: an aiohttp server on 127.0.0.1.

It serves what the gateway reads from vLLM: /v1/chat/completions (JSON and SSE), /health, and
/metrics in vLLM's Prometheus text format, with load, KV-cache use and speculative-decoding
counters the test sets. `stop()` closes the listening socket, so clients see a refused connection
as with a crashed replica; `start()` again reopens the same port. In another process it is driven
over HTTP: POST /control with the fields to change, GET /control for what it has served.

    python -m tests.fake_vllm --port 8001 --name a [--tokens-per-s 400 --running 2]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

CONTROLLABLE = (
    "running",
    "waiting",
    "kv_cache_usage",
    "tokens_per_s",
    "spec_drafts",
    "spec_draft_tokens",
    "spec_accepted_tokens",
    "healthy",
    "legacy_names",
)


class FakeVLLM:
    def __init__(self, name: str, port: int = 0, model: str = "fake-model") -> None:
        self.name = name
        self.port = port
        self.model = model
        self.running = 0.0
        self.waiting = 0.0
        self.kv_cache_usage = 0.0
        # Decode tokens the replica "generates" each second on its own, as if other clients used it.
        self.tokens_per_s = 0.0
        self.spec_drafts = 0.0
        self.spec_draft_tokens = 0.0
        self.spec_accepted_tokens = 0.0
        self.healthy = True
        # vLLM before v0.10 called the KV-cache gauge gpu_cache_usage_perc.
        self.legacy_names = False
        self.requests: list[dict[str, Any]] = []
        self._served_tokens = 0
        self._since = time.monotonic()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def generation_tokens(self) -> float:
        return self._served_tokens + self.tokens_per_s * (time.monotonic() - self._since)

    def set(self, **fields: Any) -> None:
        for key, value in fields.items():
            if key not in CONTROLLABLE:
                raise KeyError(key)
            if key == "tokens_per_s":
                # Keep the counter continuous when the rate changes.
                self._served_tokens = int(self.generation_tokens())
                self._since = time.monotonic()
            setattr(self, key, value)

    # -- HTTP -------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/control", self._control)
        app.router.add_get("/control", self._served)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self.healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        labels = f'{{model_name="{self.model}",engine="0"}}'
        kv = "vllm:gpu_cache_usage_perc" if self.legacy_names else "vllm:kv_cache_usage_perc"
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{labels} {self.running}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{labels} {self.waiting}",
            f"# HELP {kv} KV-cache usage. 1 means 100 percent usage.",
            f"# TYPE {kv} gauge",
            f"{kv}{labels} {self.kv_cache_usage}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{labels} {self.generation_tokens()}",
            "# HELP vllm:spec_decode_num_drafts_total Number of spec decoding drafts.",
            "# TYPE vllm:spec_decode_num_drafts_total counter",
            f"vllm:spec_decode_num_drafts_total{labels} {self.spec_drafts}",
            "# HELP vllm:spec_decode_num_draft_tokens_total Number of draft tokens.",
            "# TYPE vllm:spec_decode_num_draft_tokens_total counter",
            f"vllm:spec_decode_num_draft_tokens_total{labels} {self.spec_draft_tokens}",
            "# HELP vllm:spec_decode_num_accepted_tokens_total Number of accepted tokens.",
            "# TYPE vllm:spec_decode_num_accepted_tokens_total counter",
            f"vllm:spec_decode_num_accepted_tokens_total{labels} {self.spec_accepted_tokens}",
            "# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.",
            "# TYPE vllm:time_to_first_token_seconds histogram",
            f'vllm:time_to_first_token_seconds_bucket{{model_name="{self.model}",le="0.1"}} 1.0',
            f'vllm:time_to_first_token_seconds_bucket{{model_name="{self.model}",le="+Inf"}} 1.0',
            f'vllm:time_to_first_token_seconds_count{{model_name="{self.model}"}} 1.0',
            f'vllm:time_to_first_token_seconds_sum{{model_name="{self.model}"}} 0.05',
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _control(self, request: web.Request) -> web.Response:
        try:
            self.set(**await request.json())
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def _served(self, request: web.Request) -> web.Response:
        return web.json_response({"name": self.name, "requests": self.requests})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        words = [f"from-{self.name}"] + ["tok"] * (int(body.get("max_tokens") or 4) - 1)
        prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4 + 1
        usage = {"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)}
        self._served_tokens += len(words)
        created = int(time.time())
        if not body.get("stream"):
            message = {"role": "assistant", "content": " ".join(words)}
            return web.json_response(
                {
                    "id": f"chatcmpl-{self.name}-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": created,
                    "model": body.get("model"),
                    "choices": [{"index": 0, "message": message, "finish_reason": "length"}],
                    "usage": usage,
                }
            )
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for i, word in enumerate(words):
            chunk = {
                "id": f"chatcmpl-{self.name}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word}, "finish_reason": None}],
            }
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        # As vLLM does: the finish reason in its own chunk, then the usage chunk.
        end = {"id": f"chatcmpl-{self.name}", "object": "chat.completion.chunk", "created": created, "model": body.get("model"),
               "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
        await response.write(b"data: " + orjson.dumps(end) + b"\n\n")
        final = {"id": f"chatcmpl-{self.name}", "object": "chat.completion.chunk", "created": created, "choices": [], "usage": usage}
        await response.write(b"data: " + orjson.dumps(final) + b"\n\ndata: [DONE]\n\n")
        await response.write_eof()
        return response

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> FakeVLLM:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeVLLM(args.name, args.port, args.model)
    fake.set(tokens_per_s=args.tokens_per_s, running=args.running)
    await fake.start()
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="replica")
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--tokens-per-s", type=float, default=0.0)
    parser.add_argument("--running", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
