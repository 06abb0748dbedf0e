"""Capabilities and the user switch, in the order the kernel needs them.

1. drop from the bounding set what the container may never get (needs CAP_SETPCAP, so first);
2. keep capabilities across the uid change (PR_SET_KEEPCAPS), set groups, gid, uid;
3. set effective/permitted/inheritable; 4. raise ambient (needs permitted and inheritable).
python-prctl does 1-3; ambient has no binding there, so it goes through the syscall module.
"""

from __future__ import annotations

import os

import _prctl

# Imported here, not where used: that runs in the container after pivot_root, where the
# host's Python files are out of reach.
from runtime.linux import diag
from runtime.linux import syscalls as sc
from runtime.linux.names import CAPABILITY_NAMES


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return _prctl.CAP_LAST_CAP


def apply(caps, uid: int, gid: int, additional_gids: list[int]) -> None:
    """Switch to uid/gid and leave exactly the configured capability sets. caps=None keeps
    the caller's capabilities (what runc does when the config has no capabilities object)."""
    top = last_cap()
    if caps is not None:
        keep = set(caps.bounding)
        for cap in range(top + 1):
            if cap not in keep:
                _prctl.prctl(_prctl.PR_CAPBSET_DROP, cap)
    _prctl.prctl(_prctl.PR_SET_KEEPCAPS, 1)
    os.setgroups(additional_gids)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _prctl.prctl(_prctl.PR_SET_KEEPCAPS, 0)
    if caps is None:
        return
    everything = range(min(top, _prctl.CAP_LAST_CAP) + 1)
    eff, perm, inh = set(caps.effective), set(caps.permitted), set(caps.inheritable)
    # _prctl.set_caps(effective, permitted, inheritable to set; then the three to clear)
    _prctl.set_caps([c for c in eff if c in everything], [c for c in perm if c in everything],
                    [c for c in inh if c in everything],
                    [c for c in everything if c not in eff],
                    [c for c in everything if c not in perm],
                    [c for c in everything if c not in inh])
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    skipped = []
    for cap in caps.ambient:
        if cap in perm and cap in inh:
            sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
        else:
            skipped.append(cap)
    if skipped:
        # The kernel only keeps ambient capabilities that are permitted and inheritable;
        # runc warns and goes on, and so do we.
        diag.debug("ambient capabilities not in the inheritable set are skipped: "
                    + ", ".join(CAPABILITY_NAMES[c] for c in skipped))


def set_no_new_privs() -> None:
    _prctl.prctl(_prctl.PR_SET_NO_NEW_PRIVS, 1)


def set_dumpable(on: bool) -> None:
    _prctl.prctl(_prctl.PR_SET_DUMPABLE, 1 if on else 0)


def set_subreaper() -> None:
    _prctl.prctl(_prctl.PR_SET_CHILD_SUBREAPER, 1)


def bounding_mask(pid="self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return 0


def effective_mask(pid="self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0
