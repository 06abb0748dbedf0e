"""commit and diff: a container's changes (its overlay's upper directory) read as Docker's
change list, or packed as a new image on top of the container's image."""

from __future__ import annotations

import os
import stat

from runtime.timestamps import rfc3339

# What of a container's settings becomes the new image's config (Docker's commit keeps them).
# The container's settings a commit keeps in the image's config (the rest are the host's).
KEPT = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts")


def changes(c) -> list[tuple[str, str]]:
    """[(kind, path)], kind "A" added, "C" changed, "D" deleted, as `docker diff`: read off
    the upper directory (a 0:0 character device is a deletion), against the image's layers."""
    image = c.store.image(c.image)
    lowers = list(reversed(image.layer_dirs))  # topmost first
    upper = c.path("upper")
    out = []

    def in_image(rel: str) -> bool:
        return any(os.path.lexists(os.path.join(d, rel)) for d in lowers)

    def walk(d: str, rel: str) -> None:
        for e in sorted(os.scandir(d), key=lambda e: e.name):
            r = f"{rel}/{e.name}"
            st = e.stat(follow_symlinks=False)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(("D", r))
                continue
            out.append(("C" if in_image(r.lstrip("/")) else "A", r))
            if e.is_dir(follow_symlinks=False):
                walk(e.path, r)

    walk(upper, "")
    return out


def commit(c, reference: str | None = None, message: str = "", author: str = "",
           pause: bool = True):
    """A new image: the container's image plus its changes as one layer, with the
    container's settings as its config. Returns the image (tagged when reference). A
    running container is paused meanwhile (Docker's --pause), so the layer is one moment's."""
    from runtime.engine import pause as pausemod
    frozen = pause and c.running and not c.state.paused
    if frozen:
        pausemod.pause(c)
    try:
        return _commit(c, reference, message, author)
    finally:
        if frozen:
            pausemod.unpause(c.reload())


def _commit(c, reference, message, author):
    from runtime.image.store import new_config
    store = c.store
    image = store.image(c.image)
    upper = c.path("upper")
    diff_id = store.add_layer_dir(upper)[0] if os.listdir(upper) else None
    cfg = new_config(image.config)
    from runtime.engine.model import dump
    settings = dump(c.config)
    for key in KEPT:
        value = settings.get(key)
        if value is not None:
            cfg["config"][key] = value
    cfg["created"] = rfc3339()
    if author:
        cfg["author"] = author
    entry = {"created": cfg["created"],
             "created_by": " ".join(c.command)}
    if message:
        entry["comment"] = message
    if author:
        entry["author"] = author
    if diff_id is None:
        entry["empty_layer"] = True
    else:
        cfg["rootfs"]["diff_ids"].append(diff_id)
    cfg["history"].append(entry)
    img = store.put_image(cfg, parent=image.id)
    if reference:
        store.tag(img.id, reference)
    from runtime.engine import journal
    journal.record(c, "commit")
    return img
