"""Hostile request bodies: what a careless or malicious client may send to the chat route.

Mostly valid bodies with one field replaced by something hostile: random JSON of every type,
JSON nested past every parser's limit, content parts, response formats and JSON schemas aimed at
the grammar converter, tools, sampling parameters, raw bytes. Seeded, so a failure reproduces.
Used by tests/security/test_fuzz_gateway.py and bench/reliability.py.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

SCHEMA_KEYS = ["type", "properties", "items", "required", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs",
               "pattern", "minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum", "additionalProperties", "format"]
TYPES = ["string", "number", "integer", "boolean", "object", "array", "null", "nonsense"]


def converter_food(rng: random.Random, depth: int = 0) -> Any:
    """A schema built from real keywords with odd values: what trips JSON-schema-to-grammar converters."""
    schema: dict[str, Any] = {}
    for key in rng.sample(SCHEMA_KEYS, rng.randint(1, 4)):
        if key == "type":
            schema[key] = rng.choice([rng.choice(TYPES), [], rng.sample(TYPES, 2), 7, None])
        elif key in ("properties", "$defs"):
            schema[key] = {rng.choice(["a", "b", "type", "minLength", ""]): converter_food(rng, depth + 1) if depth < 3 else {}
                           for _ in range(rng.randint(0, 3))}
        elif key in ("items", "additionalProperties"):
            schema[key] = rng.choice([converter_food(rng, depth + 1) if depth < 3 else {}, True, False, [], 3])
        elif key in ("anyOf", "oneOf", "allOf"):
            schema[key] = [converter_food(rng, depth + 1) for _ in range(rng.randint(0, 3))] if depth < 3 else []
        elif key == "$ref":
            schema[key] = rng.choice(["#", "#/$defs/a", "#/nowhere", "#/properties/a", "#/$defs/b/items"])
        elif key == "pattern":
            schema[key] = rng.choice(["^(a|b)*$", "[", "(?=x)", "a{2,3}", "\\d+", "^$", "(((a)))", "a**", "[^]]"])
        elif key in ("enum", "required"):
            schema[key] = rng.choice([[], ["a", 1, None], "a", [{"x": 1}]])
        elif key == "const":
            schema[key] = random_json(rng, 4)
        elif key == "format":
            schema[key] = rng.choice(["date", "date-time", "uuid", "time", "email", "bogus"])
        else:
            schema[key] = rng.choice([0, 1, 3, 256, -1, 2.5, "3", None])
    return schema


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["null", "bool", "int", "float", "str", "list", "dict"] if depth < 6 else ["null", "int", "str"]
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 1, 2**31, -(2**63), 10**30, rng.randint(-1000, 100000)])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e308, 3.14, -0.0, 2.5e-320])
    if kind == "str":
        return "".join(rng.choice(string.printable + "é中\u202e\ud7ff") for _ in range(rng.randint(0, 40)))
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["type", "text", "content", "role", "schema", "name", "x"]): random_json(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


def nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if depth % 2 else [value]
    return value


def hostile_body(rng: random.Random, focus: str | None = None) -> tuple[bytes, dict[str, str]]:
    """One request: mostly valid chat bodies with one field replaced by something hostile.
    `focus: "schema"` sends only odd JSON schemas to the local tier (its grammar compiler)."""
    hello = [{"role": "user", "content": "Say hello."}]
    body: dict[str, Any] = {"model": rng.choice(["auto", "local", "local", "self_hosted", "frontier", "nope"]), "messages": hello,
                            "max_tokens": 4}
    field = focus or rng.choice(["messages", "content", "response_format", "schema", "schema", "schema", "tools", "deep", "param",
                                 "raw", "stream", "logprobs"])
    if focus == "schema":
        body["model"] = "local"
    if field == "messages":
        body["messages"] = random_json(rng)
    elif field == "content":
        body["messages"] = [{"role": rng.choice(["user", "system", "tool", "assistant"]), "content": random_json(rng)}]
    elif field == "response_format":
        body["response_format"] = rng.choice([{}, {"type": "json_schema"}, {"type": "json_object"}, {"type": "text"},
                                              {"type": "json_schema", "json_schema": random_json(rng)}, random_json(rng)])
    elif field == "schema":
        schema = converter_food(rng) if focus else rng.choice([{"type": "string", "minLength": 30_000_000}, {"$ref": "http://127.0.0.1:1/x"},
                             {"type": "array", "maxItems": 10**9}, nested(rng.randint(20, 200)), random_json(rng),
                             converter_food(rng), converter_food(rng), converter_food(rng)])
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    elif field == "tools":
        body["tools"] = rng.choice([random_json(rng), [{"type": "function", "function": {"name": "f", "parameters": nested(300)}}],
                                    [{"type": "function", "function": {"name": "f", "parameters": random_json(rng)}}]])
    elif field == "deep":
        body[rng.choice(["metadata", "tool_choice", "user"])] = nested(rng.randint(200, 1000))
    elif field == "param":
        body[rng.choice(["temperature", "top_p", "n", "max_tokens", "stop", "seed", "stream_options", "top_logprobs"])] = random_json(rng)
    elif field == "stream":
        body["stream"] = True
        body["stream_options"] = random_json(rng)
    elif field == "logprobs":
        body["logprobs"] = True
        body["top_logprobs"] = rng.choice([1, 5, 20])
    headers = {"content-type": "application/json"}
    if rng.random() < 0.3:
        headers["cache-control"] = rng.choice(["no-store", "no-cache", "max-age=abc", "\x7f"])
    if field == "raw":
        raw = rng.choice([b"", b"{", b"\xff\xfe", b"[" * 5000, b'{"model": "auto", "messages": [' + b"[" * 2000, b"null", b"1e999999"])
        return raw, headers
    try:
        return json.dumps(body).encode(), headers
    except (RecursionError, ValueError):
        return b"{}", headers


# A valid request for each front door other than chat; hostile variants replace one field.
DOOR_BODIES: dict[str, dict[str, Any]] = {
    "/v1/responses": {"model": "local", "input": "Say hello.", "max_output_tokens": 4},
    "/v1/messages": {"model": "local", "max_tokens": 4, "messages": [{"role": "user", "content": "Say hello."}]},
    "/v1/completions": {"model": "local", "prompt": "Say hello.", "max_tokens": 4},
    "/v1/embeddings": {"model": "auto", "input": "Say hello."},
}
DOOR_FIELDS: dict[str, list[str]] = {
    "/v1/responses": ["input", "instructions", "tools", "tool_choice", "text", "stream", "temperature", "previous_response_id"],
    "/v1/messages": ["messages", "system", "tools", "tool_choice", "stop_sequences", "stream", "max_tokens", "metadata"],
    "/v1/completions": ["prompt", "stop", "stream", "echo", "logprobs", "max_tokens", "n"],
    "/v1/embeddings": ["input", "encoding_format", "dimensions", "model"],
}


def hostile_door_body(rng: random.Random, path: str) -> bytes:
    """A door's valid body with one field made hostile (or the whole body random JSON, or nested deep)."""
    roll = rng.random()
    if roll < 0.1:
        body: Any = random_json(rng)
    elif roll < 0.15:
        body = {**DOOR_BODIES[path], rng.choice(DOOR_FIELDS[path]): nested(rng.randint(60, 1000))}
    else:
        body = dict(DOOR_BODIES[path])
        field = rng.choice(DOOR_FIELDS[path])
        body[field] = random_json(rng) if rng.random() < 0.7 else [random_json(rng) for _ in range(rng.randint(1, 3))]
    try:
        return json.dumps(body).encode()
    except (RecursionError, ValueError):
        return b"{}"
