"""engine/resize.py without root: a running container's terminal, held by its init (here a
child of the test on a pty of its own), takes the client's size; the event is recorded."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios

import pytest

from runtime.engine import containers as cmod
from runtime.engine import journal, model
from runtime.engine.resize import resize
from runtime.image.store import Store
from runtime.oci.state import own_identity


def size_of(fd: int) -> tuple[int, int]:
    h, w, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return h, w


@pytest.fixture
def container(tmp_path):
    """A container record whose init is `sleep` with a pty's slave as its stdio; (the
    record, the pty's master)."""
    master, slave = os.openpty()
    init = subprocess.Popen(["sleep", "30"], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    store = Store(str(tmp_path)).ensure()
    pid, start = own_identity()  # this process stands for the monitor
    c = cmod.Container(store, id="c" * 64, name="web", created="", image="sha256:" + "0" * 64,
                       image_ref="busybox", path="sleep", args=["30"],
                       config=model.Config(tty=True), host=model.HostConfig(),
                       net=model.NetworkSettings(),
                       state=model.State(monitor_pid=pid, monitor_start=start))
    os.makedirs(c.dir)
    c.state.started(init.pid, "2026-12-02T10:00:00Z")
    c.save()
    yield c, master
    init.kill()
    init.wait()
    os.close(master)


def test_the_terminal_takes_the_size_and_the_event_is_recorded(container):
    c, master = container
    resize(c, 17, 91)
    assert size_of(master) == (17, 91)
    (event,) = [e for e in journal.read(c.store) if e["Action"] == "resize"]
    assert event["Actor"]["Attributes"]["height"] == "17"
    assert event["Actor"]["Attributes"]["width"] == "91"


def test_a_container_without_a_terminal_is_left_alone(container):
    c, master = container
    c.config.tty = False
    resize(c, 5, 5)
    assert size_of(master) != (5, 5)
    assert "resize" not in [e["Action"] for e in journal.read(c.store)]


def test_a_stopped_container_cannot_be_resized(container):
    c, master = container
    c.state.exited(0, "2026-12-02T10:01:00Z")
    with pytest.raises(cmod.ContainerStateConflict, match="is not running"):
        resize(c, 5, 5)
