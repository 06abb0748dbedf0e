"""engine/execute.py: the runtime command line an exec becomes, and the containers it
refuses (stopped, paused, no command), over a record in a temporary store."""

from __future__ import annotations

import pytest

from runtime.engine import containers as cmod
from runtime.engine import execute, oci
from tests.unit.test_verbs import running  # noqa: F401 - fixture


def test_flags_become_the_runtimes_in_its_order(running, monkeypatch):  # noqa: F811
    monkeypatch.setattr(oci, "argv", lambda verb: ["pyrun-oci", "--root", "/r", verb])
    out = execute.argv(running, ["sh", "-c", "echo $X"], env=["X=1", "Y=2"], user="1000:1000",
                       workdir="/tmp", tty=True, detach=True, console_socket="/run/s")
    assert out == ["pyrun-oci", "--root", "/r", "exec", "--env", "X=1", "--env", "Y=2",
                   "--user", "1000:1000", "--cwd", "/tmp", "--detach", "--tty",
                   "--console-socket", "/run/s", running.id, "sh", "-c", "echo $X"]
    # nothing asked, nothing passed: the container's own env, user and cwd apply
    assert execute.argv(running, ["true"]) == ["pyrun-oci", "--root", "/r", "exec",
                                               running.id, "true"]


def test_a_stopped_or_paused_container_or_no_command_is_refused(running):  # noqa: F811
    with pytest.raises(cmod.ContainerError, match="No exec command specified"):
        execute.argv(running, [])
    running.state.paused = True
    with pytest.raises(cmod.ContainerStateConflict, match="unpause the container"):
        execute.argv(running, ["true"])
    running.state.paused = False
    running.mark_exited(0)
    with pytest.raises(cmod.ContainerStateConflict, match="is not running"):
        execute.argv(running, ["true"])
