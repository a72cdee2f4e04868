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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from router.ledger.tables import api_keys

if TYPE_CHECKING:
    from router.tenancy.budgets import Budget, BudgetBook

KEY_PREFIX = "sk-sy-"
# A key's rpm and tpm are INTEGER columns: PostgreSQL holds 2**31 - 1 at most (more was a failed insert).
MAX_PER_MINUTE = 2**31 - 1
# Control characters in a tenant, team or key name: PostgreSQL's text refuses NUL, and a newline or a tab
# breaks the reports, logs and metric labels a name lands in.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
CACHE_S = 5.0
KeyState = Literal["live", "revoked", "unknown"]


class RotationConflict(Exception):
    """Another rotation of the same key committed between this one's read and its write: this one changed nothing."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"key {key_id} was rotated by another request at the same time, so this rotation changed nothing: "
            "the key's secret is the one that request was shown. Retry to rotate it again."
        )
        self.key_id = key_id


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
        with self.engine.begin() as connection:
            key, info = self._insert(connection, tenant, team, name, rpm, tpm)
        self._any = (0.0, True)
        return key, info

    def create_with_budget(
        self, book: BudgetBook, period: str, limit_nanousd: int, tenant: str, team: str, name: str | None = None,
        rpm: int | None = None, tpm: int | None = None,
    ) -> tuple[str, KeyInfo, Budget]:
        """A key and its hard budget in one transaction: both are stored or neither. Two transactions left,
        when the budget's failed, a stored key with no budget, one that spends without limit."""
        with self.engine.begin() as connection:
            key, info = self._insert(connection, tenant, team, name, rpm, tpm)
            budget = book.set_within(connection, "key", info.key_id, period, limit_nanousd)
        book.forget()  # after the commit: a read between a forget and the commit would cache the old budgets
        self._any = (0.0, True)
        return key, info, budget

    def _insert(
        self, connection: Connection, tenant: str, team: str, name: str | None, rpm: int | None, tpm: int | None
    ) -> tuple[str, KeyInfo]:
        secret = secrets.token_urlsafe(32)
        key = KEY_PREFIX + secret
        key_id = "key_" + secrets.token_hex(6)
        info = KeyInfo(key_id, tenant, team, name, rpm, tpm, key[: len(KEY_PREFIX) + 4], datetime.now(UTC))
        connection.execute(
            insert(api_keys).values(
                key_id=key_id, key_hash=hash_key(key), prefix=info.prefix, tenant=tenant, team=team, name=name,
                rpm=rpm, tpm=tpm, created_at=info.created_at,
            )
        )
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
        """A new secret for the same key id (tenant, team, limits and budgets stay); the old one stops.

        None when there is no live key of that id. Compare-and-swap on the secret's hash as read here: of
        rotations that overlap, one is written and the others raise RotationConflict. Unconditional writes
        answered every one of them with a new secret, and only the last written worked.
        """
        with self.engine.connect() as connection:
            row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))).first()
        if row is None:
            return None
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        prefix = secret[: len(KEY_PREFIX) + 4]
        # Its own transaction, not the read's: in SQLite's WAL mode a write after a read in one transaction
        # fails outright (SQLITE_BUSY_SNAPSHOT) once another writer has committed, where it should lose.
        with self.engine.begin() as connection:
            result = connection.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None), api_keys.c.key_hash == row.key_hash)
                .values(key_hash=hash_key(secret), prefix=prefix)
            )
        self._cache.clear()
        if result.rowcount == 0:
            now = self.get(key_id)
            if now is None or now.revoked_at is not None:
                return None  # revoked meanwhile: as if it had been before
            raise RotationConflict(key_id)
        # The row as read, with the prefix written: a second read could see a later rotation's prefix.
        return secret, replace(_info(row), prefix=prefix)

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
