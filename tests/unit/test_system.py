"""engine/system.py's `system df`: what the store holds and what of it is reclaimable,
over a temporary store (an image, a running and an exited container, a used and an unused
volume); the image prune is in test_images.py."""

from __future__ import annotations

import os

from runtime.engine import containers as cmod
from runtime.engine import model, volumes
from runtime.engine.system import df
from runtime.image.store import Store
from runtime.oci.state import own_identity

KIB = 1024


def write(path: str, size: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(size))  # random: no filesystem may store it sparsely


def test_df_counts_what_runs_as_active_and_the_rest_as_reclaimable(tmp_path):
    store = Store(str(tmp_path)).ensure()
    img = store.put_image({"architecture": "amd64", "os": "linux", "config": {},
                           "rootfs": {"type": "layers", "diff_ids": []}})
    volumes.create(store, "pyrun-data")
    volumes.create(store, "pyrun-old")
    write(os.path.join(volumes.get(store, "pyrun-old")["Mountpoint"], "f"), 128 * KIB)
    pid, start = own_identity()
    made = []
    for name, status in (("up", "running"), ("done", "exited")):
        binds = [{"Type": "volume", "Name": "pyrun-data", "Destination": "/d"}] \
            if name == "up" else []
        c = cmod.Container(store, id=name[0] * 64, name=name, created="", image=img.id,
                           image_ref="x", path="true", args=[], config=model.Config(),
                           host=model.HostConfig(binds=binds), net=model.NetworkSettings(),
                           state=model.State(monitor_pid=pid, monitor_start=start))
        os.makedirs(c.dir)
        c.state.status = status
        c.save()
        made.append(c)
    write(made[0].path("upper") + "/big", 1024 * KIB)
    write(made[1].path("upper") + "/etc/small", 64 * KIB)
    rows = {r["Type"]: r for r in df(store)}
    assert {k: rows["Images"][k] for k in ("TotalCount", "Active")} == \
        {"TotalCount": 1, "Active": 1}
    ctr = rows["Containers"]
    assert (ctr["TotalCount"], ctr["Active"]) == (2, 1)
    assert ctr["Size"] >= 1088 * KIB
    assert 64 * KIB <= ctr["Reclaimable"] < 1024 * KIB  # the exited one's, not the running's
    vol = rows["Local Volumes"]
    assert (vol["TotalCount"], vol["Active"]) == (2, 1)
    assert 128 * KIB <= vol["Reclaimable"] == vol["Size"]  # the used one holds nothing
