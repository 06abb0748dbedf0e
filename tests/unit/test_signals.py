"""engine/signals.py over a recording double of engine/oci.py: a signal to a container's
init, a failure that is no error when the container ended meanwhile (stop and rm -f race
with its own end), paused containers thawed first, waiting for the end."""

from __future__ import annotations

import os

import pytest

from runtime.engine import containers as cmod
from runtime.engine import journal, oci, signals
from runtime.errors import PyrunError
from tests.unit.fakes import running_container


@pytest.fixture
def running(tmp_path):
    return running_container(tmp_path, "d")


def test_a_delivered_signal_is_an_event_with_its_number(running, monkeypatch):
    sent = []
    monkeypatch.setattr(oci, "kill", lambda c, sig: sent.append(sig) or "")
    signals.send(running, "SIGHUP")
    assert sent == ["SIGHUP"]
    (event,) = [e for e in journal.read(running.store) if e["Action"] == "kill"]
    assert event["Actor"]["Attributes"]["signal"] == "1"


def test_a_failure_while_it_runs_is_an_error_and_none_once_it_ended(running, monkeypatch):
    monkeypatch.setattr(oci, "kill", lambda c, sig: "no such process")
    with pytest.raises(PyrunError, match=f"Cannot kill container {running.id[:12]}: no such"):
        signals.send(running, "SIGTERM")
    cmod.load(running.store, running.id).mark_exited(0)  # it ended meanwhile
    signals.send(running, "SIGTERM")  # no error
    os.remove(running.path("container.json"))  # removed meanwhile (--rm)
    signals.send(running, "SIGTERM")


def test_a_paused_container_is_thawed_before_a_signal(running, monkeypatch):
    from runtime.engine import pause as pausemod
    thawed = []
    monkeypatch.setattr(pausemod, "unpause", lambda c: thawed.append(c.id))
    signals.thaw_if_paused(running)
    assert thawed == []
    running.state.paused = True
    signals.thaw_if_paused(running)
    assert thawed == [running.id]


def test_wait_exit_sees_the_end_or_gives_up(running):
    assert signals.wait_exit(running, timeout=0.05) is False  # still running
    cmod.load(running.store, running.id).mark_exited(143)
    assert signals.wait_exit(running, timeout=1) is True
    os.remove(running.path("container.json"))
    assert signals.wait_exit(running, timeout=1) is True  # a record gone: ended
