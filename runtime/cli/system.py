"""`pyrun events`: the engine's journal (runtime/engine/journal.py), as `docker events`."""

from __future__ import annotations

import time

import click

from runtime.errors import PyrunError


def parse_when(text: str, now: float | None = None) -> int:
    """--since/--until as Docker takes them: a Unix time ("1700000000", "1700000000.5"), a
    duration back from now ("10m", "1h30m", "45s"), or RFC 3339. Nanoseconds."""
    from runtime.units import parse_time
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
        raise PyrunError(f"invalid time {text!r}: a Unix time, a duration such as 10m, or "
                         "RFC 3339")
    return int(ts * 1e9)


def parse_filters(values) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or key not in ("container", "event", "image", "label", "type"):
            raise PyrunError(f"invalid filter {v!r} (container=, event=, image=, label=, "
                             "type=)")
        out.setdefault(key, []).append(value)
    return out


def text_line(e: dict) -> str:
    """docker events' default line."""
    from runtime.timestamps import rfc3339_ns
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(e["Actor"]["Attributes"].items()))
    return f"{rfc3339_ns(e['timeNano'])} {e['Type']} {e['Action']} {e['id']} ({attrs})"


@click.command("events")
@click.option("--since", help="Unix time, duration (10m) or RFC 3339")
@click.option("--until", help="Unix time, duration (10m) or RFC 3339")
@click.option("-f", "--filter", "filters", multiple=True,
              help="container=, event=, image=, label=, type=")
@click.option("--format", "fmt", default="", help="json, {{json .}}, or a Go template")
@click.pass_context
def events_cmd(ctx, since, until, filters, fmt):
    """Container lifecycle events: what has happened (--since) and what happens now."""
    from runtime.cli.format import template
    from runtime.engine import journal
    from runtime.image.store import Store
    store = Store(ctx.obj.get("root"))
    chosen = parse_filters(filters)
    since_ns = parse_when(since) if since else time.time_ns()
    until_ns = parse_when(until) if until else None

    def show(e):
        click.echo(template(fmt, [e], []) if fmt else text_line(e) + "\n", nl=False)

    if until_ns is not None and until_ns <= time.time_ns():
        for e in journal.read(store, since_ns, until_ns, chosen):
            show(e)
        return
    for e in journal.follow(store, since_ns, chosen, until_ns=until_ns):
        show(e)
