"""delete: remove a stopped (or, with --force, any) container: processes, cgroup, state."""

from __future__ import annotations

import os
import time

from runtime.errors import ContainerNotFound, ContainerStateError, PyrunError, SetupError
from runtime.oci import log
from runtime.oci.state import CREATING, OWNER_ANNOTATION, State, process_alive, remove_dir


def delete(root: str, container_id: str, force: bool = False) -> None:
    try:
        state = State.load(root, container_id)
    except ContainerNotFound:
        if force and remove_remains(root, container_id):
            return
        raise
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


def remove_remains(root: str, container_id: str) -> bool:
    """What a create killed before it wrote state.json left: processes in the cgroup (an
    init waiting for a start that never comes), the cgroup, the state dir. False when there
    is no such thing; refused while the creating process still lives."""
    from runtime import jsonfast as json
    d = os.path.join(root, container_id)
    try:
        with open(os.path.join(d, CREATING)) as f:
            info = json.loads(f.read())
    except FileNotFoundError:
        if not os.path.isdir(d) or os.path.exists(os.path.join(d, "state.json")):
            return False
        info = {}  # killed before it said who it was: nothing was made but the directory
    except ValueError:
        info = {}  # cut short while writing it: the cgroup was not made yet either
    if process_alive(info.get("pid", 0), info.get("start")):
        raise ContainerStateError(f"container {container_id} is being created "
                                  f"(by pid {info['pid']})")
    if info.get("cgroup"):
        from runtime.linux.cgroups import manager_from_dict
        cg = manager_from_dict(info["cgroup"])
        deadline = time.monotonic() + 10
        while cg.pids() and time.monotonic() < deadline:
            for pid in cg.pids():
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)
        cg.remove_leaf()
    remove_dir(d)
    return True


def reap_orphans(root: str) -> None:
    """Delete the containers of root whose owner process (OWNER_ANNOTATION) is gone, and the
    remains of creates whose creator is: a killed build's RUN step goes on running on its
    own otherwise, its cgroup, network and state with it."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return
    for name in names:
        try:
            state = State.load(root, name)
        except ContainerNotFound:
            try:
                remove_remains(root, name)
            except (ContainerStateError, OSError):
                pass  # being created, or gone meanwhile
            continue
        except PyrunError:
            continue
        owner = (state.data.get("annotations") or {}).get(OWNER_ANNOTATION, "")
        pid, _, start = owner.partition(":")
        if pid.isdigit() and start.isdigit() and not process_alive(int(pid), int(start)):
            try:
                delete(root, name, force=True)
            except (PyrunError, OSError):
                pass  # removed by someone else meanwhile


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
