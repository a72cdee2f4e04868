"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` with the right status; under
/v1/messages, Anthropic's shape (`{"type": "error", "error": {"type", "message"}}`), which its SDKs read.

Every failure a client can see goes through here; nothing else writes an error body, and no
stack trace ever reaches a client (unexpected exceptions are logged with the request id).
"""

from __future__ import annotations

import logging
import re

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from router.doors.messages_output import error_body

log = logging.getLogger("switchyard")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


# A URL scheme starts after a non-word character and is short: unbounded, `\b[a-z][a-z0-9+.-]*://` rescanned the
# rest of the text from every word start (quadratic: 3 s on 40 KB of "a.a.a...").
_SCHEME = r"(?<![\w+.-])[a-z][a-z0-9+.-]{0,31}://"
_SECRETS = [
    (re.compile(_SCHEME + r"[^\s'\"<>]+", re.IGNORECASE), "<upstream>"),  # URLs, with any user:password@
    (re.compile(r"\(\s*'[^']*'\s*,\s*\d+\s*\)"), "<upstream>"),  # ('10.0.0.5', 8443) in socket errors
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<upstream>"),  # IPv4 addresses
    (re.compile(r"\[[0-9a-f:]*:[0-9a-f:]*\](?::\d+)?", re.IGNORECASE), "<upstream>"),  # [IPv6]:port
    (re.compile(r"\bhost [^\s:]+:\d+", re.IGNORECASE), "host <upstream>"),  # aiohttp: "Cannot connect to host name:443"
    (re.compile(r"(?<![\w.-])[\w-]+(?:\.[\w-]+)+:\d{2,5}\b"), "<upstream>"),  # host.name:port
    (re.compile(r"\b(?:sk|pk|rk)[-_][A-Za-z0-9_-]{8,}"), "<redacted>"),  # provider and gateway keys
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]*[A-Za-z0-9]{8}[A-Za-z0-9._~+/=-]*", re.IGNORECASE), r"\1 <redacted>"),
    (re.compile(r"\b(api[_-]?key|token|password|secret)([\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+", re.IGNORECASE), r"\1\2<redacted>"),
]
# The operator's logs keep hosts (they say what failed) and ordinary words ("tier basic returned", "max token: 4096"):
# only what is a credential by its form goes.
_CREDENTIALS = [
    (re.compile("(" + _SCHEME + r")[^/\s@?#'\"<>]+@", re.IGNORECASE), r"\1<credentials>@"),  # user:password@ in URLs
    (re.compile(r"\b(?:sk|pk|rk)[-_][A-Za-z0-9_-]{16,}"), "<redacted>"),  # provider and gateway keys
    (re.compile(r"\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE), r"\1 <redacted>"),
    (re.compile(r"\b(basic)\s+(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}", re.IGNORECASE), r"\1 <redacted>"),
    (re.compile(r"\b(authorization\s*[:=]\s*[\"']?\s*basic)\s+[^\s\"',;]+", re.IGNORECASE), r"\1 <redacted>"),
    (re.compile(r"\b(api[_-]?key|password|passwd|secret)([\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+", re.IGNORECASE), r"\1\2<redacted>"),
    (re.compile(r"\b(token)([\"']?\s*[:=]\s*[\"']?)(?=[^\s\"',;]*[A-Za-z])(?=[^\s\"',;]*\d)[^\s\"',;]{8,}", re.IGNORECASE),
     r"\1\2<redacted>"),
]
# Every credential pattern above needs one of these: one search spares the substitutions (~5 us a field, ~50 us
# for a request's info line of ~10 fields) on nearly every log field.
_MAYBE_CREDENTIAL = re.compile(r"://|\b[spr]k[-_]|bearer|basic|api[_-]?key|passw|secret|token", re.IGNORECASE)
LOG_FIELD_CHARS = 32_768  # a log field past this is cut: a prompt in an error line need not be whole, nor redacted at length


def redact_credentials(text: str) -> str:
    """A line fit for the operator's logs: upstream hosts kept (they say what failed), credentials removed."""
    if len(text) > LOG_FIELD_CHARS:
        text = f"{text[:LOG_FIELD_CHARS]}... ({len(text) - LOG_FIELD_CHARS} more characters)"
    if _MAYBE_CREDENTIAL.search(text) is None:
        return text
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


def scrub(text: str) -> str:
    """A message fit for a client: upstream URLs, addresses and credentials replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        # A message may quote the request (a schema's property name, an upstream's echo of a value), and it
        # becomes the ledger row's `error`: PostgreSQL's text columns refuse NUL, which once lost such a row.
        message = message.replace("\x00", "\\x00")
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_ or _TYPES.get(status, "api_error")
        self.headers = headers or {}

    def body(self) -> dict:
        # Messages about upstreams quote their errors: clients never see where upstreams are or their secrets.
        return {"error": {"message": scrub(self.message), "type": self.type, "param": self.param, "code": self.code}}


def anthropic_path(path: str) -> bool:
    """Paths an Anthropic client calls (the Messages door, count_tokens, and what we do not serve there,
    such as batches): their errors are in Anthropic's shape, even those raised before a door runs."""
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def error_response(error: APIError, headers: dict[str, str] | None = None, *, anthropic: bool = False) -> Response:
    merged = {**(headers or {}), **error.headers}
    body = error_body(error.status, scrub(error.message)) if anthropic else error.body()
    return Response(orjson.dumps(body), status_code=error.status, media_type="application/json", headers=merged)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> Response:
        return error_response(exc, getattr(request.state, "headers", None), anthropic=anthropic_path(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: f"unknown path {request.url.path}", 405: f"method {request.method} not allowed on {request.url.path}"}
        text = message.get(exc.status_code, str(exc.detail))
        error = APIError(exc.status_code, text, code={404: "not_found", 405: "method_not_allowed"}.get(exc.status_code),
                         headers=dict(exc.headers or {}))  # a 405's Allow
        return error_response(error, anthropic=anthropic_path(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        # Where and what, as pydantic words it: not the Python repr of its error dicts (input values, URLs, ctx).
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()[:3])
        error = APIError(400, f"invalid request: {problems}", code="invalid_request")
        return error_response(error, anthropic=anthropic_path(request.url.path))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", extra={"request_id": request_id})
        return error_response(
            APIError(500, f"internal error (request id {request_id}); the gateway logged the details", code="internal_error"),
            getattr(request.state, "headers", None),
            anthropic=anthropic_path(request.url.path),
        )
