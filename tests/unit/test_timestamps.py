"""runtime/timestamps.py: RFC 3339 as Docker and runc write it, and the polling pauses."""

from __future__ import annotations

import calendar

from runtime import paths
from runtime.timestamps import pauses, rfc3339, rfc3339_ns

NOON = calendar.timegm((2026, 12, 1, 12, 0, 0))


def test_nanoseconds_truncated_never_rounded_up_into_the_next_second():
    assert rfc3339(NOON) == "2026-12-01T12:00:00.000000000Z"
    assert rfc3339(NOON + 0.25) == "2026-12-01T12:00:00.250000000Z"
    assert rfc3339(NOON + 0.9999995).startswith("2026-12-01T12:00:00.99999")  # not :01
    assert rfc3339(0.9999999996) == "1970-01-01T00:00:00.999999999Z"  # rounded: 10 digits
    ns = NOON * 10**9 + 999_999_999
    assert rfc3339_ns(ns) == "2026-12-01T12:00:00.999999999Z"  # every digit kept
    assert rfc3339_ns(NOON * 10**9 + 7) == "2026-12-01T12:00:00.000000007Z"


def test_now_by_default():
    import time
    before = time.time()
    text = rfc3339()
    assert text.endswith("Z") and len(text) == len("2026-12-01T12:00:00.000000000Z")
    assert text[:19] >= rfc3339(before)[:19]


def test_pauses_start_short_grow_with_the_wait_and_stay_under_most(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("runtime.timestamps.time.monotonic", lambda: clock[0])
    sleeps = pauses(first=0.002, most=0.1)
    assert next(sleeps) == 0.002  # nothing waited yet
    clock[0] += 0.5
    assert abs(next(sleeps) - 0.05) < 1e-9  # a tenth of the wait
    clock[0] += 60
    assert next(sleeps) == 0.1


def test_every_host_path_names_pyrun_and_the_console_socket_fits_sun_path():
    for name in dir(paths):
        value = getattr(paths, name)
        if name.isupper() and isinstance(value, str):
            assert "pyrun" in value, name  # leaks can be found by name
    sock = paths.console_socket("f" * 64)
    assert "pyrun" in sock and len(sock.encode()) < 108
