"""Slow-client protection for the HTTP server: read timeouts and a connection cap.

uvicorn closes an idle keep-alive connection, but a connection that never sends a request, sends
its headers a byte at a time, or stalls in the middle of its body stays open for ever; a few
hundred of them use up the process's file descriptors and nothing else gets in. `GuardedHttp`
(uvicorn's httptools protocol with timers) adds:

- `header_timeout_s`: a request's headers must arrive whole this long after its first byte (or
  after the connection opened); otherwise the connection is closed (408 if a request began);
- `body_timeout_s`: its body must arrive whole this long after the headers; otherwise the
  connection is closed (read_json answers 408 a little before that, where it is reading);
- a response sent before the request's body was read (401, 413) closes the connection instead of
  reading and discarding the rest of the body;
- `max_connections`: at the cap, a new connection evicts the connection least recently heard from
  among those not being served (idle, or still sending their request); if every connection is
  being served, the new one is answered 503 and closed. By default the cap leaves 128 of the
  process's file descriptors (RLIMIT_NOFILE) for upstreams, the ledger and logs, and is at most 4096.

Idle keep-alive connections are closed by uvicorn after `keepalive_timeout_s`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policies.settings import Settings

log = logging.getLogger("switchyard")

FD_RESERVE = 128
MAX_CONNECTIONS = 4096
_CLOSE_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_CLOSE_503 = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\nretry-after: 1\r\n\r\n"


def default_max_connections() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft - FD_RESERVE))


@dataclass(frozen=True)
class ServerLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keepalive_timeout_s: float = 5.0
    max_connections: int = 0  # 0: derived from the file-descriptor limit

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        return cls(
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
            keepalive_timeout_s=settings.keepalive_timeout_s,
            max_connections=settings.max_connections or default_max_connections(),
        )

    def describe(self) -> str:
        return (f"headers within {self.header_timeout_s:g} s, bodies within {self.body_timeout_s:g} s, "
                f"idle keep-alive {self.keepalive_timeout_s:g} s, at most {self.max_connections} connections")


# What read_json enforces; `switchyard serve` sets it from its settings.
current = ServerLimits()


def guarded_protocol(limits: ServerLimits) -> type[asyncio.Protocol] | str:
    """uvicorn's `http` setting: the guarded httptools protocol, or uvicorn's default where httptools
    is missing (then only keep-alive and body timeouts apply)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        log.warning("httptools is not installed: no header timeout or connection cap (pip install 'uvicorn[standard]')")
        return "auto"

    class GuardedHttp(HttpToolsProtocol):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._timer: asyncio.TimerHandle | None = None
            self._began = False  # a request's first byte arrived
            self._serving = False  # a whole request arrived and its response is not complete
            self._heard = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._heard = self.loop.time()
            if len(self.connections) > limits.max_connections and not self._evict():
                transport.write(_CLOSE_503)
                transport.close()
                return
            self._arm(limits.header_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            self._heard = self.loop.time()
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._began = True
            if self._timer is None:
                self._arm(limits.header_timeout_s)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._arm(limits.body_timeout_s + 5)  # read_json answers 408 at body_timeout_s; this is the backstop

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._disarm()
            self._began = False
            self._serving = True

        def on_response_complete(self) -> None:
            self._serving = False
            cycle = self.cycle
            if cycle is not None and cycle.more_body and not self.transport.is_closing():
                # The rest of an unread body (after a 401 or 413) would only be read to be thrown away.
                self._disarm()
                self.transport.close()
                return
            super().on_response_complete()

        def _arm(self, delay: float) -> None:
            self._disarm()
            self._timer = self.loop.call_later(delay, self._expired)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expired(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self._began and (self.cycle is None or self.cycle.response_complete or not self.cycle.response_started):
                self.transport.write(_CLOSE_408)
            self.transport.close()

        def _evict(self) -> bool:
            """Close the connection least recently heard from among those not being served."""
            idle = [c for c in self.connections if c is not self and isinstance(c, GuardedHttp) and not c._serving
                    and not c.transport.is_closing()]
            if not idle:
                return False
            victim = min(idle, key=lambda c: c._heard)
            victim._disarm()
            victim.transport.close()
            return True

    return GuardedHttp
