"""Console sessions: sign in with the admin key, then an HttpOnly, SameSite=Strict cookie.

Sessions live in this process's memory (a restart signs everyone out, which is the safe way to
fail) and expire after SWITCHYARD_CONSOLE_SESSION_S seconds (8 hours by default). The cookie holds
a random token; the store keeps only its SHA-256, so a memory dump does not hand out live
sessions. Each session has a CSRF token that every state-changing request must echo in the
X-CSRF-Token header (or a csrf form field): a cookie alone, which a foreign page can make the
browser send, changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from policies.settings import current as current_settings

COOKIE = "switchyard_console"
MAX_SESSIONS = 1000  # oldest dropped beyond this: signing in in a loop cannot grow memory without bound
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def session_seconds() -> float:
    return current_settings().console_session_s


class FailedSignIns:
    """Failed sign-ins over the last minute, from every client together: past the limit, every sign-in
    is refused until the oldest failure is a minute old, the right key included (else the refusals
    would still tell a guesser which key is right). Global rather than per address, because behind a
    proxy every client has the proxy's address; the cost is that a flood of guesses also keeps the
    operator out of the console for a minute, never out of the API."""

    def __init__(self, per_minute: int | None = None) -> None:
        if per_minute is None:
            per_minute = current_settings().console_signin_failures
        self.per_minute = max(1, per_minute)
        self._times: list[float] = []

    def retry_after(self, now: float | None = None) -> float:
        """Seconds until a sign-in may be tried again; 0 when it may be now."""
        now = time.monotonic() if now is None else now
        self._times = [t for t in self._times if now - t < 60.0]
        return 60.0 - (now - self._times[0]) if len(self._times) >= self.per_minute else 0.0

    def failed(self, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)


def admin_key() -> str | None:
    """The admin key the admin API uses; without it the console is off, as the admin API is."""
    return current_settings().admin_key


def key_matches(offered: str) -> bool:
    expected = admin_key()
    return expected is not None and hmac.compare_digest(offered.encode(), expected.encode())


@dataclass
class Session:
    csrf: str
    expires_at: float


class Sessions:
    def __init__(self) -> None:
        self._live: dict[str, Session] = {}

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def open(self) -> tuple[str, Session]:
        now = time.time()
        for digest in [d for d, s in self._live.items() if s.expires_at <= now]:
            del self._live[digest]
        while len(self._live) >= MAX_SESSIONS:
            del self._live[next(iter(self._live))]
        token = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), expires_at=now + session_seconds())
        self._live[self._digest(token)] = session
        return token, session

    def find(self, request: Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        if not token or admin_key() is None:
            return None
        digest = self._digest(token)
        session = self._live.get(digest)
        if session is None:
            return None
        if session.expires_at <= time.time():
            del self._live[digest]
            return None
        return session

    def close(self, request: Request) -> None:
        token = request.cookies.get(COOKIE)
        if token:
            self._live.pop(self._digest(token), None)


def csrf_ok(session: Session, offered: str | None) -> bool:
    return bool(offered) and hmac.compare_digest(offered.encode(), session.csrf.encode())  # type: ignore[union-attr]
