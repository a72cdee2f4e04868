"""Errors raised before a door runs (FastAPI's 404 for an unknown path, 405 for a wrong method, request
validation, the catch-all 500) are in Anthropic's shape under /v1/messages, where Anthropic's SDKs call and
parse them, and in OpenAI's everywhere else.

The app runs in-process (httpx's ASGI transport, the real anthropic SDK on top) on a policy with one tier
whose upstream is never called: no request here gets as far as a model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from policies.loader import load_policy_text
from router.app import HotPath, create_app
from router.gateway import Gateway
from router.ledger import Ledger
from tests.servers import free_port

POLICY = """
version: 1
name: framework-errors
tiers:
  small:
    engine: openai
    model: small
    base_url: http://127.0.0.1:{port}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
cache: {{exact: false, semantic: false}}
"""


async def _explodes() -> None:
    raise RuntimeError("a bug in a handler")


async def _typed(limit: int) -> dict[str, int]:
    return {"limit": limit}


class InProcess:
    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.gateway = Gateway(load_policy_text(POLICY.format(port=free_port())), ledger=Ledger(database_url, sync="full"))
        self.app: HotPath = create_app(self.gateway)
        # Routes that fail the way only a bug or FastAPI's own validation can, at both kinds of path.
        for prefix in ("/v1/messages", "/v1/other"):
            self.app.app.add_api_route(f"{prefix}/explodes", _explodes, methods=["POST"])
            self.app.app.add_api_route(f"{prefix}/typed", _typed, methods=["GET"])
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False), base_url="http://gateway", timeout=30
        )
        self.run(self.gateway.start())

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.run(self.client.request(method, path, **kwargs))

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.gateway.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    app = InProcess(f"sqlite:///{tmp_path_factory.mktemp('framework-errors')}/ledger.db")
    yield app
    app.close()


def anthropic_error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body == {"type": "error", "error": {"type": kind, "message": body["error"]["message"]}}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]["message"]


def openai_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code, error
    return error


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("POST", "/v1/messages/batches", 404, "not_found_error"),  # batches are not served
        ("GET", "/v1/messages/batches/msgbatch_1", 404, "not_found_error"),
        ("GET", "/v1/messages", 405, "invalid_request_error"),
        ("DELETE", "/v1/messages", 405, "invalid_request_error"),
        ("GET", "/v1/messages/count_tokens", 405, "invalid_request_error"),
    ],
)
def test_unknown_paths_and_methods_under_messages_are_anthropic_errors(
    api: InProcess, method: str, path: str, status: int, kind: str
) -> None:
    message = anthropic_error(api.request(method, path, json={}), status, kind)
    assert path in message


def test_validation_errors_and_unexpected_failures_under_messages_are_anthropic_errors(api: InProcess) -> None:
    assert "limit" in anthropic_error(api.request("GET", "/v1/messages/typed", params={"limit": "many"}), 400, "invalid_request_error")
    message = anthropic_error(api.request("POST", "/v1/messages/explodes", json={}), 500, "api_error")
    assert "a bug in a handler" not in message  # logged, never shown


def test_other_paths_keep_openai_errors(api: InProcess) -> None:
    openai_error(api.request("GET", "/v1/nothing"), 404, "not_found")
    openai_error(api.request("GET", "/v1/messagesbatches"), 404, "not_found")  # only /v1/messages and what is under it
    openai_error(api.request("GET", "/v1/chat/completions"), 405, "method_not_allowed")
    openai_error(api.request("GET", "/v1/embeddings"), 405, "method_not_allowed")
    message = openai_error(api.request("GET", "/v1/other/typed", params={"limit": "many"}), 400, "invalid_request")["message"]
    assert message.startswith("invalid request: query.limit: ") and "{" not in message  # where and what, not a Python repr
    assert openai_error(api.request("POST", "/v1/other/explodes", json={}), 500, "internal_error")["type"] == "api_error"


def test_the_anthropic_sdk_reads_them_as_its_typed_errors(api: InProcess) -> None:
    # This anthropic release brings its own httpx (httpx2) and takes only its clients.
    client = anthropic.AsyncAnthropic(
        base_url="http://gateway",
        api_key="sk-anything",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=api.app)),
    )
    request = {"custom_id": "a", "params": {"model": "small", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}}
    with pytest.raises(anthropic.NotFoundError) as missing:
        api.run(client.messages.batches.create(requests=[request]))  # type: ignore[list-item]
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "/v1/messages/batches" in missing.value.message
    with pytest.raises(anthropic.NotFoundError) as listed:
        api.run(client.messages.batches.retrieve("msgbatch_1"))
    assert listed.value.body["type"] == "error"  # type: ignore[index]
    api.run(client.close())


def test_a_wrong_method_says_which_methods_the_path_takes(api: InProcess) -> None:
    for path in ("/v1/messages", "/v1/chat/completions"):
        response = api.request("GET", path)
        assert response.status_code == 405 and response.headers.get("allow") == "POST", response.headers
