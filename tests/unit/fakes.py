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
