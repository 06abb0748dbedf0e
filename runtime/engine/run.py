"""run: create, then start, as `pyrun run` and `docker run` do: the image pulled first when
the policy says so, the container started by its monitor (detached: returns once it runs),
or supervised by this process with its stdio attached (the exit code returned)."""

from __future__ import annotations

import sys

from runtime.errors import PyrunError


def pull_if_needed(store, image: str, policy: str = "missing", out=None) -> None:
    """--pull always|missing|never: fetch the image before the create needs it (with
    Docker's "Unable to find image ... locally" line first for a missing one)."""
    out = out or sys.stderr
    if policy == "always":
        from runtime.registry import client
        client.ensure(store, image, policy, out=out)
    elif policy == "missing":
        from runtime.image.store import ImageNotFound
        try:
            store.resolve(image)
        except ImageNotFound:
            from runtime.registry import client  # only then: a start from images at hand
            client.ensure(store, image, policy, out=out)  # never needs it
        except PyrunError:
            pass  # a bad reference: create() reports it


def run(store, c, *, detach: bool = False, interactive: bool = False) -> int:
    """Start a created container: detached (or with a restart policy, which needs its
    monitor), 0 once it runs unless not detached, then its exit code; else supervised here,
    attached to this process's stdio, its exit code."""
    if detach or c.host.restart_name() != "no":
        from runtime.engine.start import start_detached
        start_detached(store, c)
        if not detach:
            from runtime.engine.wait import wait
            return wait(c)
        return 0
    from runtime.engine import containers as cmod
    from runtime.engine import monitor
    try:
        return monitor.supervise(store, c, attach=True, stdin=0 if interactive else None)
    except BaseException:  # not only pyrun's errors: a closed stderr (EPIPE) too
        if c.host.auto_remove and c.state.status != "running":  # its start failed
            cmod.remove_files(c)
        raise


def loopback_only_ports(c, settle: float = 0.3) -> list[int]:
    """The published TCP ports the container's program listens on at 127.0.0.1 only (which
    a published port cannot reach), read off its network namespace's /proc/PID/net/tcp
    after `settle` seconds for the program to bind."""
    ports = {p.container_port for p in c.host.ports if p.proto == "tcp"}
    if not ports:
        return []
    import time
    time.sleep(settle)
    c.reload()
    try:
        with open(f"/proc/{c.state.pid}/net/tcp") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return []
    found = []
    for row in rows:
        addr, port = row[1].split(":")
        if row[3] == "0A" and int(port, 16) in ports and addr == "0100007F":  # 0A: LISTEN
            found.append(int(port, 16))
    return sorted(set(found))
