"""engine/start.py and engine/run.py without a monitor process: the start's hand-over and
the monitor's answer read back as the engine's errors (Docker's 125, 126, 127), and the
pull policies run and create follow."""

from __future__ import annotations

import io
import os

import pytest

from runtime.engine import containers as cmod
from runtime.engine import model, start as startmod
from runtime.engine import run as runmod
from runtime.errors import CommandNotFound, PyrunError
from runtime.image.store import ImageNotFound, Store
from runtime.oci.state import own_identity


CID = "e" * 64


def container(tmp_path, **host) -> cmod.Container:
    store = Store(str(tmp_path)).ensure()
    c = cmod.Container(store, id=CID, name="st", created="", image="sha256:" + "0" * 64,
                       image_ref="busybox", path="true", args=[], config=model.Config(),
                       host=model.HostConfig(**host), net=model.NetworkSettings(),
                       state=model.State())
    os.makedirs(c.dir)
    c.save()
    return c


class FakeMonitor:
    """subprocess.Popen for start_detached: "started" as this test's process, it answers
    on the notify descriptor the command line names, as the monitor would."""

    def __init__(self, answer: bytes):
        self.answer, self.argv, self.pass_fds = answer, None, None

    def __call__(self, argv, pass_fds=(), **kw):
        self.argv, self.pass_fds = argv, pass_fds
        notify = int(argv[argv.index(CID) + 1])  # ... ROOT ID NOTIFY_FD GO_FD [STDIN_FD]
        os.write(notify, self.answer)
        self.pid = os.getpid()
        return self


@pytest.fixture
def monitor(monkeypatch):
    def install(answer: bytes) -> FakeMonitor:
        fake = FakeMonitor(answer)
        import subprocess
        monkeypatch.setattr(subprocess, "Popen", fake)
        return fake
    return install


def test_a_start_hands_the_container_to_its_monitor_and_returns_once_it_runs(tmp_path,
                                                                              monitor):
    c = container(tmp_path)
    fake = monitor(b"ok\n")
    startmod.start_detached(c.store, c)
    assert fake.argv[-4:-2] == [c.store.root, c.id] and "runtime.engine.monitor" in \
        fake.argv[-5] and len(fake.pass_fds) == 2  # no input: /dev/null
    again = cmod.load(c.store, c.id)
    assert again.state.monitor_pid == os.getpid()  # named before the monitor reads it


def test_an_input_descriptor_is_passed_to_the_monitor(tmp_path, monitor):
    c = container(tmp_path)
    fake = monitor(b"ok\n")
    r, w = os.pipe()
    startmod.start_detached(c.store, c, stdin=r)
    assert fake.argv[-1] == str(r) and r in fake.pass_fds
    os.close(r)
    os.close(w)


def test_the_monitors_error_is_the_runtimes_exit_code_and_message(tmp_path, monitor):
    c = container(tmp_path)
    monitor(b"error 127: exec: \"nope\": executable file not found in $PATH\n")
    with pytest.raises(CommandNotFound, match="executable file not found") as e:
        startmod.start_detached(c.store, c)
    assert e.value.exit_code == 127
    monitor(b"error 125: port is already allocated\n")
    with pytest.raises(PyrunError, match="^port is already allocated$") as e:
        startmod.start_detached(c.store, c)
    assert e.value.exit_code == 125


def test_a_monitor_that_said_nothing_is_one_line_and_rm_removes_the_container(tmp_path,
                                                                              monitor):
    c = container(tmp_path, auto_remove=True)
    monitor(b"")
    with pytest.raises(PyrunError, match="monitor exited before the container started"):
        startmod.start_detached(c.store, c)
    assert not os.path.exists(c.dir)  # --rm: nothing half-made is left


def test_start_leaves_a_running_container_alone_and_forgets_a_users_stop(tmp_path,
                                                                        monkeypatch):
    c = container(tmp_path)
    started = []
    monkeypatch.setattr(startmod, "start_detached", lambda s, c, stdin=None: started.append(c))
    pid, st = own_identity()
    c.mark_monitored_by(pid, st)
    c.state.started(4242, "2026-12-01T10:00:00Z")
    c.save()
    startmod.start(c.store, c)
    assert started == []  # it runs: nothing to do
    c.mark_exited(0)
    c.mark_stopped_by_user(True)
    startmod.start(c.store, c)
    assert len(started) == 1 and not cmod.load(c.store, c.id).state.stopped_by_user


class FakeStore:
    def __init__(self, known=(), bad=()):
        self.known, self.bad = set(known), set(bad)

    def resolve(self, name):
        if name in self.bad:
            raise PyrunError(f"invalid reference format: {name}")
        if name not in self.known:
            raise ImageNotFound(name)
        return name


@pytest.fixture
def pulls(monkeypatch):
    from runtime.registry import client
    got = []
    monkeypatch.setattr(client, "ensure",
                        lambda store, image, policy, out=None: got.append((image, policy)))
    return got


def test_the_pull_policies(pulls):
    store = FakeStore(known={"busybox"}, bad={"Bad//Ref"})
    out = io.StringIO()
    runmod.pull_if_needed(store, "busybox", "missing", out)
    runmod.pull_if_needed(store, "Bad//Ref", "missing", out)  # create reports it
    runmod.pull_if_needed(store, "nginx", "never", out)
    assert pulls == []
    runmod.pull_if_needed(store, "nginx", "missing", out)
    runmod.pull_if_needed(store, "busybox", "always", out)
    assert pulls == [("nginx", "missing"), ("busybox", "always")]
