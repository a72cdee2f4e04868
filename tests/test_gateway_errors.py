"""Bad input gets an OpenAI-shaped 4xx and the gateway stays healthy."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.servers import Process

pytestmark = pytest.mark.slow

OK_MESSAGES = [{"role": "user", "content": "hi"}]


def post(gateway: Process, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        content=content,
        headers={"content-type": "application/json", **(headers or {})},
        timeout=30,
    )


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"\xff\xfe{}", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_request"),
        (b'{"model": "auto"}', 400, "invalid_value"),
        (b'{"model": "auto", "messages": "hello"}', 400, "invalid_value"),
        (b'{"model": "auto", "messages": []}', 400, "invalid_value"),
        (b'{"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}', 400, "invalid_value"),
        (b'{"model": 7, "messages": [{"role": "user", "content": "x"}]}', 400, "invalid_value"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": -5}', 400, "invalid_value"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": 10000000}', 400, "invalid_value"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', 400, "invalid_value"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "n": 3}', 400, "invalid_value"),
        (b'{"model": "gpt-17-ultra", "messages": [{"role": "user", "content": "x"}]}', 404, "model_not_found"),
    ],
)
def test_bad_bodies(gateway: Process, body: bytes, status: int, code: str) -> None:
    error = assert_openai_error(post(gateway, body), status, code)
    assert error["type"] == "invalid_request_error"


def test_oversized_body_is_413(gateway: Process) -> None:
    huge = b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"a" * (5 * 1024 * 1024) + b'"}]}'
    assert_openai_error(post(gateway, huge), 413, "request_too_large")


def test_tools_route_like_any_request(gateway: Process) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    # Every tier calls tools (the local one through a grammar: tests/test_local_tools.py), so tools
    # take no tier out of routing.
    routed = [httpx.post(gateway.url + "/v1/route", json={"model": "auto", "messages": OK_MESSAGES, **extra}).json()["tier"]
              for extra in ({"tools": [tool]}, {})]
    assert routed[0] == routed[1] == "local"


def test_unknown_path_and_method(gateway: Process) -> None:
    assert_openai_error(httpx.get(gateway.url + "/v1/nothing"), 404, "not_found")
    assert_openai_error(httpx.get(gateway.url + "/v1/chat/completions"), 405, "method_not_allowed")


def test_sdk_sees_typed_errors(gateway: Process) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-model", messages=OK_MESSAGES)
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="auto", messages=OK_MESSAGES, max_tokens=0)


def test_still_healthy_after_bad_input(gateway: Process) -> None:
    for _ in range(20):
        post(gateway, b"{broken")
    assert httpx.get(gateway.url + "/healthz").status_code == 200
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    assert sdk.chat.completions.create(model="local", messages=OK_MESSAGES, max_tokens=2).choices
