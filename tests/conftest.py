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
