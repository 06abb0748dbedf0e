"""exec: run another process in a running container.

host side ──fork──▶ joiner: non-dumpable, joins the cgroup, setns into each of the init's
                    namespaces (user first, mount last) ──fork──▶ the process (inside the pid
                    namespace): user, capabilities, cwd, execve.
The joiner reports the process's host pid and exits; the host side waits (subreaper) unless
--detach, in which case the process is left to whoever supervises us.
"""

from __future__ import annotations

import os

from runtime.errors import ContainerStateError, PyrunError
from runtime.linux import syscalls as sc
from runtime.oci import channel as ch
from runtime.oci.parent import connect_unix, reap, wait_forwarding_signals, write_pid_file
from runtime.oci.spec import NAMESPACE_FLAGS, NAMESPACE_ORDER, NAMESPACE_PROC_NAMES, Process
from runtime.oci.state import State


def _namespace_fds(state: State) -> list[tuple[str, int, str]]:
    """Open the init's namespaces that differ from ours, in joining order."""
    out = []
    kinds = {n["type"] for n in state.data.get("namespaces", [])}
    for kind in NAMESPACE_ORDER:
        if kind not in kinds:
            continue
        name = NAMESPACE_PROC_NAMES[kind]
        path = f"/proc/{state.pid}/ns/{name}"
        try:
            if os.stat(path).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue  # joining one's own user namespace is EINVAL; others are no-ops
            out.append((kind, os.open(path, os.O_RDONLY | os.O_CLOEXEC), path))
        except FileNotFoundError:
            raise ContainerStateError("container not running") from None
    return out


def _seccomp_of(state: State):
    """The container's filter (kept in its state dir by create), or None."""
    info = state.data.get("seccomp")
    if not info:
        return None
    from runtime.linux.seccomp import Program
    from runtime.oci.create import SECCOMP_FILE
    try:
        with open(os.path.join(state.dir, SECCOMP_FILE), "rb") as f:
            bpf = f.read()
    except OSError as e:
        # Never run a process unfiltered in a container that has a filter.
        raise PyrunError(f"seccomp filter of the container: {e}") from None
    return Program(bpf=bpf, flags=info.get("flags", 0), listener_path=info.get("listenerPath"),
                   listener_metadata=info.get("listenerMetadata") or "")


def _joiner(state: State, proc: Process, chan: ch.Channel, console_fd, preserve_fds,
            seccomp=None, seccomp_sock=None, oci_state=None, sub_cgroups=None,
            join_late=False) -> None:
    from runtime.linux import capabilities
    from runtime.oci import process as pr
    try:
        # CVE-2019-5736: the container must not be able to open our /proc/PID/exe (the
        # host's interpreter) once we are in its pid namespace.
        capabilities.set_dumpable(False)
        pr.preload(proc, seccomp=seccomp is not None, notify=seccomp_sock is not None)
        cg = state.cgroup()
        late = []
        if cg is not None and join_late:
            # A paused container (--ignore-paused): a process joining a frozen cgroup stops
            # there, so the process joins as its last step before execve, through files
            # opened now, while the host's cgroupfs is still in view.
            late = [os.open(f, os.O_WRONLY | os.O_CLOEXEC) for f in cg.procs_files(sub_cgroups)]
        elif cg is not None:
            cg.join(0, sub_cgroups)
        for kind, fd, path in _namespace_fds(state):
            sc.setns(fd, NAMESPACE_FLAGS[kind], path)
            os.close(fd)
        go_r, go_w = os.pipe()  # the process learns its host pid, for a seccomp listener
        pid = os.fork()
        if pid:
            chan.send(ch.Pid(pid))
            os.write(go_w, str(pid).encode())
            os._exit(0)
        os.close(go_w)
        host_pid = int(os.read(go_r, 32) or 0)
        os.close(go_r)
        os.setsid()
        pr.set_oom_score_adj(proc)
        slave = None
        if proc.terminal and console_fd is not None:
            master, slave = pr.open_pty(proc.console_size, (proc.user.uid, proc.user.gid))
            pr.send_console(console_fd, master)
            os.close(master)
        if proc.apparmor_profile or proc.selinux_label:
            pass  # neither LSM is on this host; the host side logged it
        notify = None
        if seccomp_sock is not None:
            notify = (seccomp_sock, host_pid, oci_state)
        for fd in late:
            os.write(fd, b"0")  # frozen here until the container is resumed
        pr.finish_and_exec(proc, preserve_fds=preserve_fds, slave=slave, seccomp=seccomp,
                           notify=notify)
    except BaseException as e:  # noqa: BLE001
        code = getattr(e, "exit_code", 1)
        try:
            chan.send(ch.Failed(str(e) or type(e).__name__, code if isinstance(code, int) else 1))
        except OSError:
            pass
        os._exit(1)


def exec_process(root: str, container_id: str, proc: Process, *, detach=False, pid_file=None,
                 console_socket=None, preserve_fds=0, sub_cgroups=None,
                 ignore_paused=False) -> int:
    """sub_cgroups: exec --cgroup, {controller or "": path under the container's cgroup}."""
    from runtime.linux import capabilities
    from runtime.oci import log

    state = State.load(root, container_id)
    status = state.status()
    paused = status == "paused" and ignore_paused
    if status not in ("running", "created") and not paused:
        raise ContainerStateError("container not running" if status == "stopped"
                                  else f"cannot exec in a {status} container")
    if sub_cgroups and state.cgroup() is not None:
        state.cgroup().procs_files(sub_cgroups)  # a missing sub-cgroup is said here, plainly
    if proc.terminal and console_socket is None and detach:
        raise PyrunError("cannot allocate a tty for a detached exec without --console-socket")
    if proc.apparmor_profile or proc.selinux_label:
        log.info("apparmorProfile/selinuxLabel ignored: no such LSM on this host")
    if not detach:
        capabilities.set_subreaper()
    console_fd = connect_unix(console_socket, "connect to console socket") \
        if console_socket else None
    peer = None
    if proc.terminal and console_fd is None:
        # foreground exec with a terminal and no console socket: relay the pty ourselves,
        # as `run` does
        import socket
        peer, theirs = socket.socketpair()
        console_fd = theirs.detach()
    seccomp = _seccomp_of(state)
    seccomp_sock = oci_state = None
    if seccomp is not None and seccomp.listener_path:
        seccomp_sock = connect_unix(seccomp.listener_path, "seccomp listener")
        oci_state = state.oci_state()  # here: inside, the host's pids mean nothing
    host, child = ch.Channel.pair()
    from runtime.linux import cgroups
    cgroups.finish_warm_up()  # no thread may live across the fork
    mid = os.fork()
    if mid == 0:
        host.close()
        _joiner(state, proc, child, console_fd, preserve_fds, seccomp, seccomp_sock, oci_state,
                sub_cgroups, join_late=paused)
    child.close()
    if console_fd is not None:
        os.close(console_fd)
    if seccomp_sock is not None:
        os.close(seccomp_sock)
    try:
        pid = host.expect(ch.Pid).pid
        try:
            if not (paused and detach):  # a paused one execs once resumed: not waited for
                host.expect()  # end-of-file: exec'd
        except ch.ChannelClosed:
            pass
    finally:
        reap(mid)
        host.close()
    if pid_file:
        write_pid_file(pid_file, pid)
    if detach:
        return 0
    if peer is not None:
        from runtime.oci.console import relay
        return relay(peer, pid)
    return wait_forwarding_signals(pid)


def process_from_args(state: State, args: list[str], *, env=(), cwd=None, user=None,
                      tty=False, caps=(), no_new_privs=None, additional_gids=()) -> Process:
    """`exec ID CMD...`: the container's own process settings, with CMD and the flags."""
    from runtime.oci.spec import parse_capability, parse_process
    base = dict(state.data.get("process") or {})
    base["args"] = list(args)
    base["terminal"] = tty
    base["env"] = list(base.get("env") or []) + list(env)
    if cwd:
        base["cwd"] = cwd
    if user:
        uid, _, gid = user.partition(":")
        base["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if additional_gids:
        base["user"] = dict(base.get("user") or {})
        base["user"]["additionalGids"] = list(base["user"].get("additionalGids") or []) + [
            int(g) for text in additional_gids for g in text.split(",")]
    if no_new_privs is not None:
        base["noNewPrivileges"] = no_new_privs
    proc = parse_process(base)
    if caps and proc.capabilities is not None:
        for name in caps:
            n = parse_capability(name, "--cap")
            for s in ("bounding", "effective", "permitted", "inheritable"):
                lst = getattr(proc.capabilities, s)
                if n not in lst:
                    lst.append(n)
    return proc
