"""Time as pyrun writes it everywhere (records, logs, state, image configs): RFC 3339 in UTC
with nanoseconds, as Docker and runc write it. Truncated, never rounded: rounding .9999999996
up would print the second before the one it belongs to."""

from __future__ import annotations

import time


def rfc3339(ts: float | None = None) -> str:
    ts = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}Z"


def rfc3339_ns(ns: int) -> str:
    """The same from integer nanoseconds (a float would lose the last digits)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + \
        f".{ns % 1_000_000_000:09d}Z"


def pauses(first: float = 0.002, most: float = 0.1):
    """Sleeps for a polling loop, a tenth of the time waited so far (between `first` and
    `most`): what ends after t is noticed within about t/10 (a fast container's end within
    milliseconds), and a long wait costs a look every `most` seconds."""
    start = time.monotonic()
    while True:
        yield min(most, max(first, (time.monotonic() - start) / 10))
