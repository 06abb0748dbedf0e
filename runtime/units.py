"""Sizes and durations as Docker reads and writes them: flags take 512, 64k, 64m, 1.5g,
10MB (binary multiples); output says 1.2MB (SI, go-units) and "About a minute ago"."""

from __future__ import annotations

import time

UNITS = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parse_size(text: str) -> int:
    """Bytes; ValueError for what is not a size."""
    t = text.strip().lower()
    mult = 1
    if t and t[-1] in UNITS:
        mult = UNITS[t[-1]]
        t = t[:-1]
        if mult == 1 and t[-1:] in UNITS:  # "10mb": the b after a unit
            mult = UNITS[t[-1]]
            t = t[:-1]
    value = int(float(t) * mult)
    if value < 0:
        raise ValueError(f"negative size {text!r}")
    return value


def _scaled(size: float, base: int, units: list[str]) -> str:
    """go-units' CustomSize("%.4g%s" or "%.3g%s"): size in the largest unit below it."""
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{3 if base == 1000 else 4}g}{units[i]}"


def human_size(size: float) -> str:
    """go-units HumanSizeWithPrecision(size, 3): SI units, 3 significant digits."""
    return _scaled(size, 1000, ["B", "kB", "MB", "GB", "TB", "PB"])


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units (KiB, MiB, ...), 4 significant digits, as docker
    stats shows memory."""
    return _scaled(size, 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"])


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def parse_time(rfc3339: str) -> float | None:
    """The whole seconds of an RFC 3339 time in UTC ("2026-12-01T10:00:00.123Z"), or None.
    By hand: time.strptime imports re, locale and calendar, on every `pyrun ls`."""
    base = rfc3339.rstrip("Z").split(".")[0]
    if len(base) != 19 or base[4] != "-" or base[7] != "-" or base[10] != "T" or \
            base[13] != ":" or base[16] != ":":
        return None
    try:
        y, mo, d = int(base[0:4]), int(base[5:7]), int(base[8:10])
        h, mi, sec = int(base[11:13]), int(base[14:16]), int(base[17:19])
    except ValueError:
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and sec < 62):
        return None
    # days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return float(days * 86400 + h * 3600 + mi * 60 + sec)


def parse_time_ns(rfc3339: str) -> int | None:
    """RFC 3339 in UTC with up to nine digits of fraction → integer nanoseconds."""
    whole = parse_time(rfc3339)
    if whole is None:
        return None
    _, dot, frac = rfc3339.rstrip("Z").partition(".")
    digits = "".join(ch for ch in frac if ch.isdigit())[:9] if dot else ""
    return int(whole) * 1_000_000_000 + int(digits.ljust(9, "0") or 0)


def ago(rfc3339: str, now: float | None = None) -> str:
    t = parse_time(rfc3339)
    if t is None:
        return "N/A"
    return human_duration((now or time.time()) - t) + " ago"


def parse_duration(text: str) -> int:
    """Go's durations ("30s", "1m30s", "500ms") → nanoseconds; ValueError otherwise."""
    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000}
    total, num, i = 0, "", 0
    while i < len(text):
        if text[i].isdigit() or text[i] == ".":
            num += text[i]
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "ms", "s", "m", "h") if text.startswith(u, i)),
                    None)
        if unit is None or not num:
            raise ValueError(text)
        total += int(float(num) * units[unit])
        num, i = "", i + len(unit)
    if num or not text:
        raise ValueError(text)
    return total


def parse_when(text: str, now: float | None = None) -> int:
    """--since/--until as Docker takes them: a Unix time ("1700000000", "1700000000.5"), a
    duration back from now ("10m", "1h30m", "45s"), or RFC 3339. Nanoseconds."""
    now = time.time() if now is None else now
    if text.replace(".", "", 1).isdigit():
        return int(float(text) * 1e9)
    total, num, duration = 0.0, "", bool(text)
    units = {"h": 3600, "m": 60, "s": 1}
    for ch in text:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in units and num:
            total += float(num) * units[ch]
            num = ""
        else:
            duration = False
            break
    if duration and not num:
        return int((now - total) * 1e9)
    ts = parse_time(text)
    if ts is None:
        raise ValueError(f"invalid time {text!r}: a Unix time, a duration such as 10m, or "
                         "RFC 3339")
    return int(ts * 1e9)
