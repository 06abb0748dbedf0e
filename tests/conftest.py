"""Shared by unit and integration tests: where things are."""

import os
import pathlib

import pytest

PROJECT = pathlib.Path(__file__).resolve().parent.parent
CONFORMANCE = PROJECT.parent / "shared" / "conformance"

# The bridge and NAT table outlive the last container by this much (2 s by default): each
# engine test waits for the host to be clean before the next, and need not wait that long.
os.environ.setdefault("PYRUN_NET_LINGER", "0.2")


def unmount_under(path: str) -> None:
    """Unmount everything mounted at or below path, deepest first (peers such as dockerd
    leave nsfs pins behind; `umount -R` only works on a mount point itself)."""
    import subprocess
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p == path or p.startswith(path + "/")),
                    key=len, reverse=True):
        subprocess.run(["umount", "-l", p], stderr=subprocess.DEVNULL)


def free_port() -> int:
    """A TCP port no one listens on, on any address, right now."""
    import socket
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def terminal_session(argv: list, script: list, env=None, timeout: float = 30,
                     size: tuple = (24, 80)):
    """A command on a pseudo-terminal of the test's: once the command has made it raw (no
    echo: docker's and pyrun's attach do), each (wait_for, keys) of the script waits for
    its bytes in the output, then types the keys; then the output is read to its end.
    Returns (exit code, all the output). size: the terminal's rows and columns."""
    import fcntl
    import select
    import struct
    import subprocess
    import termios
    import time
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                         start_new_session=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout

    def read() -> bool:
        nonlocal seen
        if select.select([master], [], [], 0.5)[0]:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the command has ended
                data = b""
            seen += data
            return bool(data)
        return True
    try:
        while termios.tcgetattr(master)[3] & termios.ECHO:
            assert time.monotonic() < deadline, f"the terminal stayed cooked: {seen!r}"
            assert read(), f"the command ended: {seen!r}"
        for wait_for, keys in script:
            while wait_for not in seen:
                assert time.monotonic() < deadline, f"no {wait_for!r} in {seen!r}"
                assert read(), f"the command ended before {wait_for!r}: {seen!r}"
            os.write(master, keys)
        while read():
            assert time.monotonic() < deadline, f"the command did not end: {seen!r}"
        return p.wait(timeout=10), seen
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def conformance_dir(name: str) -> pathlib.Path:
    """A folder of ../shared/conformance, or skip (with the reason) where it is absent."""
    d = CONFORMANCE / name
    if not d.is_dir():
        pytest.skip(f"conformance data not found at {d} (it lives beside the project)")
    return d


def pytest_report_header(config):
    """Which cgroup mode and kernel this run used: the VM run (scripts/test --vm) and the
    host's differ, and a reader of the output should see which covered what."""
    from runtime.linux import cgroups
    labels = {"unified": "v2 (unified)", "hybrid": "v1 with a cgroup2 mount (hybrid)",
              "legacy": "v1 (legacy)"}
    return f"pyrun: cgroup mode {labels[cgroups.mode()]}, kernel {os.uname().release}"
