"""oci/init.py's namespace step over the recording syscall double: the user namespace
first (joined, or made and mapped by the host side before anything else), every path
opened before any is joined, the rest made in one unshare."""

from __future__ import annotations

import os
import threading

import pytest

from runtime.linux import syscalls as sc
from runtime.oci import channel as ch
from runtime.oci import init, spec
from runtime.oci.query import default_spec


def config(namespaces: list[dict]):
    raw = default_spec()
    raw["linux"]["namespaces"] = namespaces
    raw.pop("hostname", None)  # it needs a uts namespace of the container's own
    if any(n["type"] == "user" for n in namespaces):
        raw["linux"]["uidMappings"] = raw["linux"]["gidMappings"] = [
            {"containerID": 0, "hostID": 100000, "size": 65536}]
    return spec.parse(raw)


@pytest.fixture
def ids(monkeypatch):
    switched = []
    monkeypatch.setattr(init.os, "setresgid", lambda *a: switched.append(("gid", *a)))
    monkeypatch.setattr(init.os, "setresuid", lambda *a: switched.append(("uid", *a)))
    return switched


def test_a_new_user_namespace_is_mapped_by_the_host_before_anything_else(fake_sc, ids):
    host, child = ch.Channel.pair()
    said = []

    def host_side():  # writes the maps, then lets the init go on
        said.append(host.recv())
        host.send(ch.Continue())
    t = threading.Thread(target=host_side)
    t.start()
    s = config([{"type": "user"}, {"type": "network", "path": "/proc/self/ns/net"},
                {"type": "uts"}, {"type": "pid", "path": "/proc/self/ns/pid"},
                {"type": "mount"}])
    init.enter_namespaces(s, child)
    t.join(5)
    assert said == [ch.MapIds(os.getpid())]
    assert ids == [("gid", 0, 0, 0), ("uid", 0, 0, 0)]  # root of the new namespace
    calls = [(c[0], c[-2] if c[0] == "setns" else c[1], c[-1] if c[0] == "setns" else None)
             for c in fake_sc.calls]
    assert calls == [("unshare", sc.CLONE_NEWUSER, None),
                     ("setns", sc.CLONE_NEWNET, "/proc/self/ns/net"),
                     ("setns", sc.CLONE_NEWPID, "/proc/self/ns/pid"),
                     ("unshare", sc.CLONE_NEWUTS | sc.CLONE_NEWNS, None)]


def test_a_user_namespace_by_path_is_joined_first(fake_sc, ids):
    _, child = ch.Channel.pair()
    s = config([{"type": "ipc", "path": "/proc/self/ns/ipc"},
                {"type": "user", "path": "/proc/self/ns/user"}, {"type": "mount"}])
    init.enter_namespaces(s, child)
    joined = [c[-1] for c in fake_sc.named("setns")]
    assert joined == ["/proc/self/ns/user", "/proc/self/ns/ipc"]
    assert fake_sc.named("unshare") == [("unshare", sc.CLONE_NEWNS)]
    assert ids == []  # a joined namespace's ids are its owner's business


def test_a_path_that_cannot_be_opened_joins_nothing(fake_sc, ids):
    _, child = ch.Channel.pair()
    s = config([{"type": "network", "path": "/proc/self/ns/net"},
                {"type": "pid", "path": "/nonexistent-pyrun/ns/pid"}, {"type": "mount"}])
    with pytest.raises(FileNotFoundError,
                       match="^open pid namespace /nonexistent-pyrun/ns/pid: No such file"):
        init.enter_namespaces(s, child)
    assert fake_sc.calls == []  # every path is opened before any is joined
