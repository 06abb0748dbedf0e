"""create and run: the host side of bringing a bundle up.

Order (what the kernel needs, and what a failure must unwind):
  state dir → cgroup (limits written before any process is in it) → fork the intermediate
  (joins the cgroup, enters namespaces, forks the init) → write uid/gid maps when asked →
  prestart/createRuntime hooks when asked → Ready → state.json and the pid file.
A failure at any step kills the init, removes the cgroup and the state dir, and reports the step.
"""

from __future__ import annotations

import os

# _signal, not signal: the signal module builds enums at import (scripts/bench imports).
import _signal as signal

from runtime.errors import ConfigError, ContainerExists, PyrunError, SetupError
from runtime.oci import channel as ch
from runtime.oci import log
from runtime.oci import spec as specmod
from runtime.oci.init import InitContext, intermediate
from runtime.oci.parent import connect_unix, reap, wait_forwarding_signals, write_pid_file
from runtime.oci.state import State, proc_start_time, remove_dir, validate_id
from runtime.timestamps import rfc3339


def _write_id_map(pid: int, name: str, mappings) -> None:
    text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)
    path = f"/proc/{pid}/{name}"
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise SetupError(f"write {path}: {e.strerror}") from None


def _listen_for_start(state_dir: str):
    """The socket `start` connects to. Made here, by the host side, because the init may be
    in a user namespace that cannot write to the state dir; the init inherits it."""
    import _socket
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    here = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        os.chdir(state_dir)  # bind by a short relative name: sun_path is 108 bytes
        sock.bind("start.sock")
        sock.listen(1)
    finally:
        os.fchdir(here)
        os.close(here)
    return sock


def open_bind_sources(spec, bundle: str) -> dict[int, int]:
    """With a new user namespace, the container's root is a mapped uid that may not reach a
    bind's source (a 0700 directory of the host's root): the caller clones each source's
    mount tree here, and the init attaches the clones (runc opens the sources as the caller
    too). {mount index: detached tree fd}."""
    if spec.linux.namespace("user") is None or spec.linux.namespace("user").path:
        return {}
    from runtime.linux import syscalls as sc
    out = {}
    try:
        for i, m in enumerate(spec.mounts):
            if m.is_bind:
                source = m.source if os.path.isabs(m.source or "") else \
                    os.path.join(bundle, m.source or "")
                try:
                    out[i] = sc.clone_tree(source, recursive=bool(m.flags & sc.MS_REC))
                except OSError as e:
                    raise SetupError(f"mount {m.destination}: source {source}: "
                                     f"{e.strerror}") from None
    except BaseException:
        for fd in out.values():
            os.close(fd)
        raise
    return out


def cgroup_binds(mgr) -> list[tuple[str, str]]:
    """For a type "cgroup" mount on v1: (name in the container, host directory)."""
    if mgr is None or getattr(mgr, "version", 2) != 1:
        return []
    out, seen = [], set()
    for controller, mount in mgr.mounts.items():
        if mount in seen:
            continue
        seen.add(mount)
        out.append((os.path.basename(mount), mgr.paths[controller]))
    return out


class Creation:
    """One create in progress; `run` keeps it to start the process and wait for it."""

    def __init__(self, root: str, container_id: str, bundle: str):
        self.root = root
        self.id = validate_id(container_id)
        self.bundle = os.path.abspath(bundle)
        self.state_dir = os.path.join(root, container_id)
        self.pid = 0
        self.cgroup = None
        self.chan: ch.Channel | None = None
        self.state: State | None = None
        self.console_peer = None  # our end of the pty hand-over when `run` relays the console
        self.seccomp_sock = None  # connected to linux.seccomp.listenerPath
        self._made_dir = False

    def cleanup(self) -> None:
        """Undo whatever was made; safe to call at any point."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            reap(self.pid)
        if self.cgroup is not None:
            _kill_cgroup(self.cgroup)
            try:
                self.cgroup.destroy()
            except OSError:
                pass
        if self.chan is not None:
            self.chan.close()
        if self.console_peer is not None:
            self.console_peer.close()
        if self.seccomp_sock is not None:
            os.close(self.seccomp_sock)
        if self._made_dir:
            remove_dir(self.state_dir)

    def run(self, *, console_socket=None, no_pivot=False, start_socket=True,
            preserve_fds=0, pid_file=None, relay_console=False,
            no_new_keyring=False) -> State:
        log.trace("host: loading config")
        spec, raw = specmod.load(self.bundle)
        proc = spec.process
        if proc.terminal and console_socket is None and not relay_console:
            raise ConfigError("process.terminal is true: a console socket is needed "
                              "(--console-socket), or run it in the foreground")
        if not proc.terminal and console_socket is not None:
            raise ConfigError("--console-socket given but process.terminal is false")
        if proc.apparmor_profile or proc.selinux_label:
            log.warning("process.apparmorProfile/selinuxLabel ignored: this host has neither "
                        "AppArmor nor SELinux enabled for pyrun-oci")
        rootfs = os.path.realpath(os.path.join(self.bundle, spec.root_path))
        if not os.path.isdir(rootfs):
            raise ConfigError(f"root.path: {rootfs} is not a directory")
        os.makedirs(self.root, 0o711, exist_ok=True)
        try:
            os.mkdir(self.state_dir, 0o711)
        except FileExistsError:
            raise ContainerExists(self.id) from None
        self._made_dir = True
        program = None
        if spec.linux.seccomp is not None:
            program = _seccomp_program(spec.linux.seccomp, raw["linux"]["seccomp"],
                                       self.state_dir)
            if program.listener_path:
                self.seccomp_sock = connect_unix(program.listener_path, "seccomp listener")
        log.trace("host: seccomp ready")

        from runtime.linux import cgroups
        try:
            self.cgroup = cgroups.manager(spec.linux.cgroups_path, self.id)
            if self.cgroup.is_frozen():  # a process joining it would hang (runc refuses too)
                self.cgroup = None
                raise SetupError("container's cgroup unexpectedly frozen")
            found = self.cgroup.pids()
            if found:  # someone else's processes would share its limits (runc warns too)
                log.warning(f"container's cgroup is not empty: {len(found)} process(es) found")
            _note_creator(self.state_dir, self.cgroup)  # before the cgroup exists
            self.cgroup.create(spec.linux.resources)
        except OSError as e:
            raise SetupError(f"cgroup: {e.strerror or e}") from None

        log.trace("host: cgroup created")
        console_fd = connect_unix(console_socket, "connect to console socket") \
            if console_socket else None
        if proc.terminal and console_fd is None:
            import socket
            self.console_peer, theirs = socket.socketpair()
            console_fd = theirs.detach()
        listener = _listen_for_start(self.state_dir) if start_socket else None
        host, child = ch.Channel.pair()
        self.chan = host
        ctx = InitContext(spec=spec, bundle=self.bundle, rootfs=rootfs,
                          state_dir=self.state_dir, chan=child, listener=listener,
                          cgroup=self.cgroup, console_fd=console_fd, no_pivot=no_pivot,
                          preserve_fds=preserve_fds, cgroup_binds=cgroup_binds(self.cgroup),
                          seccomp=program, seccomp_sock=self.seccomp_sock,
                          no_new_keyring=no_new_keyring,
                          bind_sources=open_bind_sources(spec, self.bundle))
        cgroups.finish_warm_up()  # no thread may live across the fork
        mid = os.fork()
        if mid == 0:
            host.close()
            intermediate(ctx)  # never returns
        child.close()
        for fd in ctx.bind_sources.values():
            os.close(fd)
        if console_fd is not None:
            os.close(console_fd)
        if listener is not None:
            listener.close()  # the init holds it now
        if self.seccomp_sock is not None:
            os.close(self.seccomp_sock)  # the init holds it now
            self.seccomp_sock = None
        try:
            msg = host.expect(ch.Pid, ch.MapIds)
            if isinstance(msg, ch.MapIds):
                _write_id_map(msg.pid, "uid_map", spec.linux.uid_mappings)
                _write_id_map(msg.pid, "gid_map", spec.linux.gid_mappings)
                host.send(ch.Continue())
                msg = host.expect(ch.Pid)
            self.pid = msg.pid
        finally:
            reap(mid)
        self.state = State(self.root, self.id, {
            "id": self.id, "pid": self.pid, "pid_start": (proc_start_time(self.pid) or (0,))[0],
            "bundle": self.bundle, "rootfs": rootfs, "created": rfc3339(),
            "oci_version": spec.oci_version, "annotations": spec.annotations,
            "cgroup": self.cgroup.to_dict(), "hooks": raw.get("hooks") or {},
            "process": raw.get("process"), "namespaces": [
                {"type": n.type, "path": n.path} for n in spec.linux.namespaces],
            "seccomp": None if program is None else {
                "flags": program.flags, "listenerPath": program.listener_path,
                "listenerMetadata": program.listener_metadata},
        })
        log.trace("host: got init pid")
        msg = host.expect(ch.RunHooks, ch.Ready)
        if isinstance(msg, ch.RunHooks):
            from runtime.oci import hooks
            st = dict(self.state.oci_state(), status="creating", pid=self.pid)
            hooks.run("prestart", spec.hooks.get("prestart", []), st)
            hooks.run("createRuntime", spec.hooks.get("createRuntime", []), st)
            host.send(ch.Continue())
            host.expect(ch.Ready)
        log.trace("host: init ready")
        self.state.save()
        if pid_file:
            write_pid_file(pid_file, self.pid)
        return self.state


def _note_creator(state_dir: str, cgroup) -> None:
    from runtime import jsonfast as json
    from runtime.oci.state import CREATING, own_identity
    pid, start = own_identity()
    with open(os.path.join(state_dir, CREATING), "w") as f:
        f.write(json.dumps({"pid": pid, "start": start, "cgroup": cgroup.to_dict()}))


SECCOMP_FILE = "seccomp.bpf"  # in the state dir: the filter `exec` gives its processes


def _seccomp_program(sec, raw_section: dict, state_dir: str):
    from runtime.linux import seccomp
    program = seccomp.prepare(sec, raw_section)
    with open(os.path.join(state_dir, SECCOMP_FILE), "wb") as f:
        f.write(program.bpf)
    return program


def _kill_cgroup(mgr) -> None:
    """SIGKILL everything left in a cgroup and wait until it is empty (bounded)."""
    import time
    for _ in range(200):
        pids = mgr.pids()
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)


def create(root: str, container_id: str, bundle: str, **kw) -> State:
    c = Creation(root, container_id, bundle)
    try:
        state = c.run(**kw)
    except BaseException:
        c.cleanup()
        raise
    c.chan.close()
    return state


def run(root: str, container_id: str, bundle: str, *, detach=False, pid_file=None,
        console_socket=None, no_pivot=False, preserve_fds=0, keep=False,
        no_new_keyring=False) -> int:
    """create + start; in the foreground, wait and return the exit code (128+n on signal n),
    then delete the container (unless keep)."""
    from runtime.linux import capabilities
    from runtime.oci import delete as deletemod

    if not detach:
        # The init's parent (the intermediate) exits; as subreaper we inherit and reap it.
        capabilities.set_subreaper()
    c = Creation(root, container_id, bundle)
    try:
        state = c.run(console_socket=console_socket, no_pivot=no_pivot, start_socket=False,
                      preserve_fds=preserve_fds, pid_file=pid_file, relay_console=not detach,
                      no_new_keyring=no_new_keyring)
        c.chan.send(ch.Continue())
        try:
            c.chan.expect()  # end-of-file: the program is running
        except ch.ChannelClosed:
            pass
    except BaseException:
        c.cleanup()
        raise
    c.chan.close()
    from runtime.oci import start as startmod
    startmod.poststart(state)
    if detach:
        return 0
    log.trace("host: started")
    if c.console_peer is not None:
        from runtime.oci.console import relay
        code = relay(c.console_peer, state.pid)
    else:
        code = wait_forwarding_signals(state.pid)
    log.trace("host: container exited")
    if not keep:
        try:
            deletemod.delete(root, container_id, force=True)
        except PyrunError:
            pass
    return code


