"""stop: the container's stop signal, then SIGKILL after its timeout."""

from __future__ import annotations

from runtime.engine import signals


def stop(c, timeout: int | None = None, restarting: bool = False) -> None:
    """Stop a running container (a stopped one is left as it is, as Docker does). A user's
    stop: the restart policy does not bring it back. restarting: a restart's stop, which
    leaves a --rm container in place for the start that follows (as Docker's)."""
    if not c.can_signal():
        return
    c.reload().mark_stopped_by_user(restarting=restarting)
    signals.thaw_if_paused(c)
    t = c.config.stop_timeout if timeout is None else timeout
    signals.send(c, c.config.stop_signal or "SIGTERM")
    if not signals.wait_exit(c, t):
        signals.send(c, "SIGKILL")
        signals.wait_exit(c, 10)
    from runtime.engine import journal
    journal.record(c, "stop")
