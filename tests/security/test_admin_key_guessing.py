"""The admin API limits wrong keys as the console's sign-in does: past the limit every call is refused
for the rest of the minute, the right key included, so guessing runs at a bounded rate and the
refusals tell a guesser nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from policies.loader import load_policy_text
from policies.settings import Settings, installed
from router.app import create_app
from router.gateway import Gateway
from router.ledger import Ledger

ADMIN = "right-admin-key-0123456789"
POLICY = """
version: 1
name: admin-guess
tiers:
  local:
    engine: fake
    model: local-fake
routing: {classifier: rules}
"""


def _statuses(tmp_path: Path, keys: list[str]) -> list[tuple[int, str | None, str | None]]:
    settings = Settings.from_env({"SWITCHYARD_ADMIN_KEY": ADMIN, "SWITCHYARD_CONSOLE_SIGNIN_FAILURES": "3"})

    async def main() -> list[tuple[int, str | None, str | None]]:
        gateway = Gateway(load_policy_text(POLICY), ledger=Ledger(f"sqlite:///{tmp_path / 'ledger.db'}"))
        await gateway.start()
        try:
            transport = httpx.ASGITransport(app=create_app(gateway))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                seen = []
                for key in keys:
                    answer = await client.get("/admin/keys", headers={"authorization": f"Bearer {key}"})
                    code = answer.json().get("error", {}).get("code") if answer.status_code >= 400 else None
                    seen.append((answer.status_code, code, answer.headers.get("retry-after")))
                return seen
        finally:
            await gateway.aclose()

    with installed(settings):
        return asyncio.run(main())


def test_wrong_admin_keys_are_limited_and_the_limit_holds_for_the_right_key(tmp_path: Path) -> None:
    seen = _statuses(tmp_path, [ADMIN, "guess-1", "guess-2", "guess-3", "guess-4", ADMIN])
    assert seen[0][0] == 200, seen
    assert [s[:2] for s in seen[1:4]] == [(401, "invalid_admin_key")] * 3, seen
    for status, code, retry in seen[4:]:
        assert (status, code) == (429, "admin_key_rate_limited"), seen
        assert retry is not None and 1 <= int(retry) <= 60, seen


def test_a_few_wrong_keys_and_any_number_of_keyless_calls_do_not_lock_out_the_right_one(tmp_path: Path) -> None:
    # Keyless calls (scanners, a stale probe) guess nothing: counting them let anyone lock the operator out.
    seen = _statuses(tmp_path, ["guess-1", "guess-2", "", "", "", "", "", ADMIN])
    assert [s[0] for s in seen] == [401] * 7 + [200], seen
