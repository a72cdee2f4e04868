"""Structured-output requests (`response_format`) checked before any engine sees them.

A JSON schema is a program for the engine that enforces it: llama.cpp expands every length and
count bound into grammar rules (one copy per repetition), so `minLength: 30000000` in a 68-byte
request once took the local tier's memory up by almost a gigabyte, and a remote `$ref` would make
the grammar compiler fetch a URL. The bounds below keep every schema a client may send cheap to
compile on any engine; a schema past them is the client's error (400), never an upstream failure.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from router.errors import APIError

MAX_SCHEMA_BYTES = 32 * 1024
MAX_SCHEMA_NODES = 2_000
MAX_SCHEMA_DEPTH = 24
# Each bound becomes that many grammar copies: enough for any real form, far from a memory bomb.
MAX_REPETITION = 256
_COUNT_KEYWORDS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_BRACES = re.compile(r"\{([^{}]*)\}")
FORMAT_TYPES = ("text", "json_object", "json_schema")
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
MAX_TOOLS = 128
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SchemaTooCostly(ValueError):
    pass


def _bad(message: str, param: str = "response_format") -> APIError:
    return APIError(400, message, param=param, code="invalid_response_format")


def _counts(body: str) -> list[int]:
    """The repetition counts in `{body}` as grammar converters read them: int() of each part,
    which also takes '+5', ' 5' and '1_000' (a check on digits alone let '{+1000000000}' through)."""
    counts = []
    for part in body.split(","):
        try:
            counts.append(int(part))
        except ValueError:
            continue
    return counts


def _nested_quantifier(pattern: str) -> bool:
    """Whether a quantifier applies to a group that contains one, like ((a?){16}){16} or (a+)+:
    grammar engines track every way such a pattern can match so far, which grows with each
    token until one token takes minutes on the engine's thread."""
    contains = [False]  # per open group: whether a quantifier stands inside it
    after_quantified_group = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i, after_quantified_group = i + 2, False
            continue
        if c == "[":  # a class: its characters are literal
            i += 1
            if pattern[i : i + 1] == "^":
                i += 1
            if pattern[i : i + 1] == "]":
                i += 1
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i, after_quantified_group = i + 1, False
            continue
        if c == "(":
            contains.append(False)
            i += 2 if pattern[i + 1 : i + 2] == "?" else 1  # (?: (?= ... are not quantifiers
            after_quantified_group = False
            continue
        if c == ")":
            inner = contains.pop() if len(contains) > 1 else False
            contains[-1] = contains[-1] or inner
            i, after_quantified_group = i + 1, inner
            continue
        braces = _BRACES.match(pattern, i) if c == "{" else None
        if c in "*+?" or braces:
            if after_quantified_group:
                return True
            contains[-1] = True
            i = braces.end() if braces else i + 1
            if pattern[i : i + 1] in ("?", "+"):  # lazy or possessive
                i += 1
            after_quantified_group = False
            continue
        i, after_quantified_group = i + 1, False
    return False


def pattern_problem(pattern: str) -> str | None:
    """Why a regex `pattern` is too costly for a grammar engine, or None."""
    for body in _BRACES.findall(pattern):
        counts = _counts(body)
        if any(n < 0 or n > MAX_REPETITION for n in counts):
            return f"repeats more than {MAX_REPETITION} times ({{{body}}})"
    if _nested_quantifier(pattern):
        return "nests a quantifier inside a quantified group (like (a+)*); write it without the nesting"
    return None


def _check_node(node: Any, path: str, depth: int, seen: list[int], names: bool = False) -> None:
    """Walk a schema; `names` marks a map from names to schemas ("properties"), not a schema."""
    seen[0] += 1
    if seen[0] > MAX_SCHEMA_NODES:
        raise SchemaTooCostly(f"the JSON schema has more than {MAX_SCHEMA_NODES} nodes")
    if depth > MAX_SCHEMA_DEPTH:
        raise SchemaTooCostly(f"the JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels (at {path})")
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_node(item, f"{path}[{i}]", depth + 1, seen)
        return
    if not isinstance(node, dict):
        return
    if names:
        for key, value in node.items():
            _check_node(value, f"{path}.{key}", depth + 1, seen)
        return
    for keyword in _COUNT_KEYWORDS:
        value = node.get(keyword)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SchemaTooCostly(f"'{keyword}' at {path} must be a non-negative integer")
        if value > MAX_REPETITION:
            raise SchemaTooCostly(f"'{keyword}': {value} at {path} exceeds the limit of {MAX_REPETITION}")
    ref = node.get("$ref")
    if ref is not None and (not isinstance(ref, str) or not ref.startswith("#")):
        raise SchemaTooCostly(f"'$ref' at {path} must point inside the schema ('#/...'); remote references are not fetched")
    pattern = node.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str) or len(pattern) > 1_000:
            raise SchemaTooCostly(f"'pattern' at {path} must be a string of at most 1000 characters")
        problem = pattern_problem(pattern)
        if problem:
            raise SchemaTooCostly(f"'pattern' at {path} {problem}")
    for key, value in node.items():
        if isinstance(value, dict | list):
            _check_node(value, f"{path}.{key}", depth + 1, seen, names=key in _NAME_MAPS)


def check_schema(schema: Any, param: str = "response_format.json_schema.schema", code: str = "invalid_response_format") -> None:
    """Raise a 400 unless `schema` is a JSON schema within the bounds every engine can afford."""
    try:
        if not isinstance(schema, dict):
            raise SchemaTooCostly("the JSON schema must be an object")
        _check_node(schema, "$", 0, [0])  # first: it stops at a depth orjson could not serialise
        if len(orjson.dumps(schema)) > MAX_SCHEMA_BYTES:
            raise SchemaTooCostly(f"the JSON schema is larger than {MAX_SCHEMA_BYTES} bytes")
    except SchemaTooCostly as exc:
        raise APIError(400, f"{param}: {exc}", param=param, code=code) from None


def check_response_format(value: dict[str, Any] | None) -> None:
    """OpenAI's shapes: {"type": "text"}, {"type": "json_object"} (llama.cpp also takes a "schema"
    there), {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}."""
    if value is None:
        return
    kind = value.get("type")
    if kind not in FORMAT_TYPES:
        raise _bad(f"'response_format.type' must be one of {', '.join(FORMAT_TYPES)}", "response_format.type")
    if kind == "json_object" and "schema" in value:
        check_schema(value["schema"], "response_format.schema")
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict):
            raise _bad("'response_format.json_schema' must be an object with a 'schema'", "response_format.json_schema")
        name = spec.get("name")
        if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 64):
            raise _bad("'response_format.json_schema.name' must be a string of 1-64 characters", "response_format.json_schema.name")
        check_schema(spec.get("schema", {}))



def check_tools(tools: list[dict[str, Any]] | None) -> None:
    """OpenAI's function tools: a name engines accept and a parameters schema within the same bounds."""
    if tools is None:
        return
    if len(tools) > MAX_TOOLS:
        raise APIError(400, f"{len(tools)} tools; the limit is {MAX_TOOLS}", param="tools", code="invalid_value")
    for i, tool in enumerate(tools):
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict):
            raise APIError(400, f"tools[{i}] must be {{'type': 'function', 'function': {{...}}}}",
                           param=f"tools[{i}]", code="invalid_value")
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise APIError(400, f"tools[{i}].function.name must be 1-64 letters, digits, '_' or '-'",
                           param=f"tools[{i}].function.name", code="invalid_value")
        if "parameters" in function:
            check_schema(function["parameters"], f"tools[{i}].function.parameters", "invalid_value")
