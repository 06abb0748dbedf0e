"""`run` in the foreground with process.terminal and no --console-socket: like runc, receive
the pty master from the init and relay between it and our own stdin/stdout until the
container's process exits."""

from __future__ import annotations

import os
import select
import socket

from runtime.errors import SetupError


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else \
        128 + os.WTERMSIG(status)


def relay(peer: socket.socket, pid: int) -> int:
    _, fds, _, _ = socket.recv_fds(peer, 1024, 1)
    peer.close()
    if not fds:
        raise SetupError("console: the container did not send its pty")
    master = fds[0]
    saved = None
    if os.isatty(0):
        import termios
        import tty
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        try:
            import fcntl
            size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(master, termios.TIOCSWINSZ, size)
        except OSError:
            pass
    inputs = [master, 0]
    code = None
    try:
        while code is None:
            try:
                ready, _, _ = select.select(inputs, [], [], 0.1)
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the last holder of the pty's other side is gone
                    data = b""
                if data:
                    os.write(1, data)
                else:
                    inputs.remove(master)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    inputs.remove(0)
                    os.write(master, b"\x04")  # end of our input: ^D to the pty
            wpid, status = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                code = _exit_code(status)
        # drain what the program wrote last
        while True:
            r, _, _ = select.select([master], [], [], 0.05)
            if not r:
                break
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            os.write(1, data)
    finally:
        if saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(master)
    return code
