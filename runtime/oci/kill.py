"""kill: send a signal to the container's init, or with --all to every process in it."""

from __future__ import annotations

import os

from runtime.errors import ContainerStateError, PyrunError
from runtime.oci.state import State

SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21,
    "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
    "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}


def parse_signal(text: str) -> int:
    """"9", "KILL", "SIGKILL", "sigkill", "RTMIN+3" → number."""
    t = text.strip().upper()
    if t.isdigit():
        n = int(t)
        if 0 <= n < 65:  # 0 checks that the process exists, as kill(1)'s does
            return n
        raise PyrunError(f"invalid signal {text!r}")
    if t.startswith("SIG"):
        t = t[3:]
    if t in SIGNALS:
        return SIGNALS[t]
    for base, sign in (("RTMIN", 1), ("RTMAX", -1)):
        if t.startswith(base):
            off = t[len(base):]
            n = (34 if base == "RTMIN" else 64) + sign * (int(off[1:]) if off else 0)
            if 34 <= n <= 64:
                return n
    raise PyrunError(f"invalid signal {text!r}")


def kill(root: str, container_id: str, sig: int, all_processes: bool = False) -> None:
    state = State.load(root, container_id)
    stopped = state.status() == "stopped"
    if all_processes:
        # Also after the init has exited: in a pod sharing one pid namespace its children
        # live on until this (runc signals the cgroup's processes whatever the init did,
        # and none left is no error).
        cg = state.cgroup()
        pids = cg.pids() if cg else ([] if stopped else [state.pid])
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return
    if stopped:
        raise ContainerStateError("container not running")
    try:
        os.kill(state.pid, sig)
    except ProcessLookupError:
        raise ContainerStateError("container not running") from None
