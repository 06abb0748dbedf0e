"""`pyrun events` (the engine's journal, runtime/engine/journal.py, as `docker events`) and
`pyrun system df|prune|events|info`."""

from __future__ import annotations

import time

import click

from runtime.errors import PyrunError


def parse_when(text: str, now: float | None = None) -> int:
    """units.parse_when, its refusal as pyrun's one-line error."""
    from runtime import units
    try:
        return units.parse_when(text, now)
    except ValueError as e:
        raise PyrunError(str(e)) from None


def parse_filters(values) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or key not in ("container", "network", "event", "image", "label", "type"):
            raise PyrunError(f"invalid filter {v!r} (container=, network=, event=, image=, "
                             "label=, type=)")
        out.setdefault(key, []).append(value)
    return out


def text_line(e: dict) -> str:
    """docker events' default line."""
    from runtime.timestamps import rfc3339_ns
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(e["Actor"]["Attributes"].items()))
    return f"{rfc3339_ns(e['timeNano'])} {e['Type']} {e['Action']} {e['Actor']['ID']} ({attrs})"


@click.command("events")
@click.option("--since", help="Unix time, duration (10m) or RFC 3339")
@click.option("--until", help="Unix time, duration (10m) or RFC 3339")
@click.option("-f", "--filter", "filters", multiple=True,
              help="container=, network=, event=, image=, label=, type=")
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


@click.group("system")
def system_group():
    """The whole store: usage, pruning, events."""


@system_group.command("df")
@click.option("--format", "fmt", default="table", help="table, json, or a Go template")
@click.pass_context
def df_cmd(ctx, fmt):
    """Disk used by images, containers and volumes, and how much of it nothing uses."""
    from runtime.cli.format import template
    from runtime.engine import system
    from runtime.image.store import Store
    from runtime.units import human_size
    rows = []
    for r in system.df(Store(ctx.obj.get("root")).ensure()):
        share = f" ({r['Reclaimable'] * 100 // r['Size']}%)" if r["Size"] else ""
        rows.append({"Type": r["Type"], "TotalCount": str(r["TotalCount"]),
                     "Active": str(r["Active"]), "Size": human_size(r["Size"]),
                     "Reclaimable": human_size(r["Reclaimable"]) + share})
    click.echo(template(fmt, rows, [("TYPE", "Type"), ("TOTAL", "TotalCount"),
                                    ("ACTIVE", "Active"), ("SIZE", "Size"),
                                    ("RECLAIMABLE", "Reclaimable")]), nl=False)


@system_group.command("prune")
@click.option("-a", "--all", "everything", is_flag=True, help="Every unused image, not "
              "only dangling ones")
@click.option("--volumes", is_flag=True, help="Unused anonymous volumes too")
@click.option("-f", "--force", is_flag=True, help="Do not ask")
@click.pass_context
def prune_cmd(ctx, everything, volumes, force):
    """Remove stopped containers, unused images and (--volumes) volumes."""
    from runtime.engine import containers as cmod
    from runtime.engine import system
    from runtime.engine import volumes as volmod
    from runtime.image.store import Store
    if not force and not click.confirm("WARNING! This will remove all stopped containers "
                                       "and unused images. Are you sure you want to "
                                       "continue?"):
        return
    store = Store(ctx.obj.get("root")).ensure()
    containers = system.prune_containers(store)
    cmod.after_last()
    if containers:
        click.echo("Deleted Containers:\n" + "".join(c + "\n" for c in containers))
    vols = volmod.prune(store, cmod.all_containers(store)) if volumes else []
    if vols:
        click.echo("Deleted Volumes:\n" + "".join(v + "\n" for v in vols))
    images = system.prune_images(store, everything)
    if images:
        click.echo("Deleted Images:\n" + "".join(f"deleted: {i}\n" for i in images))
    click.echo(f"Total: {len(containers)} containers, {len(images)} images, "
               f"{len(vols)} volumes")


system_group.add_command(events_cmd, "events")


@system_group.command("service")
@click.argument("uri", required=False)
@click.option("-t", "--time", "idle", type=float, default=5.0,
              help="Seconds without requests and connections before it exits (0: never)")
@click.option("--tlsverify", is_flag=True, help="Serve tcp:// only to clients with a "
              "certificate signed by --tlscacert")
@click.option("--tlscacert", type=click.Path(exists=True, dir_okay=False))
@click.option("--tlscert", type=click.Path(exists=True, dir_okay=False))
@click.option("--tlskey", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def service_cmd(ctx, uri, idle, tlsverify, tlscacert, tlscert, tlskey):
    """Serve the Docker Engine API (default unix:///run/pyrun/docker.sock): the docker CLI,
    docker-compose and the Docker SDK drive pyrun through it (DOCKER_HOST)."""
    from runtime.api.server import serve
    tls = None
    if tlsverify or tlscacert or tlscert or tlskey:
        if not (tlsverify and tlscacert and tlscert and tlskey):
            raise click.UsageError("TLS needs all of --tlsverify, --tlscacert, --tlscert, "
                                   "--tlskey")
        tls = {"ca": tlscacert, "cert": tlscert, "key": tlskey}
    serve(uri, idle, tls, ctx.obj.get("root"))

