"""engine/monitor.py's pieces that need no container: Docker's code for a failed start, and
the receiver of a detached terminal's master side (pyrun-oci's --console-socket)."""

from __future__ import annotations

import os
import socket
import threading

from runtime.engine import monitor
from runtime.errors import CannotInvoke, CommandNotFound, PyrunError


def test_a_failed_start_is_dockers_125_unless_the_program_is_missing_or_not_runnable():
    assert monitor.exit_code(CommandNotFound("x")) == 127
    assert monitor.exit_code(CannotInvoke("x")) == 126
    assert monitor.exit_code(PyrunError("x")) == 125
    assert monitor.exit_code(OSError(28, "No space left on device")) == 125
    odd = PyrunError("x")
    odd.exit_code = 3  # no other code passes for the runtime's
    assert monitor.exit_code(odd) == 125


class Creating:
    def __init__(self, code=None):
        self.code = code

    def poll(self):
        return self.code


def test_the_terminal_arrives_over_the_socket_which_is_then_gone(tmp_path):
    path = str(tmp_path / "console.sock")
    receiver = monitor._ConsoleReceiver(path)
    r, w = os.pipe()  # stands for the pty master

    def runtime_side():
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        socket.send_fds(s, [b"x"], [r])
        s.close()
    t = threading.Thread(target=runtime_side)
    t.start()
    got = receiver.receive(Creating())
    t.join()
    assert got is not None and os.path.sameopenfile(got, r)
    assert not os.path.exists(path)
    for fd in (got, r, w):
        os.close(fd)


def test_a_create_that_failed_before_sending_one_is_no_terminal(tmp_path):
    path = str(tmp_path / "console.sock")
    receiver = monitor._ConsoleReceiver(path)
    assert receiver.receive(Creating(code=1)) is None
    assert not os.path.exists(path)
