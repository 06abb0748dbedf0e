"""Container logs: json-file with rotation (--log-opt max-size, max-file), read back by
`pyrun logs` across the rotated files."""

from __future__ import annotations

import json
import os
import time

from runtime.engine.containers import root_dir
from tests.conftest import terminal_session
from tests.integration.test_build import busybox, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import engine  # noqa: F401 - fixture

# 600 numbered lines, ~75 bytes each as json-file records: ~45 kB through 4 kB files
WRITER = "i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo line-$i; done"


def log_files(engine, name: str) -> list[str]:  # noqa: F811
    (c,) = json.loads(engine("inspect", name).stdout)
    d = os.path.join(root_dir(type("S", (), {"root": engine.root})()), c["Id"])
    return sorted(n for n in os.listdir(d) if n.startswith("container.log"))


def wait_exited(engine, name: str) -> None:  # noqa: F811
    deadline = time.monotonic() + 20
    while '"Status": "exited"' not in engine("inspect", name).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_rotation_keeps_at_most_max_file_files(engine):  # noqa: F811
    # detached: the resident C pump writes the log
    engine("run", "-d", "--network", "none", "--name", "pyrun-log-d", "--log-opt",
           "max-size=4k", "--log-opt", "max-file=3", "busybox", "sh", "-c", WRITER)
    wait_exited(engine, "pyrun-log-d")
    # attached: the monitor's Python pump writes it
    engine("run", "--network", "none", "--name", "pyrun-log-a", "--log-opt", "max-size=4k",
           "--log-opt", "max-file=2", "busybox", "sh", "-c", WRITER)
    for name, files in (("pyrun-log-d", 3), ("pyrun-log-a", 2)):
        names = log_files(engine, name)
        assert names == ["container.log"] + [f"container.log.{i}" for i in range(1, files)]
        out = engine("logs", name).stdout.split()
        assert out[-1] == "line-600"  # the newest kept, in order, across the files
        numbers = [int(x.split("-")[1]) for x in out]
        assert numbers == list(range(numbers[0], 601)) and numbers[0] > 1  # the oldest went
        assert engine("logs", "--tail", "2", name).stdout.split() == ["line-599", "line-600"]


def test_log_opts_are_checked(engine):  # noqa: F811
    for args, message in ((["--log-opt", "max-size=big"], "invalid log opts"),
                          (["--log-opt", "colour=red"], "unknown log opt"),
                          (["--log-opt", "max-file=0"], "at least 1"),
                          (["--log-driver", "syslog"], "not supported")):
        p = engine("run", "--rm", "--network", "none", *args, "busybox", "true", check=False)
        assert p.returncode == 125 and message in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
    engine("run", "--network", "none", "--name", "pyrun-log-default", "busybox", "true")
    (c,) = json.loads(engine("inspect", "pyrun-log-default").stdout)
    assert c["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                            "Config": {"max-size": "20m", "max-file": "5"}}


def test_attach_follows_output_from_now_passes_signals_and_exits_with_the_container(engine):  # noqa: F811,E501
    import signal
    import subprocess
    from tests.integration.test_build import PYRUN
    engine("run", "-d", "--name", "pyrun-ticker", "busybox", "sh", "-c",
           'trap "echo got TERM; exit 3" TERM; echo before; '
           "while true; do echo tick; sleep 0.2; done")
    deadline = time.monotonic() + 10
    while "tick" not in engine("logs", "pyrun-ticker").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    p = subprocess.Popen([PYRUN, "attach", "pyrun-ticker"], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYRUN_ROOT=engine.root))
    first = p.stdout.readline()
    p.send_signal(signal.SIGTERM)  # proxied to the container, whose trap exits 3
    rest = p.stdout.read()
    assert p.wait(timeout=20) == 3
    assert first == "tick\n" and "before" not in rest and rest.endswith("got TERM\n")
    assert json.loads(engine("inspect", "pyrun-ticker").stdout)[0]["State"]["ExitCode"] == 3
    out = engine("logs", "--tail", "1", "pyrun-ticker").stdout
    assert out == "got TERM\n"
    assert engine("logs", "--since", "1h", "pyrun-ticker").stdout.startswith("before\n")
    assert engine("logs", "--since", str(int(time.time()) + 3600), "pyrun-ticker").stdout == ""
    p = engine("attach", "pyrun-ticker", check=False)
    assert p.returncode == 1 and "start it first" in p.stderr


def test_attach_gives_its_input_to_a_container_started_with_i(engine):  # noqa: F811
    from tests.integration.test_build import PYRUN
    env = dict(os.environ, PYRUN_ROOT=engine.root)
    # -di: the shell waits on an input that stays open with no one attached
    engine("run", "-di", "--name", "pyrun-shell", "busybox", "sh")
    time.sleep(0.5)
    assert json.loads(engine("inspect", "pyrun-shell").stdout)[0]["State"]["Running"]
    p = engine("attach", "pyrun-shell", input="echo attached; exit 3\n", check=False)
    assert (p.returncode, p.stdout) == (3, "attached\n")
    # -dit: keys through a raw terminal, the container's echo back, ctrl-p ctrl-q detaches
    engine("run", "-dit", "--name", "pyrun-tty", "busybox", "sh")
    code, seen = terminal_session([PYRUN, "attach", "pyrun-tty"],
                                  [(b"", b"echo $((6 * 7))\r"), (b"42\r\n", b"\x10\x11")],
                                  env=env)
    assert code == 0 and b"read escape sequence" in seen
    assert json.loads(engine("inspect", "pyrun-tty").stdout)[0]["State"]["Running"]
    code, seen = terminal_session([PYRUN, "attach", "--detach-keys", "ctrl-x,x", "pyrun-tty"],
                                  [(b"", b"echo \x10\x11 kept\r"), (b"kept\r\n", b"\x18x")],
                                  env=env)  # keys of its own: ctrl-p ctrl-q are typed
    assert code == 0 and b"read escape sequence" in seen
    p = engine("attach", "--detach-keys", "ctrl-", "pyrun-tty", check=False)
    assert p.returncode == 1 and "Invalid detach keys (ctrl-) provided" in p.stderr
    code, seen = terminal_session([PYRUN, "attach", "pyrun-tty"],
                                  [(b"", b"exit 4\r")], env=env)  # the same shell
    assert code == 4
    # start -ai: attached from the start (its output from then on), the input given to it
    engine("create", "-i", "--name", "pyrun-again", "--network", "none", "busybox", "sh",
           "-c", "echo started; read x; echo got $x; exit 6")
    for _ in range(2):  # the second run's output alone
        p = engine("start", "-ai", "pyrun-again", input="hi\n", check=False)
        assert (p.returncode, p.stdout) == (6, "started\ngot hi\n")
    p = engine("start", "-a", "pyrun-again", "pyrun-shell", check=False)
    assert p.returncode == 1 and "multiple containers" in p.stderr
    engine("rm", "pyrun-shell", "pyrun-tty", "pyrun-again")
