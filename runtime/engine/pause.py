"""pause and unpause: the container's processes frozen and thawed (its cgroup's freezer,
through the runtime), as `docker pause`."""

from __future__ import annotations

from runtime.engine import journal
from runtime.engine.containers import ContainerStateConflict


def pause(c) -> None:
    if not c.running:
        raise ContainerStateConflict(f"Container {c.id} is not running")
    if c.state.paused:
        raise ContainerStateConflict(f"Container {c.id} is already paused")
    from runtime.engine import oci
    oci.pause(c)
    c.mark_paused(True)
    journal.record(c, "pause")


def unpause(c) -> None:
    if not c.running or not c.state.paused:
        raise ContainerStateConflict(f"Container {c.id} is not paused")
    from runtime.engine import oci
    oci.resume(c)
    c.mark_paused(False)
    journal.record(c, "unpause")
