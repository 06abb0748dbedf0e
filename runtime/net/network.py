"""The networks as a whole: each network's link (bridge.py) and the NAT table (ports.py) are
made on demand and removed once unused; what killed commands left is repaired; a build
step's attachment. Above both modules, so that neither imports the other's user."""

from __future__ import annotations

import os
import time

from runtime.net import bridge
from runtime.net.bridge import DEFAULT_LINK, network_lock


def repair() -> None:
    """What killed commands left on the network: their leases (reclaim), netns files and
    veths, and then the networks' links and the NAT table, whose removal a killed build step never
    started. Cheap when there is nothing: directory listings and stats, the lock only if a
    lease exists."""
    released = bridge.sweep_netns()
    try:
        leased = bool(os.listdir(bridge.LEASES))
    except FileNotFoundError:
        leased = False
    if leased:
        with network_lock():
            released += bridge.reclaim()
    if released:  # what ended a step or a container would have done: the shared pieces go
        remove_shared_if_unused()


# Seconds the shared pieces outlive the last container (see remove_shared_if_unused): long
# enough for a person's next `run` to find them, short enough that nothing stays for long.
# PYRUN_NET_LINGER changes it (the tests wait for the host to be clean after each).
LINGER = float(os.environ.get("PYRUN_NET_LINGER", "2"))


def remove_shared_if_unused() -> None:
    """The networks' links and the NAT table go when no container (nor build step) has held
    an address for LINGER seconds, so that nothing of pyrun stays on the host for long after
    its last container.

    Each deletion waits for the kernel's grace periods, and making them again costs as
    much as a container's start saves, so a detached child does it, LINGER seconds
    later: a foreground `run` ends without paying for it, and runs (or build steps) that
    follow each other keep the links. Every container's end starts such a child; the one of
    the last end is the one that finds the network quiet long enough."""
    from runtime import paths
    if not (os.path.exists(f"/sys/class/net/{DEFAULT_LINK}") or os.path.exists(paths.NFT_MARK)):
        return  # nothing to remove: no lock, no fork (every --network none run)
    from runtime.background import later
    later(remove_shared, delay=LINGER + 0.1)


def remove_shared(patience: int = 20) -> None:
    """Remove each network's link once no lease of its pool has been made or given back for
    LINGER seconds, and the table once no pool holds any, waiting (up to `patience` more
    looks) while a pool is busy: the end whose removal would have judged last may have been
    killed before it started one."""
    from runtime.net import ports
    for _ in range(patience + 1):
        wait = 0.0
        with network_lock():
            bridge.reclaim()  # a killed build's lease would keep the bridge for good
            busy = False
            for pool, name in _links():
                if bridge.leases_in_use(pool):
                    busy = True  # a container runs: its end starts another removal
                    continue
                try:  # a lease made or given back since ours moved the directory's mtime
                    quiet = time.time() - os.stat(pool).st_mtime
                except FileNotFoundError:
                    quiet = LINGER
                if quiet >= LINGER:
                    if name == DEFAULT_LINK:
                        ports.remove_table_if_unused()  # (only once no pool holds a lease)
                    bridge.delete_link(name)
                else:
                    wait = max(wait, LINGER - quiet)
            if busy or not wait:
                return
        time.sleep(wait + 0.05)


def _links() -> list[tuple[str, str]]:
    """(lease directory, link) of every network whose link may exist: the default one, and
    each user-defined network's (a removed network's link goes with its removal)."""
    from runtime.net import networks
    out = [(bridge.LEASES, DEFAULT_LINK)]
    for d in networks.list_all():
        net = networks.net_of(d)
        if os.path.exists(f"/sys/class/net/{net.link}"):
            out.append((net.leases, net.link))
    return out


class Attached:
    """A network namespace on the default network for as long as the `with` block runs: what a
    build's RUN step uses. The namespace, veth, lease and (for the last user) the link and
    the NAT table are gone afterwards, also when the block fails."""

    def __init__(self, owner_id: str):
        self.owner_id = owner_id
        self.name = f"pyrun-{owner_id[:12]}"
        self.path = None
        self.net = None

    def __enter__(self) -> "Attached":
        from runtime.net import ports
        try:
            self.path = bridge.create_netns(self.name)
            self.net = bridge.attach(self.owner_id, self.path)
            ports.ensure_table()  # masquerade: the step reaches the package mirror
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        # The removal is scheduled before the address goes back: killed in between, the
        # build leaves a lease the next command's repair reclaims, or a removal that waits
        # for the pool to be quiet; never a link nobody will remove.
        remove_shared_if_unused()
        bridge.detach(self.net)
        if self.path:
            bridge.delete_netns(self.name)
