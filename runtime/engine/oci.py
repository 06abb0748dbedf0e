"""The engine's one way to the OCI runtime (pyrun-oci) for its containers: one state root,
and the runtime's failures turned into the engine's.

    argv(verb, ...)            pyrun-oci's command line (for a process of its own: exec,
                               ps, run in the foreground, kill with the fast native path)
    create(c, bundle, ...) start(c) delete(c) pause(c) resume(c) update(c, resources)
                               in this process (no interpreter to start)
    state(c) -> oci State or None       cgroup(c) -> its cgroup manager or None
    kill(c, sig) -> bool       False: it had ended (not an error for stop/rm -f)

The builder's RUN steps use pyrun-oci too, on a root of their own (BUILD_OCI_ROOT): they
are no container of the engine's, and a killed build's steps are reaped by their owner
annotation (runtime/oci/delete.py reap_orphans)."""

from __future__ import annotations

from runtime import paths
from runtime.errors import PyrunError

ROOT = paths.OCI_ROOT


class RuntimeFailure(PyrunError):
    """pyrun-oci refused or failed; the message is its own last line."""


def argv(verb: str, *args: str, log: str | None = None) -> list[str]:
    from runtime.oci import binary
    head = [binary(), "--root", ROOT]
    if log:
        head += ["--log", log, "--log-format", "json"]
    return head + [verb, *args]


def create(c, bundle: str, pid_file: str, console_socket: str | None = None) -> None:
    from runtime.oci import create as ocicreate
    ocicreate.create(ROOT, c.id, bundle, pid_file=pid_file, console_socket=console_socket)


def start(c) -> None:
    from runtime.oci import start as ocistart
    ocistart.start(ROOT, c.id)


def delete(c) -> None:
    """Its runtime state gone (forced; safe to repeat: a container never created, or
    deleted already, is no error)."""
    from runtime.oci import delete as ocidelete
    try:
        ocidelete.delete(ROOT, c.id, force=True)
    except PyrunError:
        pass


def pause(c) -> None:
    from runtime.oci import pause as ocipause
    ocipause.pause(ROOT, c.id)


def resume(c) -> None:
    from runtime.oci import pause as ocipause
    ocipause.resume(ROOT, c.id)


def update(c, resources: dict) -> None:
    from runtime.oci import update as ociupdate
    try:
        ociupdate.update(ROOT, c.id, resources)
    except PyrunError as e:
        raise RuntimeFailure(f"Cannot update container {c.id[:12]}: {e}") from None


def state(c):
    """The runtime's State of the container, or None where it has none."""
    from runtime.oci.state import State
    try:
        return State.load(ROOT, c.id)
    except PyrunError:
        return None


def cgroup(c):
    st = state(c)
    return st.cgroup() if st is not None else None


def kill(c, sig: str) -> str:
    """Signal the container's init through `pyrun-oci kill` (its plain case is native C: no
    interpreter). Returns "" when sent, else the runtime's last line."""
    import subprocess
    p = subprocess.run(argv("kill", c.id, sig), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode == 0:
        return ""
    return (p.stderr.strip().splitlines() or ["signal failed"])[-1]


def reap_build_steps() -> None:
    """Build steps (RUN) whose build was killed: their runtime state on the builder's root."""
    from runtime.oci import delete as ocidelete
    ocidelete.reap_orphans(paths.BUILD_OCI_ROOT)
