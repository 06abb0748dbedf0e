"""delete: remove a stopped (or, with --force, any) container: processes, cgroup, state."""

from __future__ import annotations

import os
import time

from runtime.errors import ContainerStateError, SetupError
from runtime.oci import log
from runtime.oci.state import State


def delete(root: str, container_id: str, force: bool = False) -> None:
    state = State.load(root, container_id)
    lock = state.lock()
    try:
        status = state.status()
        if status in ("running", "paused") and not force:
            raise ContainerStateError(
                f"cannot delete container {container_id} that is not stopped: {status}")
        cg = state.cgroup()
        if status != "stopped" or (cg is not None and cg.pids()):
            _kill_all(state, cg)
        if cg is not None:
            try:
                cg.destroy()
            except OSError as e:
                raise SetupError(f"remove cgroup of {container_id}: {e.strerror or e}") \
                    from None
        _poststop(state)
        state.remove()
    finally:
        os.close(lock)


def _kill_all(state: State, cg) -> None:
    if cg is not None and state.status() == "paused":
        cg.thaw()  # a frozen task cannot die
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = cg.pids() if cg is not None else ([state.pid] if state.alive() else [])
        if not pids and not state.alive():
            return
        for pid in pids or [state.pid]:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    raise SetupError(f"container {state.id}: processes did not die within 10s")


def _poststop(state: State) -> None:
    hooks = state.data.get("hooks", {}).get("poststop")
    if not hooks:
        return
    from runtime.oci import hooks as hookmod
    try:
        hookmod.run("poststop", hookmod.from_raw({"poststop": hooks})["poststop"],
                    state.oci_state())
    except SetupError as e:
        log.warning(str(e))  # the spec: a failing poststop hook is logged, delete goes on
