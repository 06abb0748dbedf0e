"""linux/capabilities.py over a recording double of prctl and the uid switch: the order the
kernel needs (the bounding set first, while CAP_SETPCAP is still held; capabilities kept
across the uid change; ambient last, only what is permitted and inheritable)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from runtime.linux import capabilities, diag
from runtime.linux import syscalls as sc

CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN = 0, 5, 10, 21


@pytest.fixture
def calls(monkeypatch):
    log = []
    real = capabilities._prctl

    class FakePrctl:
        def __getattr__(self, name):
            return getattr(real, name)  # the constants

        def prctl(self, option, *args):
            log.append(("prctl", option, *args))

        def set_caps(self, *sets):
            log.append(("set_caps", *map(list, sets)))
    monkeypatch.setattr(capabilities, "_prctl", FakePrctl())
    monkeypatch.setattr(capabilities, "last_cap", lambda: 40)
    for name in ("setgroups", "setresgid", "setresuid"):
        monkeypatch.setattr(capabilities.os, name,
                            lambda *a, _n=name: log.append((_n, *a)))
    monkeypatch.setattr(sc, "prctl", lambda *a: log.append(("sc.prctl", *a)))
    monkeypatch.setattr(diag, "debug", lambda msg: log.append(("debug", msg)))
    return log


def test_the_sets_in_the_kernels_order(calls):
    P = capabilities._prctl
    caps = SimpleNamespace(bounding=[CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE],
                           effective=[CAP_KILL], permitted=[CAP_KILL, CAP_NET_BIND_SERVICE],
                           inheritable=[CAP_NET_BIND_SERVICE],
                           ambient=[CAP_NET_BIND_SERVICE, CAP_KILL])
    capabilities.apply(caps, 1000, 1000, [27])
    names = [c[0] for c in calls]
    drops = [c[2] for c in calls if c[:2] == ("prctl", P.PR_CAPBSET_DROP)]
    assert drops == [c for c in range(41) if c not in caps.bounding]
    first_other = names.index("setgroups")
    assert all(c[1] == P.PR_CAPBSET_DROP for c in calls[:first_other - 1])  # drops first
    switch = calls[first_other - 1:first_other + 4]
    assert switch == [("prctl", P.PR_SET_KEEPCAPS, 1), ("setgroups", [27]),
                      ("setresgid", 1000, 1000, 1000), ("setresuid", 1000, 1000, 1000),
                      ("prctl", P.PR_SET_KEEPCAPS, 0)]
    (sets,) = [c for c in calls if c[0] == "set_caps"]
    assert [sorted(s) for s in sets[1:4]] == [[CAP_KILL], [CAP_KILL, CAP_NET_BIND_SERVICE],
                                              [CAP_NET_BIND_SERVICE]]
    assert CAP_SYS_ADMIN in sets[4] and CAP_KILL not in sets[4]  # cleared where not given
    tail = calls[names.index("set_caps") + 1:]
    assert tail == [("sc.prctl", sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL),
                    ("sc.prctl", sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE,
                     CAP_NET_BIND_SERVICE),
                    ("debug", "ambient capabilities not in the inheritable set are skipped: "
                              "CAP_KILL")]  # not inheritable: skipped, as runc does


def test_no_capabilities_object_keeps_the_callers_and_only_switches_the_user(calls):
    capabilities.apply(None, 0, 0, [])
    P = capabilities._prctl
    assert calls == [("prctl", P.PR_SET_KEEPCAPS, 1), ("setgroups", []),
                     ("setresgid", 0, 0, 0), ("setresuid", 0, 0, 0),
                     ("prctl", P.PR_SET_KEEPCAPS, 0)]
