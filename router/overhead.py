"""The gateway's own compute per request (the routing classifier and the request's embedding), priced.

Savings are only real net of what routing and caching cost: the ledger row carries this as
`overhead_nanousd`. The measure is the wall time of each classifier prediction and embedding the
request waited for, counted as one CPU busy for that long and priced at the policy's
`accounting.compute_usd_per_cpu_hour`. Wall time rather than CPU time because both run in a
thread pool or a shared micro-batch, where no one thread's CPU clock is this request's; it
overstates a call that waited in a batch and understates one that ONNX spread over several
threads. An embedding computed after the answer left (a cache store) is not in the row.

The pipeline opens a meter per request (`track()`) and the ledger row reads it (`spent_nanousd()`);
the calls add to it through a context variable, so they need no handle on the request (asyncio
copies the context, and with it the same meter, into tasks a request starts).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal


class Meter:
    """Seconds of the gateway's own compute one request waited for."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0

    def nanousd(self, usd_per_cpu_hour: Decimal) -> int:
        return round(self.seconds * float(usd_per_cpu_hour) / 3600 * 1e9)


_current: ContextVar[Meter | None] = ContextVar("switchyard_compute_meter", default=None)


def track() -> Meter:
    """A fresh meter for the request running in this context."""
    meter = Meter()
    _current.set(meter)
    return meter


def spent_nanousd(usd_per_cpu_hour: Decimal) -> int:
    """What the current request's measured compute costs; 0 outside a tracked request."""
    meter = _current.get()
    return 0 if meter is None else meter.nanousd(usd_per_cpu_hour)


@contextmanager
def measured() -> Iterator[None]:
    """Add the enclosed work's duration to the current request's meter (if any)."""
    meter = _current.get()
    if meter is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        meter.seconds += time.perf_counter() - started
