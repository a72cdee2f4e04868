"""The operator console (/console) against a real gateway process, driven in Debian's headless Chromium.

One gateway and one browser for the module. The upstream is tests/faulty_upstream.py (a paid API's
protocol, fixed usage), so every figure the console shows is exact and independent of any model's output.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from router.console.routes import router as console_router
from router.ledger import Ledger
from tests.faulty_upstream import FaultyUpstream
from tests.servers import ROOT, Process, start_gateway

CHROMIUM = Path("/usr/bin/chromium")
ADMIN_KEY = "sy-admin-console-test-key"
POLICY = """
version: 1
name: console-test
tiers:
  local:  # the free tier, served by the same stand-in upstream: here only the books matter, not the engine
    engine: openai
    model: local-standin
    upstream_model: local-upstream
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 0, output_per_mtok: 0}}
  frontier:
    engine: openai
    model: frontier-standin
    upstream_model: frontier-upstream
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 2.5, output_per_mtok: 10}}
routing:
  classifier: rules
  thresholds: {{frontier: 0.9}}
cache: {{exact: true, semantic: false}}
"""
ASK = [{"role": "user", "content": "Name a prime number."}]


def _admin(gw: Process, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, gw.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30, **kwargs)


def _ledger_count(gw: Process) -> int:
    assert gw.database_url
    ledger = Ledger(gw.database_url)
    try:
        return sum(1 for _ in ledger.rows())
    finally:
        ledger.close()


def _wait_rows(gw: Process, n: int) -> None:
    deadline = time.monotonic() + 15
    while _ledger_count(gw) < n:
        assert time.monotonic() < deadline, f"the ledger never reached {n} rows"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def console_gateway(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work = tmp_path_factory.mktemp("console")
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url))
    reports = work / "eval-reports"
    reports.mkdir()
    # A stand-in for an eval harness report: the console lists the folder's HTML files and reads their gate line.
    (reports / "replay-2026-12-01.html").write_text("<!doctype html><title>replay</title><h1>Replay</h1><p><b>Quality gate: passed</b></p>")
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db", "SWITCHYARD_ADMIN_KEY": ADMIN_KEY,
           "SWITCHYARD_EVAL_REPORTS_DIR": str(reports), "SWITCHYARD_POLICY_POLL_S": "0"}
    gw = start_gateway(policy, work, env=env)
    gw.database_url = env["SWITCHYARD_DATABASE_URL"]
    gw.policy_path = policy  # type: ignore[attr-defined]
    # Traffic from two tenants: the frontier twice with one question (the second a cache hit), the free local tier once.
    keys = {}
    for tenant, team in (("acme", "ml"), ("globex", "web")):
        created = _admin(gw, "POST", "/admin/keys", json={"tenant": tenant, "team": team})
        assert created.status_code == 201, created.text
        keys[tenant] = created.json()["key"]
    acme = openai.OpenAI(base_url=gw.url + "/v1", api_key=keys["acme"], max_retries=0)
    globex = openai.OpenAI(base_url=gw.url + "/v1", api_key=keys["globex"], max_retries=0)
    acme.chat.completions.create(model="frontier-standin", messages=ASK)  # type: ignore[arg-type]
    hit = acme.chat.completions.with_raw_response.create(model="frontier-standin", messages=ASK)  # type: ignore[arg-type]
    assert hit.headers.get("x-switchyard-cache", "").startswith("hit"), dict(hit.headers)
    globex.chat.completions.create(model="local-standin", messages=ASK)  # type: ignore[arg-type]
    globex.chat.completions.create(model="frontier-standin", messages=[{"role": "user", "content": "Another question."}])
    _wait_rows(gw, 4)
    yield gw
    gw.stop()


def _filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_without_a_session_only_the_login_page_answers(console_gateway: Process) -> None:
    gw = console_gateway
    with httpx.Client(base_url=gw.url, follow_redirects=False, timeout=30) as client:
        assert client.get("/console/login").status_code == 200
        assert client.get("/console").headers["location"] == "/console/login"
        checked = 0
        for route in console_router.routes:
            path = _filled(route.path)  # type: ignore[attr-defined]
            for method in route.methods:  # type: ignore[attr-defined]
                if path in ("/console/login", "/console"):
                    continue
                if path == "/console/x" and method == "GET":  # a page: every page name redirects to the login page
                    for page in ("overview", "teams", "requests", "routing", "keys", "eval"):
                        answer = client.get(f"/console/{page}")
                        assert answer.status_code == 303 and answer.headers["location"] == "/console/login", page
                    continue
                # A connection of its own each: a refused request's body is left unread, so the server closes its connection.
                answer = httpx.request(method, gw.url + path, json={"text": "x"} if method in ("POST", "PUT") else None, timeout=30)
                assert answer.status_code == 401, (method, path, answer.status_code)
                assert "Traceback" not in answer.text
                if path.startswith("/console/api/"):
                    assert answer.json()["error"]["code"] == "console_session_required"
                checked += 1
        assert checked >= 18  # every API endpoint, asset and report route was asked
        # A forged cookie is no session either.
        assert client.get("/console/api/overview", cookies={"switchyard_console": "forged"}).status_code == 401


def test_a_malformed_login_form_is_a_client_error(console_gateway: Process) -> None:
    """A form with more fields than the login reads is the client's mistake: a 400 page, no 500."""
    form = "&".join(f"f{i}=x" for i in range(20))
    answer = httpx.post(console_gateway.url + "/console/login", content=form,
                        headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30)
    assert answer.status_code == 400 and "Traceback" not in answer.text
    assert "set-cookie" not in answer.headers


def test_failed_sign_ins_are_limited(upstream: FaultyUpstream, tmp_path: Path) -> None:
    """Guessing the admin key at the login page stops after a few failures a minute: then even the
    right key is refused (a 429 with Retry-After) until the minute has passed."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url))
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db", "SWITCHYARD_ADMIN_KEY": ADMIN_KEY,
           "SWITCHYARD_CONSOLE_SIGNIN_FAILURES": "3", "SWITCHYARD_POLICY_POLL_S": "0"}
    gw = start_gateway(policy, tmp_path, env=env)
    try:
        with httpx.Client(base_url=gw.url, follow_redirects=False, timeout=30) as client:
            assert [_sign_in(client, f"guess-{n}").status_code for n in range(3)] == [401, 401, 401]
            refused = _sign_in(client)
            assert refused.status_code == 429 and 0 < int(refused.headers["retry-after"]) <= 60
            assert "set-cookie" not in refused.headers
    finally:
        gw.stop()


def test_failed_sign_in_window_slides() -> None:
    from router.console.auth import FailedSignIns

    limit = FailedSignIns(per_minute=2)
    limit.failed(now=100.0)
    assert limit.retry_after(now=100.5) == 0
    limit.failed(now=110.0)
    assert limit.retry_after(now=130.0) == 30.0  # the first failure is a minute old at 160
    assert limit.retry_after(now=160.0) == 0


def _sign_in(client: httpx.Client, key: str = ADMIN_KEY) -> httpx.Response:
    return client.post("/console/login", data={"key": key})


def _csrf(client: httpx.Client) -> str:
    page = client.get("/console/keys").text
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def test_sign_in_cookie_and_csrf(console_gateway: Process) -> None:
    gw = console_gateway
    with httpx.Client(base_url=gw.url, follow_redirects=False, timeout=30) as client:
        wrong = _sign_in(client, "not-the-key")
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        good = _sign_in(client)
        assert good.status_code == 303 and good.headers["location"] == "/console/overview"
        cookie = good.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=" in cookie and "path=/console" in cookie
        assert ADMIN_KEY not in good.headers["location"]
        before = client.get("/console/api/keys").json()["data"]
        # A change without the session's CSRF token is refused and changes nothing.
        for headers in ({}, {"X-CSRF-Token": "wrong"}):
            refused = client.post("/console/api/keys", json={"tenant": "evil", "team": "evil"}, headers=headers)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        assert client.put("/console/api/budgets", json={"scope": "tenant", "scope_id": "acme", "usd": 0}).status_code == 403
        assert client.get("/console/api/keys").json()["data"] == before
        # With it, the admin API's own validation answers: a client mistake is a 400, not a 5xx.
        bad = client.post("/console/api/keys", json={"tenant": ""}, headers={"X-CSRF-Token": _csrf(client)})
        assert bad.status_code == 400 and bad.json()["error"]["param"]
        # A new key's plaintext is shown once: no cache may keep the answer that carries it.
        made = client.post("/console/api/keys", json={"tenant": "acme", "team": "ml"}, headers={"X-CSRF-Token": _csrf(client)})
        assert made.status_code in (200, 201) and made.headers["cache-control"] == "no-store"
        assert made.headers["x-content-type-options"] == "nosniff"
        assert client.get("/console/api/overview?since=yesterday-ish").status_code == 400
        assert client.get("/console/api/overview?against=nope").status_code == 400
        assert client.get("/console/api/requests?before=garbage").status_code == 400


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/install-test-services.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Tab:
    """A signed-in page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any, gw: Process) -> None:
        self.context = browser.new_context(viewport={"width": 1366, "height": 860})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.gw = gw

    def sign_in(self) -> None:
        self.page.goto(self.gw.url + "/console/overview")
        assert self.page.url.endswith("/console/login")
        self.page.fill("#key", ADMIN_KEY)
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/console/overview")
        self.ready()

    def open(self, page: str) -> None:
        self.page.goto(f"{self.gw.url}/console/{page}")
        self.ready()

    def ready(self) -> None:
        self.page.wait_for_selector("body[data-ready]", timeout=30_000)
        assert self.page.get_attribute("body", "data-ready") == "1", self.page.inner_text("#app")

    def api(self, path: str) -> Any:
        return self.page.evaluate("path => fetch(path).then(r => r.json())", path)


@pytest.fixture(scope="module")
def tab(browser: Any, console_gateway: Process) -> Iterator[Tab]:
    tab = Tab(browser, console_gateway)
    tab.sign_in()
    yield tab
    tab.context.close()


def test_every_page_renders_without_errors(tab: Tab) -> None:
    for page in ("overview", "teams", "requests", "routing", "keys", "eval"):
        tab.open(page)
        assert tab.page.locator("svg.chart").count() > 0 or page in ("requests", "keys", "eval"), page
    tab.open("overview")
    # The free tier is on the charts, by name, even at $0 of spend.
    assert tab.page.locator("svg.chart text", has_text="local (free)").count() >= 1
    tab.open("requests")
    tab.page.locator("table.requests tbody tr").first.click()
    tab.page.wait_for_selector("#detail h2")
    assert "Request " in tab.page.inner_text("#detail")
    tab.open("eval")
    tab.page.locator("tbody tr", has_text="replay-2026-12-01.html").click()
    frame = tab.page.frame_locator("#report-frame iframe")
    assert "Quality gate: passed" in frame.locator("body").inner_text()
    assert not tab.errors, tab.errors


def test_overview_totals_equal_the_spend_report(tab: Tab, console_gateway: Process) -> None:
    env = {"SWITCHYARD_DATABASE_URL": console_gateway.database_url or "", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "router.cli", "report", "spend", "--format", "json"], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120, check=True)
    answer = json.loads(out.stdout)
    report = answer["data"]
    tab.open("overview")
    totals = tab.api("/console/api/overview")["totals"]
    # Gross and net of routing's own costs, the same in both (the overheads themselves: tests/test_console_overheads.py).
    for field in ("requests", "spend_usd", "saved_usd", "gross_saved_usd", "net_saved_usd", "net_saved_pct"):
        assert answer["totals"][field] == pytest.approx(totals[field], abs=1e-9), field
    assert answer["totals"]["overheads"] == pytest.approx(totals["overheads"], abs=1e-9)
    assert tab.page.inner_text("#kpi-saved .card-value") == tab.page.evaluate("v => Charts.fmt(v, '$')", totals["net_saved_usd"])
    assert totals["requests"] == sum(r["requests"] for r in report) >= 4
    assert totals["spend_usd"] == pytest.approx(sum(r["spend_usd"] for r in report), abs=1e-9)
    assert totals["saved_usd"] == pytest.approx(sum(r["saved_usd"] for r in report), abs=1e-9)
    assert totals["cache_hits"] == sum(r["cache_hits"] for r in report) >= 1
    assert totals["spend_usd"] > 0 and totals["saved_usd"] > 0
    assert tab.page.inner_text("#kpi-requests .card-value") == f"{totals['requests']:,}"
    # Against the frontier named as the counterfactual, the figure is the same tokens at its prices.
    named = tab.api("/console/api/overview?against=frontier")["totals"]
    priced = (named["prompt_tokens"] * 2.5 + named["completion_tokens"] * 10) / 1e6
    assert named["counterfactual_usd"] == pytest.approx(priced, abs=1e-9)
    csv_text = tab.page.evaluate("() => fetch(document.getElementById('export-csv').href).then(r => r.text())")
    assert csv_text.startswith("day,tier,requests,spend_usd") and "frontier" in csv_text
    assert not tab.errors, tab.errors


def test_keys_and_budgets_from_the_console_work_at_the_api(tab: Tab, console_gateway: Process) -> None:
    gw = console_gateway
    tab.open("keys")
    tab.page.fill("#create-key input[name=tenant]", "initech")
    tab.page.fill("#create-key input[name=team]", "ops")
    tab.page.click("#create-key button[type=submit]")
    secret = tab.page.wait_for_selector("#secret-key").inner_text()
    assert secret.startswith("sk-")
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=secret, max_retries=0)
    answer = client.chat.completions.create(model="frontier-standin", messages=[{"role": "user", "content": "Budget test one."}])
    assert answer.choices[0].message.content
    key_id = next(k["key_id"] for k in tab.api("/console/api/keys")["data"] if k["tenant"] == "initech")
    # A $0 budget on that key, set in the console, refuses its next request.
    tab.open("keys")
    tab.page.select_option("#set-budget select[name=scope]", "key")
    tab.page.fill("#set-budget input[name=scope_id]", key_id)
    tab.page.fill("#set-budget input[name=usd]", "0")
    tab.page.click("#set-budget button[type=submit]")
    tab.page.wait_for_selector("#budget-set")
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="frontier-standin", messages=[{"role": "user", "content": "Budget test two."}])
    assert refused.value.body["type"] == "budget_exceeded"  # type: ignore[index]
    # The budget shows on the teams page with its burn-down.
    tab.open("teams")
    assert tab.page.locator(".budget svg.chart").count() >= 1
    # Rotating gives a new key that works, and revoking ends it.
    tab.open("keys")
    row = tab.page.locator("table.keys tbody tr", has_text=key_id)
    row.locator("button.rotate").click()
    rotated = tab.page.wait_for_selector("#secret-key").inner_text()
    assert rotated != secret
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="frontier-standin", messages=ASK)  # type: ignore[arg-type]
    tab.open("keys")
    row = tab.page.locator("table.keys tbody tr", has_text=key_id)
    row.locator("button.revoke").click()
    # The page reloads once the key is revoked: wait for that navigation, not for the page already loaded
    # (whose ready flag the check would otherwise read just before the reload replaced it).
    with tab.page.expect_navigation(timeout=30_000):
        row.locator("button.confirm-revoke").click()
    tab.ready()
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gw.url + "/v1", api_key=rotated, max_retries=0).chat.completions.create(
            model="frontier-standin", messages=ASK)  # type: ignore[arg-type]
    assert not tab.errors, tab.errors


def test_policy_lint_and_reload_from_the_console(tab: Tab, console_gateway: Process) -> None:
    tab.open("routing")
    editor = tab.page.locator("#policy-text")
    original = editor.input_value()
    assert "console-test" in original
    editor.fill(original.replace("classifier: rules", "classifier: nonsense-classifier").replace("thresholds: {frontier: 0.9}",
                                                                                                 "thresholds: {nowhere: 0.9}"))
    tab.page.click("#lint")
    tab.page.wait_for_selector("#lint-result .bad")
    assert "nowhere" in tab.page.inner_text("#lint-result")
    # The machine checks `policy lint` makes too: a URL serve could not call.
    editor.fill(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:0", original, count=1))
    tab.page.click("#lint")
    # The first lint's verdict is still on the page until this one's lands: wait for this one's words.
    tab.page.locator("#lint-result", has_text="names port 0").wait_for(timeout=30_000)
    assert tab.page.locator("#lint-result .bad").count()
    editor.fill(original.replace("name: console-test", "name: console-test-2"))
    tab.page.click("#apply")
    tab.page.wait_for_selector("#confirm-reload")
    assert tab.api("/console/api/session")["policy"] == "console-test"  # nothing changes before the confirmation
    tab.page.click("#confirm-reload")
    tab.page.wait_for_selector("#lint-result .ok >> text=Reloaded")
    assert tab.api("/console/api/session")["policy"] == "console-test-2"
    assert "console-test-2" in console_gateway.policy_path.read_text()  # type: ignore[attr-defined]
    assert not tab.errors, tab.errors


def test_signing_out_ends_access(browser: Any, console_gateway: Process) -> None:
    tab = Tab(browser, console_gateway)
    try:
        tab.sign_in()
        cookie = next(c for c in tab.context.cookies() if c["name"] == "switchyard_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        tab.page.click("#signout")
        tab.page.wait_for_url("**/console/login")
        tab.page.goto(console_gateway.url + "/console/teams")
        assert tab.page.url.endswith("/console/login")
        # The old cookie, replayed, is no longer a session.
        replay = httpx.get(console_gateway.url + "/console/api/overview", cookies={cookie["name"]: cookie["value"]})
        assert replay.status_code == 401
        assert not tab.errors, tab.errors
    finally:
        tab.context.close()

