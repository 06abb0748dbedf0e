"""system df and system prune: what the store holds and what of it nothing uses."""

from __future__ import annotations

import os

from runtime.engine import containers as cmod


def _du(path: str) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for n in filenames + dirnames:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def chain(store, img) -> list:
    """The image and its stored ancestors, newest first: the IDs of locally built steps."""
    out = []
    cur = img
    while cur is not None and len(out) < 10000:
        out.append(cur)
        parent = cur.parent
        cur = store.image(parent) if parent and parent in store.index()["images"] else None
    return out


def images_in_use(store, containers) -> set[str]:
    """Ids of the images containers were made from, with their ancestors."""
    used = set()
    for c in containers:
        try:
            used.update(i.id for i in chain(store, store.image(c.image)))
        except Exception:  # noqa: BLE001 - an image removed under a container: nothing held
            continue
    return used


def df(store) -> list[dict]:
    """docker system df's rows: TYPE, TOTAL, ACTIVE, SIZE, RECLAIMABLE (bytes)."""
    from runtime.engine import volumes
    containers = cmod.all_containers(store)
    used = images_in_use(store, containers)
    images = store.images()
    layer_sizes = store.layer_sizes()
    unique = {d for img in images for d in img.diff_ids}
    active_layers = {d for img in images if img.id in used for d in img.diff_ids}
    size = sum(layer_sizes.get(d, 0) for d in unique)
    rows = [{"Type": "Images", "TotalCount": len(images),
             "Active": sum(1 for img in images if img.id in used), "Size": size,
             "Reclaimable": size - sum(layer_sizes.get(d, 0) for d in active_layers)}]
    sizes = {c.id: _du(c.path("upper")) for c in containers}
    rows.append({"Type": "Containers", "TotalCount": len(containers),
                 "Active": sum(1 for c in containers if c.running),
                 "Size": sum(sizes.values()),
                 "Reclaimable": sum(s for cid, s in sizes.items()
                                    if not next(c for c in containers if c.id == cid).running)})
    vols = volumes.all_volumes(store)
    vsizes = {v["Name"]: _du(v["Mountpoint"]) for v in vols}
    in_use = {v["Name"] for v in vols if volumes.users(containers, v["Name"])}
    rows.append({"Type": "Local Volumes", "TotalCount": len(vols), "Active": len(in_use),
                 "Size": sum(vsizes.values()),
                 "Reclaimable": sum(s for n, s in vsizes.items() if n not in in_use)})
    rows.append({"Type": "Build Cache", "TotalCount": 0, "Active": 0, "Size": 0,
                 "Reclaimable": 0})  # build steps are images here: counted above
    return rows


def prune_containers(store) -> list[str]:
    removed = []
    for c in cmod.all_containers(store):
        if not c.running:
            cmod.teardown(c)
            cmod.remove_files(c)
            removed.append(c.id)
    return removed


def prune_images(store, everything: bool = False) -> list[str]:
    """Dangling images (no name, not a step of a named one), or with everything every
    image no container uses. Returns the ids deleted."""
    keep = images_in_use(store, cmod.all_containers(store))
    for img in store.images():
        if (img.tags or img.repo_digests) and not everything:  # named, or pulled by digest
            keep.update(a.id for a in chain(store, img))
    removed = []
    for img in store.images():
        if img.id not in keep and img.id in store.index()["images"]:
            for t in img.tags:
                store.untag(t)
            removed += store.remove_image(img.id)
    return removed
