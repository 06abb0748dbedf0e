"""exec: a new process in a running container, through the runtime's `exec` (its
process joins the container's namespaces, cgroup and security settings)."""

from __future__ import annotations

from runtime.engine import containers as cmod


def check(c) -> None:
    if not c.running:
        raise cmod.ContainerStateConflict(f"Container {c.id} is not running")
    if c.state.get("Paused"):
        raise cmod.ContainerStateConflict(f"Container {c.id} is paused, unpause the container "
                                          "before exec")


def argv(c, command, env=(), user=None, workdir=None, tty=False, detach=False) -> list[str]:
    """The runtime's command line for it (run by the caller with its own stdio)."""
    from runtime.oci import binary as oci_binary
    check(c)
    if not command:
        raise cmod.ContainerError("No exec command specified")
    out = [oci_binary(), "--root", cmod.OCI_ROOT, "exec"]
    for e in env:
        out += ["--env", e]
    if user:
        out += ["--user", user]
    if workdir:
        out += ["--cwd", workdir]
    if detach:
        out.append("--detach")
    if tty:
        out.append("--tty")
    return out + [c.id, *command]
