"""`pyrun network`: create, ls, inspect, rm, prune, connect, disconnect (definitions in
runtime/net/networks.py; a container's endpoints in runtime/engine/networking.py)."""

from __future__ import annotations

import click

from runtime.cli.format import INSPECT_FORMAT, inspect_output
from runtime.cli.options import click_options


def _store(ctx):
    from runtime.image.store import Store
    return Store(ctx.obj.get("root")).ensure()


def _container(ctx, ref):
    from runtime.engine import containers as cmod
    store = _store(ctx)
    from runtime.engine import repair
    repair.refresh(store)
    return cmod.find(store, ref)


@click.group("network")
def network_group():
    """Manage networks."""


@network_group.command("create")
@click.argument("name")
@click.option("-d", "--driver", default="bridge", help="bridge (the only one)")
@click.option("--subnet", help="CIDR, e.g. 10.90.0.0/24 (default: a free /24 of 10.89.x)")
@click.option("--gateway", help="The bridge's address (default: the subnet's first)")
@click.option("--internal", is_flag=True, help="No way out: only the network's containers")
@click.option("--label", "labels", multiple=True, help="KEY=VALUE")
@click.option("--attachable", is_flag=True, hidden=True)  # Docker's swarm flag: always so here
@click.pass_context
def create_cmd(ctx, name, driver, subnet, gateway, internal, labels, attachable):
    """Create a network: its own bridge and subnet; its containers find each other by name."""
    from runtime.engine import networking
    from runtime.errors import PyrunError
    if driver != "bridge":
        raise PyrunError(f"network driver {driver!r} not found (pyrun has the bridge driver)")
    d = networking.create_network(_store(ctx), name, subnet, gateway, internal,
                                  dict(kv.partition("=")[::2] for kv in labels))
    click.echo(d["Id"])


def _rows(filters) -> list[dict]:
    from runtime.errors import PyrunError
    from runtime.net import networks
    rows = [networks.predefined(n) for n in networks.PREDEFINED] + networks.list_all()
    for f in filters:
        key, _, value = f.partition("=")
        if key == "name":
            rows = [d for d in rows if value in d["Name"]]
        elif key == "id":
            rows = [d for d in rows if d["Id"].startswith(value)]
        elif key == "driver":
            rows = [d for d in rows if d["Driver"] == value]
        elif key == "label":
            k, sep, want = value.partition("=")
            rows = [d for d in rows if k in d["Labels"] and (not sep or d["Labels"][k] == want)]
        elif key == "type":
            custom = value == "custom"
            rows = [d for d in rows if (d["Name"] not in networks.PREDEFINED) == custom]
        else:
            raise PyrunError(f"invalid filter {f!r} (name=, id=, driver=, label=, type=)")
    return rows


@network_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only ids")
@click.option("-f", "--filter", "filters", multiple=True, help="name=, id=, driver=, label=, "
              "type=custom|builtin")
@click.option("--format", "fmt", default="table", help="table, json, or a Go template")
@click.option("--no-trunc", is_flag=True, help="Whole ids")
@click.pass_context
def ls_cmd(ctx, quiet, filters, fmt, no_trunc):
    """List networks."""
    from runtime.cli.format import template
    rows = [{"ID": d["Id"] if no_trunc else d["Id"][:12], "Name": d["Name"],
             "Driver": d["Driver"], "Scope": d["Scope"],
             "Internal": str(d["Internal"]).lower(),
             "Labels": ",".join(f"{k}={v}" for k, v in d["Labels"].items())}
            for d in _rows(filters)]
    if quiet:
        click.echo("".join(r["ID"] + "\n" for r in rows), nl=False)
        return
    click.echo(template(fmt, rows, [("NETWORK ID", "ID"), ("NAME", "Name"),
                                    ("DRIVER", "Driver"), ("SCOPE", "Scope")]), nl=False)


@network_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click_options(INSPECT_FORMAT)
@click.pass_context
def inspect_cmd(ctx, names, fmt):
    """Low-level information on networks, with their running containers, as JSON."""
    from runtime.engine import networking
    from runtime.engine.containers import all_containers
    from runtime.net import networks
    found = [networks.get(n) for n in names]
    containers = all_containers(_store(ctx))
    click.echo(inspect_output([networking.inspected(containers, d) for d in found], fmt),
               nl=False)


@network_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="No error for a missing network")
@click.pass_context
def rm_cmd(ctx, names, force):
    """Remove networks (not while a container is on one)."""
    from runtime.engine import networking
    from runtime.net import networks
    store = _store(ctx)
    for n in names:
        try:
            networking.remove_network(store, n)
        except networks.NoSuchNetwork:
            if force:
                continue
            raise
        click.echo(n)


@network_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not ask")
@click.pass_context
def prune_cmd(ctx, force):
    """Remove the user-defined networks no container is on."""
    from runtime.engine import networking
    if not force and not click.confirm("WARNING! This will remove all custom networks not "
                                       "used by at least one container.\nAre you sure you "
                                       "want to continue?"):
        return
    removed = networking.prune_networks(_store(ctx))
    if removed:
        click.echo("Deleted Networks:\n" + "".join(n + "\n" for n in removed), nl=False)


@network_group.command("connect")
@click.argument("network")
@click.argument("container")
@click.option("--alias", "aliases", multiple=True, help="Another name on this network")
@click.option("--ip", help="An IPv4 address of the network's subnet")
@click.pass_context
def connect_cmd(ctx, network, container, aliases, ip):
    """Put a container on a network (at once if it runs)."""
    from runtime.engine import networking
    networking.connect(_container(ctx, container), network, aliases, ip)


@network_group.command("disconnect")
@click.argument("network")
@click.argument("container")
@click.option("-f", "--force", is_flag=True, help="No error if it is not on the network")
@click.pass_context
def disconnect_cmd(ctx, network, container, force):
    """Take a container off a network."""
    from runtime.engine import networking
    networking.disconnect(_container(ctx, container), network, force)
