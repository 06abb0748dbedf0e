"""`pyrun volume`: create, ls, inspect, rm, prune (runtime/engine/volumes.py)."""

from __future__ import annotations

import click

from runtime.cli.format import INSPECT_FORMAT, inspect_output
from runtime.cli.options import click_options


def _store(ctx):
    from runtime.image.store import Store
    return Store(ctx.obj.get("root")).ensure()


@click.group("volume")
def volume_group():
    """Manage volumes."""


@volume_group.command("create")
@click.argument("name", required=False)
@click.option("-l", "--label", "labels", multiple=True, help="KEY=VALUE")
@click.option("-d", "--driver", default="local", help="local (the only one)")
@click.pass_context
def create_cmd(ctx, name, labels, driver):
    """Create a volume (a random name if none is given)."""
    from runtime.engine import volumes
    from runtime.errors import PyrunError
    if driver != "local":
        raise PyrunError(f"volume driver {driver!r} not found (pyrun has the local driver)")
    v = volumes.create(_store(ctx), name, dict(kv.partition("=")[::2] for kv in labels))
    click.echo(v["Name"])


@volume_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only names")
@click.option("-f", "--filter", "filters", multiple=True, help="name=, label=, dangling=")
@click.option("--format", "fmt", default="table", help="table, json, or a Go template")
@click.pass_context
def ls_cmd(ctx, quiet, filters, fmt):
    """List volumes."""
    from runtime.cli.format import template
    from runtime.engine import volumes
    store = _store(ctx)
    for f in filters:  # checked even where there is nothing to filter, as Docker's
        if f.partition("=")[0] not in ("name", "label", "dangling"):
            from runtime.errors import PyrunError
            raise PyrunError(f"invalid filter {f!r} (name=, label=, dangling=)")
    rows = []
    for v in volumes.all_volumes(store):
        if _matches(store, v, filters):
            rows.append({"Driver": v["Driver"], "Name": v["Name"],
                         "Mountpoint": v["Mountpoint"], "Scope": v["Scope"],
                         "Labels": ",".join(f"{k}={x}" for k, x in v["Labels"].items())})
    if quiet:
        click.echo("".join(r["Name"] + "\n" for r in rows), nl=False)
        return
    click.echo(template(fmt, rows, [("DRIVER", "Driver"), ("VOLUME NAME", "Name")]), nl=False)


def _matches(store, v: dict, filters) -> bool:
    from runtime.engine import volumes
    for f in filters:
        key, _, value = f.partition("=")
        if key == "name":
            ok = value in v["Name"]
        elif key == "label":
            k, sep, want = value.partition("=")
            ok = k in v["Labels"] and (not sep or v["Labels"][k] == want)
        else:  # dangling (ls checked the keys)
            from runtime.engine.containers import all_containers
            ok = (not volumes.users(all_containers(store), v["Name"])) == \
                (value in ("true", "1"))
        if not ok:
            return False
    return True


@volume_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click_options(INSPECT_FORMAT)
@click.pass_context
def inspect_cmd(ctx, names, fmt):
    """Low-level information on volumes, as JSON."""
    from runtime.engine import volumes
    store = _store(ctx)
    click.echo(inspect_output([volumes.get(store, n) for n in names], fmt), nl=False)


@volume_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="No error for a missing volume")
@click.pass_context
def rm_cmd(ctx, names, force):
    """Remove volumes (not while a container uses them)."""
    from runtime.engine import volumes
    from runtime.engine.containers import all_containers
    store = _store(ctx)
    for n in names:
        volumes.remove(store, n, all_containers(store), force)
        click.echo(n)


@volume_group.command("prune")
@click.option("-a", "--all", "everything", is_flag=True, help="Named ones too, not only "
              "anonymous")
@click.option("-f", "--force", is_flag=True, help="Do not ask")
@click.pass_context
def prune_cmd(ctx, everything, force):
    """Remove the volumes no container uses."""
    from runtime.engine import volumes
    if not force and not click.confirm("WARNING! This will remove unused volumes. Are you "
                                       "sure you want to continue?"):
        return
    from runtime.engine.containers import all_containers
    store = _store(ctx)
    removed = volumes.prune(store, all_containers(store), everything)
    if removed:
        click.echo("Deleted Volumes:\n" + "".join(n + "\n" for n in removed), nl=False)
    click.echo(f"Total reclaimed space: {len(removed)} volume(s)")
