"""/console: the operator console's pages, its JSON API and its assets, all served by the gateway.

Nothing but the login page answers without a session: pages redirect to it, the JSON API and
the assets answer 401. Keys and budgets go through the admin API's own handlers (router/admin.py),
so the console can do exactly what the admin API does, with the same validation.
"""

from __future__ import annotations

import asyncio
import html
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from policies.settings import current as current_settings
from router import admin
from router.body import read_json
from router.console import queries
from router.console.auth import (
    COOKIE,
    UNSAFE,
    FailedSignIns,
    Session,
    Sessions,
    admin_key,
    csrf_ok,
    key_matches,
    refuse_nul,
    session_seconds,
)
from router.console.policy_edit import apply_text, lint_for_console
from router.console.transport import secure_cookie
from router.errors import APIError
from router.gateway import Gateway
from router.reports import csv_cell
from router.tenancy.budgets import window as budget_window

STATIC = Path(__file__).with_name("static")
ASSETS = {"console.js": "text/javascript", "console.css": "text/css", "charts.js": "text/javascript"}
PAGES = {"overview": "Overview", "teams": "Teams & tenants", "requests": "Requests", "routing": "Routing",
         "keys": "Keys & budgets", "eval": "Eval"}
FORM_LIMIT = 8 * 1024
POLICY_LIMIT = 256 * 1024
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "Cache-Control": "no-store",
           "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

sessions = Sessions()
failed_sign_ins = FailedSignIns()


def _secured(response: Response) -> Response:
    """The admin API's own answer with the console's headers: a created or rotated key's plaintext is
    in it, which no cache may keep."""
    response.headers.update(HEADERS)
    return response
# Every console route reads its caller's session from the database once, before it runs (router/console/auth.py).
router = APIRouter(prefix="/console", include_in_schema=False, dependencies=[Depends(sessions.load), Depends(refuse_nul)])


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json", headers=HEADERS)


async def _blocking(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _session(request: Request) -> Session:
    """The caller's session, or a 401; state-changing methods also need the session's CSRF token."""
    session = sessions.find(request)
    if session is None:
        raise APIError(401, "sign in at /console/login", code="console_session_required")
    if request.method in UNSAFE and not csrf_ok(session, request.headers.get("x-csrf-token")):
        raise APIError(403, "missing or wrong X-CSRF-Token", code="csrf_failed")
    return session


# -- sign in and out ------------------------------------------------------------------------------

def _login_page(message: str = "", status: int = 200) -> HTMLResponse:
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    off = admin_key() is None
    body = ("<p>The console is off: set SWITCHYARD_ADMIN_KEY and restart the gateway.</p>" if off else
            '<form method="post" action="/console/login"><label for="key">Admin key</label>'
            '<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>'
            '<button type="submit">Sign in</button></form>')
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchyard console: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;background:#f4f5f7;display:flex;justify-content:center;padding-top:12vh;color:#1d2330}}
main{{background:#fff;padding:28px 32px;border-radius:8px;box-shadow:0 1px 4px #0002;width:340px}}
h1{{font-size:20px;margin:0 0 16px}}label{{display:block;font-size:13px;margin-bottom:4px}}
input{{width:100%;box-sizing:border-box;padding:8px;font-size:14px;margin-bottom:12px}}
button{{padding:8px 16px;font-size:14px;background:#2456c7;color:#fff;border:0;border-radius:4px;cursor:pointer}}
.error{{color:#b00020}}</style></head>
<body><main><h1>Switchyard console</h1>{note}{body}</main></body></html>"""
    return HTMLResponse(page, status_code=403 if off else status, headers=HEADERS)


@router.get("/login")
async def login_form(request: Request) -> Response:
    if sessions.find(request) is not None:
        return RedirectResponse("/console/overview", status_code=303)
    return _login_page()


@router.post("/login")
async def login(request: Request) -> Response:
    if admin_key() is None:
        return _login_page()
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > FORM_LIMIT:
            return _login_page("That form was too large.", 413)
    try:
        fields = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=8)
    except ValueError:  # more fields than a login form has: the client's mistake
        return _login_page("That form was not a sign-in form.", 400)
    offered = (fields.get("key") or [""])[0]
    wait = failed_sign_ins.retry_after()
    if wait > 0:
        page = _login_page(f"Too many failed sign-ins; try again in {int(wait) + 1} s.", 429)
        page.headers["retry-after"] = str(int(wait) + 1)
        return page
    if not key_matches(offered):
        failed_sign_ins.failed()
        await asyncio.sleep(0.5)  # a guess costs half a second
        return _login_page("That is not the admin key.", 401)
    token, _ = await sessions.open(request)
    response = RedirectResponse("/console/overview", status_code=303)
    response.set_cookie(COOKIE, token, max_age=int(session_seconds()), path="/console", httponly=True, samesite="strict",
                        secure=secure_cookie(request))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    _session(request)
    await sessions.close(request)
    response = _json({"signed_out": True})
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict", secure=secure_cookie(request))
    return response


# -- pages and assets -----------------------------------------------------------------------------

def _shell(page: str, session: Session, gateway: Gateway) -> HTMLResponse:
    nav = "".join(f'<a href="/console/{name}"{" aria-current=page" if name == page else ""}>{html.escape(title)}</a>'
                  for name, title in PAGES.items())
    doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(PAGES[page])} · Switchyard console</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<meta name="csrf-token" content="{session.csrf}">
<link rel="stylesheet" href="/console/static/console.css"></head>
<body data-page="{page}"><header><span class="brand">Switchyard</span><nav>{nav}</nav>
<span class="policy">policy <b>{html.escape(gateway.policy.name)}</b></span><button id="signout" type="button">Sign out</button></header>
<main id="app" aria-live="polite"><p class="loading">Loading…</p></main>
<script src="/console/static/charts.js"></script><script src="/console/static/console.js"></script></body></html>"""
    return HTMLResponse(doc, headers=HEADERS)


@router.get("")
async def root(request: Request) -> Response:
    return RedirectResponse("/console/overview" if sessions.find(request) else "/console/login", status_code=303)


@router.get("/static/{name}")
async def asset(name: str, request: Request) -> Response:
    _session(request)
    if name not in ASSETS:
        raise APIError(404, f"no asset {name!r}", code="not_found")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _reports_dir() -> Path:
    return current_settings().eval_reports_dir


def _eval_reports() -> list[dict[str, Any]]:
    folder = _reports_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)[:500]:
        head = path.read_bytes()[:200_000]
        gate = "passed" if b"Quality gate: passed" in head else "failed" if b"Quality gate: failed" in head else None
        stat = path.stat()
        out.append({"name": path.name, "bytes": stat.st_size, "gate": gate,
                    "modified": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds")})
    return out


@router.get("/eval/report/{name}")
async def eval_report(name: str, request: Request) -> Response:
    _session(request)
    if name not in {r["name"] for r in await _blocking(_eval_reports)}:  # only a listed file: no path reaches elsewhere
        raise APIError(404, f"no eval report {name!r}", code="not_found")
    # The report is shown in a frame, sandboxed: whatever it holds cannot script the console.
    headers = {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
               "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return FileResponse(_reports_dir() / name, media_type="text/html", headers=headers)


@router.get("/{page}")
async def page(page: str, request: Request) -> Response:
    if page not in PAGES:
        raise APIError(404, f"no console page {page!r}", code="not_found")
    session = sessions.find(request)
    if session is None:
        return RedirectResponse("/console/login", status_code=303)
    return _shell(page, session, _gateway(request))


# -- JSON API: figures ----------------------------------------------------------------------------

def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    from router.cli import parse_when

    try:
        when = parse_when(value)
        assert when is not None
        when = when.astimezone(UTC)  # a year-1 time east of UTC has no UTC time: an OverflowError here, not in a query
    except Exception:  # noqa: BLE001 - typer's BadParameter, a ValueError, an OverflowError: the caller's mistake either way
        raise APIError(400, f"{name} is an ISO date/time or an age like 24h or 7d", code="invalid_value", param=name) from None
    # The queries round a period out to whole hours and days: a day inside either end of the calendar
    # stepped past datetime's range, an OverflowError and a 500.
    if not _EARLIEST <= when <= _LATEST:
        raise APIError(400, f"{name} is between {_EARLIEST:%Y-%m-%d} and {_LATEST:%Y-%m-%d}", code="invalid_value", param=name)
    return when


_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)


def _window(request: Request) -> queries.Window:
    q = request.query_params
    since, until = _when(q.get("since"), "since"), _when(q.get("until"), "until")
    if since is not None and until is not None and until < since:
        raise APIError(400, "until is before since", code="invalid_value", param="until")
    return queries.Window(since=since, until=until, team=q.get("team") or None, tenant=q.get("tenant") or None, key=q.get("key") or None)


def _against(request: Request, gateway: Gateway) -> str:
    against = request.query_params.get("against") or "dearest"
    if against != "dearest" and against not in gateway.policy.tiers:
        raise APIError(400, f"against is 'dearest' or a tier: {', '.join(gateway.policy.tiers)}", code="invalid_value", param="against")
    return against


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        raise APIError(400, f"{name} is an integer", code="invalid_value", param=name) from None
    if not low <= value <= high:
        raise APIError(400, f"{name} is between {low} and {high}", code="invalid_value", param=name)
    return value


@router.get("/api/session")
async def whoami(request: Request) -> Response:
    session = _session(request)
    gateway = _gateway(request)
    return _json({"expires_at": datetime.fromtimestamp(session.expires_at, UTC).isoformat(timespec="seconds"),
                  "policy": gateway.policy.name, "dearest": gateway.dearest,
                  "tiers": [{"tier": name, "free": gateway.policy.tiers[name].prices.blended == 0} for name in gateway.policy.by_cost()]})


@router.get("/api/overview")
async def overview(request: Request) -> Response:
    _session(request)
    gateway = _gateway(request)
    out = await _blocking(queries.overview, gateway.ledger.engine, gateway.policy, _window(request), _against(request, gateway))
    out["dearest"] = gateway.dearest
    return _json(out)


@router.get("/api/trend")
async def trend(request: Request) -> Response:
    _session(request)
    size = request.query_params.get("bucket") or "day"
    if size not in ("day", "hour"):
        raise APIError(400, "bucket is day or hour", code="invalid_value", param="bucket")
    return _json(await _blocking(queries.trend, _gateway(request).ledger.engine, _window(request), size))


@router.get("/api/export.csv")
async def export_csv(request: Request) -> Response:
    """The period's trend rows (bucket x tier) and the totals, as CSV."""
    _session(request)
    gateway = _gateway(request)
    window, against = _window(request), _against(request, gateway)
    size = request.query_params.get("bucket") or "day"
    if size not in ("day", "hour"):
        raise APIError(400, "bucket is day or hour", code="invalid_value", param="bucket")
    rows = (await _blocking(queries.trend, gateway.ledger.engine, window, size))["data"]
    totals = (await _blocking(queries.overview, gateway.ledger.engine, gateway.policy, window, against))["totals"]
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([size, "tier", "requests", "spend_usd", "saved_vs_dearest_usd", "cache_hits"])
    for row in rows:
        writer.writerow([row["bucket"], csv_cell(row["tier"]), row["requests"], f"{row['spend_usd']:.9f}", f"{row['saved_usd']:.9f}",
                         row["cache_hits"]])
    writer.writerow([])
    writer.writerow(["total", f"against {against}", totals["requests"], f"{totals['spend_usd']:.9f}", f"{totals['saved_usd']:.9f}",
                     totals["cache_hits"]])
    writer.writerow([])
    writer.writerow(["saved_gross_usd", "overhead_cascade_first_stages_usd", "overhead_compute_usd", "overhead_judge_usd",
                     "overhead_label_answers_usd", "overhead_cache_audit_usd", "saved_net_usd", "saved_net_pct", "total_spend_usd"])
    overheads = totals["overheads"]
    writer.writerow([f"{totals['gross_saved_usd']:.9f}", f"{overheads['cascade_first_stages_usd']:.9f}", f"{overheads['compute_usd']:.9f}",
                     f"{overheads['judge_usd']:.9f}", f"{overheads['label_answers_usd']:.9f}",
                     f"{overheads.get('cache_audit_usd', 0.0):.9f}",
                     f"{totals['net_saved_usd']:.9f}",
                     totals["net_saved_pct"] if totals["net_saved_pct"] is not None else "", f"{totals['total_spend_usd']:.9f}"])
    headers = {**HEADERS, "Content-Disposition": f'attachment; filename="switchyard-{size}-{time.strftime("%Y%m%d")}.csv"'}
    return Response(buffer.getvalue(), media_type="text/csv", headers=headers)


@router.get("/api/groups")
async def groups(request: Request) -> Response:
    _session(request)
    by = request.query_params.get("by") or "team"
    if by not in queries.SCOPES:
        raise APIError(400, "by is team, tenant or key", code="invalid_value", param="by")
    page, per_page = _int(request, "page", 0, 0, 10**6), _int(request, "per_page", 50, 1, 500)
    return _json(await _blocking(queries.groups, _gateway(request).ledger.engine, _window(request), by, page, per_page))


@router.get("/api/requests")
async def request_list(request: Request) -> Response:
    _session(request)
    q = request.query_params
    before = q.get("before") or None
    if before:
        try:
            datetime.fromisoformat(before.partition("|")[0])
        except ValueError:
            raise APIError(400, "before is the 'next' cursor of the previous page", code="invalid_value", param="before") from None
    per_page = _int(request, "per_page", 50, 1, 500)
    return _json(await _blocking(queries.request_page, _gateway(request).ledger.engine, _window(request), q.get("tier") or None,
                                 q.get("status") or None, before, per_page))


@router.get("/api/requests/{request_id}")
async def request_detail(request_id: str, request: Request) -> Response:
    _session(request)
    row = await _blocking(queries.request_detail, _gateway(request).ledger.engine, request_id)
    if row is None:
        raise APIError(404, f"no request {request_id!r} in the ledger", code="request_not_found")
    return _json(row)


def _burn(gateway: Gateway, budget: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Spend per day in the budget's window, and when it runs out at the window's average daily rate so far
    (for a 'total' budget: the last 7 days' rate)."""
    start, end, _ = budget_window(budget["period"], now)
    steps = queries.daily_spend(gateway.ledger.engine, budget["scope"], budget["scope_id"], budget.get("tenant"),
                                start if start is not None else now - timedelta(days=30), end)
    if start is not None:
        days = max((now - start).total_seconds() / 86400, 1 / 24)
        rate = budget["spent_usd"] / days
    else:
        recent = now - timedelta(days=7)
        rate = sum(s["spend_usd"] for s in steps if s["day"] >= recent.strftime("%Y-%m-%d")) / 7
    left = budget["limit_usd"] - budget["spent_usd"] - budget["reserved_usd"]
    if left <= 0:
        runs_out, verdict = now, "spent"
    elif rate <= 0:
        runs_out, verdict = None, "no spend yet"
    else:
        try:
            runs_out = now + timedelta(days=left / rate)
        except OverflowError:  # a large budget and a tiny spend run out after the year 9999: the view was a 500
            runs_out = None
        if runs_out is None:
            verdict = "lasts the period" if end is not None else "not before the year 9999 at the last 7 days' rate"
        else:
            verdict = "at the last 7 days' rate" if end is None else "before the period ends" if runs_out < end else "lasts the period"
    return {**budget, "window_start": start.isoformat() if start else None, "window_end": end.isoformat() if end else None,
            "daily": steps, "rate_usd_per_day": rate, "runs_out_at": runs_out.isoformat(timespec="minutes") if runs_out else None,
            "forecast": verdict}


@router.get("/api/budgets")
async def budgets(request: Request) -> Response:
    _session(request)
    gateway = _gateway(request)
    now = datetime.now(UTC)
    listed = await admin.budget_usage(gateway)
    return _json({"data": [await _blocking(_burn, gateway, b, now) for b in listed]})


@router.get("/api/routing")
async def routing(request: Request) -> Response:
    _session(request)
    gateway = _gateway(request)
    policy, window = gateway.policy, _window(request)
    from router.resilience import STATE_NAMES

    tiers = []
    for name in policy.by_cost():
        tier = policy.tiers[name]
        enabled, why = gateway.status.get(name, tier.status())
        breaker = gateway.guard.breakers.get(name)
        tiers.append({"tier": name, "engine": tier.engine, "model": tier.model, "enabled": enabled, "why": why,
                      "input_per_mtok": float(tier.prices.input_per_mtok), "output_per_mtok": float(tier.prices.output_per_mtok),
                      "free": tier.prices.blended == 0, "threshold": (policy.routing.thresholds or {}).get(name),
                      "breaker": STATE_NAMES[breaker.state] if breaker is not None else "closed"})
    reloader = request.app.state.reloader
    source = reloader.path if reloader.path is not None else Path(gateway.source)
    text = await _blocking(source.read_text, "utf-8") if source.is_file() else ""
    engine = gateway.ledger.engine
    return _json({"policy": policy.name, "source": str(source), "editable": reloader.path is not None, "text": text,
                  "classifier": str(policy.routing.classifier), "tiers": tiers,
                  "fallback_order": {k: list(v) for k, v in policy.fallbacks.items()},
                  "scores": await _blocking(queries.route_scores, engine, window),
                  "fallbacks": await _blocking(queries.fallbacks, engine, window)})


@router.get("/api/eval")
async def eval_list(request: Request) -> Response:
    _session(request)
    return _json({"folder": str(_reports_dir()), "data": await _blocking(_eval_reports)})


# -- JSON API: changes (session + CSRF) ------------------------------------------------------------

async def _text(request: Request) -> str:
    payload = await read_json(request, POLICY_LIMIT)
    text = payload.get("text") if isinstance(payload, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise APIError(400, "send {'text': '<policy YAML>'}", code="invalid_value", param="text")
    return text


@router.post("/api/policy/lint")
async def policy_lint(request: Request) -> Response:
    _session(request)
    text = await _text(request)
    reloader = request.app.state.reloader
    source = reloader.path if reloader.path is not None else Path(_gateway(request).source)
    previous = await _blocking(source.read_text, "utf-8") if source.is_file() else ""
    return _json(await _blocking(lint_for_console, text, previous))


@router.post("/api/policy/apply")
async def policy_apply(request: Request) -> Response:
    _session(request)
    text = await _text(request)
    outcome = await apply_text(request.app.state.reloader, text)
    return _json(outcome, status=200 if outcome.get("reloaded") else 400)


@router.get("/api/keys")
async def keys(request: Request) -> Response:
    _session(request)
    return _secured(await admin.list_keys(request, request.query_params.get("include_revoked") == "true"))


@router.post("/api/keys")
async def create_key(request: Request) -> Response:
    _session(request)
    return _secured(await admin.create_key(request))


@router.post("/api/keys/{key_id}/rotate")
async def rotate_key(key_id: str, request: Request) -> Response:
    _session(request)
    return _secured(await admin.rotate_key(key_id, request))


@router.delete("/api/keys/{key_id}")
async def revoke_key(key_id: str, request: Request) -> Response:
    _session(request)
    return _secured(await admin.revoke_key(key_id, request))


@router.put("/api/budgets")
async def set_budget(request: Request) -> Response:
    _session(request)
    return _secured(await admin.set_budget(request))


@router.delete("/api/budgets/{budget_id}")
async def remove_budget(budget_id: str, request: Request) -> Response:
    _session(request)
    return _secured(await admin.remove_budget(budget_id, request))
