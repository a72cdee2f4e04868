"""Virtual API keys, stored hashed, each mapping to a tenant and a team.

Keys are 32 random bytes, so an unsalted SHA-256 is enough to store them (as with GitHub or
Stripe tokens): nothing about them can be guessed from the hash. A key is shown once, at creation.
Look-ups are cached for `CACHE_S` seconds, which bounds how long a revoked key keeps working on a
replica that has seen it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from router.ledger.tables import api_keys

KEY_PREFIX = "sk-sy-"
# A key's rpm and tpm are INTEGER columns: PostgreSQL holds 2**31 - 1 at most (more was a failed insert).
MAX_PER_MINUTE = 2**31 - 1
# Control characters in a tenant, team or key name: PostgreSQL's text refuses NUL, and a newline or a tab
# breaks the reports, logs and metric labels a name lands in.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
CACHE_S = 5.0
KeyState = Literal["live", "revoked", "unknown"]


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    tenant: str
    team: str
    name: str | None
    rpm: int | None
    tpm: int | None
    prefix: str
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id, "prefix": self.prefix, "tenant": self.tenant, "team": self.team, "name": self.name,
            "rpm": self.rpm, "tpm": self.tpm,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _info(row: Any) -> KeyInfo:
    return KeyInfo(row.key_id, row.tenant, row.team, row.name, row.rpm, row.tpm, row.prefix, row.created_at, row.revoked_at)


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[str, tuple[float, KeyState, KeyInfo | None]] = {}
        self._any: tuple[float, bool] = (0.0, False)

    def create(
        self, tenant: str, team: str, name: str | None = None, rpm: int | None = None, tpm: int | None = None
    ) -> tuple[str, KeyInfo]:
        secret = secrets.token_urlsafe(32)
        key = KEY_PREFIX + secret
        key_id = "key_" + secrets.token_hex(6)
        info = KeyInfo(key_id, tenant, team, name, rpm, tpm, key[: len(KEY_PREFIX) + 4], datetime.now(UTC))
        with self.engine.begin() as connection:
            connection.execute(
                insert(api_keys).values(
                    key_id=key_id, key_hash=hash_key(key), prefix=info.prefix, tenant=tenant, team=team, name=name,
                    rpm=rpm, tpm=tpm, created_at=info.created_at,
                )
            )
        self._any = (0.0, True)
        return key, info

    def list(self, include_revoked: bool = False) -> list[KeyInfo]:
        query = select(api_keys).order_by(api_keys.c.created_at)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as connection:
            return [_info(row) for row in connection.execute(query)]

    def get(self, key_id: str) -> KeyInfo | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        return _info(row) if row else None

    def revoke(self, key_id: str) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                update(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC))
            )
        self._cache.clear()
        return result.rowcount > 0

    def rotate(self, key_id: str) -> tuple[str, KeyInfo] | None:
        """A new secret for the same key id (tenant, team, limits and budgets stay); the old one stops."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            result = connection.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(key_hash=hash_key(secret), prefix=secret[: len(KEY_PREFIX) + 4])
            )
        self._cache.clear()
        if result.rowcount == 0:
            return None
        info = self.get(key_id)
        assert info is not None
        return secret, info

    def cached_any(self) -> bool:
        return self._any[1] or time.monotonic() - self._any[0] < CACHE_S

    def any_keys(self) -> bool:
        """Whether a key was ever created here, revoked ones included.

        Revoked keys count: a deployment that has issued keys has chosen to require them, and
        revoking the last one must lock the gateway, not open it (issue 11, defect 4).
        """
        checked, value = self._any
        if value or time.monotonic() - checked < CACHE_S:
            return value  # once keys exist they always will: rows are revoked, never deleted
        with self.engine.connect() as connection:
            found = connection.execute(select(api_keys.c.key_id).limit(1)).first() is not None
        self._any = (time.monotonic(), found)
        return found

    def peek(self, key: str) -> tuple[bool, KeyState, KeyInfo | None]:
        """A cached answer without touching the database: (found in cache, state, key info)."""
        cached = self._cache.get(hash_key(key))
        if cached is not None and time.monotonic() - cached[0] < CACHE_S:
            return True, cached[1], cached[2]
        return False, "unknown", None

    def lookup(self, key: str) -> tuple[KeyState, KeyInfo | None]:
        """Whether a secret is a live key, a revoked one, or none at all; with the live key's info."""
        digest = hash_key(key)
        now = time.monotonic()
        with self.engine.connect() as connection:
            row = connection.execute(select(api_keys).where(api_keys.c.key_hash == digest)).first()
        state: KeyState = "unknown" if row is None else ("revoked" if row.revoked_at is not None else "live")
        info = _info(row) if state == "live" else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, state, info)
        return state, info

    def authenticate(self, key: str) -> KeyInfo | None:
        return self.lookup(key)[1]
