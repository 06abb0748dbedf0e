"""rename: a container's name changed; the new one reserved before the old one goes, so two
containers never share a name, even for a moment."""

from __future__ import annotations

from runtime.engine import journal
from runtime.engine import containers as cmod


def rename(c, new: str) -> None:
    new = new.lstrip("/")
    cmod.check_name(new)
    old = c.name
    if new == old:
        raise cmod.ContainerError(f"Renaming a container with the same name as its current "
                                  f"name: {new}")
    owner = cmod.reserve_name(c.store, new, c.id)
    if owner is not None:
        raise cmod.NameConflict(f'Conflict. The container name "/{new}" is already in use '
                                  f'by container "{owner}". You have to remove (or rename) '
                                  "that container to be able to reuse that name.")
    try:
        c.reload().name = new
        c.save()
    except BaseException:
        cmod.release_name(c.store, new, c.id)
        raise
    cmod.release_name(c.store, old, c.id)
    _relink(c.store, old, new)
    if c.running:  # the others find it by its new name at once
        from runtime.engine import networking
        networking.serve_names(c, c.net.netns)
    journal.record(c, "rename", oldName=f"/{old}")


def _relink(store, old: str, new: str) -> None:
    """Legacy links name both ends (Docker's "/db:/web/alias", resolved at each start): the
    records that name the renamed container follow it, as Docker's links, which follow
    the container and not its name."""
    for other in cmod.all_containers(store):
        if any(renamed_link(link, old, new) != link for link in other.host.links):
            other = other.reload()  # the latest record: only its links change
            other.host.links = [renamed_link(link, old, new) for link in other.host.links]
            other.save()


def renamed_link(link: str, old: str, new: str) -> str:
    target, _, rest = link.partition(":")
    parent, _, alias = rest.rpartition("/")
    target = f"/{new}" if target == f"/{old}" else target
    parent = f"/{new}" if parent == f"/{old}" else parent
    return f"{target}:{parent}/{alias}"
