"""remove (rm): a container's record, writable layer and everything it held; with force, a
running one is killed first."""

from __future__ import annotations

import os

from runtime.engine import containers as cmod
from runtime.engine import signals


def remove(c, force: bool = False) -> None:
    if not c.can_remove(force):
        raise cmod.ContainerStateConflict(
            f"You cannot remove a running container {c.id}. Stop the container before "
            "attempting removal or force remove")
    if c.running:
        c.reload().mark_stopped_by_user()
        signals.thaw_if_paused(c)
        signals.send(c, "SIGKILL")
        signals.wait_exit(c, 10)
    if os.path.isdir(c.dir):
        cmod.teardown(c)
        cmod.remove_files(c)
