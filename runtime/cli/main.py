"""pyrun: the engine's command line (click). Images and the builder today; containers and
networking arrive with the engine. Only this layer turns errors into exit codes."""

from __future__ import annotations

import os
import sys

import click

from runtime import __version__
from runtime.errors import PyrunError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pyrun")
@click.option("--root", envvar="PYRUN_ROOT", help="Where images live (default /var/lib/pyrun)")
@click.pass_context
def cli(ctx, root):
    """A container engine for Linux. The OCI runtime underneath is pyrun-oci."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = root


from runtime.cli.image import (build_cmd, image_group, login_cmd, logout_cmd,  # noqa: E402
                               pull_cmd, push_cmd)

from runtime.cli.container import (container_group, exec_cmd, kill_cmd, logs_cmd,  # noqa: E402
                                   ls_cmd, restart_cmd, rm_cmd, run_cmd, start_cmd, stats_cmd,
                                   stop_cmd, top_cmd, wait_cmd, pause_cmd, unpause_cmd,
                                   rename_cmd, update_cmd, attach_cmd)
from runtime.cli.container import commit_cmd, cp_cmd, diff_cmd, export_cmd  # noqa: E402
from runtime.cli.container import inspect_any_cmd, port_cmd  # noqa: E402
from runtime.cli.image import history_cmd, import_cmd, load_cmd, save_cmd, tag_cmd  # noqa: E402
from runtime.cli.image import ls_cmd as images_cmd, rm_cmd as rmi_cmd  # noqa: E402
from runtime.cli.system import events_cmd, system_group  # noqa: E402
from runtime.cli.volume import volume_group  # noqa: E402
from runtime.cli.network import network_group  # noqa: E402

cli.add_command(image_group)
for _name, _cmd in (("pull", pull_cmd), ("push", push_cmd), ("login", login_cmd),
                    ("logout", logout_cmd)):
    cli.add_command(_cmd, _name)
cli.add_command(build_cmd, "build")
cli.add_command(container_group)
cli.add_command(volume_group)
cli.add_command(network_group)
cli.add_command(system_group)
for _name, _cmd in (("run", run_cmd), ("ls", ls_cmd), ("ps", ls_cmd), ("stop", stop_cmd),
                    ("rm", rm_cmd), ("logs", logs_cmd), ("exec", exec_cmd), ("kill", kill_cmd),
                    ("start", start_cmd), ("restart", restart_cmd), ("wait", wait_cmd),
                    ("top", top_cmd), ("create", run_cmd), ("stats", stats_cmd),
                    ("events", events_cmd), ("pause", pause_cmd), ("unpause", unpause_cmd),
                    ("rename", rename_cmd), ("update", update_cmd),
                    ("attach", attach_cmd),
                    # Docker's top-level aliases
                    ("inspect", inspect_any_cmd), ("images", images_cmd), ("rmi", rmi_cmd),
                    ("tag", tag_cmd), ("history", history_cmd), ("cp", cp_cmd),
                    ("diff", diff_cmd), ("export", export_cmd), ("commit", commit_cmd),
                    ("port", port_cmd), ("save", save_cmd), ("load", load_cmd),
                    ("import", import_cmd)):
    cli.add_command(_cmd, _name)
container_group.add_command(run_cmd, "create")
container_group.add_command(cp_cmd, "cp")


@cli.command()
@click.option("-f", "--format", "fmt", default=None, help="Go template ({{.Server.Version}})")
def version(fmt):
    """Version of pyrun, the Engine API it serves and this host's kernel, as docker version."""
    import platform

    from runtime.api.routes import API_VERSION
    from runtime.api.system import engine_version
    from runtime.cli.format import inspect_output
    server = engine_version()
    client = {"Platform": {"Name": "pyrun"}, "Version": __version__, "ApiVersion": API_VERSION,
              "DefaultAPIVersion": API_VERSION, "PythonVersion": platform.python_version(),
              "Os": server["Os"], "Arch": server["Arch"]}
    facts = {"Client": client, "Server": server}
    if fmt:
        click.echo(inspect_output([facts], fmt), nl=False)
        return
    click.echo(f"Client:\n Version:           {__version__}\n"
               f" API version:       {API_VERSION}\n"
               f" Python version:    {client['PythonVersion']}\n"
               f" OS/Arch:           {client['Os']}/{client['Arch']}\n\n"
               f"Server: pyrun (no daemon: the CLI is the engine; `pyrun system service` "
               f"serves the API)\n Engine:\n  Version:          {__version__}\n"
               f"  API version:      {API_VERSION} (minimum version "
               f"{server['MinAPIVersion']})\n"
               f"  Kernel version:   {server['KernelVersion']}\n"
               f" pyrun-oci:\n  Version:          {__version__}")


@cli.command()
def info():
    """What this host offers: kernel, cgroup mode and controllers, runtime state root."""
    from runtime.linux import cgroups
    from runtime.linux.cgroups.v1 import hierarchies
    mode = cgroups.mode()
    click.echo(f"pyrun {__version__}")
    click.echo(f"kernel: {os.uname().release}")
    click.echo(f"cgroup mode: {mode} ({'v2' if mode == 'unified' else 'v1'} drives limits)")
    if mode == "unified":
        controllers = cgroups.read(os.path.join(cgroups.CGROUP_ROOT, "cgroup.controllers"))
    else:
        controllers = " ".join(sorted(c for c in hierarchies() if c))
    click.echo(f"cgroup controllers: {controllers}")
    click.echo(f"runtime root: {os.environ.get('PYRUN_OCI_ROOT', '/run/pyrun-oci')}")
    from runtime.oci.query import seccomp_features
    sec = seccomp_features()
    click.echo("security options: seccomp (default profile: pyrun's, Docker's policy; "
               f"actions: {', '.join(a[9:].lower() for a in sec['actions'])}), "
               "no-new-privileges")
    click.echo("not available here: AppArmor, SELinux (neither is enabled on this kernel)")


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def oci(args):
    """Run a low-level runtime verb: `pyrun oci run --bundle DIR ID` is `pyrun-oci run ...`."""
    from runtime.oci.cli import main as oci_main
    sys.exit(oci_main(list(args)))


def main() -> int:
    from runtime.cli.report import report, runs
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        return 130
    except click.exceptions.UsageError as e:
        # One line, as every other error of pyrun's (click's own takes four); 125 for every
        # command, as the docker CLI's flag errors.
        where = e.ctx.command_path if e.ctx else "pyrun"
        print(f"pyrun: {e.format_message()} (see '{where} --help')", file=sys.stderr)
        return 125
    except click.ClickException as e:
        print(f"pyrun: {e.format_message()}", file=sys.stderr)
        return 125 if runs(sys.argv[1:]) else 1
    except (PyrunError, OSError, SystemExit, KeyboardInterrupt) as e:
        return report(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
