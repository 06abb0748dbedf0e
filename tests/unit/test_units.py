"""runtime/units.py: RFC 3339 times read by hand (no strptime on `ls`'s path), held to the
standard library's reading."""

from __future__ import annotations

import calendar
import random
import time

import pytest

from runtime.units import parse_time, parse_time_ns


def test_parse_time_agrees_with_the_standard_library():
    rng = random.Random(15)
    for t in [0, 951_782_400, 4_102_444_799] + [rng.randrange(0, 2**32) for _ in range(2000)]:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
        assert parse_time(text + "Z") == parse_time(text + ".5Z") == \
            calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


@pytest.mark.parametrize("bad", ["", "N/A", "2026-13-01T00:00:00Z", "2026-12-01 10:00:00Z",
                                 "2026-12-01T10:00Z", "abcd-12-01T10:00:00Z",
                                 "2026-12-01T24:00:00Z"])
def test_what_is_not_a_time(bad):
    assert parse_time(bad) is None and parse_time_ns(bad) is None


def test_nanoseconds():
    assert parse_time_ns("1970-01-01T00:00:01.000000042Z") == 1_000_000_042
    assert parse_time_ns("1970-01-01T00:00:01Z") == 1_000_000_000
