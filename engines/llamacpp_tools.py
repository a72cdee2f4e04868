"""Tool calls for a local model that has no tool-calling of its own (llama.cpp, SmolLM2's template).

The model is told about the tools in a system message and answers a call as one JSON object,
`{"name": <a tool's name>, "arguments": <its parameters>}`; a grammar holds it to exactly that
(or, under tool_choice "auto", to that or plain text that does not begin with "{"). The engine's
text is then turned back into OpenAI's shapes: `message.tool_calls`, or `delta.tool_calls` chunks
when streamed, finishing with "tool_calls". History the template cannot read (assistant turns with
tool_calls, tool results) is rendered as text, in the same JSON the model is asked to write.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from engines.base import EngineError

# Plain text under tool_choice "auto": anything whose first character is neither "{" (the start
# of a call) nor whitespace, so the first character decides which answer this is.
TEXT_RULES = "root ::= call | text\ntext ::= [^{ \\t\\n] [^\\x00]*\n"
CALL_INSTRUCTION = (
    'To call a tool, reply with only a JSON object: {"name": <the tool\'s name>, "arguments": <an object with its parameters>}.'
)


def _error(message: str) -> EngineError:
    return EngineError(message, status=400, code="invalid_request")


@dataclass(frozen=True)
class ToolPlan:
    """What the model may answer: `functions` by name (those it may call), and whether text is allowed."""

    functions: dict[str, dict[str, Any]]
    text_allowed: bool
    forced: str | None = None
    offered: list[dict[str, Any]] = field(default_factory=list)


def tool_plan(tools: list[dict[str, Any]] | None, tool_choice: Any) -> ToolPlan | None:
    """The plan for a request's tools, or None when the model answers in text alone."""
    if not tools or tool_choice == "none":
        return None
    functions = {t["function"]["name"]: t["function"] for t in tools if isinstance(t.get("function"), dict)}
    offered = list(functions.values())
    if tool_choice in (None, "auto"):
        return ToolPlan(functions, text_allowed=True, offered=offered)
    if tool_choice == "required":
        return ToolPlan(functions, text_allowed=False, offered=offered)
    function = tool_choice.get("function") if isinstance(tool_choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise _error("tool_choice must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}")
    if name not in functions:
        raise _error(f"tool_choice names {name!r}, which is not among the tools")
    return ToolPlan({name: functions[name]}, text_allowed=False, forced=name, offered=offered)


def _rebase(node: Any, tag: str) -> Any:
    """A tool's parameters schema with its local references ("#/...") pointing where call_schema
    puts it and its definitions: one schema holds every tool, and the grammar converter names a
    definition's rule by its last name, so two tools' "Address" definitions must not meet."""
    if isinstance(node, list):
        return [_rebase(item, tag) for item in node]
    if not isinstance(node, dict):
        return node
    rebased = {key: _rebase(value, tag) for key, value in node.items()}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        parts = ref[2:].split("/")
        if len(parts) >= 2 and parts[0] in ("$defs", "definitions"):
            rebased["$ref"] = "/".join(["#", "$defs", f"{tag}-{parts[1]}", *parts[2:]])
        else:
            rebased["$ref"] = f"#/$defs/{tag}/{ref[2:]}"
    return rebased


def call_schema(plan: ToolPlan) -> dict[str, Any]:
    """The JSON schema of one call to any of the plan's functions (name first, then its arguments)."""
    alternatives, definitions = [], {}
    for i, (name, function) in enumerate(plan.functions.items()):
        tag = f"tool{i}"
        parameters = _rebase(function.get("parameters") or {"type": "object"}, tag)
        for key in ("$defs", "definitions"):
            if isinstance(parameters.get(key), dict):
                definitions.update({f"{tag}-{k}": v for k, v in parameters[key].items()})
        definitions[tag] = parameters
        alternatives.append(
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": {"$ref": f"#/$defs/{tag}"}},
                "required": ["name", "arguments"],
            }
        )
    schema = alternatives[0] if len(alternatives) == 1 else {"oneOf": alternatives}
    return {**schema, "$defs": definitions}


def plan_gbnf(plan: ToolPlan, schema_gbnf: Any) -> str:
    """The grammar of the plan's answers; `schema_gbnf` turns a JSON schema into GBNF."""
    gbnf: str = schema_gbnf(call_schema(plan))
    if not plan.text_allowed:
        return gbnf
    renamed = "\n".join("call ::=" + line[len("root ::=") :] if line.startswith("root ::=") else line for line in gbnf.splitlines())
    return renamed + "\n" + TEXT_RULES


def _call_text(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            pass  # kept as the string the client sent
    return orjson.dumps({"name": function.get("name"), "arguments": arguments}).decode()


def render_history(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages a plain chat template can render: an assistant's tool calls written into its text
    as the JSON the model is asked to write, tool results as a user turn (consecutive ones merged),
    which any template that wants user and assistant turns in turn accepts."""
    rendered: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            content = message.get("content") or ""
            calls = "\n".join(_call_text(c) for c in message["tool_calls"] if isinstance(c, dict))
            rendered.append({"role": "assistant", "content": f"{content}\n{calls}".strip()})
        elif role in ("tool", "function"):
            who = message.get("name") or message.get("tool_call_id") or "the tool"
            text = f"Result of {who}: {message.get('content') or ''}"
            if rendered and rendered[-1].get("tool_result"):
                rendered[-1]["content"] += "\n" + text
            else:
                rendered.append({"role": "user", "content": text, "tool_result": True})
        else:
            rendered.append(message)
    return [{k: v for k, v in m.items() if k in ("role", "content")} for m in rendered]


def describe_tools(messages: list[dict[str, Any]], plan: ToolPlan) -> list[dict[str, Any]]:
    """The messages with the tools described in the system message (the client's own kept first)."""
    listing = orjson.dumps([{k: f[k] for k in ("name", "description", "parameters") if k in f} for f in plan.offered]).decode()
    lines = [f"You can call these tools: {listing}", CALL_INSTRUCTION]
    if plan.forced is not None:
        lines.append(f"Reply with a call to {plan.forced}.")
    elif not plan.text_allowed:
        lines.append("Reply with a tool call.")
    else:
        lines.append("If no tool helps, answer in plain text.")
    note = "\n".join(lines)
    if messages and messages[0].get("role") in ("system", "developer"):
        first = messages[0]
        return [{**first, "role": "system", "content": f"{first.get('content') or ''}\n\n{note}".strip()}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


class ToolCallStream:
    """Turns the model's text deltas into OpenAI's: plain `content`, or one `tool_calls` entry whose
    arguments stream as they come. A call's closing brace (and space) is held back until the answer
    ends, since only then is it known to close the call rather than its arguments."""

    def __init__(self, plan: ToolPlan) -> None:
        self.plan = plan
        self.buffer = ""
        self.mode: str | None = None  # "text" or "call" once the first character is known
        self.head_sent = False
        self.start = 0  # where the arguments begin in the buffer, once the head went out
        self.sent = 0  # how much of the arguments went out
        self.call_id = f"call_{uuid.uuid4().hex[:24]}"

    @property
    def is_call(self) -> bool:
        return self.mode == "call"

    def feed(self, piece: str) -> list[dict[str, Any]]:
        """The deltas `piece` of the model's text makes (possibly none yet)."""
        self.buffer += piece
        if self.mode is None:
            stripped = self.buffer.lstrip()
            if not stripped:
                return []
            self.mode = "call" if stripped.startswith("{") or not self.plan.text_allowed else "text"
            if self.mode == "text":
                text, self.buffer = self.buffer, ""
                return [{"content": text}]
        if self.mode == "text":
            self.buffer = ""
            return [{"content": piece}] if piece else []
        return self._call_deltas(closed=None)

    def end(self, finish_reason: str) -> tuple[list[dict[str, Any]], str]:
        """The deltas still held back, and the finish reason OpenAI would give."""
        if self.mode != "call":
            return [], finish_reason
        deltas = self._call_deltas(closed=finish_reason == "stop")
        if not self.head_sent:
            # Cut before the name was complete: what there is goes out as the (partial) call.
            deltas = [self._head(self._partial_name()), *deltas]
        return deltas, ("tool_calls" if finish_reason == "stop" else finish_reason)

    def _partial_name(self) -> str:
        name = self.buffer.partition('"name"')[2].partition('"')[2].partition('"')[0]
        return name or (self.plan.forced or "")

    def _head(self, name: str) -> dict[str, Any]:
        self.head_sent = True
        return {"tool_calls": [{"index": 0, "id": self.call_id, "type": "function", "function": {"name": name, "arguments": ""}}]}

    def _call_deltas(self, *, closed: bool | None) -> list[dict[str, Any]]:
        """The arguments ready to go: while streaming (closed None) all but a trailing run of braces
        and space; at a normal end all but the call's own closing brace; when cut, everything."""
        deltas: list[dict[str, Any]] = []
        if not self.head_sent:
            found = self._arguments_start()
            if found is None:
                return deltas
            name, self.start = found
            deltas.append(self._head(name))
        body = self.buffer[self.start :]
        if closed is None:
            ready = body[: len(body.rstrip(" \t\n}"))]
        elif closed:
            end = body.rstrip()
            ready = (end[:-1] if end.endswith("}") else end).rstrip()
        else:
            ready = body
        piece = ready[self.sent :]
        if piece:
            self.sent += len(piece)
            deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        return deltas

    def _arguments_start(self) -> tuple[str, int] | None:
        """The called name and where its arguments begin, once the buffer holds them."""
        marker = self.buffer.find('"arguments"')
        if marker < 0:
            return None
        colon = self.buffer.find(":", marker + len('"arguments"'))
        if colon < 0:
            return None
        rest = self.buffer[colon + 1 :]
        value = len(rest) - len(rest.lstrip())
        if value == len(rest):
            return None
        try:
            name = orjson.loads(self.buffer[:marker].rstrip().rstrip(",") + "}")["name"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            name = self._partial_name()
        return str(name), colon + 1 + value
