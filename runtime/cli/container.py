"""`pyrun run`, `pyrun ls` and the other container commands (Docker's flags and output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import click

from runtime.cli.format import ago, emit_rows, truncate
from runtime.errors import PyrunError


def _store(ctx):
    from runtime.image.store import Store
    return Store(ctx.obj.get("root") if ctx.obj else None).ensure()


def _containers(store):
    from runtime.engine import containers as cmod
    cmod.refresh(store)  # a crashed monitor's container shows Exited, its network removed
    return cmod


def _find(ctx, ref: str):
    """(store, the containers module, the container called ref) for one-container verbs."""
    store = _store(ctx)
    cmod = _containers(store)
    return store, cmod, cmod.find(store, ref)


@click.group("container")
def container_group():
    """Manage containers."""


RUN_SETTINGS = {"ignore_unknown_options": False, "allow_interspersed_args": False}


@container_group.command("run", context_settings=RUN_SETTINGS)
@click.option("-d", "--detach", is_flag=True, help="Run in the background, print the id")
@click.option("--name", help="A name for the container")
@click.option("-p", "--publish", multiple=True, help="[IP:][HOST:]CONTAINER[/PROTO]")
@click.option("-P", "--publish-all", is_flag=True, help="Publish every EXPOSEd port")
@click.option("--rm", "auto_remove", is_flag=True, help="Remove the container when it exits")
@click.option("-e", "--env", multiple=True, help="KEY=VALUE (or KEY: taken from here)")
@click.option("--env-file", multiple=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-w", "--workdir")
@click.option("-u", "--user")
@click.option("-h", "--hostname")
@click.option("--entrypoint")
@click.option("-i", "--interactive", is_flag=True)
@click.option("-t", "--tty", is_flag=True)
@click.option("--network", default="bridge", help="bridge, none or host")
@click.option("-m", "--memory")
@click.option("--cpus", type=float)
@click.option("--pids-limit", type=int)
@click.option("-l", "--label", multiple=True)
@click.option("--read-only", is_flag=True)
@click.option("--stop-signal")
@click.option("--stop-timeout", type=int)
@click.option("-v", "--volume", "volumes", multiple=True, help="SOURCE:DEST[:ro] (a host path "
              "or a volume name)")
@click.option("--cap-add", multiple=True)
@click.option("--cap-drop", multiple=True)
@click.option("--privileged", is_flag=True)
@click.option("--add-host", "add_hosts", multiple=True, help="HOST:IP in /etc/hosts")
@click.option("--dns", multiple=True, help="A nameserver for /etc/resolv.conf")
@click.option("--restart", default="no", help="no, on-failure[:N], always, unless-stopped")
@click.option("--init", "use_init", is_flag=True, help="A tiny init as PID 1: forwards "
              "signals, reaps zombies")
@click.option("--pull", type=click.Choice(["always", "missing", "never"]), default="missing",
              help="Pull the image first: always, when missing (default), or never")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_cmd(ctx, detach, name, publish, publish_all, auto_remove, env, env_file, workdir, user,
            hostname, entrypoint, interactive, tty, network, memory, cpus, pids_limit, label,
            read_only, stop_signal, stop_timeout, volumes, cap_add, cap_drop, privileged,
            add_hosts, dns, restart, use_init, pull, image, command):
    """Create and run a container from an image."""
    from runtime.image.store import ImageNotFound
    store = _store(ctx)
    cmod = _containers(store)
    envs = []
    for f in env_file:
        with open(f) as fh:
            envs += [line.strip() for line in fh if line.strip() and not line.startswith("#")]
    for e in env:
        envs.append(e if "=" in e else f"{e}={os.environ.get(e, '')}")
    labels = dict(kv.partition("=")[::2] for kv in label)
    if pull == "always":
        from runtime.registry import client
        client.ensure(store, image, pull, out=sys.stderr)
    elif pull == "missing":
        try:
            store.resolve(image)
        except ImageNotFound:
            from runtime.registry import client  # only then: a start from images at hand
            client.ensure(store, image, pull, out=sys.stderr)  # never needs it
        except PyrunError:
            pass  # a bad reference: create() reports it
    try:
        c = cmod.create(store, image, name=name, command=command,
                        entrypoint=[entrypoint] if entrypoint else None, env=envs,
                        publish=publish, publish_all=publish_all, workdir=workdir, user=user,
                        hostname=hostname, network=network, auto_remove=auto_remove,
                        memory=cmod.parse_memory(memory) if memory else None,
                        pids_limit=pids_limit, labels=labels, interactive=interactive,
                        tty=tty, read_only=read_only, stop_signal=stop_signal,
                        stop_timeout=stop_timeout, cpus=cpus, volumes=volumes,
                        cap_add=cap_add, cap_drop=cap_drop, privileged=privileged,
                        add_hosts=add_hosts, dns=dns, restart=restart, init=use_init)
    except ImageNotFound:
        why = ("--pull never" if pull == "never" else "pyrun asks no registry about Docker "
               "Hub names by itself: build, import or bootstrap it, or `pyrun pull` it")
        raise PyrunError(f"Unable to find image '{image}' locally ({why})") from None
    if ctx.info_name == "create":
        click.echo(c.id)
        return
    if detach or c.data["HostConfig"]["RestartPolicy"]["Name"] != "no":
        _start_detached(store, c)
        if detach:
            click.echo(c.id)
            _warn_loopback_listeners(c)
            return
        sys.exit(_wait(c))
    from runtime.engine import monitor
    try:
        code = monitor.supervise(store, c, attach=True,
                                 stdin=None if interactive else subprocess.DEVNULL)
    except PyrunError:
        if auto_remove:
            cmod.remove_files(c)
        raise
    sys.exit(code)


def _start_detached(store, c) -> None:
    """Start the container's own monitor process and wait until the container runs."""
    r, w = os.pipe()
    subprocess.Popen([sys.executable, "-m", "runtime.engine.monitor", store.root, c.id, str(w)],
                     pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    os.close(w)
    with os.fdopen(r) as f:
        answer = f.readline().strip()
    if answer != "ok":
        msg = answer[len("error: "):] if answer.startswith("error: ") else \
            "the container's monitor exited before the container started"
        if c.data["HostConfig"].get("AutoRemove"):
            from runtime.engine import containers as cmod
            cmod.remove_files(c)
        raise PyrunError(msg)


def _warn_loopback_listeners(c) -> None:
    """The commonest "published but refused": the program listens on 127.0.0.1 only."""
    ports = {p["container_port"] for p in c.data["HostConfig"]["Ports"] if p["proto"] == "tcp"}
    if not ports:
        return
    time.sleep(0.3)  # give the program a moment to bind
    c.reload()
    pid = c.state.get("Pid")
    try:
        with open(f"/proc/{pid}/net/tcp") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return
    for row in rows:
        local, st = row[1], row[3]
        if st != "0A":  # LISTEN
            continue
        addr, port = local.split(":")
        if int(port, 16) in ports and addr == "0100007F":
            click.echo(f"WARNING: the process in the container listens on 127.0.0.1:"
                       f"{int(port, 16)} only; a published port cannot reach it", err=True)


@container_group.command("ls")
@click.option("-a", "--all", "show_all", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--no-trunc", is_flag=True)
@click.option("-f", "--filter", "filters", multiple=True, help="name=... or status=...")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def ls_cmd(ctx, show_all, quiet, no_trunc, filters, fmt):
    """List containers (running ones; -a for all)."""
    store = _store(ctx)
    cmod = _containers(store)
    rows = []
    for c in sorted(cmod.all_containers(store), key=lambda c: c.data["Created"], reverse=True):
        status = "running" if c.running else c.state.get("Status", "created")
        if not show_all and status != "running":
            continue
        if not _matches(c, status, filters):
            continue
        cmd = " ".join([c.data["Path"]] + c.data["Args"])
        rows.append({"ID": c.id if no_trunc else c.id[:12],
                     "Image": c.data.get("ImageRef", ""),
                     "Command": json.dumps(cmd if no_trunc else truncate(cmd, 20),
                                           ensure_ascii=False),
                     "CreatedAt": c.data["Created"], "RunningFor": ago(c.data["Created"]),
                     "Status": c.status_text(), "State": status,
                     "Ports": c.ports_text() if status == "running" else "",
                     "Names": c.name})
    emit_rows(rows, [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
                     ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"),
                     ("NAMES", "Names")], quiet, fmt)


def _matches(c, status: str, filters) -> bool:
    for f in filters:
        key, _, value = f.partition("=")
        if key == "name" and value not in c.name:
            return False
        if key == "status" and value != status:
            return False
        if key == "id" and not c.id.startswith(value):
            return False
    return True


def _signal_container(store, c, sig: str) -> None:
    from runtime.engine import containers as cmod
    subprocess.run([cmod._oci(), "--root", cmod.OCI_ROOT, "kill", c.id, sig],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_exit(c, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c.reload()
        except FileNotFoundError:
            return True  # removed (--rm)
        if not c.running:
            return True
        time.sleep(0.05)
    return False


def _mark_stopped_by_user(c) -> None:
    """A user's stop or kill: the restart policy must not bring the container back."""
    c.reload()
    c.state["StoppedByUser"] = True
    c.save()


def _wait(c) -> int:
    while True:
        try:
            c.reload()
        except FileNotFoundError:
            return 0
        if not c.running and c.state.get("Status") != "created":
            policy = c.data["HostConfig"].get("RestartPolicy", {}).get("Name", "no")
            if policy == "no" or c.state.get("StoppedByUser") or not c.monitor_alive():
                return c.state.get("ExitCode", 0)
        time.sleep(0.1)


def stop_container(store, c, timeout: int | None = None) -> None:
    if not c.running:
        return
    _mark_stopped_by_user(c)
    t = c.data["Config"].get("StopTimeout", 10) if timeout is None else timeout
    _signal_container(store, c, c.data["Config"].get("StopSignal") or "SIGTERM")
    if not _wait_exit(c, t):
        _signal_container(store, c, "SIGKILL")
        _wait_exit(c, 10)


@container_group.command("stop")
@click.argument("containers", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int, help="Seconds before SIGKILL (default 10)")
@click.pass_context
def stop_cmd(ctx, containers, timeout):
    """Stop containers: the stop signal, then SIGKILL after the timeout."""
    store = _store(ctx)
    cmod = _containers(store)
    for ref in containers:
        stop_container(store, cmod.find(store, ref), timeout)
        click.echo(ref)


@container_group.command("kill")
@click.argument("containers", nargs=-1, required=True)
@click.option("-s", "--signal", "sig", default="SIGKILL")
@click.pass_context
def kill_cmd(ctx, containers, sig):
    """Send a signal (default SIGKILL) to containers."""
    store = _store(ctx)
    cmod = _containers(store)
    for ref in containers:
        c = cmod.find(store, ref)
        if not c.running:
            raise PyrunError(f"Cannot kill container: {ref}: container is not running")
        _mark_stopped_by_user(c)
        _signal_container(store, c, sig)
        click.echo(ref)


@container_group.command("rm")
@click.argument("containers", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Kill a running container first")
@click.pass_context
def rm_cmd(ctx, containers, force):
    """Remove containers (and their writable layer)."""
    store = _store(ctx)
    cmod = _containers(store)
    for ref in containers:
        c = cmod.find(store, ref)
        if c.running:
            if not force:
                raise PyrunError(f"You cannot remove a running container {c.id}. Stop the "
                                 "container before attempting removal or force remove")
            _mark_stopped_by_user(c)
            _signal_container(store, c, "SIGKILL")
            _wait_exit(c, 10)
        if os.path.isdir(c.dir):
            cmod.teardown(c)
            cmod.remove_files(c)
        click.echo(ref)
    cmod.after_last(store)


@container_group.command("logs")
@click.argument("container")
@click.option("-f", "--follow", is_flag=True)
@click.option("-t", "--timestamps", is_flag=True)
@click.option("-n", "--tail", default="all")
@click.pass_context
def logs_cmd(ctx, container, follow, timestamps, tail):
    """Show a container's output."""
    store, cmod, c = _find(ctx, container)
    path = c.path("container.log")
    try:
        f = open(path)
    except FileNotFoundError:
        return
    with f:
        lines = f.readlines()
        if tail != "all":
            lines = lines[-int(tail):] if int(tail) > 0 else []
        for line in lines:
            _emit(line, timestamps)
        while follow:
            line = f.readline()
            if line:
                _emit(line, timestamps)
                continue
            c.reload()
            if not c.running:
                for line in f.readlines():
                    _emit(line, timestamps)
                break
            time.sleep(0.1)


def _emit(line: str, timestamps: bool) -> None:
    try:
        rec = json.loads(line)
    except ValueError:
        return
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
    store, cmod, c = _find(ctx, container)
    if not c.running:
        raise PyrunError(f"Container {c.id} is not running")
    argv = [cmod._oci(), "--root", cmod.OCI_ROOT, "exec"]
    for e in env:
        argv += ["--env", e]
    if user:
        argv += ["--user", user]
    if workdir:
        argv += ["--cwd", workdir]
    if detach:
        argv.append("--detach")
    if tty:
        argv.append("--tty")
    argv += [c.id, *command]
    p = subprocess.run(argv, stdin=None if interactive else subprocess.DEVNULL)
    sys.exit(p.returncode)


@container_group.command("inspect")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def inspect_cmd(ctx, containers):
    """Low-level information on containers (Docker's main fields)."""
    store = _store(ctx)
    cmod = _containers(store)
    out = []
    for ref in containers:
        c = cmod.find(store, ref)
        d = json.loads(json.dumps(c.data))
        d["Name"] = "/" + c.name
        d["State"]["Running"] = c.running
        d["State"]["Status"] = "running" if c.running else d["State"]["Status"]
        ports = {}
        for p in c.data["HostConfig"]["Ports"]:
            ports.setdefault(f"{p['container_port']}/{p['proto']}", []).append(
                {"HostIp": p["host_ip"], "HostPort": str(p["host_port"])})
        d["NetworkSettings"]["Ports"] = ports
        d["Mounts"] = []
        out.append(d)
    click.echo(json.dumps(out, indent=4))


@container_group.command("port")
@click.argument("container")
@click.pass_context
def port_cmd(ctx, container):
    """List a container's published ports."""
    store, cmod, c = _find(ctx, container)
    for p in c.data["HostConfig"]["Ports"]:
        click.echo(f"{p['container_port']}/{p['proto']} -> {p['host_ip']}:{p['host_port']}")


def _start(store, c) -> None:
    """(Re)start a stopped container: a user's earlier stop no longer holds."""
    c.state["StoppedByUser"] = False
    c.save()
    _start_detached(store, c)


@container_group.command("start")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def start_cmd(ctx, containers):
    """Start created or stopped containers (their writable layer is kept)."""
    store = _store(ctx)
    cmod = _containers(store)
    for ref in containers:
        c = cmod.find(store, ref)
        if c.running:
            continue
        _start(store, c)
        click.echo(ref)


@container_group.command("restart")
@click.argument("containers", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int)
@click.pass_context
def restart_cmd(ctx, containers, timeout):
    """Stop, then start containers."""
    store = _store(ctx)
    cmod = _containers(store)
    for ref in containers:
        c = cmod.find(store, ref)
        stop_container(store, c, timeout)
        c.reload()
        _start(store, c)
        click.echo(ref)


@container_group.command("wait")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def wait_cmd(ctx, containers):
    """Block until containers stop; print their exit codes."""
    store = _store(ctx)
    cmod = _containers(store)
    for ref in containers:
        click.echo(_wait(cmod.find(store, ref)))


@container_group.command("top")
@click.argument("container")
@click.pass_context
def top_cmd(ctx, container):
    """The processes of a running container."""
    store, cmod, c = _find(ctx, container)
    if not c.running:
        raise PyrunError(f"Container {c.id} is not running")
    p = subprocess.run([cmod._oci(), "--root", cmod.OCI_ROOT, "ps", c.id],
                       capture_output=True, text=True)
    click.echo(p.stdout, nl=False)


@container_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not ask (pyrun never asks)")
@click.pass_context
def prune_cmd(ctx, force):
    """Remove every stopped container."""
    store = _store(ctx)
    cmod = _containers(store)
    removed = 0
    for c in cmod.all_containers(store):
        if not c.running:
            cmod.teardown(c)
            cmod.remove_files(c)
            click.echo(c.id)
            removed += 1
    click.echo(f"Total: {removed} containers")
