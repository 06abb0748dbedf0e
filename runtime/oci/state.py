"""A container's state on disk, and its status derived from the kernel.

<root>/<id>/state.json   what `create` learnt (pid and its start time, bundle, cgroup, ...)
<root>/<id>/start.sock   the init waits on it for `start`; present only while "created"
<root>/<id>/native.txt   the same facts, as lines, for the launcher's native start, kill and
                         delete (native/oci_fast.c); absent when they need Python (hooks)

Status is never stored: it is read off the kernel each time (is the pid the same process, is
it a zombie, is its cgroup frozen, is it still waiting for start), so a crash or a reboot
cannot leave a lie on disk.
"""

from __future__ import annotations

import fcntl
import os

from runtime import jsonfast as json
from runtime.errors import ContainerNotFound, PyrunError

DEFAULT_ROOT = "/run/pyrun-oci"
START_SOCKET = "start.sock"


def validate_id(container_id: str) -> str:
    ok = container_id and len(container_id) <= 1024 and all(
        c.isalnum() or c in "._-+" for c in container_id) and container_id not in (".", "..")
    if not ok:
        raise PyrunError(f"invalid container id {container_id!r}: use letters, digits and ._-+")
    return container_id


def process_alive(pid: int, start: int) -> bool:
    """Is this the same process (pid and start time: pids are reused) and not a zombie?"""
    st = proc_start_time(pid) if pid else None
    return st is not None and st[0] == start and st[1] not in "ZX"


def own_identity() -> tuple[int, int]:
    """(pid, start time) of this process, as process_alive() checks them."""
    pid = os.getpid()
    return pid, (proc_start_time(pid) or (0,))[0]


def proc_start_time(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks, state letter) of a pid, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(b")") + 2:].split()
    return int(rest[19]), rest[0].decode()


# In a state dir from its first moment: who is creating the container and its cgroup, so
# that what a create killed before state.json left can be found and removed (delete --force).
CREATING = "creating.json"
NATIVE_VIEW = "native.txt"
# An annotation pyrun sets on containers that must not outlive a process of its (a build's
# RUN steps): "PID:START". reap_orphans() removes those whose owner is gone.
OWNER_ANNOTATION = "org.pyrun.owner"


class State:
    def __init__(self, root: str, container_id: str, data: dict):
        self.root = root
        self.id = container_id
        self.dir = os.path.join(root, container_id)
        self.data = data

    # -- storage
    @classmethod
    def load(cls, root: str, container_id: str) -> "State":
        validate_id(container_id)
        try:
            with open(os.path.join(root, container_id, "state.json"), "rb") as f:
                return cls(root, container_id, json.load(f))
        except (FileNotFoundError, NotADirectoryError):
            raise ContainerNotFound(container_id) from None
        except ValueError:
            raise PyrunError(f"container {container_id}: state.json is damaged") from None

    def save(self) -> None:
        self._write("state.json", json.dumps(self.data))
        view = self.native_view()
        if view is not None:
            self._write(NATIVE_VIEW, view)

    def _write(self, name: str, text: str) -> None:
        tmp = os.path.join(self.dir, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.dir, name))

    def native_view(self) -> str | None:
        """NATIVE_VIEW's text: "KEY VALUE" lines (pid, start, procs, freezer; "group" then
        its "dir" lines, outermost first, per list of directories destroy() removes). None
        where the native verbs must leave the work to Python: hooks to run at start or
        delete, no cgroup, a path they could not read back."""
        hooks = self.data.get("hooks") or {}
        cg = self.cgroup()
        if hooks.get("poststart") or hooks.get("poststop") or cg is None:
            return None
        view = cg.native_view()
        lines = [f"pid {self.pid}", f"start {self.data.get('pid_start')}",
                 f"procs {view['procs']}"]
        if view["freezer"]:
            lines.append(f"freezer {view['freezer']}")
        for group in view["made"]:
            lines.append("group")
            lines.extend(f"dir {d}" for d in group)
        text = "\n".join(lines) + "\n"
        return None if text.count("\n") != len(lines) else text

    def lock(self) -> int:
        """An exclusive lock on the container (held until the fd is closed)."""
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    # -- derived facts
    @property
    def pid(self) -> int:
        return self.data.get("pid", 0)

    def alive(self) -> bool:
        """Is the init the same process create made, and not yet a zombie?"""
        return process_alive(self.pid, self.data.get("pid_start"))

    def status(self) -> str:
        if not self.alive():
            return "stopped"
        if os.path.exists(os.path.join(self.dir, START_SOCKET)):
            return "created"
        cg = self.cgroup()
        if cg is not None and cg.is_frozen():
            return "paused"
        return "running"

    def remove(self) -> None:
        remove_dir(self.dir)

    def cgroup(self):
        d = self.data.get("cgroup")
        if not d:
            return None
        from runtime.linux.cgroups import manager_from_dict
        return manager_from_dict(d)

    def oci_state(self) -> dict:
        """The runtime-spec state object."""
        status = self.status()
        out = {"ociVersion": self.data.get("oci_version", "1.0.2"), "id": self.id,
               "status": status, "bundle": self.data["bundle"],
               "annotations": self.data.get("annotations") or {}}
        if status != "stopped":
            out["pid"] = self.pid
        return out

    def runc_view(self) -> dict:
        """`state`'s output: the spec's object plus what runc adds (rootfs, created, owner)."""
        out = self.oci_state()
        out.setdefault("pid", 0)
        out["rootfs"] = self.data.get("rootfs", "")
        out["created"] = self.data.get("created", "")
        out["owner"] = ""
        return out


def remove_dir(path: str) -> None:
    """Remove a directory tree without shutil (whose import brings bz2, lzma, fnmatch).
    Symlinks are removed, never followed; what vanishes meanwhile is no error."""
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    except NotADirectoryError:
        entries = None
    for entry in entries or ():
        try:
            if entry.is_dir(follow_symlinks=False):
                remove_dir(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path) if entries is not None else os.unlink(path)
    except FileNotFoundError:
        pass


def list_ids(root: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(root)
                      if os.path.exists(os.path.join(root, n, "state.json")))
    except FileNotFoundError:
        return []
