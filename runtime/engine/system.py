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


def images_in_use(store, containers) -> set[str]:
    """Ids of the images containers were made from, with their ancestors."""
    used = set()
    for c in containers:
        try:
            used.update(i.id for i in store.ancestry(store.image(c.image)))
        except Exception:  # noqa: BLE001 - an image removed under a container: nothing held
            continue
    return used


def usage(store, containers=None) -> dict:
    """GET /system/df's body in Docker's shapes, from which the docker CLI makes its `system
    df` rows: the stored layers' total (LayersSize); each image with its containers and the
    size of its layers that other images share; each container with its writable layer's
    size (SizeRw); each volume with its size and users (UsageData)."""
    from runtime.engine import inspect, volumes
    if containers is None:
        containers = cmod.all_containers(store)
    images = store.images()
    layer_sizes = store.layer_sizes()
    holders: dict[str, int] = {}  # layer → how many images have it
    for img in images:
        for d in set(img.diff_ids):
            holders[d] = holders.get(d, 0) + 1
    listed_images = []
    for img in images:
        summary = inspect.image_summary(store, img)
        summary["Containers"] = sum(1 for c in containers if c.image == img.id)
        summary["SharedSize"] = sum(layer_sizes.get(d, 0) for d in set(img.diff_ids)
                                    if holders[d] > 1)
        listed_images.append(summary)
    sizes = {i.id: i.size for i in images}
    listed_containers = []
    for c in containers:
        summary = inspect.summary(c)
        summary["SizeRw"], summary["SizeRootFs"] = container_size(store, c, sizes)
        listed_containers.append(summary)
    listed_volumes = [dict(v, UsageData={"Size": _du(v["Mountpoint"]),
                                         "RefCount": len(volumes.users(containers, v["Name"]))})
                      for v in volumes.all_volumes(store)]
    return {"LayersSize": sum(layer_sizes.get(d, 0) for d in holders),
            "Images": listed_images, "Containers": listed_containers,
            "Volumes": listed_volumes, "BuildCache": []}


def container_size(store, c, image_sizes: dict | None = None) -> tuple[int, int]:
    """(SizeRw, SizeRootFs) as Docker's: the bytes its writable layer holds on disk, and
    those with its image's (image_sizes: id → size, when the caller has them all)."""
    rw = _du(c.path("upper"))
    if image_sizes is not None:
        return rw, rw + image_sizes.get(c.image, 0)
    from runtime.image.store import ImageNotFound
    try:
        return rw, rw + store.image(c.image).size
    except ImageNotFound:  # removed under the container (rmi -f)
        return rw, rw


def df(store) -> list[dict]:
    """`pyrun system df`'s rows: TYPE, TOTAL, ACTIVE, SIZE, RECLAIMABLE (bytes). An image is
    active while a container uses it or an image built on it (its layers are held)."""
    containers = cmod.all_containers(store)
    u = usage(store, containers)  # the records read once, for both
    used = images_in_use(store, containers)
    images = store.images()
    layer_sizes = store.layer_sizes()
    active_layers = {d for img in images if img.id in used for d in img.diff_ids}
    size = u["LayersSize"]
    rows = [{"Type": "Images", "TotalCount": len(images),
             "Active": sum(1 for img in images if img.id in used), "Size": size,
             "Reclaimable": size - sum(layer_sizes.get(d, 0) for d in active_layers)}]
    ctrs = u["Containers"]
    idle = [c for c in ctrs if c["State"] not in ("running", "paused")]
    rows.append({"Type": "Containers", "TotalCount": len(ctrs),
                 "Active": len(ctrs) - len(idle), "Size": sum(c["SizeRw"] for c in ctrs),
                 "Reclaimable": sum(c["SizeRw"] for c in idle)})
    vols = u["Volumes"]
    unused = [v for v in vols if not v["UsageData"]["RefCount"]]
    rows.append({"Type": "Local Volumes", "TotalCount": len(vols),
                 "Active": len(vols) - len(unused),
                 "Size": sum(v["UsageData"]["Size"] for v in vols),
                 "Reclaimable": sum(v["UsageData"]["Size"] for v in unused)})
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
            keep.update(a.id for a in store.ancestry(img))
    removed = []
    for img in store.images():
        if img.id not in keep and img.id in store.index()["images"]:
            for t in img.tags:
                store.untag(t)
            removed += store.remove_image(img.id)
    return removed
