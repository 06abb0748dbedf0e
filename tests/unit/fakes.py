"""A recording stand-in for runtime.linux.syscalls, for tests that run without root."""

from __future__ import annotations

import pytest

from runtime.linux import syscalls as real

RECORDED = ("unshare", "setns", "mount", "umount2", "pivot_root", "sethostname",
            "setdomainname", "prctl")


class FakeSyscalls:
    """Replaces the kernel calls with a log; `fail` makes one call raise like the kernel."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls: list[tuple] = []
        self.failures: dict[str, int] = {}
        for name in RECORDED:
            monkeypatch.setattr(real, name, self._recorder(name))

    def _recorder(self, name):
        def call(*args, **kw):
            self.calls.append((name, *args, *kw.values()))
            if name in self.failures:
                target = args[1] if name == "mount" else (args[0] if args else None)
                raise real.error(self.failures[name], name, target)
            return 0
        return call

    def fail(self, name: str, errno: int) -> None:
        self.failures[name] = errno

    def named(self, name: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == name]


@pytest.fixture
def fake_sc(monkeypatch):
    return FakeSyscalls(monkeypatch)


@pytest.fixture
def network_defs(tmp_path, monkeypatch):
    """Network definitions, leases and the network lock under the test's directory; the
    host's subnets none, and bridge links never deleted: the host's networks untouched."""
    from runtime.net import bridge, networks
    from runtime.net.bridge import Subnet
    monkeypatch.setattr(networks, "DEFS", str(tmp_path / "networks"))
    monkeypatch.setattr(bridge, "LEASES", str(tmp_path / "leases"))
    monkeypatch.setattr(bridge, "LOCK", str(tmp_path / "network.lock"))
    monkeypatch.setattr(networks, "_host_subnets", lambda: [Subnet("10.89.2.0/24")])
    monkeypatch.setattr(bridge, "delete_link", lambda name: None)
    return tmp_path


def running_container(tmp_path, cid: str, **config):
    """A container record in a store under tmp_path, "running" with this test's process as
    its monitor (alive as long as the test is)."""
    import os
    from runtime.engine import containers as cmod
    from runtime.engine import model
    from runtime.image.store import Store
    from runtime.oci.state import own_identity
    store = Store(str(tmp_path)).ensure()
    pid, start = own_identity()
    c = cmod.Container(store, id=cid * 64, name="web", created="", image="sha256:" + "0" * 64,
                       image_ref="busybox", path="sleep", args=["30"],
                       config=model.Config(**config), host=model.HostConfig(),
                       net=model.NetworkSettings(),
                       state=model.State(monitor_pid=pid, monitor_start=start))
    os.makedirs(c.dir)
    c.state.started(4242, "2026-12-01T10:00:00Z")
    c.save()
    return c
