"""Docker's output conventions: human sizes and durations, truncated columns, tables."""

from __future__ import annotations

import time


def human_size(size: float) -> str:
    """go-units HumanSizeWithPrecision(size, 3): SI units, 3 significant digits."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.3g}{units[i]}"


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
    if not rfc3339:
        return None
    import calendar
    base = rfc3339.rstrip("Z").split(".")[0]
    try:
        return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def ago(rfc3339: str, now: float | None = None) -> str:
    t = parse_time(rfc3339)
    if t is None:
        return "N/A"
    return human_duration((now or time.time()) - t) + " ago"


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell plus three spaces, as docker's tabwriter."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        out.append("   ".join(c.ljust(w) for c, w in zip(r[:-1], widths[:-1])) + "   " + r[-1]
                   if len(r) > 1 else r[0])
    return "\n".join(line.rstrip() for line in out) + "\n"


def emit_rows(rows: list[dict], columns: list[tuple[str, str]], quiet: bool = False,
              fmt: str = "table", id_key: str = "ID") -> None:
    """A listing the Docker way: -q prints IDs, --format json one object per line, else a
    table of `columns` ((title, key) pairs)."""
    import json

    import click
    if quiet:
        click.echo("".join(dict.fromkeys(r[id_key] + "\n" for r in rows)), nl=False)
    elif fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
    else:
        click.echo(table([[t for t, _ in columns]] + [[r[k] for _, k in columns] for r in rows]),
                   nl=False)
