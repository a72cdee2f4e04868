"""The admin HTTP API under /admin, guarded by the admin key from SWITCHYARD_ADMIN_KEY.

Without that variable the admin API is switched off (403), never open. The key is checked before
any body is read (the routes read their bodies themselves, after the router's dependency has run),
and a body is at most ADMIN_BODY_LIMIT bytes.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import HTMLResponse, Response

from policies.settings import current as current_settings
from router.body import read_json
from router.console.auth import FailedSignIns, refuse_nul
from router.errors import APIError
from router.gateway import Gateway
from router.reports import GROUPS, spend, to_html
from router.tenancy.budgets import MAX_BUDGET_USD, PERIODS, to_limit
from router.tenancy.keys import CONTROL_CHARACTERS, MAX_PER_MINUTE, RotationConflict

ADMIN_BODY_LIMIT = 64 * 1024
log = logging.getLogger("switchyard.admin")
Body = TypeVar("Body", bound=BaseModel)


def _printable(value: str) -> str:
    # PostgreSQL's text columns refuse NUL (the insert was a 500), and a name with a newline or a tab
    # breaks the reports, logs and metric labels it lands in.
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("control characters (NUL, newline, tab...) are not allowed")
    return value


def _named(value: str) -> str:
    # A name of spaces names nobody that a report, a budget or an operator can find again.
    if not value.strip():
        raise ValueError("a name cannot be blank")
    return _printable(value)


def _storable(value: Decimal) -> Decimal:
    to_limit(value)  # an amount that rounds to $0 at the ledger's precision is refused, not stored as 0
    return value


Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_named)]
Dollars = Annotated[Decimal, Field(ge=0, le=MAX_BUDGET_USD), AfterValidator(_storable)]
# Strict: lax validation took the string "5" for 5, and a client's mistyped body for a limit it never sent.
PerMinute = Annotated[int, Field(strict=True, ge=1, le=MAX_PER_MINUTE)]


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def _wrong_keys(request: Request) -> FailedSignIns:
    """This app's count of wrong admin keys over the last minute (one per replica, as the console's)."""
    state = request.app.state
    counter = getattr(state, "admin_key_failures", None)
    if counter is None:
        counter = state.admin_key_failures = FailedSignIns()
    return counter


def require_admin(request: Request) -> None:
    expected = current_settings().admin_key  # the console's sign-in reads the same
    if not expected:
        raise APIError(403, "the admin API is off: set SWITCHYARD_ADMIN_KEY to enable it", code="admin_disabled")
    wrong = _wrong_keys(request)
    # Checked before the key, and for the right key too: a refusal that let the right key through
    # would tell a guesser which of its guesses was right.
    wait = wrong.retry_after()
    if wait > 0:
        raise APIError(429, f"too many wrong admin keys; try again in {int(wait) + 1} s", code="admin_key_rate_limited",
                       headers={"retry-after": str(int(wait) + 1)})
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not hmac.compare_digest(token.encode(), expected.encode()):
        if token:  # a call with no key at all (a scanner, a probe) guesses nothing: it must not lock the operator out
            wrong.failed()
        raise APIError(401, "admin key required: 'Authorization: Bearer <SWITCHYARD_ADMIN_KEY>'", code="invalid_admin_key")


router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin), Depends(refuse_nul)])


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: Name
    team: Name
    name: Annotated[str, AfterValidator(_printable)] | None = Field(default=None, max_length=256)
    budget_usd: Dollars | None = None
    period: Literal["daily", "weekly", "monthly", "total"] = "monthly"
    rpm: PerMinute | None = None
    tpm: PerMinute | None = None


class NewBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["key", "team", "tenant"]
    scope_id: Name
    tenant: Name | None = Field(default=None, description="A team budget's tenant (required for scope team).")
    period: Literal["daily", "weekly", "monthly", "total"] = "monthly"
    usd: Dollars
    hard: bool = Field(default=True, strict=True)  # lax, "no" and "off" were False


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


async def _body(request: Request, model: type[Body]) -> Body:
    payload = await read_json(request, ADMIN_BODY_LIMIT)
    if not isinstance(payload, dict):  # pydantic's own words named the field 'None'
        raise APIError(400, f"the request body is a JSON object with the fields of {model.__name__}", code="invalid_value")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        strict = first["type"] in ("int_type", "bool_type") and isinstance(first.get("input"), str)
        hint = " (a JSON number or boolean, not a string)" if strict else ""
        raise APIError(400, f"invalid value for '{param}': {first['msg']}{hint}", param=param, code="invalid_value") from None


async def _blocking(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _json(obj: Any, status: int = 200) -> Response:
    # no-store: a created or rotated key's plaintext is in the answer, which no cache may keep.
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store", "x-content-type-options": "nosniff"})


@router.post("/keys", openapi_extra=_schema(NewKey))
async def create_key(request: Request) -> Response:
    body = await _body(request, NewKey)
    tenancy = _gateway(request).tenancy
    budget = None
    if body.budget_usd is None:
        key, info = await _blocking(tenancy.keys.create, body.tenant, body.team, body.name, body.rpm, body.tpm)
    else:
        try:
            key, info, budget = await _blocking(tenancy.keys.create_with_budget, tenancy.budgets, body.period,
                                                to_limit(body.budget_usd), body.tenant, body.team, body.name, body.rpm, body.tpm)
        except SQLAlchemyError:
            # One transaction: the key is not stored either. Said so, since "internal error" leaves the
            # operator unsure whether a key that was never shown now exists.
            log.exception("creating a key with its budget failed")
            raise APIError(500, "the database refused the key or its budget, so neither was stored (no key exists); "
                                "the gateway logged the details", code="key_not_created") from None
    return _json({"key": key, **info.public(), "budget": budget.describe() if budget else None}, status=201)


@router.get("/keys")
async def list_keys(request: Request, include_revoked: bool = False) -> Response:
    keys = await _blocking(_gateway(request).tenancy.keys.list, include_revoked)
    return _json({"data": [k.public() for k in keys]})


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, request: Request) -> Response:
    if not await _blocking(_gateway(request).tenancy.keys.revoke, key_id):
        raise APIError(404, f"no live key {key_id!r}", code="key_not_found")
    return _json({"revoked": key_id})


@router.post("/keys/{key_id}/rotate")
async def rotate_key(key_id: str, request: Request) -> Response:
    try:
        result = await _blocking(_gateway(request).tenancy.keys.rotate, key_id)
    except RotationConflict as exc:
        raise APIError(409, str(exc), code="rotation_conflict") from None
    if result is None:
        raise APIError(404, f"no live key {key_id!r}", code="key_not_found")
    return _json({"key": result[0], **result[1].public()})


@router.put("/budgets", openapi_extra=_schema(NewBudget))
async def set_budget(request: Request) -> Response:
    body = await _body(request, NewBudget)
    tenancy = _gateway(request).tenancy
    book = tenancy.budgets
    # A mistyped key id would set a budget that guards nothing (a revoked key's may still be set).
    if body.scope == "key" and await _blocking(tenancy.keys.get, body.scope_id) is None:
        raise APIError(404, f"no key {body.scope_id!r}", code="key_not_found", param="scope_id")
    try:
        budget = await _blocking(book.set, body.scope, body.scope_id, body.period, to_limit(body.usd), body.hard, body.tenant)
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_value", param="tenant") from None
    return _json({"budget_id": budget.budget_id, "description": budget.describe()})


async def budget_usage(gateway: Gateway) -> list[dict[str, Any]]:
    """Every budget with what its current window has spent and holds reserved (the console shows it too)."""
    book = gateway.tenancy.budgets
    out = []
    for budget in await _blocking(book.all):
        (bucket,) = book.buckets([budget])
        spent, reserved = await gateway.tenancy.quota.usage(bucket)
        out.append({"budget_id": budget.budget_id, "scope": budget.scope, "scope_id": budget.scope_id, "tenant": budget.tenant or None,
                    "period": budget.period,
                    "hard": budget.hard, "limit_usd": budget.limit_nanousd / 1e9, "spent_usd": spent / 1e9, "reserved_usd": reserved / 1e9})
    return out


@router.get("/budgets")
async def list_budgets(request: Request) -> Response:
    return _json({"data": await budget_usage(_gateway(request)), "periods": list(PERIODS)})


@router.delete("/budgets/{budget_id}")
async def remove_budget(budget_id: str, request: Request) -> Response:
    if not await _blocking(_gateway(request).tenancy.budgets.remove, budget_id):
        raise APIError(404, f"no budget {budget_id!r}", code="budget_not_found")
    return _json({"removed": budget_id})


@router.get("/reports", response_class=HTMLResponse)
async def report(request: Request, by: str = "team") -> Response:
    if by not in GROUPS:
        raise APIError(400, f"group by one of {', '.join(GROUPS)}", code="invalid_value", param="by")
    page = await _blocking(to_html, _gateway(request).ledger.engine, by, None, None)
    return HTMLResponse(page)


@router.get("/reports/spend")
async def report_json(request: Request, by: str = "team") -> Response:
    if by not in GROUPS:
        raise APIError(400, f"group by one of {', '.join(GROUPS)}", code="invalid_value", param="by")
    rows = await _blocking(spend, _gateway(request).ledger.engine, by)
    return _json({"by": by, "data": [r.as_dict() for r in rows]})


@router.post("/policy/reload")
async def reload_policy(request: Request) -> Response:
    """Load the policy file again; an invalid one is refused with its located issues and the running one stays."""
    outcome = await request.app.state.reloader.reload()
    if not outcome.ok:
        error = APIError(400, f"policy refused; {outcome.policy!r} stays in force: {outcome.error}", code="invalid_policy")
        return _json({**error.body(), **outcome.as_dict()}, status=400)
    return _json(outcome.as_dict())
