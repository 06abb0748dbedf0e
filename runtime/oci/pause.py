"""pause and resume: freeze and thaw the container's cgroup."""

from __future__ import annotations

from runtime.errors import ContainerStateError, SetupError
from runtime.oci.state import State


def _set(root: str, container_id: str, frozen: bool) -> None:
    state = State.load(root, container_id)
    status = state.status()
    want = "running" if frozen else "paused"
    if status != want:
        raise ContainerStateError(f"container {container_id} is {status}, not {want}"
                                  if status != "stopped" else "container not running")
    cg = state.cgroup()
    try:
        cg.freeze() if frozen else cg.thaw()
    except OSError as e:
        raise SetupError(f"{'pause' if frozen else 'resume'} {container_id}: "
                         f"{e.strerror or e}") from None


def pause(root: str, container_id: str) -> None:
    _set(root, container_id, True)


def resume(root: str, container_id: str) -> None:
    _set(root, container_id, False)
