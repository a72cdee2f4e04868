"""An attack review of the admin API (/admin) and the operator console's JSON API (/console/api), as a
hostile or careless client: each test is a request that once got a 5xx, a half-applied change, a
misleading answer or a secret it should not have.

The app runs in-process (httpx's ASGI transport) with the in-process fake engine, on SQLite, and on
PostgreSQL where the failure was PostgreSQL's (it refuses NUL in text and integers past 2**31 - 1)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from policies.loader import load_policy
from router.app import create_app
from router.gateway import Gateway
from router.ledger import Ledger

ADMIN_KEY = "sy-admin-attack-review-key-0123456789"
POLICY = """version: 1
name: attack-admin
tiers:
  local:
    engine: fake
    model: local-fake
    prices: {input_per_mtok: 0.01, output_per_mtok: 0.02}  # a request costs a few hundred nano-dollars
routing: {classifier: rules}
cache: {exact: false, semantic: false}
"""


class InProcess:
    """The app on its own event loop, driven by the synchronous tests; the policy is a file, so the
    console may edit it."""

    def __init__(self, tmp: Path, database_url: str) -> None:
        self.path = tmp / "policy.yaml"
        self.path.write_text(POLICY)
        self.loop = asyncio.new_event_loop()
        self.gateway = Gateway(load_policy(self.path), source=str(self.path), ledger=Ledger(database_url, sync="full"))
        self.app = create_app(self.gateway)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False), base_url="http://gateway", timeout=60
        )
        self.run(self.gateway.start())
        self.csrf = ""

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.run(self.client.request(method, path, **kwargs))

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.request(method, path, headers={"authorization": f"Bearer {ADMIN_KEY}"}, **kwargs)

    def sign_in(self) -> None:
        answer = self.request("POST", "/console/login", data={"key": ADMIN_KEY})
        assert answer.status_code == 303, answer.text
        page = self.request("GET", "/console/keys")
        found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert found, page.text
        self.csrf = found.group(1)

    def console(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.request(method, path, headers={"x-csrf-token": self.csrf}, **kwargs)

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.gateway.aclose())
        self.loop.close()


def _error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("SWITCHYARD_POLICY_POLL_S", "0")


@pytest.fixture()
def gw(tmp_path: Path) -> Iterator[InProcess]:
    app = InProcess(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")
    yield app
    app.close()


@pytest.fixture()
def pg_gw(tmp_path: Path, pg_schema_url: str) -> Iterator[InProcess]:
    app = InProcess(tmp_path, pg_schema_url)
    yield app
    app.close()


# -- the admin API's bodies -----------------------------------------------------------------------

NUL_BODIES = [
    ("/admin/keys", "POST", {"tenant": "acme\x00", "team": "ml"}, "tenant"),
    ("/admin/keys", "POST", {"tenant": "acme", "team": "\x00"}, "team"),
    ("/admin/keys", "POST", {"tenant": "acme", "team": "ml", "name": "n\x00"}, "name"),
    ("/admin/budgets", "PUT", {"scope": "tenant", "scope_id": "ac\x00me", "usd": 1}, "scope_id"),
    ("/admin/budgets", "PUT", {"scope": "team", "scope_id": "ml", "tenant": "acme\x00", "usd": 1}, "tenant"),
]


@pytest.mark.parametrize(("path", "method", "body", "param"), NUL_BODIES)
def test_a_nul_in_a_name_is_a_400_on_postgresql(pg_gw: InProcess, path: str, method: str, body: dict[str, Any], param: str) -> None:
    """PostgreSQL's text columns refuse NUL: the insert (or the budget's look-up) failed, a 500."""
    assert _error(pg_gw.admin(method, path, json=body), 400, "invalid_value")["param"] == param
    assert pg_gw.admin("GET", "/admin/keys").json()["data"] == []


def test_a_rate_limit_past_a_32_bit_integer_is_a_400_on_postgresql(pg_gw: InProcess) -> None:
    """rpm and tpm are INTEGER columns: 2**31 passed validation (le=2**31) and failed the insert, a 500."""
    for field in ("rpm", "tpm"):
        assert _error(pg_gw.admin("POST", "/admin/keys", json={"tenant": "a", "team": "b", field: 2**31}), 400)["param"] == field
    made = pg_gw.admin("POST", "/admin/keys", json={"tenant": "a", "team": "b", "rpm": 2**31 - 1, "tpm": 2**31 - 1})
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("name", ["", "   ", "\t", "ac\nme", "a\x7fb"])
def test_a_blank_or_control_character_name_is_refused(gw: InProcess, name: str) -> None:
    """A tenant of spaces, or one with a newline, names nobody a report or a budget can find again."""
    for body in ({"tenant": name, "team": "ml"}, {"tenant": "acme", "team": name}):
        _error(gw.admin("POST", "/admin/keys", json=body), 400, "invalid_value")
    _error(gw.admin("PUT", "/admin/budgets", json={"scope": "tenant", "scope_id": name, "usd": 1}), 400, "invalid_value")
    assert gw.admin("GET", "/admin/keys").json()["data"] == []


def test_unicode_names_are_kept_as_sent(gw: InProcess) -> None:
    made = gw.admin("POST", "/admin/keys", json={"tenant": "Ünïcødé 租户 🚀", "team": "队", "name": "clé"})
    assert made.status_code == 201, made.text
    assert (made.json()["tenant"], made.json()["team"]) == ("Ünïcødé 租户 🚀", "队")


@pytest.mark.parametrize("body", [[1, 2], "acme", 5, True])
def test_a_body_that_is_not_an_object_says_so(gw: InProcess, body: Any) -> None:
    """It said "invalid value for 'None'", naming no field and no fix."""
    error = _error(gw.admin("POST", "/admin/keys", json=body), 400, "invalid_value")
    assert "None" not in error["message"] and "JSON object" in error["message"], error


def test_a_budget_for_a_key_that_does_not_exist_is_a_404(gw: InProcess) -> None:
    """A mistyped key id set a budget that guards nothing, and answered 200 as if it did."""
    _error(gw.admin("PUT", "/admin/budgets", json={"scope": "key", "scope_id": "key_nosuchkey", "usd": 1}), 404, "key_not_found")
    assert gw.admin("GET", "/admin/budgets").json()["data"] == []
    made = gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml"}).json()
    answer = gw.admin("PUT", "/admin/budgets", json={"scope": "key", "scope_id": made["key_id"], "usd": 1})
    assert answer.status_code == 200, answer.text
    assert gw.admin("DELETE", f"/admin/keys/{made['key_id']}").status_code == 200
    # A revoked key's budget may still be set: its spend is in the books.
    assert gw.admin("PUT", "/admin/budgets", json={"scope": "key", "scope_id": made["key_id"], "usd": 2}).status_code == 200


def _concurrent_budget_puts(app: InProcess) -> list[httpx.Response]:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}

    async def put_all() -> list[httpx.Response]:
        answers = []
        for round_ in range(3):
            bodies = [{"scope": "tenant", "scope_id": f"acme-{round_}", "usd": usd} for usd in range(1, 9)]
            answers += await asyncio.gather(*[app.client.put("/admin/budgets", headers=headers, json=b) for b in bodies])
        return answers

    return app.run(put_all())


def test_concurrent_puts_of_one_new_budget_all_set_it(gw: InProcess) -> None:
    """Each PUT looked for the budget, found none, and inserted: all but the first broke the unique
    constraint, a 500 (an operator's double click, two replicas' scripts)."""
    answers = _concurrent_budget_puts(gw)
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200][:2]
    listed = gw.admin("GET", "/admin/budgets").json()["data"]
    assert sorted(b["scope_id"] for b in listed) == ["acme-0", "acme-1", "acme-2"]
    assert len({a.json()["budget_id"] for a in answers}) == 3


def test_concurrent_puts_of_one_new_budget_all_set_it_on_postgresql(pg_gw: InProcess) -> None:
    answers = _concurrent_budget_puts(pg_gw)
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200][:2]
    assert len(pg_gw.admin("GET", "/admin/budgets").json()["data"]) == 3


@pytest.mark.parametrize("period", ["monthly", "total"])
def test_a_budget_that_lasts_past_the_calendar_is_shown(gw: InProcess, period: str) -> None:
    """The budgets view projects when a budget runs out at its rate so far: a large budget with a tiny
    spend ran out after the year 9999, an OverflowError, and the whole view was a 500."""
    made = gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml", "budget_usd": "1000000000", "period": period}).json()
    asked = gw.request(
        "POST",
        "/v1/chat/completions",
        headers={"authorization": f"Bearer {made['key']}"},
        json={"model": "local-fake", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert asked.status_code == 200 and float(asked.headers["x-switchyard-cost-usd"]) > 0, asked.text
    gw.sign_in()
    answer = gw.console("GET", "/console/api/budgets")
    assert answer.status_code == 200, answer.text
    (budget,) = answer.json()["data"]
    assert budget["spent_usd"] > 0 and budget["runs_out_at"] is None, budget


# -- NUL in path ids and query parameters -----------------------------------------------------------


def test_a_nul_in_a_path_id_is_a_400_on_postgresql(pg_gw: InProcess) -> None:
    """The id went into a WHERE clause, which PostgreSQL refuses with NUL in it: a 500."""
    for method, path in (("DELETE", "/admin/keys/key_%00"), ("POST", "/admin/keys/key_%00/rotate"), ("DELETE", "/admin/budgets/b%00")):
        _error(pg_gw.admin(method, path), 400, "invalid_value")
    pg_gw.sign_in()
    for method, path in (
        ("GET", "/console/api/requests/r%00"),
        ("POST", "/console/api/keys/key_%00/rotate"),
        ("DELETE", "/console/api/keys/key_%00"),
        ("DELETE", "/console/api/budgets/b%00"),
    ):
        _error(pg_gw.console(method, path), 400, "invalid_value")


@pytest.mark.parametrize("query", ["team=%00", "tenant=a%00", "key=%00", "tier=%00", "status=%00", "before=2026-01-01T00:00:00|%00"])
def test_a_nul_in_a_console_filter_is_a_400_on_postgresql(pg_gw: InProcess, query: str) -> None:
    pg_gw.sign_in()
    for view in ("overview", "trend", "groups", "requests", "export.csv", "routing"):
        answer = pg_gw.console("GET", f"/console/api/{view}?{query}")
        assert answer.status_code in (200, 400), (view, answer.status_code, answer.text)
    _error(pg_gw.console("GET", f"/console/api/requests?{query}"), 400, "invalid_value")


# -- the console's figures -------------------------------------------------------------------------


def test_the_routing_view_answers_for_a_policy_without_thresholds(gw: InProcess) -> None:
    """`routing.thresholds` is optional (None), and the view called .get on it: every routing page a 500."""
    gw.sign_in()
    answer = gw.console("GET", "/console/api/routing")
    assert answer.status_code == 200, answer.text
    assert answer.json()["tiers"][0]["threshold"] is None


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:59:59", "9999-12-31", "0001-01-01T00:00:00+14:00", "0001-01-01", "9999-12-31T23:00:00-05:00"]
)
def test_a_date_at_the_end_of_the_calendar_is_a_400(gw: InProcess, when: str) -> None:
    """Rounding the period to whole hours and days stepped past datetime's range: an OverflowError, a 500."""
    gw.sign_in()
    for name in ("since", "until"):
        for view in ("overview", "trend", "groups", "requests", "export.csv", "routing"):
            answer = gw.console("GET", f"/console/api/{view}", params={name: when})
            assert _error(answer, 400, "invalid_value")["param"] == name, view


def test_a_period_that_ends_before_it_starts_is_a_400(gw: InProcess) -> None:
    gw.sign_in()
    answer = gw.console("GET", "/console/api/overview", params={"since": "2026-06-01", "until": "2026-01-01"})
    assert _error(answer, 400, "invalid_value")["param"] == "until"


# -- policy edits ----------------------------------------------------------------------------------


def test_a_lint_cannot_read_the_servers_environment(gw: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply refuses a policy naming environment variables the file does not, so that a console session
    cannot read the server's environment; lint ran no such check and answered the substituted values
    (the tier's model, the policy's name): any variable, the database URL or the admin key, in one call."""
    secret = "postgresql://switchyard:hunter2-db-password@db.internal:5432/ledger"
    monkeypatch.setenv("SWITCHYARD_DATABASE_URL", secret)
    gw.sign_in()
    for sneaky in (
        POLICY.replace("model: local-fake", "model: ${SWITCHYARD_DATABASE_URL}"),
        POLICY.replace("name: attack-admin", "name: x${SWITCHYARD_ADMIN_KEY}"),
    ):
        answer = gw.console("POST", "/console/api/policy/lint", json={"text": sneaky})
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text and ADMIN_KEY not in answer.text
        assert answer.json()["ok"] is False and "SWITCHYARD_" in answer.json()["issues"][0]["message"]
    # A variable the file already names is linted as before.
    gw.path.write_text(POLICY.replace("model: local-fake", "model: ${SY_ATTACK_MODEL:-local-fake}"))
    answer = gw.console("POST", "/console/api/policy/lint", json={"text": POLICY.replace("local-fake", "${SY_ATTACK_MODEL:-other}")})
    assert answer.json()["ok"] is True, answer.text


KEYED = POLICY.replace("routing:", """  paid:
    engine: openai
    model: gpt-x
    base_url: https://api.provider.example/v1
    api_key_env: SY_ATTACK_PROVIDER_KEY
    prices: {input_per_mtok: 1, output_per_mtok: 2}
routing:""")


def test_a_console_session_cannot_read_or_send_away_a_key_the_file_names(gw: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file names a provider key in `api_key_env`. A session substituted it into a field lint shows back
    (it counted as a variable the file 'already names'), or pointed the keyed tier at a server of its own."""
    key = "sk-live-attack-provider-0123456789"
    monkeypatch.setenv("SY_ATTACK_PROVIDER_KEY", key)
    keyed = KEYED
    gw.path.write_text(keyed)
    gw.sign_in()
    for sneaky, word in (
        (keyed.replace("model: local-fake", "model: ${SY_ATTACK_PROVIDER_KEY}"), "substitute"),
        (keyed.replace("name: attack-admin", "name: ${SY_ATTACK_PROVIDER_KEY}"), "substitute"),
        (keyed.replace("https://api.provider.example/v1", "https://collector.attacker.example/v1"), "send the key"),
    ):
        answer = gw.console("POST", "/console/api/policy/lint", json={"text": sneaky})
        assert answer.status_code == 200 and key not in answer.text, answer.text
        assert answer.json()["ok"] is False and word in answer.json()["issues"][0]["message"], answer.text
        applied = gw.console("POST", "/console/api/policy/apply", json={"text": sneaky})
        assert applied.status_code == 400 and gw.path.read_text() == keyed, applied.text
    # Edits that keep where the key goes are linted as before.
    answer = gw.console("POST", "/console/api/policy/lint", json={"text": keyed.replace("model: gpt-x", "model: gpt-y")})
    assert answer.json()["ok"] is True, answer.text


BOMB = "".join(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n" for prev, name in zip("abcdef", "bcdefg", strict=True))
HOSTILE_YAML = {  # the text, and a word its issue must say
    "nested past the parser's recursion": ("tiers: " + "[" * 3000 + "]" * 3000 + "\n", "deep"),
    "an alias bomb": ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + BOMB + POLICY.replace("version: 1\n", ""), "alias"),
    "a recursive alias": ("x: &x [*x]\n" + POLICY, "alias"),
}


@pytest.mark.parametrize("hostile", list(HOSTILE_YAML))
def test_hostile_yaml_is_a_located_refusal_and_the_policy_stays(gw: InProcess, hostile: str) -> None:
    """Deep nesting was a RecursionError, and a recursive alias recursed forever: a 500. An alias bomb
    (256 KB of YAML expanding to 10**7 nodes, or as many more as the size allows) held the CPU for as
    long as its copy took; apply ran it on the event loop, stalling every request of the gateway."""
    text, word = HOSTILE_YAML[hostile]
    gw.sign_in()
    linted = gw.console("POST", "/console/api/policy/lint", json={"text": text})
    assert linted.status_code == 200, linted.text
    assert linted.json()["ok"] is False and word in linted.json()["issues"][0]["message"], linted.text
    applied = gw.console("POST", "/console/api/policy/apply", json={"text": text})
    assert applied.status_code == 400 and applied.json()["reloaded"] is False, applied.text
    assert gw.path.read_text() == POLICY and gw.app.app.state.gateway.policy.name == "attack-admin"
    gw.path.write_text(text)
    reloaded = gw.admin("POST", "/admin/policy/reload")
    assert _error(reloaded, 400, "invalid_policy") and gw.app.app.state.gateway.policy.name == "attack-admin"


def test_apply_lints_off_the_event_loop(gw: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """Linting is CPU work on the operator's text (YAML, validation, preflight): on the event loop, every
    request the gateway was serving waited for it."""
    import threading

    from router.console import policy_edit

    loop_thread, seen = threading.get_ident(), []
    real = policy_edit.lint_text

    def watched(text: str) -> dict[str, Any]:
        seen.append(threading.get_ident())
        return real(text)

    monkeypatch.setattr(policy_edit, "lint_text", watched)
    gw.sign_in()
    applied = gw.console("POST", "/console/api/policy/apply", json={"text": POLICY.replace("attack-admin", "attack-two")})
    assert applied.status_code == 200, applied.text
    assert seen and loop_thread not in seen


def _paid_tier(base_url: str) -> str:
    tier = f"""  paid:
    engine: openai
    model: paid
    base_url: "{base_url}"
    prices: {{input_per_mtok: 1, output_per_mtok: 1}}
routing:"""
    return POLICY.replace("routing:", tier)


@pytest.mark.parametrize("base_url", ["http://upstream.example:99999/v1", "http://[::1/v1", "http://upstream.example:-1/v1"])
def test_the_admin_reload_refuses_what_serve_and_the_console_refuse(gw: InProcess, base_url: str) -> None:
    """The reload ran the loader's checks only: a tier whose URL no client can call (a port past 65535)
    went into force and answered every request with a 502, where `serve` refuses to start and the
    console's apply refuses the same text (the preflight's errors)."""
    gw.path.write_text(_paid_tier(base_url))
    error = _error(gw.admin("POST", "/admin/policy/reload"), 400, "invalid_policy")
    assert "base_url" in error["message"], error
    assert list(gw.app.app.state.gateway.policy.tiers) == ["local"]
    gw.sign_in()
    assert gw.console("POST", "/console/api/policy/apply", json={"text": _paid_tier(base_url)}).status_code == 400


def test_a_refused_reload_shows_no_credential_from_the_environment(gw: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """The error message was scrubbed of URLs and credentials, but the issues listed beside it were not:
    a URL with a password, substituted from the environment, came back whole."""
    monkeypatch.setenv("SY_ATTACK_PAID_URL", "ftp://svc:hunter2-upstream-password@upstream.example/v1")
    gw.path.write_text(_paid_tier("${SY_ATTACK_PAID_URL}"))
    answer = gw.admin("POST", "/admin/policy/reload")
    _error(answer, 400, "invalid_policy")
    assert answer.json()["issues"] and "hunter2" not in answer.text, answer.text


def test_a_refused_reload_says_which_url_and_where(gw: InProcess) -> None:
    """Its issues were scrubbed as a client's error is, so the operator could not see which URL was refused,
    and each issue's path was one dotted string the console could not place."""
    gw.path.write_text(_paid_tier("http://upstream.example:99999/v1"))
    answer = gw.admin("POST", "/admin/policy/reload")
    _error(answer, 400, "invalid_policy")
    (issue,) = [i for i in answer.json()["issues"] if "base_url" in i["path"]]
    assert issue["path"][0] == "tiers" and len(issue["path"]) > 1 and "upstream.example:99999" in issue["text"], issue


def test_a_reload_parses_and_checks_the_policy_off_the_event_loop(gw: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reload parsed (YAML twice, alias and key checks) and preflighted on the event loop: seconds for a large
    policy, during which every request waited. Recorded by wrapping the real functions, which still do the work."""
    import threading

    from router import reload as reload_module

    seen: list[str] = []
    real_load, real_preflight = reload_module.load_policy, reload_module.preflight

    def load(*args: Any) -> Any:
        seen.append(threading.current_thread().name)
        return real_load(*args)

    def check(*args: Any) -> Any:
        seen.append(threading.current_thread().name)
        return real_preflight(*args)

    monkeypatch.setattr(reload_module, "load_policy", load)
    monkeypatch.setattr(reload_module, "preflight", check)
    answer = gw.admin("POST", "/admin/policy/reload")
    assert answer.status_code == 200, answer.text
    loop_thread = gw.run(_thread_name())
    assert len(seen) == 2 and loop_thread not in seen, (seen, loop_thread)


async def _thread_name() -> str:
    import threading

    return threading.current_thread().name


# -- what held (kept as regressions) ----------------------------------------------------------------


def test_concurrent_rotations_of_one_key_leave_exactly_one_working_secret(gw: InProcess) -> None:
    """Twenty rotations at once: those that overlap another lose with a 409 (retry), the rest answer a
    new secret, the last written is the key's, and the key is never left without one (nor with two).
    (tests/test_keys_atomic.py forces the overlap and checks exactly one wins.)"""
    made = gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml"}).json()
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}

    async def rotate_all() -> list[httpx.Response]:
        return await asyncio.gather(*[gw.client.post(f"/admin/keys/{made['key_id']}/rotate", headers=headers) for _ in range(20)])

    answers = gw.run(rotate_all())
    assert {a.status_code for a in answers} <= {200, 409}, [a.text for a in answers]
    assert all(a.json()["error"]["code"] == "rotation_conflict" for a in answers if a.status_code == 409)
    won = [a.json()["key"] for a in answers if a.status_code == 200]
    assert won and len(set(won)) == len(won)
    live = [s for s in [*won, made["key"]] if gw.gateway.tenancy.keys.lookup(s)[0] == "live"]
    assert len(live) == 1 and live[0] in won


def test_every_state_changing_console_call_needs_the_csrf_token(gw: InProcess) -> None:
    from router.console.routes import router as console_router

    made = gw.admin("POST", "/admin/keys", json={"tenant": "acme", "team": "ml"}).json()
    gw.sign_in()
    checked = 0
    for route in console_router.routes:
        for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}:  # type: ignore[attr-defined]
            if route.path == "/console/login":  # type: ignore[attr-defined]
                continue
            path = route.path.replace("{key_id}", made["key_id"]).replace("{budget_id}", "b")  # type: ignore[attr-defined]
            for headers in ({}, {"x-csrf-token": gw.csrf[:-1]}, {"x-csrf-token": ""}):
                _error(gw.request(method, path, headers=headers, json={"text": POLICY}), 403, "csrf_failed")
            checked += 1
    assert checked >= 8
    assert gw.admin("GET", "/admin/keys").json()["data"][0]["prefix"] == made["prefix"]  # not rotated, not revoked


def test_an_expired_console_session_is_signed_out(gw: InProcess) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from router.ledger.tables import console_sessions

    gw.sign_in()
    assert gw.console("GET", "/console/api/session").status_code == 200
    with gw.gateway.ledger.engine.begin() as connection:
        connection.execute(update(console_sessions).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    _error(gw.console("GET", "/console/api/overview"), 401, "console_session_required")
    _error(gw.console("POST", "/console/api/keys", json={"tenant": "a", "team": "b"}), 401, "console_session_required")
    assert gw.request("GET", "/console/overview").headers["location"] == "/console/login"
