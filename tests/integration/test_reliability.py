"""pyrun driven as a busy host drives it: commands killed at random moments, commands racing
each other, a full disk, bad input, an OOM kill. After the command that follows a killed
one, nothing of the killed one may remain; no command may fail because another runs."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import free_port
from tests.integration.conftest import leftover_cgroups
from tests.integration.test_build import PYRUN, busybox, context, pyrun  # noqa: F401
from tests.integration.test_engine import NOTHING, engine, settled  # noqa: F401
from tests.integration.test_registry import registry  # noqa: F401 - fixture

BUILD_ROOT = "/run/pyrun-build"


def build_leftovers(store_root: str) -> dict:
    """What a build step or an unfinished create may leave besides leftovers()'s."""
    containers = os.path.join(store_root, "containers")
    return {
        "build-state": os.listdir(BUILD_ROOT) if os.path.isdir(BUILD_ROOT) else [],
        "build-cgroups": [os.path.join(d, x) for d in leftover_cgroups("pyrun-build")
                          for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))],
        "unfinished": [n for n in os.listdir(containers)
                       if n.startswith((".creating-", ".pending-"))]
        if os.path.isdir(containers) else [],
    }


def spawn(pyrun, *args):  # noqa: F811
    """A pyrun command in its own process group, as a shell runs it."""
    env = dict(os.environ, PYRUN_ROOT=pyrun.root)
    return subprocess.Popen([PYRUN, *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def kill(p, group: bool) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL) if group else p.kill()
    except ProcessLookupError:
        pass
    p.wait()


def test_commands_killed_at_any_moment_leave_nothing(engine, registry, tmp_path):  # noqa: F811
    """SIGKILL of the whole process group or of the CLI alone, at a random moment of `run
    -d`, `run --rm`, `build` (in a RUN step, in a layer's commit) and `pull`; then the next
    command (`ls -a`) must find the host consistent: nothing held but by a running
    container; and once those are removed, nothing at all. The store stays intact."""
    rng = random.Random(os.environ.get("PYRUN_FAULT_SEED", "13"))
    ctx = context(tmp_path, "FROM busybox\nRUN sleep 0.3; echo ran > /ran\n"
                  "RUN dd if=/dev/zero of=/big bs=1M count=16 2>/dev/null\n")
    name = f"{registry.host}/pyrun-test/killed:1"
    engine("image", "tag", "busybox", name)
    engine("push", name)
    kinds = {
        "run -d": (["run", "-d", "busybox", "sleep", "30"], 0.15),
        "run --rm": (["run", "--rm", "busybox", "sleep", "0.2"], 0.15),
        "build": (["build", "--no-cache", "-t", "killed:build", ctx], 1.5),
        "pull": (["pull", name], 0.3),
    }
    failures = []
    for trial in range(24):
        kind = list(kinds)[trial % len(kinds)]
        argv, window = kinds[kind]
        if kind == "pull":
            engine("image", "rm", name, check=False)
        p = spawn(engine, *argv)
        time.sleep(rng.uniform(0, window))
        group = rng.random() < 0.7
        kill(p, group)
        assert engine("ls", "-a").returncode == 0  # the next command
        # A monitor that outlived its CLI may still be starting the container: "created"
        # while it lives (the next command made a dead one's "exited"); wait for the outcome.
        deadline = time.monotonic() + 10
        while engine("ls", "-aq", "--filter", "status=created").stdout.strip() and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        running = engine("ls", "-q").stdout.split()
        held = ("mounts", "netns", "leases", "monitors")
        left = {k: v for k, v in settled(*held, timeout=3).items() if k in held} \
            if not running else {}
        left.update(build_leftovers(engine.root))
        if any(left.values()):
            failures.append(f"{kind} (group={group}): after the next command: {left}")
        ids = engine("ls", "-aq").stdout.split()
        if ids:
            engine("rm", "-f", *ids)
        left = dict(settled(timeout=10), **build_leftovers(engine.root))
        if any(left.values()):
            failures.append(f"{kind} (group={group}): after rm -f: {left}")
            break
    assert failures == []
    # the store is intact: the image still runs, a build still builds
    assert engine("run", "--rm", "--network", "none", "busybox", "echo", "ok").stdout == "ok\n"
    engine("build", "-t", "killed:after", ctx)
    engine("pull", name)


def test_concurrent_runs_removals_and_one_port(engine):  # noqa: F811
    """Rounds of parallel `run -d` and `rm -f`: every command succeeds; of five runs that
    publish one host port, one gets it and four get Docker's message."""
    port = free_port()
    with ThreadPoolExecutor(10) as ex:
        for _ in range(3):
            runs = list(ex.map(lambda i: engine("run", "-d", "busybox", "sleep", "30",
                                                check=False), range(10)))
            assert [p.stderr for p in runs if p.returncode] == []
            ids = [p.stdout.strip() for p in runs]
            assert len(set(ids)) == 10
            rms = list(ex.map(lambda cid: engine("rm", "-f", cid, check=False), ids))
            assert [p.stderr for p in rms if p.returncode] == []
            same = list(ex.map(lambda i: engine("run", "-d", "-p", f"{port}:80", "busybox",
                                                "sleep", "30", check=False), range(5)))
            won = [p for p in same if p.returncode == 0]
            lost = [p.stderr.strip() for p in same if p.returncode != 0]
            assert len(won) == 1, lost
            assert lost == [f"pyrun: Bind for 0.0.0.0:{port} failed: port is already "
                            "allocated"] * 4
            # the four stay, never started (as Docker's do), until removed
            assert len(engine("ls", "-aq").stdout.split()) == 5
            engine("rm", "-f", *engine("ls", "-aq").stdout.split())
            assert engine("ls", "-aq").stdout == ""
    assert settled() == NOTHING


@pytest.fixture
def small_store(busybox_rootfs, tmp_path):
    """A store on a 48 MiB tmpfs, with busybox, for a container to fill."""
    from tests.conftest import unmount_under
    from tests.integration.test_build import Pyrun
    top = tmp_path / "pyrun-small"
    top.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "pyrun-test-small", str(top)],
                   check=True)
    p = Pyrun(str(top / "store"))
    try:
        tar = tmp_path / "busybox.tar"
        subprocess.run(["tar", "-C", str(busybox_rootfs), "-cf", str(tar), "."], check=True)
        p("image", "import", str(tar), "busybox")
        yield p
    finally:
        ids = p("ls", "-aq", check=False).stdout.split()
        if ids:
            p("rm", "-f", *ids, check=False)
        settled()
        unmount_under(str(top))


@pytest.mark.vm
def test_a_full_disk_is_survivable(small_store):
    s = small_store
    s("run", "-d", "--name", "filler", "--network", "none", "busybox", "sh", "-c",
      "dd if=/dev/zero of=/fill bs=1M 2>/dev/null; echo filled; sleep 300")
    deadline = time.monotonic() + 20
    while "filled" not in s("logs", "filler").stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    assert os.statvfs(s.root).f_bavail == 0
    assert "filler" in s("ls").stdout and s("container", "inspect", "filler").returncode == 0
    p = s("run", "--rm", "--network", "none", "busybox", "true", check=False)
    assert p.returncode == 125 and p.stderr.strip() == "pyrun: No space left on device"
    assert os.listdir(os.path.join(s.root, "containers")) == [
        json.loads(s("container", "inspect", "filler").stdout)[0]["Id"]]  # nothing half-made
    s("stop", "-t", "1", "filler")
    assert "Exited (137)" in s("ls", "-a").stdout
    s("start", "filler", check=False)  # may fail for want of space: it must say so, no more
    s("kill", "filler", check=False)
    s("rm", "-f", "filler")
    assert s("ls", "-aq").stdout == ""
    s("run", "-d", "--name", "filler2", "--network", "none", "busybox", "sh", "-c",
      "dd if=/dev/zero of=/fill bs=1M 2>/dev/null; sleep 300")
    deadline = time.monotonic() + 20
    while os.statvfs(s.root).f_bavail and time.monotonic() < deadline:
        time.sleep(0.2)
    s("kill", "filler2")
    s("wait", "filler2")  # kill returns once the signal is sent, as Docker's
    s("rm", "filler2")
    assert s("ls", "-aq").stdout == ""
    assert s("run", "--rm", "--network", "none", "busybox", "echo", "room").stdout == "room\n"


@pytest.mark.vm
def test_oom_kills_are_told_from_kill_9(engine):  # noqa: F811
    p = engine("run", "--name", "hog", "-m", "8m", "--network", "none", "busybox", "sh", "-c",
               "x=aaaaaaaa; while true; do x=$x$x; done", check=False)
    assert p.returncode == 137
    engine("run", "-d", "--name", "killed", "--network", "none", "busybox", "sleep", "60")
    engine("kill", "killed")
    engine("wait", "killed")
    states = {c["Name"]: c["State"] for c in
              json.loads(engine("container", "inspect", "hog", "killed").stdout)}
    assert states["/hog"]["OOMKilled"] is True and states["/hog"]["ExitCode"] == 137
    assert states["/killed"]["OOMKilled"] is False and states["/killed"]["ExitCode"] == 137


@pytest.mark.parametrize("args,message", [
    (["kill", "-s", "SIGFOO", "x"], "Invalid signal: SIGFOO"),  # the docker CLI's 1
    (["run", "--stop-signal", "SIGFOO", "busybox", "true"], "Invalid signal: SIGFOO"),
    (["run", "--cpus", "-1", "busybox", "true"], "Range of CPUs is from 0.01 to"),
    (["run", "--cpus", "1000", "busybox", "true"], "Range of CPUs is from 0.01 to"),
    (["run", "-p", "1.2.3.4.5:80:80", "busybox", "true"], "invalid IP address '1.2.3.4.5'"),
    (["run", "--bogus", "busybox", "true"], "No such option"),
    (["rm"], "Missing argument"),
])
def test_bad_input_is_one_line_and_makes_nothing(engine, args, message):  # noqa: F811
    p = engine(*args, check=False)
    # the docker CLI's codes: 125 for run and for any usage error, 1 for the rest
    code = 125 if args[0] == "run" or "argument" in message else 1
    assert p.returncode == code and message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert engine("ls", "-aq").stdout == ""


def test_a_bad_signal_neither_signals_nor_disables_the_restart_policy(engine):  # noqa: F811
    engine("run", "-d", "--name", "svc", "--restart", "always", "busybox", "sleep", "60")
    p = engine("kill", "-s", "SIGFOO", "svc", check=False)
    assert p.returncode == 1
    (c,) = json.loads(engine("container", "inspect", "svc").stdout)
    assert c["State"]["Status"] == "running" and not c["State"].get("StoppedByUser")
