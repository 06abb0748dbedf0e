"""engine/volumes.py without root: volumes' lifecycle on a store in a temporary directory,
-v/--mount/--tmpfs specs, and seeding a new volume from the image's files."""

from __future__ import annotations

import os

import pytest

from runtime.engine import model, volumes
from runtime.engine.containers import Container


class Store:
    def __init__(self, root):
        self.root = str(root)


def user_of(store, name: str) -> Container:
    """A container record that mounts volume name."""
    c = Container.from_json(store, {"Id": "d" * 64, "Image": "sha256:" + "0" * 64})
    c.host = model.HostConfig(binds=[{"Type": "volume", "Name": name, "Source": "/x",
                                      "Destination": "/data", "RW": True}])
    return c


def test_create_get_list_remove(tmp_path):
    store = Store(tmp_path)
    v = volumes.create(store, "data", {"app": "web"})
    assert v["Mountpoint"] == str(tmp_path / "volumes" / "data" / "_data")
    assert os.path.isdir(v["Mountpoint"]) and v["Labels"] == {"app": "web"}
    assert volumes.create(store, "data") == v  # idempotent, as Docker's
    assert [x["Name"] for x in volumes.all_volumes(store)] == ["data"]
    with pytest.raises(volumes.VolumeInUse, match=r"volume is in use - \[d{64}\]"):
        volumes.remove(store, "data", [user_of(store, "data")])
    volumes.remove(store, "data", [])
    assert volumes.all_volumes(store) == [] and os.listdir(tmp_path / "volumes") == []
    with pytest.raises(volumes.NoSuchVolume, match="get data: no such volume"):
        volumes.remove(store, "data", [])
    volumes.remove(store, "data", [], force=True)


def test_prune_takes_unused_anonymous_volumes_unless_told_all(tmp_path):
    store = Store(tmp_path)
    anon = volumes.create(store)["Name"]
    held = volumes.create(store)["Name"]
    volumes.create(store, "named")
    assert volumes.prune(store, [user_of(store, held)]) == [anon]
    assert volumes.prune(store, [user_of(store, held)], everything=True) == ["named"]
    assert [v["Name"] for v in volumes.all_volumes(store)] == [held]


@pytest.mark.parametrize("name", ["a", "-x", "has space", "ü12"])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(volumes.VolumeError, match="invalid characters"):
        volumes.create(Store(tmp_path), name)


def test_v_specs(tmp_path):
    store = Store(tmp_path)
    host = tmp_path / "host-dir"
    b = volumes.parse_v(store, f"{host}:/srv:ro")
    assert b == {"Type": "bind", "Source": str(host), "Destination": "/srv", "RW": False}
    assert host.is_dir()  # -v makes a missing host directory, as Docker's
    v = volumes.parse_v(store, "cache:/var/cache")
    assert (v["Type"], v["Name"], v["RW"]) == ("volume", "cache", True)
    anon = volumes.parse_v(store, "/data")
    assert anon["Type"] == "volume" and len(anon["Name"]) == 64
    for bad in ("a:b:c:d", "x:/y:rx", "x:relative"):
        with pytest.raises(volumes.VolumeError):
            volumes.parse_v(store, bad)


def test_mount_and_tmpfs_specs(tmp_path):
    store = Store(tmp_path)
    m = volumes.parse_mount(store, f"type=bind,src={tmp_path},dst=/h,readonly")
    assert (m["Source"], m["Destination"], m["RW"]) == (str(tmp_path), "/h", False)
    t = volumes.parse_mount(store, "type=tmpfs,target=/run,tmpfs-size=1m,tmpfs-mode=1777")
    assert t == {"Type": "tmpfs", "Destination": "/run",
                 "Options": ["size=1048576", "mode=1777"]}
    assert volumes.parse_tmpfs("/tmp:size=64m,mode=1777")["Options"] == ["size=64m",
                                                                         "mode=1777"]
    for bad, message in ((f"type=bind,src={tmp_path}/nope,dst=/h", "does not exist"),
                         ("type=nfs,dst=/h", "type bind, volume or tmpfs"),
                         ("type=volume,src=v,dst=/h,colour=red", "unknown key 'colour'"),
                         ("type=tmpfs,dst=/r,tmpfs-mode=9", "octal"),
                         ("type=volume,src=v,dst=/h,readonly=maybe", "true or false")):
        with pytest.raises(volumes.VolumeError, match=message):
            volumes.parse_mount(store, bad)
    with pytest.raises(volumes.VolumeError, match="absolute"):
        volumes.parse_tmpfs("run")


def test_a_new_volume_is_seeded_from_the_image_and_a_used_one_is_not(tmp_path):
    rootfs, vol = tmp_path / "rootfs", tmp_path / "vol"
    (rootfs / "etc" / "app" / "conf.d").mkdir(parents=True)
    (rootfs / "etc" / "app" / "conf.d" / "a.conf").write_text("a=1\n")
    os.symlink("conf.d/a.conf", rootfs / "etc" / "app" / "link")
    vol.mkdir()
    volumes.seed(str(vol), str(rootfs), "/etc/app")
    assert (vol / "conf.d" / "a.conf").read_text() == "a=1\n"
    assert os.readlink(vol / "link") == "conf.d/a.conf"
    (rootfs / "etc" / "app" / "new").write_text("x")
    volumes.seed(str(vol), str(rootfs), "/etc/app")  # not empty any more: left alone
    assert not (vol / "new").exists()
