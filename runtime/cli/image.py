"""`pyrun image ...` (and `pyrun build`): the image store and the builder on the command line."""

from __future__ import annotations

import os
import sys

import click

from runtime.cli.format import INSPECT_FORMAT, emit_rows, inspect_output, truncate
from runtime.cli.options import click_options
from runtime.units import ago, human_size
from runtime.errors import PyrunError


def _store(ctx: click.Context):
    from runtime.image.store import Store
    return Store(ctx.obj.get("root") if ctx.obj else None)


@click.group("image")
def image_group():
    """Manage images: build, list, inspect, tag, remove, import, bootstrap."""


def build_options(f):
    """The click side of runtime/cli/build.py's OPTIONS, and its CONTEXT."""
    from runtime.cli.build import OPTIONS
    from runtime.cli.options import click_options
    return click_options(OPTIONS)(click.argument("context")(f))


@image_group.command("build")
@build_options
@click.pass_context
def build_cmd(ctx, **opts):
    """Build an image from a Dockerfile. CONTEXT is a directory, or - for a Dockerfile on
    stdin (no context)."""
    from runtime.cli.build import run_build
    run_build(root=ctx.obj.get("root") if ctx.obj else None, **opts)


@image_group.command("ls")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show intermediate images too")
@click.option("-q", "--quiet", is_flag=True, help="Only IDs")
@click.option("--no-trunc", is_flag=True)
@click.option("--format", "fmt", default="table", help="table, json or a Go template")
@click.pass_context
def ls_cmd(ctx, show_all, quiet, no_trunc, fmt):
    """List images."""
    from runtime.image import reference
    store = _store(ctx)
    images = store.images()
    parents = {img.parent for img in images}
    rows = []
    for img in sorted(images, key=lambda i: i.created, reverse=True):
        tags = img.tags
        if not tags and not show_all and img.id in parents:
            continue  # an intermediate build step
        ident = img.id if no_trunc else img.short_id
        # An image pulled by digest only: its repository, with no tag (as Docker shows it).
        digested = sorted({reference.parse(d).familiar_repository for d in img.repo_digests})
        for t in tags or digested or [None]:
            if t in digested:
                repo, tag = t, "<none>"
            elif t:
                ref = reference.parse(t)
                repo, tag = ref.familiar_repository, ref.tag
            else:
                repo = tag = "<none>"
            rows.append({"Repository": repo, "Tag": tag, "ID": ident,
                         "CreatedSince": ago(img.created), "CreatedAt": img.created,
                         "Size": human_size(img.size)})
    emit_rows(rows, [("REPOSITORY", "Repository"), ("TAG", "Tag"), ("IMAGE ID", "ID"),
                     ("CREATED", "CreatedSince"), ("SIZE", "Size")], quiet, fmt)


@image_group.command("history")
@click.argument("image")
@click.option("--no-trunc", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--format", "fmt", default="table", help="table, json or a Go template")
@click.pass_context
def history_cmd(ctx, image, no_trunc, quiet, fmt):
    """Show the history of an image: one row per instruction, newest first."""
    from runtime.engine import inspect
    store = _store(ctx)
    img = store.resolve(image)
    rows = []
    for h in inspect.history(store, img):
        ident = h["Id"] if no_trunc or h["Id"] == "<missing>" else \
            h["Id"].split(":")[-1][:12]
        rows.append({"ID": ident, "CreatedSince": ago(h["CreatedAt"]),
                     "CreatedAt": h["CreatedAt"],
                     "CreatedBy": h["CreatedBy"] if no_trunc else truncate(h["CreatedBy"], 45),
                     "Size": human_size(h["Size"]), "Comment": h["Comment"]})
    if quiet:  # every step, even when two show the same "<missing>"
        click.echo("".join(r["ID"] + "\n" for r in rows), nl=False)
        return
    emit_rows(rows, [("IMAGE", "ID"), ("CREATED", "CreatedSince"), ("CREATED BY", "CreatedBy"),
                     ("SIZE", "Size"), ("COMMENT", "Comment")], quiet, fmt)


@image_group.command("tag")
@click.argument("source")
@click.argument("target")
@click.pass_context
def tag_cmd(ctx, source, target):
    """Give an image another name."""
    store = _store(ctx)
    store.tag(store.resolve(source).id, target)


@image_group.command("rm")
@click.argument("images", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Remove even if other names point at it")
@click.pass_context
def rm_cmd(ctx, images, force):
    """Remove images (untag; delete when no name is left)."""
    from runtime.engine.images import remove
    store = _store(ctx)
    failed = False
    for name in images:
        try:
            for done in remove(store, name, force):
                for what, value in done.items():
                    click.echo(f"{what}: {value}")
        except PyrunError as e:
            click.echo(f"Error: {e}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@image_group.command("inspect")
@click.argument("images", nargs=-1, required=True)
@click_options(INSPECT_FORMAT)
@click.pass_context
def inspect_cmd(ctx, images, fmt):
    """Low-level information on images, as JSON (Docker's main fields)."""
    store = _store(ctx)
    click.echo(inspect_output([inspected(store, name) for name in images], fmt), nl=False)


def inspected(store, name: str) -> dict:
    """An image's `inspect` object."""
    from runtime.engine import inspect
    return inspect.image(store, name)


@image_group.command("import")
@click.argument("tarball")
@click.argument("name", required=False)
@click.option("-c", "--change", "changes", multiple=True,
              help='Apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE')
@click.pass_context
def import_cmd(ctx, tarball, name, changes):
    """Import a root filesystem tar (or - for stdin) as a one-layer image."""
    from runtime.image import base, reference
    if name:
        reference.parse(name)
    cfg = _changes(changes)
    store = _store(ctx)
    if tarball == "-":
        img = base.import_tar(store, sys.stdin.buffer, name, "-", cfg)
    else:
        try:
            with open(tarball, "rb") as f:
                img = base.import_tar(store, f, name, tarball, cfg)
        except FileNotFoundError:
            raise PyrunError(f"import: {tarball}: no such file") from None
    click.echo(img.id)


def _changes(changes) -> dict:
    out: dict = {}
    for ch in changes:
        from runtime.dockerfile.instructions import build as build_df
        ins = build_df(f"FROM scratch\n{ch}\n").stages[0].instructions[0]
        if ins.kind in ("cmd", "entrypoint"):
            val = ins.args if ins.json else ["/bin/sh", "-c", ins.args[0]]
            out["Cmd" if ins.kind == "cmd" else "Entrypoint"] = val
        elif ins.kind == "env":
            env = out.setdefault("Env", [])
            for i in range(0, len(ins.args), 3):
                env.append(f"{ins.args[i]}={ins.args[i + 1]}")
        elif ins.kind == "workdir":
            out["WorkingDir"] = ins.args[0]
        elif ins.kind == "user":
            out["User"] = ins.args[0]
        elif ins.kind == "expose":
            out["ExposedPorts"] = {(p if "/" in p else p + "/tcp"): {} for p in ins.args}
        else:
            raise PyrunError(f"--change: {ins.kind.upper()} is not supported")
    if "Env" in out:
        from runtime.image.base import DEFAULT_ENV
        out["Env"] = list(DEFAULT_ENV) + out["Env"]
    return out


@image_group.command("save")
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", help="Write to this file (default: stdout)")
@click.option("--format", "fmt", type=click.Choice(["docker", "oci"]), default="docker",
              help="docker: what `docker load` reads; oci: an OCI image layout tar")
@click.option("--gzip", "gz", is_flag=True, help="OCI format: gzip-compressed layers")
@click.pass_context
def save_cmd(ctx, images, output, fmt, gz):
    """Save images to a tar archive (docker-archive, or an OCI layout)."""
    from runtime.image import archive
    store = _store(ctx)
    for name in images:
        store.resolve(name)  # every name must exist before anything is written
    if output is None:
        if sys.stdout.isatty():
            raise PyrunError("refusing to write an archive to a terminal: use -o FILE")
        archive.save(store, list(images), sys.stdout.buffer, fmt, gz)
        return
    tmp = f"{output}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            archive.save(store, list(images), f, fmt, gz)
        os.rename(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@image_group.command("load")
@click.option("-i", "--input", "input_", help="Read from this file (default: stdin)")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_context
def load_cmd(ctx, input_, quiet):
    """Load images from a docker-archive or OCI layout tar."""
    from runtime.image import archive
    store = _store(ctx)
    if input_ is None:
        import shutil
        import tempfile
        with tempfile.NamedTemporaryFile(dir=store.ensure().tmpdir("load-")) as f:
            shutil.copyfileobj(sys.stdin.buffer, f)
            f.flush()
            loaded = archive.load(store, f.name)
        shutil.rmtree(os.path.dirname(f.name), ignore_errors=True)
    else:
        if not os.path.exists(input_):
            raise PyrunError(f"load: {input_}: no such file")
        loaded = archive.load(store, input_)
    if not quiet:
        for img, names in loaded:
            for n in names:
                click.echo(f"Loaded image: {n}")
            if not names:
                click.echo(f"Loaded image ID: {img.id}")


@image_group.command("bootstrap")
@click.argument("name")
@click.option("--mirror", help="Debian mirror (default: the one this host's apt uses)")
@click.pass_context
def bootstrap_cmd(ctx, name, mirror):
    """Make a base image without a registry: debian:SUITE with debootstrap/mmdebstrap."""
    from runtime.image import base, reference
    ref = reference.parse(name)
    if ref.familiar_repository != "debian":
        raise PyrunError(f"bootstrap makes Debian images (debian:SUITE), not {name}")
    img = base.bootstrap_debian(_store(ctx), ref.tag, name, mirror)
    click.echo(f"{ref.familiar()}: {img.id}")


@image_group.command("prune")
@click.option("-a", "--all", "prune_all", is_flag=True, help="Also unused tagged images")
@click.pass_context
def prune_cmd(ctx, prune_all):
    """Remove dangling images (no name, not a build step of a named one)."""
    from runtime.engine.system import prune_images
    removed = prune_images(_store(ctx), prune_all)
    for r in removed:
        click.echo(f"Deleted: {r}")
    click.echo(f"Total: {len(removed)} images")


@image_group.command("pull")
@click.argument("name")
@click.option("--platform",
              help="os/arch[/variant] from a multi-platform index (default: this host's)")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_context
def pull_cmd(ctx, name, platform, quiet):
    """Pull an image from a registry."""
    from runtime.image import reference
    from runtime.registry import client
    plat = client.parse_platform(platform) if platform else None
    img = client.pull(_store(ctx), name, plat, out=None if quiet else sys.stdout)
    ref = reference.parse(name)
    if not quiet:  # the registry's digest (pyrun's own manifest differs for gzipped layers)
        pulled = next(d for d in img.repo_digests if d.startswith(ref.repository + "@"))
        click.echo(f"Digest: {pulled.split('@', 1)[1]}")
        click.echo(f"Status: Downloaded image for {ref.familiar()}")
    click.echo(ref.familiar() if not quiet else img.id)


@image_group.command("push")
@click.argument("name")
@click.option("--chunk-size", metavar="SIZE", default="0",
              help="Upload each blob in PATCH chunks of SIZE (e.g. 16m); 0: one PUT")
@click.pass_context
def push_cmd(ctx, name, chunk_size):
    """Push an image to a registry (blobs it already has are skipped, blobs another of its
    repositories holds are mounted)."""
    from runtime.image import reference
    from runtime.registry import client
    from runtime.units import parse_size
    try:
        chunk = parse_size(chunk_size)
    except ValueError:
        raise click.BadParameter(f"not a size: {chunk_size!r}", param_hint="--chunk-size")
    store = _store(ctx)
    digest = client.push(store, name, out=sys.stdout, chunk_size=chunk)
    ref = reference.parse(name)
    size = os.path.getsize(store.blob_path(digest))  # the manifest's, as docker prints it
    click.echo(f"{ref.tag}: digest: {digest} size: {size}")


@click.command("login")
@click.argument("server")
@click.option("-u", "--username", required=True)
@click.option("-p", "--password", help="(or --password-stdin)")
@click.option("--password-stdin", is_flag=True)
def login_cmd(server, username, password, password_stdin):
    """Store credentials for a registry (~/.config/pyrun/auth.json, mode 0600)."""
    from runtime.registry import client
    if password_stdin:
        password = sys.stdin.read().rstrip("\n")
    if password is None:
        password = click.prompt("Password", hide_input=True)
    client.login(server, username, password)
    click.echo("Login Succeeded")


@click.command("logout")
@click.argument("server")
def logout_cmd(server):
    """Forget the credentials of a registry."""
    from runtime.registry import client
    if client.logout(server):
        click.echo(f"Removing login credentials for {server}")
    else:
        click.echo(f"Not logged in to {server}")
