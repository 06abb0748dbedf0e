"""exec: a new process in a running container, through the runtime's `exec` (its
process joins the container's namespaces, cgroup and security settings)."""

from __future__ import annotations

import os

from runtime.engine import containers as cmod


def check(c) -> None:
    if not c.running:
        raise cmod.ContainerStateConflict(f"Container {c.id} is not running")
    if c.state.paused:
        raise cmod.ContainerStateConflict(f"Container {c.id} is paused, unpause the container "
                                          "before exec")


def argv(c, command, env=(), user=None, workdir=None, tty=False, detach=False,
         console_socket: str | None = None) -> list[str]:
    """The runtime's command line for it (run by the caller with its own stdio)."""
    from runtime.engine import oci
    check(c)
    if not command:
        raise cmod.ContainerError("No exec command specified")
    out = oci.argv("exec")
    for e in env:
        out += ["--env", e]
    if user:
        out += ["--user", user]
    if workdir:
        out += ["--cwd", workdir]
    if detach:
        out.append("--detach")
    if tty:
        out.append("--tty")
    if console_socket:
        out += ["--console-socket", console_socket]
    return out + [c.id, *command]


class ConsoleSocket:
    """Where the runtime sends the master side of a terminal it opens in the container's
    own devpts (runc's --console-socket): a unix socket in a private directory; receive()
    returns the master's descriptor."""

    def __init__(self):
        import socket
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="pyrun-console-", dir="/run")
        self.path = os.path.join(self.dir, "sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def receive(self, timeout: float = 30.0) -> int:
        import socket
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        if not fds:
            raise cmod.ContainerError("the runtime sent no terminal")
        return fds[0]

    def close(self) -> None:
        import shutil
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
