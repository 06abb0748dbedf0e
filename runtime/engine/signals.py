"""Signals to a container's init, and waiting for its end: what stop, kill, rm -f and
restart share."""

from __future__ import annotations

import time

from runtime.errors import PyrunError


def send(c, sig: str) -> None:
    """Send sig to the container's init. A container that exits meanwhile is no error (stop
    and rm -f race with its own end); any other failure is."""
    from runtime.engine import oci
    failure = oci.kill(c, sig)
    if not failure:
        from runtime.engine import journal
        from runtime.oci.kill import parse_signal
        journal.record(c, "kill", signal=parse_signal(sig))
        return
    try:
        running = c.reload().running
    except FileNotFoundError:
        running = False  # removed meanwhile
    if running:
        # The record says running until its monitor has seen the end and torn it down:
        # the runtime's own state, where it has one, says whether the process is there.
        st = oci.state(c)
        running = st is None or st.status() != "stopped"
    if running:
        raise PyrunError(f"Cannot kill container {c.id[:12]}: {failure}")


def thaw_if_paused(c) -> None:
    """A frozen process cannot act on a signal, SIGKILL included: stop, kill and rm -f of a
    paused container thaw it first (as Docker's)."""
    if c.state.paused and c.running:
        from runtime.engine.pause import unpause
        unpause(c)


def wait_exit(c, timeout: float) -> bool:
    """Until the container no longer runs (or its record is gone: --rm); False on timeout."""
    from runtime.timestamps import pauses
    deadline = time.monotonic() + timeout
    sleeps = pauses(most=0.05)
    while time.monotonic() < deadline:
        try:
            c.reload()
        except FileNotFoundError:
            return True
        if not c.running:
            return True
        time.sleep(next(sleeps))
    return False
