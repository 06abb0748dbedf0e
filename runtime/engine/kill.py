"""kill: a signal (default SIGKILL) to a running container's init."""

from __future__ import annotations

from runtime.engine import signals
from runtime.engine.containers import ContainerStateConflict, check_signal


def kill(c, sig: str = "SIGKILL", ref: str | None = None) -> None:
    check_signal(sig)
    if not c.can_signal():
        raise ContainerStateConflict(f"Cannot kill container: {ref or c.id}: container is not running")
    c.reload().mark_stopped_by_user()  # a user's kill: no restart
    if sig.upper().lstrip("SIG") in ("KILL", "9"):
        signals.thaw_if_paused(c)
    signals.send(c, sig)
