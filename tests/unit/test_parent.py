"""oci/parent.py, the host side of a container process's life shared by create/run and
exec: the caller's sockets, the pid file, reaping, and waiting while passing signals on."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from runtime.errors import SetupError
from runtime.oci import parent


def test_the_pid_file_is_written_whole_and_nothing_else_is_left(tmp_path):
    path = tmp_path / "pid"
    parent.write_pid_file(str(path), 4242)
    assert path.read_text() == "4242"
    assert os.listdir(tmp_path) == ["pid"]


def test_a_callers_socket_is_reached_or_named_in_the_error(tmp_path):
    path = str(tmp_path / "console.sock")
    with pytest.raises(SetupError, match=f"console socket {path}: No such file"):
        parent.connect_unix(path, "console socket")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    fd = parent.connect_unix(path, "console socket")
    conn, _ = server.accept()
    os.write(fd, b"hi")
    assert conn.recv(2) == b"hi"
    for s in (conn, server):
        s.close()
    os.close(fd)


def test_reaping_a_helper_that_is_gone_is_no_error():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    parent.reap(pid)
    parent.reap(pid)  # already reaped: ChildProcessError, swallowed


@pytest.fixture
def own_handlers():
    """wait_forwarding_signals installs handlers for this process: given back after."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
            signal.SIGUSR2, signal.SIGWINCH)
    saved = {s: signal.getsignal(s) for s in sigs}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_a_signal_to_the_caller_reaches_the_process_and_its_end_is_128_plus_n(own_handlers):
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    pid2 = os.fork()
    if pid2 == 0:  # the caller's signal, once the wait has begun
        time.sleep(0.3)
        os.kill(os.getppid(), signal.SIGUSR1)
        os._exit(0)
    assert parent.wait_forwarding_signals(pid) == 128 + signal.SIGUSR1
    parent.reap(pid2)


def test_an_exit_code_comes_back_as_it_is(own_handlers):
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    assert parent.wait_forwarding_signals(pid) == 7
