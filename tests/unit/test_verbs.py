"""The engine's verbs (stop, kill, pause, unpause, update, remove's refusals) over a
recording double of their one door to pyrun-oci (engine/oci.py), as youki tests its
container over a recording syscall interface: a record in a temporary store, "running"
under this test's own process as its monitor. What the kernel does is the integration
tests'; here, what the engine asks of the runtime, in which order, and what it records."""

from __future__ import annotations

import os

import pytest

from runtime.engine import containers as cmod
from runtime.engine import journal, oci
from runtime.engine.kill import kill
from runtime.engine.pause import pause, unpause
from runtime.engine.stop import stop
from runtime.engine.update import update
from runtime.errors import PyrunError
from tests.unit.fakes import running_container


class RecordingOci:
    """engine/oci.py's verbs, recorded; `obeys`: whether a signal ends the container."""

    def __init__(self, obeys=lambda sig: True):
        self.calls, self.obeys = [], obeys

    def kill(self, c, sig):
        self.calls.append(("kill", sig))
        if self.obeys(sig):
            c2 = cmod.load(c.store, c.id)
            c2.mark_exited(137 if sig == "SIGKILL" else 0)
        return ""

    def pause(self, c):
        self.calls.append(("pause",))

    def resume(self, c):
        self.calls.append(("resume",))

    def update(self, c, resources):
        self.calls.append(("update", resources))


@pytest.fixture
def runtime(monkeypatch):
    rec = RecordingOci()
    for verb in ("kill", "pause", "resume", "update"):
        monkeypatch.setattr(oci, verb, getattr(rec, verb))
    return rec


@pytest.fixture
def running(tmp_path):
    return running_container(tmp_path, "c", stop_signal="SIGQUIT", stop_timeout=1)


def actions(store) -> list[str]:
    return [e["Action"] for e in journal.read(store)]


def test_stop_sends_the_stop_signal_and_records_a_users_stop(running, runtime):
    stop(running)
    assert runtime.calls == [("kill", "SIGQUIT")]  # the image's STOPSIGNAL, not SIGTERM
    c = cmod.load(running.store, running.id)
    assert c.state.status == "exited" and c.state.stopped_by_user
    events = actions(running.store)  # the double ends it within the kill: die comes first
    assert sorted(events[:2]) == ["die", "kill"] and events[2:] == ["stop"]


def test_stop_kills_what_ignores_its_signal(running, runtime):
    runtime.obeys = lambda sig: sig == "SIGKILL"
    stop(running, timeout=0)
    assert runtime.calls == [("kill", "SIGQUIT"), ("kill", "SIGKILL")]
    assert cmod.load(running.store, running.id).state.exit_code == 137


def test_a_stopped_container_is_left_alone(running, runtime):
    running.mark_exited(0)
    stop(running)
    assert runtime.calls == []
    with pytest.raises(cmod.ContainerStateConflict, match="is not running"):  # 409, as dockerd
        kill(running)


def test_a_signal_that_finds_the_process_gone_is_no_error(running, runtime, monkeypatch):
    # stop -t 0: the stop signal ends it, the SIGKILL after finds it gone while its record
    # still says running (its monitor is tearing it down): the runtime's state decides
    class Stopped:
        def __init__(self, status):
            self.status = lambda: status
    runtime.kill = lambda c, sig: "pyrun-oci: error: container not running"
    monkeypatch.setattr(oci, "kill", runtime.kill)
    monkeypatch.setattr(oci, "state", lambda c: Stopped("stopped"))
    kill(running, "SIGKILL")  # no error
    monkeypatch.setattr(oci, "state", lambda c: Stopped("running"))
    with pytest.raises(PyrunError, match="Cannot kill container"):
        kill(running, "SIGKILL")


def test_kill_thaws_a_paused_container_first(running, runtime):
    pause(running)
    with pytest.raises(cmod.ContainerError, match="already paused"):
        pause(running)
    kill(running, "SIGKILL")
    assert runtime.calls == [("pause",), ("resume",), ("kill", "SIGKILL")]
    events = actions(running.store)
    assert events[:2] == ["pause", "unpause"] and sorted(events[2:]) == ["die", "kill"]
    with pytest.raises(cmod.ContainerError, match="is not paused"):
        unpause(running)


def test_update_changes_the_running_limits_and_the_record(running, runtime):
    update(running, memory=64 << 20, cpus=0.5, pids_limit=0)
    assert runtime.calls == [("update", {"memory": {"limit": 64 << 20},
                                         "cpu": {"quota": 50000, "period": 100000},
                                         "pids": {"limit": -1}})]  # 0: no limit
    hc = cmod.load(running.store, running.id).host
    assert (hc.memory, hc.nano_cpus, hc.pids_limit) == (64 << 20, 500_000_000, 0)
    with pytest.raises(cmod.ContainerError, match="one or more flags"):
        update(running)


def test_update_of_the_other_cgroup_flags_and_the_restart_policy(running, runtime):
    update(running, cpu_shares=512, cpuset_cpus="0", memory_reservation=32 << 20,
           blkio_weight=300, restart="on-failure:3")
    assert runtime.calls == [("update", {"cpu": {"shares": 512, "cpus": "0"},
                                         "memory": {"reservation": 32 << 20},
                                         "blockIO": {"weight": 300}})]
    hc = cmod.load(running.store, running.id).host
    assert (hc.cpu_shares, hc.cpuset_cpus, hc.memory_reservation, hc.blkio_weight) == \
        (512, "0", 32 << 20, 300)
    assert hc.restart_policy == {"Name": "on-failure", "MaximumRetryCount": 3}
    runtime.calls.clear()
    update(running, restart="always")  # the record alone: read at the next exit
    assert runtime.calls == []
    with pytest.raises(cmod.ContainerError, match="blkio weight"):
        update(running, blkio_weight=5)
    c = cmod.load(running.store, running.id)
    c.host.auto_remove = True
    c.save()
    with pytest.raises(cmod.ContainerError, match="AutoRemove is enabled"):
        update(c, restart="always")


def test_update_of_the_cfs_pair_sends_both_and_keeps_apart_from_cpus(running, runtime):
    update(running, cpu_quota=50000)  # cgroup v2's cpu.max holds both: a period alone
    assert runtime.calls[-1] == ("update", {"cpu": {"quota": 50000, "period": 100000}})
    update(running, cpu_period=200000)  # would lift the quota there
    assert runtime.calls[-1] == ("update", {"cpu": {"quota": 50000, "period": 200000}})
    update(running, cpu_quota=-1)  # no quota
    assert runtime.calls[-1] == ("update", {"cpu": {"quota": -1, "period": 200000}})
    hc = cmod.load(running.store, running.id).host
    assert (hc.cpu_quota, hc.cpu_period) == (0, 200000)
    count = len(runtime.calls)
    for kwargs, message in (({"cpus": 0.5}, "CPU Period has already been set"),
                            ({"cpus": 0.5, "cpu_quota": 20000}, "cannot both be set"),
                            ({"cpu_period": 500}, "cfs period can not be less than 1ms"),
                            ({"cpu_quota": 10}, "cfs quota can not be less than 1ms")):
        with pytest.raises(cmod.InvalidSpec, match=message):  # the API's 400
            update(running, **kwargs)
    assert len(runtime.calls) == count  # refused before anything changed
    c = cmod.load(running.store, running.id)
    c.host.cpu_period, c.host.nano_cpus = 0, 500_000_000
    c.save()
    with pytest.raises(cmod.InvalidSpec, match="NanoCPUs has already been set"):
        update(c, cpu_quota=20000)


def test_update_of_memory_swap_follows_dockers_rules(running, runtime):
    for kwargs, message in (({"memory_swap": 1 << 30}, "always set the Memory limit"),
                            ({"memory": 64 << 20, "memory_swap": 32 << 20},
                             "should be larger than memory limit")):
        with pytest.raises(cmod.InvalidSpec, match=message):
            update(running, **kwargs)
    assert runtime.calls == []
    update(running, memory=64 << 20, memory_swap=96 << 20)
    # the limit goes with the swap: v2's swap.max is the difference, v1 orders its writes
    assert runtime.calls == [("update", {"memory": {"limit": 64 << 20, "swap": 96 << 20}})]
    with pytest.raises(cmod.InvalidSpec, match="update the memoryswap at the same time"):
        update(running, memory=128 << 20)
    update(running, memory=80 << 20)  # still under the swap already set
    update(running, memory_swap=-1)   # no swap limit, the limit kept
    assert runtime.calls[-1] == ("update", {"memory": {"limit": 80 << 20, "swap": -1}})
    update(running, memory=256 << 20)  # nothing set to stay under now
    hc = cmod.load(running.store, running.id).host
    assert (hc.memory, hc.memory_swap) == (256 << 20, -1)


def test_die_is_in_the_journal_before_the_record_says_exited(running, monkeypatch):
    # a stop returns once the record says exited and then writes "stop": were "die" written
    # after the record, a stop could come first (test_events saw it under load)
    seen = []
    real_save = cmod.Container.save
    monkeypatch.setattr(cmod.Container, "save",
                        lambda self: (seen.append(actions(self.store)), real_save(self)))
    running.mark_exited(137, oom_killed=True)
    assert seen[-1][-2:] == ["oom", "die"]


def test_the_records_questions(running):
    assert running.running and running.can_signal() and not running.can_start()
    assert not running.can_remove() and running.can_remove(force=True)
    running.state.monitored_by(0, 0)  # its monitor gone: the record's "running" is not believed
    assert not running.running and running.can_start()


def test_rename_moves_the_name_and_keeps_it_unique(running, runtime):
    from runtime.engine.rename import rename
    other = cmod.Container.from_json(running.store, {"Id": "d" * 64, "Image": ""})
    os.makedirs(other.dir)
    assert cmod.reserve_name(running.store, "db", other.id) is None
    with pytest.raises(cmod.NameConflict, match='"/db" is already in use'):
        rename(running, "db")
    with pytest.raises(cmod.ContainerError, match="same name"):
        rename(running, "web")
    running.state.monitored_by(0, 0)  # not running: no resolver to tell
    running.save()
    rename(running, "/front")
    assert cmod.load(running.store, running.id).name == "front"
    assert cmod.reserve_name(running.store, "web", other.id) is None  # the old is free
    assert cmod.reserve_name(running.store, "front", other.id) == running.id
    assert actions(running.store)[-1] == "rename"


def test_remove_refuses_a_running_container_unless_forced(running, runtime, monkeypatch):
    from runtime import background
    from runtime.engine.remove import remove
    torn = []
    monkeypatch.setattr(cmod, "teardown", lambda c: torn.append(c.id))
    monkeypatch.setattr(background, "later", lambda fn, *args, **kw: fn(*args))
    with pytest.raises(cmod.ContainerStateConflict, match="cannot remove a running container"):
        remove(running)
    remove(running, force=True)
    assert runtime.calls == [("kill", "SIGKILL")] and torn == [running.id]
    assert not os.path.exists(running.dir) and cmod.all_containers(running.store) == []
    assert actions(running.store)[-1] == "destroy"


def test_wait_answers_the_exit_code_even_after_the_record_is_gone(running, runtime):
    from runtime.engine.wait import wait
    running.mark_exited(3)
    assert wait(running) == 3
    os.rename(running.path("container.json"), running.path("gone.json"))  # as --rm does
    assert wait(running) == 3  # from the journal's last die


def test_wait_for_the_next_exit_of_an_ended_container_waits_for_its_next_run(running):
    import threading
    import time
    from runtime.engine.wait import wait
    running.mark_exited(3)
    ended = running.state.finished_at
    answer = []
    waiter = threading.Thread(target=lambda: answer.append(wait(running, after=ended)))
    waiter.start()
    time.sleep(0.3)
    assert answer == []  # docker start -a: not the last run's 3
    again = cmod.load(running.store, running.id)
    again.state.started(4243, "2026-12-01T10:00:05Z")
    again.save()
    time.sleep(0.01)  # a FinishedAt of its own (nanoseconds)
    again.mark_exited(4)
    waiter.join(5)
    assert answer == [4]


def test_a_policy_restart_is_counted_in_the_record(running):
    running.mark_restarting()
    running.mark_restarting()
    assert cmod.load(running.store, running.id).restart_count == 2  # inspect's RestartCount
