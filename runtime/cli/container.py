"""`pyrun run`, `pyrun ls` and the other container commands (Docker's flags and output)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import click

from runtime.cli import options, ps
from runtime.cli.format import INSPECT_FORMAT, inspect_output
from runtime.errors import PyrunError


def _store(ctx):
    from runtime.image.store import Store
    return Store(ctx.obj.get("root") if ctx.obj else None).ensure()


def _containers(store):
    from runtime.engine import containers as cmod
    from runtime.engine import repair
    repair.refresh(store)  # a crashed monitor's container shows Exited, its network removed
    return cmod


def _find(ctx, ref: str):
    """(store, the containers module, the container called ref) for one-container verbs."""
    store = _store(ctx)
    cmod = _containers(store)
    return store, cmod, cmod.find(store, ref)


def _each(ctx, refs):
    """(store, ref, container) for each ref of a many-container verb, found as it comes (an
    unknown one stops the command there, as Docker's)."""
    store = _store(ctx)
    cmod = _containers(store)
    for ref in refs:
        yield store, ref, cmod.find(store, ref)


@click.group("container")
def container_group():
    """Manage containers."""


RUN_SETTINGS = {"ignore_unknown_options": False, "allow_interspersed_args": False}


def _run_options(f):
    from runtime.cli.options import click_options
    from runtime.cli.run import OPTIONS
    f = click.argument("command", nargs=-1, type=click.UNPROCESSED)(f)
    return click_options(OPTIONS)(click.argument("image")(f))


@container_group.command("run", context_settings=RUN_SETTINGS)
@_run_options
@click.pass_context
def run_cmd(ctx, **opts):
    """Create and run a container from an image."""
    from runtime.cli.run import run
    sys.exit(run(root=ctx.obj.get("root") if ctx.obj else None,
                 create_only=ctx.info_name == "create", **opts))


@container_group.command("ls")
@options.click_options(ps.OPTIONS)
@click.pass_context
def ls_cmd(ctx, **opts):
    """List containers (running ones; -a for all)."""
    ps.ls(root=ctx.obj.get("root") if ctx.obj else None, **opts)


@container_group.command("stop")
@click.argument("containers", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int, help="Seconds before SIGKILL (default 10)")
@click.pass_context
def stop_cmd(ctx, containers, timeout):
    """Stop containers: the stop signal, then SIGKILL after the timeout."""
    from runtime.engine.stop import stop
    for _, ref, c in _each(ctx, containers):
        stop(c, timeout)
        click.echo(ref)


@container_group.command("kill")
@click.argument("containers", nargs=-1, required=True)
@click.option("-s", "--signal", "sig", default="SIGKILL")
@click.pass_context
def kill_cmd(ctx, containers, sig):
    """Send a signal (default SIGKILL) to containers."""
    from runtime.engine.containers import check_signal
    from runtime.engine.kill import kill
    check_signal(sig)  # before anything happens: a bad name stops nothing
    for _, ref, c in _each(ctx, containers):
        kill(c, sig, ref)
        click.echo(ref)


@container_group.command("rm")
@click.argument("containers", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Kill a running container first")
@click.pass_context
def rm_cmd(ctx, containers, force):
    """Remove containers (and their writable layer)."""
    from runtime.engine.remove import remove
    store = _store(ctx)
    cmod = _containers(store)
    for ref in containers:
        remove(cmod.find(store, ref), force)
        click.echo(ref)
    cmod.after_last()


@container_group.command("logs")
@click.argument("container")
@click.option("-f", "--follow", is_flag=True)
@click.option("-t", "--timestamps", is_flag=True)
@click.option("-n", "--tail", default="all")
@click.option("--since", help="Unix time, duration (10m) or RFC 3339")
@click.pass_context
def logs_cmd(ctx, container, follow, timestamps, tail, since):
    """Show a container's output."""
    from runtime.engine import logs
    store, cmod, c = _find(ctx, container)
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise PyrunError(f"invalid --tail {tail!r}: a number or all")
    since_ns = 0
    if since:
        from runtime.cli.system import parse_when
        since_ns = parse_when(since)
    for rec in logs.entries(c, follow=follow, tail=None if tail == "all" else int(tail),
                            since_ns=since_ns):
        _emit(rec, timestamps)


def _emit(rec: dict, timestamps: bool) -> None:
    text = rec.get("log", "")
    if timestamps:
        text = f"{rec.get('time', '')} {text}"
    stream = sys.stdout if rec.get("stream") == "stdout" else sys.stderr
    stream.write(text)
    stream.flush()


@container_group.command("exec", context_settings=RUN_SETTINGS)
@click.option("-i", "--interactive", is_flag=True)
@click.option("-t", "--tty", is_flag=True)
@click.option("-d", "--detach", is_flag=True)
@click.option("-e", "--env", multiple=True)
@click.option("-u", "--user")
@click.option("-w", "--workdir")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_cmd(ctx, interactive, tty, detach, env, user, workdir, container, command):
    """Run a command in a running container."""
    from runtime.engine import execute
    store, cmod, c = _find(ctx, container)
    argv = execute.argv(c, command, env, user, workdir, tty, detach)
    p = subprocess.run(argv, stdin=None if interactive else subprocess.DEVNULL)
    sys.exit(p.returncode)


@container_group.command("inspect")
@click.argument("containers", nargs=-1, required=True)
@options.click_options(INSPECT_FORMAT)
@click.pass_context
def inspect_cmd(ctx, containers, fmt):
    """Low-level information on containers (Docker's main fields)."""
    store = _store(ctx)
    objects = [inspected(store, ref) for ref in containers]
    click.echo(inspect_output(objects, fmt), nl=False)


def inspected(store, ref: str) -> dict:
    """A container's `inspect` object."""
    from runtime.engine import inspect
    return inspect.container(_containers(store).find(store, ref))


@click.command("inspect")
@click.argument("names", nargs=-1, required=True)
@options.click_options(INSPECT_FORMAT)
@click.pass_context
def inspect_any_cmd(ctx, names, fmt):
    """Low-level information on containers or images (a container's name wins, as Docker)."""
    from runtime.cli.image import inspected as image_inspected
    from runtime.engine.containers import NoSuchContainer
    from runtime.errors import NotFound
    from runtime.image.store import ImageNotFound
    store = _store(ctx)
    out = []
    for name in names:
        try:
            out.append(inspected(store, name))
        except NoSuchContainer:
            try:
                out.append(image_inspected(store, name))
            except ImageNotFound:
                raise NotFound(f"No such object: {name}") from None  # Docker's words
    click.echo(inspect_output(out, fmt), nl=False)


@container_group.command("port")
@click.argument("container")
@click.argument("private_port", required=False)
@click.pass_context
def port_cmd(ctx, container, private_port):
    """List a container's published ports, or where PRIVATE_PORT[/PROTO] is published."""
    store, cmod, c = _find(ctx, container)
    if private_port is None:
        for p in c.host.ports:
            click.echo(f"{p.container_port}/{p.proto} -> {p.host_ip}:{p.host_port}")
        return
    number, _, proto = private_port.partition("/")
    proto = proto or "tcp"
    found = [p for p in c.host.ports if str(p.container_port) == number and p.proto == proto]
    if not found:
        raise PyrunError(f"No public port '{number}/{proto}' published for {c.name}")
    for p in found:
        click.echo(f"{p.host_ip}:{p.host_port}")


@container_group.command("start")
@click.argument("containers", nargs=-1, required=True)
@click.option("-a", "--attach", is_flag=True,
              help="Follow its output and pass signals on; its exit code is this command's")
@click.option("-i", "--interactive", is_flag=True, help="Give it this command's input")
@click.option("--detach-keys", help="The keys that detach with a terminal (ctrl-p,ctrl-q)")
@click.pass_context
def start_cmd(ctx, containers, attach, interactive, detach_keys):
    """Start created or stopped containers (their writable layer is kept)."""
    from runtime.engine.start import start
    if attach or interactive:
        if len(containers) > 1:
            raise PyrunError("you cannot start and attach multiple containers at once")
        keys = _detach_keys(detach_keys)  # a bad one refused before the start
        ((store, _, c),) = _each(ctx, containers)
        since = time.time_ns()  # its output from the start on, however soon it comes
        if c.can_start():
            start(store, c)
        sys.exit(_follow(c, stdin=interactive, sig_proxy=True, since_ns=since, keys=keys))
    for store, ref, c in _each(ctx, containers):
        if c.can_start():
            start(store, c)
            click.echo(ref)


@container_group.command("restart")
@click.argument("containers", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int)
@click.pass_context
def restart_cmd(ctx, containers, timeout):
    """Stop, then start containers."""
    from runtime.engine.start import start
    from runtime.engine.stop import stop
    for store, ref, c in _each(ctx, containers):
        stop(c, timeout, restarting=True)
        start(store, c.reload())
        click.echo(ref)


@container_group.command("attach")
@click.argument("container")
@click.option("--no-stdin", is_flag=True, help="Do not attach this command's stdin")
@click.option("--sig-proxy/--no-sig-proxy", default=True,
              help="Pass the signals this command receives to the container (default)")
@click.option("--detach-keys", help="The keys that detach with a terminal (ctrl-p,ctrl-q)")
@click.pass_context
def attach_cmd(ctx, container, no_stdin, sig_proxy, detach_keys):
    """Follow a running container's output from now, and give it this command's input (a
    container started with -i); its exit code is this command's. With a terminal, ctrl-p
    ctrl-q (or --detach-keys) detaches."""
    keys = _detach_keys(detach_keys)
    store, cmod, c = _find(ctx, container)
    if not c.running:
        raise PyrunError("You cannot attach to a stopped container, start it first")
    sys.exit(_follow(c, stdin=not no_stdin, sig_proxy=sig_proxy, keys=keys))


def _detach_keys(text: str | None) -> bytes:
    from runtime.engine import stdin as stdinmod
    return stdinmod.parse_detach_keys(text) if text else stdinmod.DETACH


def _follow(c, stdin: bool, sig_proxy: bool, since_ns: int = 0,
            keys: bytes = b"\x10\x11") -> int:
    """attach and start -a: the container's output from now (since_ns: from then) to its
    end, this command's input to it (stdin, a container with -i), the signals this command
    gets passed on (sig_proxy); its exit code."""
    import signal
    from runtime.engine import logs, signals
    from runtime.engine.wait import wait
    if sig_proxy:
        def forward(signum, _frame):
            try:
                signals.send(c, signal.Signals(signum).name)
            except PyrunError:
                pass  # it ended meanwhile
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                    signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, forward)
    restore = []  # the terminal's settings, given back however this ends
    feed = (lambda: restore.append(_feed_input(c, keys))) if c.config.open_stdin and stdin \
        else None
    try:
        for rec in logs.entries(c, follow=True, from_end=not since_ns, since_ns=since_ns,
                                opened=feed):
            _emit(rec, False)
        return wait(c)
    finally:
        for undo in filter(None, restore):
            undo()


def _feed_input(c, keys: bytes):
    """This command's stdin to the container's input FIFO, in a thread of its own; with a
    terminal on both sides, ours in raw mode (keys go as typed: the container's terminal
    echoes and interprets them) and the detach `keys` detach. Returns what gives the terminal
    its settings back (pyrun ends with os._exit: no exit handler would run), or None."""
    import threading
    from runtime.engine import stdin as stdinmod
    fifo = stdinmod.open_for_attach(c)
    if fifo is None:
        return None  # started before pyrun kept an input: the output alone
    raw = c.config.tty and os.isatty(0)
    if raw:
        import termios
        import tty
        saved = termios.tcgetattr(0)
        tty.setraw(0)

    def restore():
        if raw:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)

    def run():
        if stdinmod.copy(0, fifo, keys if raw else None):
            restore()
            sys.stderr.write("read escape sequence\n")
            sys.stderr.flush()
            os._exit(0)  # detached: the container goes on
    threading.Thread(target=run, daemon=True).start()
    return restore if raw else None


@container_group.command("wait")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def wait_cmd(ctx, containers):
    """Block until containers stop; print their exit codes."""
    from runtime.engine.wait import wait
    for _, _, c in _each(ctx, containers):
        click.echo(wait(c))


@container_group.command("pause")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def pause_cmd(ctx, containers):
    """Freeze all processes of containers."""
    from runtime.engine.pause import pause
    for _, ref, c in _each(ctx, containers):
        pause(c)
        click.echo(ref)


@container_group.command("unpause")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def unpause_cmd(ctx, containers):
    """Thaw all processes of paused containers."""
    from runtime.engine.pause import unpause
    for _, ref, c in _each(ctx, containers):
        unpause(c)
        click.echo(ref)


@container_group.command("rename")
@click.argument("container")
@click.argument("new_name")
@click.pass_context
def rename_cmd(ctx, container, new_name):
    """Rename a container."""
    from runtime.engine.rename import rename
    _, _, c = _find(ctx, container)
    rename(c, new_name)


@container_group.command("update")
@click.argument("containers", nargs=-1, required=True)
@click.option("-m", "--memory", help="Memory limit (e.g. 128m)")
@click.option("--cpus", type=float, help="Number of CPUs")
@click.option("--pids-limit", type=int, help="Process limit (0: none)")
@click.option("-c", "--cpu-shares", type=int, help="A relative CPU weight (1024)")
@click.option("--cpuset-cpus", help="CPUs to run on (0-1, 0,2)")
@click.option("--cpuset-mems", help="Memory nodes to use")
@click.option("--memory-reservation", help="A soft memory limit (e.g. 64m)")
@click.option("--memory-swap", help="Memory plus swap (e.g. 256m; -1: no swap limit)")
@click.option("--blkio-weight", type=int, help="Block IO weight (10 to 1000)")
@click.option("--cpu-quota", type=int, help="CFS quota in microseconds (-1: none)")
@click.option("--cpu-period", type=int, help="CFS period in microseconds")
@click.option("--restart", help="no, on-failure[:N], always, unless-stopped")
@click.pass_context
def update_cmd(ctx, containers, memory, cpus, pids_limit, cpu_shares, cpuset_cpus,
               cpuset_mems, memory_reservation, memory_swap, blkio_weight, cpu_quota, cpu_period,
               restart):
    """Change the limits and restart policy of containers, running or not."""
    from runtime.engine.containers import parse_memory
    from runtime.engine.update import update
    from runtime.units import parse_size
    limit = parse_memory(memory) if memory is not None else None
    try:
        reservation = parse_size(memory_reservation) if memory_reservation else None
    except ValueError:
        raise PyrunError(f"invalid --memory-reservation {memory_reservation!r} (e.g. 64m)") \
            from None
    try:  # 0, as in Docker, is "not given"
        swap = -1 if memory_swap == "-1" else (parse_size(memory_swap) or None
                                               if memory_swap else None)
    except ValueError:
        raise PyrunError(f"invalid --memory-swap {memory_swap!r} (e.g. 256m, or -1)") \
            from None
    for _, ref, c in _each(ctx, containers):
        update(c, memory=limit, cpus=cpus, pids_limit=pids_limit, cpu_shares=cpu_shares,
               cpuset_cpus=cpuset_cpus, cpuset_mems=cpuset_mems,
               memory_reservation=reservation, blkio_weight=blkio_weight,
               cpu_quota=cpu_quota, cpu_period=cpu_period, memory_swap=swap,
               restart=restart)
        click.echo(ref)


@click.command("cp")
@click.argument("src")
@click.argument("dest")
@click.option("-L", "--follow-link", "follow", is_flag=True,
              help="Copy what a symlink SRC points to")
@click.pass_context
def cp_cmd(ctx, src, dest, follow):
    """Copy files between a container and the host: CONTAINER:SRC DEST or SRC
    CONTAINER:DEST ("-" for a tar stream on stdin or stdout)."""
    from runtime.engine import copy
    store = _store(ctx)
    cmod = _containers(store)
    (s_ref, s_path), (d_ref, d_path) = copy.split_arg(src), copy.split_arg(dest)
    if s_ref is not None and d_ref is None:
        copy.copy_out(cmod.find(store, s_ref), s_path, d_path, follow)
    elif d_ref is not None and s_ref is None:
        copy.copy_in(cmod.find(store, d_ref), s_path, d_path)
    else:
        raise PyrunError("copying between containers, or within the host, is not supported: "
                         "one of SRC and DEST is CONTAINER:PATH")


@container_group.command("diff")
@click.argument("container")
@click.pass_context
def diff_cmd(ctx, container):
    """The files changed in a container: A added, C changed, D deleted."""
    from runtime.engine.commit import changes
    _, _, c = _find(ctx, container)
    click.echo("".join(f"{kind} {path}\n" for kind, path in changes(c)), nl=False)


@container_group.command("export")
@click.argument("container")
@click.option("-o", "--output", help="A file (default: stdout)")
@click.pass_context
def export_cmd(ctx, container, output):
    """A container's filesystem as a tar archive."""
    from runtime.engine.copy import export
    _, _, c = _find(ctx, container)
    if output:
        with open(output, "wb") as f:
            export(c, f)
    else:
        export(c, sys.stdout.buffer)
        sys.stdout.buffer.flush()


@container_group.command("commit")
@click.argument("container")
@click.argument("reference", required=False)
@click.option("-m", "--message", default="")
@click.option("-a", "--author", default="")
@click.option("-p", "--pause/--no-pause", "pause", default=True,
              help="Pause the container while committing (the default)")
@click.pass_context
def commit_cmd(ctx, container, reference, message, author, pause):
    """A new image from a container's changes."""
    from runtime.engine.commit import commit
    _, _, c = _find(ctx, container)
    click.echo(commit(c, reference, message, author, pause).id)


STATS_COLUMNS = [("CONTAINER ID", "ID"), ("NAME", "Name"), ("CPU %", "CPUPerc"),
                 ("MEM USAGE / LIMIT", "MemUsage"), ("MEM %", "MemPerc"),
                 ("NET I/O", "NetIO"), ("BLOCK I/O", "BlockIO"), ("PIDS", "PIDs")]


@container_group.command("stats")
@click.argument("containers", nargs=-1)
@click.option("--no-stream", is_flag=True, help="One look, then exit")
@click.option("-a", "--all", "show_all", is_flag=True, help="Stopped containers too")
@click.option("--format", "fmt", default="table", help="table, json, or a Go template")
@click.pass_context
def stats_cmd(ctx, containers, no_stream, show_all, fmt):
    """Live CPU, memory, network, block I/O and pids of running containers."""
    from runtime.cli.format import template
    from runtime.engine import stats
    store = _store(ctx)
    cmod = _containers(store)
    while True:
        chosen = [cmod.find(store, ref) for ref in containers] or [
            c for c in cmod.all_containers(store) if show_all or c.running]
        rows = stats.one_shot(chosen)
        if show_all or containers:  # named or -a: a row even when not running, as Docker
            seen = {r["ID"] for r in rows}
            rows += [stats.idle_row(c) for c in chosen if c.id[:12] not in seen]
        text = template(fmt, rows, STATS_COLUMNS)
        if no_stream:
            click.echo(text, nl=False)
            return
        click.echo("\033[2J\033[H" + text, nl=False)  # redrawn in place, as docker stats
        time.sleep(max(0.0, 1.0 - stats.INTERVAL))


@container_group.command("top", context_settings={"ignore_unknown_options": True})
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def top_cmd(ctx, container, ps_args):
    """The processes of a running container, as `ps -ef` shows them (or with the ps
    options given, as docker top takes them)."""
    store, cmod, c = _find(ctx, container)
    if not c.running:
        raise PyrunError(f"Container {c.id} is not running")
    from runtime.engine import oci
    p = subprocess.run(oci.argv("ps", c.id, *ps_args),
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise PyrunError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else
                         "ps failed")
    click.echo(p.stdout, nl=False)


@container_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not ask (pyrun never asks)")
@click.pass_context
def prune_cmd(ctx, force):
    """Remove every stopped container."""
    from runtime.engine.system import prune_containers
    store = _store(ctx)
    removed = prune_containers(store)
    click.echo("".join(cid + "\n" for cid in removed), nl=False)
    _containers(store).after_last()
    click.echo(f"Total: {len(removed)} containers")
