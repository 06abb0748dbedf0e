"""The container side of create: runs in the forked children, never returns.

    host (create/run) ──fork──▶ intermediate: join the cgroup, enter namespaces, fork
                                   └──fork──▶ init (PID 1 of a new pid namespace): build the
                                              rootfs, pivot_root, report Ready, wait for start,
                                              exec process.args
The intermediate exists because a new pid namespace only applies to children of the caller.
It reports the init's host pid and exits; the init is then reparented to the host side (a
subreaper during `run`) or to whoever supervises the runtime (containerd's shim, conmon).
"""

from __future__ import annotations

import errno
import os

from runtime.linux import rootfs as rfs
from runtime.linux import syscalls as sc
from runtime.oci import log
from runtime.oci import channel as ch
from runtime.oci.spec import NAMESPACE_FLAGS, NAMESPACE_ORDER, Mount, Spec
from runtime.record import as_dict, record


@record
class InitContext:
    spec: Spec
    bundle: str
    rootfs: str                 # absolute, resolved
    state_dir: str
    chan: ch.Channel
    listener: object = None     # a listening start.sock (made by the host), or None: wait
                                # for "start" on the channel
    cgroup: object = None       # the manager, already created (the intermediate joins it)
    console_fd: int | None = None
    no_pivot: bool = False
    preserve_fds: int = 0
    cgroup_binds: list = list
    seccomp: object = None      # a runtime.linux.seccomp.Program, or None: no filter
    seccomp_sock: int | None = None  # connected to linux.seccomp.listenerPath (by the host)
    no_new_keyring: bool = False
    dev_readonly: bool = False  # the config's /dev is read-only: remounted so at the end
    bind_sources: dict = dict   # {mount index: a bind's source tree, cloned by the host side}


def _report_and_exit(chan: ch.Channel, exc: BaseException) -> None:
    code = getattr(exc, "exit_code", 1)
    msg = str(exc) or type(exc).__name__
    try:
        chan.send(ch.Failed(msg, code if isinstance(code, int) else 1))
    except OSError:
        pass
    os._exit(1)


def enter_namespaces(spec: Spec, chan: ch.Channel) -> None:
    """Join the namespaces given by path and make the new ones, user namespace first."""
    linux = spec.linux
    joins = []
    unshare_flags = 0
    for kind in NAMESPACE_ORDER:
        ns = linux.namespace(kind)
        if ns is None:
            continue
        if ns.path:
            # Open every path before joining any: joining a mount namespace changes what
            # the later paths would mean.
            try:
                fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise sc.error(e.errno, f"open {kind} namespace", ns.path) from None
            joins.append((kind, fd, ns.path))
        else:
            unshare_flags |= NAMESPACE_FLAGS[kind]
    for kind, fd, path in [j for j in joins if j[0] == "user"]:
        sc.setns(fd, sc.CLONE_NEWUSER, path)
    if unshare_flags & sc.CLONE_NEWUSER:
        sc.unshare(sc.CLONE_NEWUSER)
        chan.send(ch.MapIds(os.getpid()))
        chan.expect(ch.Continue)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    for kind, fd, path in joins:
        if kind != "user":
            sc.setns(fd, NAMESPACE_FLAGS[kind], path)
        os.close(fd)
    rest = unshare_flags & ~sc.CLONE_NEWUSER
    if rest:
        sc.unshare(rest)


def intermediate(ctx: InitContext) -> None:
    """First child: cgroup, namespaces, then fork the init. Exits, never returns."""
    from runtime.oci import process as pr
    try:
        log.trace("intermediate: started")
        # Import all the container side needs now: inside a user namespace the process may no
        # longer read the host's Python library, and after pivot_root it cannot see it.
        net = ctx.spec.linux.namespace("network")
        new_netns = net is not None and not net.path
        pr.preload(ctx.spec.process, hooks=bool(ctx.spec.hooks.get("startContainer")),
                   seccomp=ctx.seccomp is not None, notify=ctx.seccomp_sock is not None,
                   new_netns=new_netns)
        if ctx.cgroup is not None:
            ctx.cgroup.join(0)
        log.trace("intermediate: joined cgroup")
        enter_namespaces(ctx.spec, ctx.chan)
        if new_netns:
            # Its loopback up, as runc's (a "loopback" network for every new one) and
            # crun's: 127.0.0.1 works in a container that has no other interface.
            sc.link_up("lo")
        log.trace("intermediate: entered namespaces")
        # The init waits until its pid is reported: otherwise, on a busy host, its own first
        # message (Ready, RunHooks) can reach the host side before Pid does.
        # The pid goes along: in its new pid namespace the init cannot tell its own host pid,
        # which a seccomp listener is given.
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            host_pid = int(os.read(go_r, 32) or 0)
            os.close(go_r)
            container_init(ctx, host_pid)  # never returns
        os.close(go_r)
        ctx.chan.send(ch.Pid(pid))
        os.write(go_w, str(pid).encode())
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - everything goes back over the channel
        _report_and_exit(ctx.chan, e)


def build_rootfs(ctx: InitContext) -> None:
    spec = ctx.spec
    linux = spec.linux
    if linux.namespace("mount") is None:
        return  # no mount namespace of its own: the container sees the host's root
    rfs.set_root_propagation(linux.rootfs_propagation, ctx.rootfs)
    rfs.bind_rootfs(ctx.rootfs)
    rootfd = os.open(ctx.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev_bound = False
        for i, m in enumerate(spec.mounts):
            if m.destination == "/dev" and not m.is_bind and m.flags & sc.MS_RDONLY:
                ctx.dev_readonly = True  # made read-only once its nodes are in
                m = Mount(**dict(as_dict(m), flags=m.flags & ~sc.MS_RDONLY))
            rfs.mount_one(rootfd, ctx.rootfs, m, ctx.bundle,
                          ctx.cgroup_binds if ctx.cgroup_binds else None,
                          tree=ctx.bind_sources.get(i),
                          cgroup_dir=getattr(ctx.cgroup, "path", None))
            dev_bound |= m.destination == "/dev" and m.is_bind
        if not dev_bound:
            rfs.make_devices(rootfd, linux.devices, bind_from_host=linux.namespace("user")
                             is not None)
    finally:
        os.close(rootfd)


def join_new_session_keyring(container_id: str) -> None:
    """A session keyring of the container's own, as runc makes (`_ses.<id>`): otherwise the
    container shares the caller's session keyring, and keys the host stored there."""
    try:
        serial = sc.keyctl_join_session_keyring(f"_ses.{container_id}")
    except OSError as e:
        if e.errno in (errno.ENOSYS, errno.EPERM):
            # No keyrings here, or pyrun-oci itself runs under a filter that forbids them,
            # which the container then inherits.
            log.debug(f"session keyring not made: {e}")
            return
        raise
    # Searchable by its user, as runc leaves it; every other bit as the kernel made them.
    perm = int(sc.keyctl_describe(serial).split(";")[3], 16)
    sc.keyctl_setperm(serial, perm | 0x080000)


def container_init(ctx: InitContext, host_pid: int = 0) -> None:
    """The container's PID 1 until it execs. Never returns."""
    from runtime.linux import capabilities
    from runtime.oci import process as pr

    spec, chan = ctx.spec, ctx.chan
    proc = spec.process
    try:
        # CVE-2019-5736: nothing in the container may open this process's /proc/PID/exe
        # (the host's interpreter) while it is still the runtime. execve resets this.
        log.trace("init: started")
        capabilities.set_dumpable(False)
        os.setsid()
        if not ctx.no_new_keyring:
            join_new_session_keyring(os.path.basename(ctx.state_dir))
        pr.set_oom_score_adj(proc)
        listener = ctx.listener
        build_rootfs(ctx)
        log.trace("init: rootfs built")
        if spec.hooks.get("prestart") or spec.hooks.get("createRuntime"):
            chan.send(ch.RunHooks())
            chan.expect(ch.Continue)
        if spec.hooks.get("createContainer"):
            from runtime.oci import hooks
            hooks.run("createContainer", spec.hooks["createContainer"],
                      {"ociVersion": spec.oci_version, "id": os.path.basename(ctx.state_dir),
                       "status": "creating", "pid": os.getpid(), "bundle": ctx.bundle},
                      cwd=ctx.rootfs)  # as runc runs them: in the container's root, not yet "/"
        if spec.linux.namespace("mount") is not None:
            if ctx.no_pivot:
                rfs.move_root(ctx.rootfs)
            else:
                rfs.pivot_root(ctx.rootfs)
            if spec.linux.rootfs_propagation:
                # Set on the tree before the pivot; "/" is a new mount point now (runc too).
                rfs.set_root_propagation(spec.linux.rootfs_propagation)
        else:
            # No mount namespace of its own: the host's mounts, but root.path as its root
            # still (runc chroots too).
            os.chroot(ctx.rootfs)
            os.chdir("/")
        if proc.terminal and ctx.console_fd is not None:
            master, slave = pr.open_pty(proc.console_size, (proc.user.uid, proc.user.gid))
            try:
                _bind_console(slave)
            finally:
                pr.send_console(ctx.console_fd, master)
                os.close(master)
            # The pty is the container's stdio from now on, not only once started: the
            # caller's stdio (a shim's pipes, a shell's $(...)) must close when create
            # returns, or whoever reads them to their end waits for a start that waits for
            # them (a pod's StartContainer hung so).
            pr.take_terminal(slave)
            os.close(slave)
        if spec.hostname:
            sc.sethostname(spec.hostname)
        if spec.domainname:
            sc.setdomainname(spec.domainname)
        # Before the read-only paths, which hold /proc/sys in Docker's and podman's configs
        # (runc's order too): written after, every sysctl failed with EROFS.
        for key, value in spec.linux.sysctl.items():
            pr.write_proc(f"linux.sysctl {key}", "/proc/sys/" + key.replace(".", "/"), value)
        if spec.linux.namespace("mount") is not None:
            for path in spec.linux.masked_paths:
                rfs.mask_path(path)
            for path in spec.linux.readonly_paths:
                rfs.readonly_path(path)
        if ctx.dev_readonly:
            # Mounted writable for its device nodes, /dev/pts and the console; read-only
            # from here on, as the config asked (runc's order too).
            rfs.bind_remount("/dev", sc.MS_RDONLY)
        if spec.root_readonly and spec.linux.namespace("mount") is not None:
            rfs.remount_root_readonly()
        log.trace("init: pivoted, masked, configured")
        # Fail at create, not at start, when the program is not there (runc does the same).
        pr.lookup(proc.args[0], proc.env)
        chan.send(ch.Ready())
    except BaseException as e:  # noqa: BLE001
        _report_and_exit(chan, e)

    # Wait for start. From here, errors go to whoever started us.
    report = chan
    if listener is not None:
        chan.close()
        try:
            conn_fd, _ = listener._accept()
        except BaseException:  # noqa: BLE001
            os._exit(1)
        listener.close()
        conn = ch.Channel(conn_fd, conn_fd)
        try:
            conn.expect(ch.Continue)
        except BaseException:  # noqa: BLE001 - `start` went away: do not run
            os._exit(1)
        report = conn
    else:
        try:
            chan.expect(ch.Continue)
        except BaseException:  # noqa: BLE001 - the host side died: do not run
            os._exit(1)

    log.trace("init: start received")

    def start_hooks():
        if spec.hooks.get("startContainer"):
            from runtime.oci import hooks
            hooks.run("startContainer", spec.hooks["startContainer"],
                      {"ociVersion": spec.oci_version, "id": os.path.basename(ctx.state_dir),
                       "status": "created", "pid": os.getpid(), "bundle": ctx.bundle})

    notify = None
    if ctx.seccomp_sock is not None:
        notify = (ctx.seccomp_sock, host_pid, {
            "ociVersion": spec.oci_version, "id": os.path.basename(ctx.state_dir),
            "status": "created", "pid": host_pid, "bundle": ctx.bundle,
            "annotations": spec.annotations})
    try:
        pr.finish_and_exec(proc, preserve_fds=ctx.preserve_fds, start_hooks=start_hooks,
                           seccomp=ctx.seccomp, notify=notify)
    except BaseException as e:  # noqa: BLE001
        _report_and_exit(report, e)


def _bind_console(slave: int) -> None:
    """/dev/console is the container's pty, as in runc."""
    try:
        fd = os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o600)
        os.close(fd)
        sc.mount(f"/proc/self/fd/{slave}", "/dev/console", None, sc.MS_BIND)
    except OSError:
        pass  # no writable /dev: the pty still serves as stdio
