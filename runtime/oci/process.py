"""The last steps before the user's program runs, on the container side.

Shared by the container's init (create/run) and by exec: console, rlimits, user and
capabilities, working directory, file descriptors, and the execve itself. Failures before the
execve are reported through the channel (or the start socket), which is close-on-exec: if the
host side sees end-of-file, the program is running.
"""

from __future__ import annotations

import errno
import os
import struct

from runtime.errors import SetupError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# ioctl numbers (asm-generic; x86 and arm64 agree)
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def preload(proc, hooks: bool = False, seccomp: bool = False, notify: bool = False,
            new_netns: bool = False) -> None:
    """Import now what the steps after pivot_root (or setns into the container's mount
    namespace) will need: from then on the host's Python library is out of reach."""
    if proc.rlimits:
        import resource  # noqa: F401
    if proc.terminal or notify:
        import fcntl  # noqa: F401
        import socket  # noqa: F401
    if new_netns:  # syscalls.link_up
        import _socket  # noqa: F401
        import fcntl  # noqa: F401
    if hooks:
        import runtime.oci.hooks  # noqa: F401
    if seccomp:
        import runtime.linux.seccomp  # noqa: F401
    import runtime.linux.capabilities  # noqa: F401


class ExecError(SetupError):
    """The program could not be started; exit_code follows Docker (126 cannot run, 127 absent)."""


def lookup(args0: str, env: list[str]) -> str:
    """Resolve the program like execvp, inside the (already entered) container root."""
    if "/" in args0:
        if not os.path.exists(args0):
            raise ExecError(f'exec: "{args0}": stat {args0}: no such file or directory',
                            ) from None
        return args0
    path = DEFAULT_PATH
    for e in env:
        if e.startswith("PATH="):
            path = e[5:]
    for d in path.split(":"):
        cand = os.path.join(d or ".", args0)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    err = ExecError(f'exec: "{args0}": executable file not found in $PATH')
    err.exit_code = 127
    raise err


def refuse_runtime_binary(path: str) -> None:
    """CVE-2019-5736: a container must not get to run the runtime's own executable (here the
    host's Python interpreter), e.g. through "#!/proc/self/exe" in a planted script: the
    program would then hold the host binary as /proc/self/exe and could overwrite it once no
    one runs it. Follow the #! chain as the kernel would (4 levels) and refuse our inode.
    The init and exec processes are also made non-dumpable before they enter the container,
    so no container process can open their /proc/PID/exe meanwhile. The check itself races
    with a process that rewrites the script after it, which such a process cannot do in a
    fresh container (the init is its only process) and must win a narrow window in exec."""
    try:
        own = os.stat("/proc/self/exe")
    except OSError:
        return  # no /proc in the container: /proc/self/exe cannot be named either
    for _ in range(5):
        try:
            st = os.stat(path)
        except OSError:
            return
        if (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino):
            err = ExecError(f"exec: {path}: refusing to run the runtime's own binary "
                            "in a container (CVE-2019-5736)")
            err.exit_code = 126
            raise err
        try:
            with open(path, "rb") as f:
                head = f.read(256)
        except OSError:
            return
        if not head.startswith(b"#!"):
            return
        interp = head[2:].split(b"\n", 1)[0].strip().split()
        if not interp:
            return
        path = os.fsdecode(interp[0])


def open_pty(console_size=None, owner: tuple[int, int] | None = None) -> tuple[int, int]:
    """A new pty from the container's own devpts: (master, slave); the slave belongs to
    owner (the process's uid and gid), as runc's, so a non-root process owns its terminal."""
    import fcntl
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    slave = os.open(f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    if owner:
        os.fchown(slave, *owner)
    if console_size:
        rows, cols = console_size
        fcntl.ioctl(slave, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


def send_console(console_fd: int, master: int) -> None:
    """Hand the pty master to whoever listens on --console-socket (SCM_RIGHTS)."""
    import socket
    sock = socket.socket(fileno=console_fd)
    try:
        socket.send_fds(sock, [b"/dev/ptmx"], [master])
    finally:
        sock.close()


def take_terminal(slave: int) -> None:
    """Make the pty slave the controlling terminal and stdio (after setsid)."""
    import fcntl
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)


def write_proc(step: str, path: str, value: str, hint: str = "") -> None:
    """A write the kernel may refuse, reported as runc words it: the step and the file."""
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        why = f" ({hint})" if hint and e.errno in (errno.EACCES, errno.EPERM) else ""
        raise SetupError(f"{step}: write {value!r} to {path}: {e.strerror}{why}") from None


def set_oom_score_adj(proc) -> None:
    """process.oomScoreAdj, for the init and for exec'd processes alike (which would keep
    their joiner's, e.g. a shim's, otherwise)."""
    if proc.oom_score_adj is not None:
        write_proc("process.oomScoreAdj", "/proc/self/oom_score_adj", str(proc.oom_score_adj),
                   "a lower value than the caller's needs CAP_SYS_RESOURCE")


def set_rlimits(rlimits) -> None:
    if not rlimits:
        return
    import resource

    from runtime.oci.spec import RLIMITS
    names = {v: k for k, v in RLIMITS.items()}
    for res, soft, hard in rlimits:
        try:
            resource.setrlimit(res, (soft, hard))
        except (ValueError, OSError) as e:
            cur = resource.getrlimit(res)
            raise SetupError(f"setrlimit {names.get(res, res)} to {soft}:{hard}: {e} "
                             f"(current hard limit {cur[1]}; raising it needs "
                             "CAP_SYS_RESOURCE)") from None


def enter_cwd(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except FileNotFoundError:
        os.makedirs(cwd, 0o755, exist_ok=True)
        os.chdir(cwd)
    # CVE-2024-21626: a working directory inherited from the host (a leaked fd to
    # /sys/fs/cgroup, say) shows as "(unreachable)"; refuse rather than start there.
    if os.getcwd().startswith("(unreachable)"):
        raise SetupError(f"chdir {cwd}: working directory is outside the container")


def seal_fds(preserve: int) -> None:
    """CVE-2024-21626: no host descriptor may survive the execve, except stdio and the
    --preserve-fds ones. Python's own fds are close-on-exec already; inherited ones may not be."""
    keep = 3 + preserve
    from runtime.linux import syscalls as sc
    sc.cloexec_from(keep)
    for fd in range(3, keep):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass


def install_seccomp(program, notify) -> None:
    """Load the filter; with SCMP_ACT_NOTIFY, hand its listener to the agent:
    notify = (a socket connected to listenerPath, this process's host pid, the container's
    state)."""
    from runtime.linux import seccomp
    listener = seccomp.install(program)
    if notify is not None:
        sock, pid, state = notify
        seccomp.send_listener(sock, listener, pid, state, program.listener_metadata)


def finish_and_exec(proc, *, preserve_fds: int = 0, slave: int | None = None,
                    start_hooks=None, seccomp=None, notify=None) -> None:
    """Everything between "start" and the user's program. Raises on failure; never returns
    on success. The seccomp filter goes last, so that it judges the user's program and not
    pyrun's own setup; but without no_new_privs the kernel lets only CAP_SYS_ADMIN load a
    filter, so when the program keeps neither, it goes before the capabilities are dropped
    (as runc does), and the profile must then allow the calls that follow it."""
    from runtime.linux import capabilities

    if slave is not None:
        take_terminal(slave)
        os.close(slave)
    set_rlimits(proc.rlimits)
    if start_hooks:
        start_hooks()
    enter_cwd(proc.cwd)
    path = lookup(proc.args[0], proc.env)
    refuse_runtime_binary(path)
    u = proc.user
    caps = proc.capabilities
    from runtime.oci.spec import CAPABILITY_NUMBERS
    late = seccomp is not None and (proc.no_new_privileges or caps is None or
                                    CAPABILITY_NUMBERS["CAP_SYS_ADMIN"] in caps.effective)
    if seccomp is not None and not late:
        install_seccomp(seccomp, notify)
    capabilities.apply(caps, u.uid, u.gid, u.additional_gids)
    if proc.user.umask is not None:
        os.umask(proc.user.umask)
    else:
        os.umask(0o022)
    if proc.no_new_privileges:
        capabilities.set_no_new_privs()
    seal_fds(preserve_fds)
    if late:
        install_seccomp(seccomp, notify)
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in proc.env)
    try:
        os.execve(path, proc.args, env)
    except OSError as e:
        err = ExecError(f'exec: "{proc.args[0]}": {os.strerror(e.errno).lower()}')
        err.exit_code = 127 if e.errno == errno.ENOENT else 126
        raise err from None
