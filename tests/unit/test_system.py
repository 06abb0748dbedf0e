"""engine/system.py's `system df`: what the store holds and what of it is reclaimable,
over a temporary store (an image, a running and an exited container, a used and an unused
volume); the image prune is in test_images.py."""

from __future__ import annotations

import os

from runtime.engine import containers as cmod
from runtime.engine import model, volumes
from runtime.engine.system import df, usage
from runtime.image.store import Store
from runtime.oci.state import own_identity

KIB = 1024


def write(path: str, size: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(size))  # random: no filesystem may store it sparsely


def populate(tmp_path):
    """An image, a running container using volume pyrun-data and an exited one, and an
    unused volume pyrun-old; (store, image, [running, exited])."""
    store = Store(str(tmp_path)).ensure()
    img = store.put_image({"architecture": "amd64", "os": "linux", "config": {},
                           "rootfs": {"type": "layers", "diff_ids": []}})
    volumes.create(store, "pyrun-data")
    volumes.create(store, "pyrun-old")
    write(os.path.join(volumes.get(store, "pyrun-old")["Mountpoint"], "f"), 128 * KIB)
    pid, start = own_identity()
    made = []
    for name, status in (("up", "running"), ("done", "exited")):
        binds = [{"Type": "volume", "Name": "pyrun-data", "Destination": "/d", "RW": True,
                  "Source": volumes.get(store, "pyrun-data")["Mountpoint"]}] \
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
    return store, img, made


def test_df_counts_what_runs_as_active_and_the_rest_as_reclaimable(tmp_path):
    store, img, made = populate(tmp_path)
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


def test_usage_is_the_body_the_docker_cli_makes_its_rows_from(tmp_path):
    store, img, made = populate(tmp_path)
    with open(_tar_of(tmp_path, 256 * KIB), "rb") as f:
        layer = store.add_layer_tar(f)[0]
    for n in (1, 2):  # two images sharing one layer
        store.put_image({"architecture": "amd64", "os": "linux", "config": {"Cmd": [str(n)]},
                         "rootfs": {"type": "layers", "diff_ids": [layer]}})
    u = usage(store)
    assert u["LayersSize"] == store.layer_sizes()[layer] >= 256 * KIB
    by_id = {i["Id"]: i for i in u["Images"]}
    assert by_id[img.id]["Containers"] == 2 and by_id[img.id]["SharedSize"] == 0
    shared = [i for i in u["Images"] if i["Id"] != img.id]
    assert [i["Containers"] for i in shared] == [0, 0]
    assert [i["SharedSize"] for i in shared] == [u["LayersSize"]] * 2
    rw = {c["Names"][0]: c["SizeRw"] for c in u["Containers"]}
    assert rw["/up"] >= 1024 * KIB and 64 * KIB <= rw["/done"] < 1024 * KIB
    vols = {v["Name"]: v["UsageData"] for v in u["Volumes"]}
    assert vols["pyrun-data"]["RefCount"] == 1 and vols["pyrun-old"]["RefCount"] == 0
    assert vols["pyrun-old"]["Size"] >= 128 * KIB


def _tar_of(tmp_path, size: int) -> str:
    import tarfile
    src = tmp_path / "layer-src"
    write(str(src / "blob"), size)
    path = str(tmp_path / "layer.tar")
    with tarfile.open(path, "w") as t:
        t.add(str(src / "blob"), "blob")
    return path
