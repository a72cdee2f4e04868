"""A deliberately fast OpenAI-compatible upstream for overhead benchmarks.

It answers every chat completion with the same short reply (streaming or not) straight from
asyncio, so that timing a request through the gateway minus timing it directly is the gateway's
own cost. It is a stand-in for a model server in benchmarks only.

    python bench/fast_upstream.py --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

REPLY = {
    "id": "chatcmpl-fast",
    "object": "chat.completion",
    "created": 0,
    "model": "fast",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}
BODY = json.dumps(REPLY).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": "fast", "object": "model", "created": 0, "owned_by": "bench"}]}).encode()


def _stream_body() -> bytes:
    parts = []
    for i, piece in enumerate(["Hello", " there", "."]):
        chunk = {"id": "chatcmpl-fast", "object": "chat.completion.chunk", "created": 0, "model": "fast",
                 "choices": [{"index": 0, "delta": {"content": piece, **({"role": "assistant"} if i == 0 else {})}, "finish_reason": None}]}
        parts.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    end = {"id": "chatcmpl-fast", "object": "chat.completion.chunk", "created": 0, "model": "fast",
           "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    parts.append(b"data: " + json.dumps(end).encode() + b"\n\n")
    usage = {"id": "chatcmpl-fast", "object": "chat.completion.chunk", "created": 0, "model": "fast",
             "choices": [], "usage": REPLY["usage"]}
    parts.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


STREAM = _stream_body()


def _response(body: bytes, content_type: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\ncontent-length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            body, self.buffer = self.buffer[head_end + 4 : total], self.buffer[total:]
            path = head.split(" ", 2)[1]
            if path.endswith("/models"):
                self.transport.write(_response(MODELS, b"application/json"))
            elif b'"stream":true' in body.replace(b" ", b""):
                self.transport.write(_response(STREAM, b"text/event-stream"))
            else:
                self.transport.write(_response(BODY, b"application/json"))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, host, port, backlog=1024)
    print(f"fast upstream on http://{host}:{port}/v1 (started {time.strftime('%H:%M:%S')})", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
