"""engine/containers.py without root: what the flags parse into, the restart policy's
decision, names reserved once, and the record's save on a full disk (its spare)."""

from __future__ import annotations

import errno
import os

import pytest

from runtime.engine import containers as cmod
from runtime.engine import model


class Store:
    def __init__(self, root):
        self.root = str(root)


@pytest.mark.parametrize("spec, ports", [
    ("80", [("0.0.0.0", 0, 80, "tcp")]),
    ("8080:80", [("0.0.0.0", 8080, 80, "tcp")]),
    ("127.0.0.1:8080:80/udp", [("127.0.0.1", 8080, 80, "udp")]),
    ("127.0.0.1::80", [("127.0.0.1", 0, 80, "tcp")]),
    ("8080-8081:80-81", [("0.0.0.0", 8080, 80, "tcp"), ("0.0.0.0", 8081, 81, "tcp")]),
])
def test_publish_specs(spec, ports):
    assert [(p.host_ip, p.host_port, p.container_port, p.proto)
            for p in cmod.parse_publish(spec)] == ports


@pytest.mark.parametrize("spec, message", [
    ("80/icmp", "invalid proto"), ("1:2:3:4", "use \\[IP:\\]"), ("x:80", "invalid port spec"),
    ("999.1.1.1:80:80", "invalid IP address"), ("70000", "ports are 1-65535"),
    ("8080-8082:80-81", "ranges differ"), ("81-80", "invalid port spec"),
])
def test_bad_publish_specs(spec, message):
    with pytest.raises(cmod.ContainerError, match=message):
        cmod.parse_publish(spec)


@pytest.mark.parametrize("spec, want", [
    ("nofile=1024:2048", {"Name": "nofile", "Soft": 1024, "Hard": 2048}),
    ("nproc=64", {"Name": "nproc", "Soft": 64, "Hard": 64}),
    ("core=-1", {"Name": "core", "Soft": -1, "Hard": -1}),
    ("memlock=1024:-1", {"Name": "memlock", "Soft": 1024, "Hard": -1}),
])
def test_ulimits(spec, want):
    assert cmod.parse_ulimit(spec) == want


@pytest.mark.parametrize("spec, message", [
    ("nofile", "NAME=SOFT"), ("files=10", "NAME one of"), ("nofile=a:b", "NAME=SOFT"),
    ("nofile=2048:1024", "not be above the hard"), ("nofile=-1:1024", "not be above"),
    ("nofile=-2", "not be above"),
])
def test_bad_ulimits(spec, message):
    with pytest.raises(cmod.ContainerError, match=message):
        cmod.parse_ulimit(spec)


def test_devices_are_read_off_the_host(tmp_path):
    (d,) = cmod.parse_device("/dev/null:/dev/xnull:rw")
    assert d == {"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull",
                 "CgroupPermissions": "rw", "Type": "c", "Major": 1, "Minor": 3,
                 "FileMode": 0o666}
    assert cmod.parse_device("/dev/zero")[0]["PathInContainer"] == "/dev/zero"
    assert cmod.parse_device("/dev/zero:r")[0]["CgroupPermissions"] == "r"
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("")
    for spec, message in ((f"{tmp_path}/empty", "nor a directory holding any"),
                          (f"{tmp_path}/file", "not a device node"), ("dev/null", "absolute"),
                          ("/dev/pyrun-none", "error gathering device information"),
                          ("/dev/null:/a:/b:rw", r"HOST\[:CONTAINER\]")):
        with pytest.raises(cmod.ContainerError, match=message):
            cmod.parse_device(spec)


def test_a_device_directory_gives_the_nodes_beneath_it(tmp_path):
    # `--device /dev/snd`: every node under it, at the same place under the container's
    # path; the links stand for nodes (followed, as /dev/disk/by-id's), the file is passed over
    snd = tmp_path / "snd"
    (snd / "by-path").mkdir(parents=True)
    (snd / "controlC0").symlink_to("/dev/null")
    (snd / "by-path" / "pcm").symlink_to("/dev/zero")
    (snd / "README").write_text("not a node")
    nodes = cmod.parse_device(f"{snd}:/dev/snd:r")
    assert [(n["PathOnHost"], n["PathInContainer"], n["Minor"], n["CgroupPermissions"])
            for n in nodes] == [(f"{snd}/controlC0", "/dev/snd/controlC0", 3, "r"),
                                (f"{snd}/by-path/pcm", "/dev/snd/by-path/pcm", 5, "r")]


def test_restart_policies():
    assert cmod.parse_restart("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert cmod.parse_restart("") == {"Name": "no", "MaximumRetryCount": 0}
    for bad in ("sometimes", "always:2", "on-failure:x"):
        with pytest.raises(cmod.ContainerError, match="invalid restart policy"):
            cmod.parse_restart(bad)


def record(policy: str, restarts: int = 0, stopped: bool = False) -> cmod.Container:
    return cmod.Container(
        Store("/nonexistent"), id="e" * 64, name="x", created="", image="", image_ref="",
        path="true", args=[], config=model.Config(), net=model.NetworkSettings(),
        host=model.HostConfig(restart_policy=cmod.parse_restart(policy)),
        state=model.State(stopped_by_user=stopped), restart_count=restarts)


@pytest.mark.parametrize("policy, code, restarts, stopped, again", [
    ("no", 1, 0, False, False),
    ("always", 0, 5, False, True),
    ("always", 1, 0, True, False),         # a user's stop is final
    ("unless-stopped", 0, 0, False, True),
    ("on-failure", 0, 0, False, False),
    ("on-failure:2", 1, 1, False, True),
    ("on-failure:2", 1, 2, False, False),  # the count is spent
])
def test_should_restart(policy, code, restarts, stopped, again):
    assert cmod.should_restart(record(policy, restarts, stopped), code) is again


def test_log_opts():
    assert cmod.parse_log_opts(None, ()) == {"Type": "json-file",
                                             "Config": cmod.DEFAULT_LOG_OPTS}
    cfg = cmod.parse_log_opts("json-file", ("max-size=1k", "max-file=2"))
    assert cmod.log_limits(cfg) == (1024, 2)
    assert cmod.log_limits({}) == (0, 1)  # a record from before rotation
    for driver, opts, message in (("syslog", (), "not supported"),
                                  (None, ("compress=true",), "unknown log opt"),
                                  (None, ("max-file=0",), "at least 1"),
                                  (None, ("max-size=big",), "invalid log opts")):
        with pytest.raises(cmod.ContainerError, match=message):
            cmod.parse_log_opts(driver, opts)


def test_healthcheck_flags_over_the_images():
    image = {"Test": ["CMD", "true"], "Interval": 5 * 10**9}
    hc = cmod.merge_healthcheck(image, "curl -f localhost", None, "3s", 2, None, False)
    assert hc == {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5 * 10**9,
                  "Timeout": 3 * 10**9, "Retries": 2}
    assert cmod.merge_healthcheck(image, None, None, None, None, None, True) == {
        "Test": ["NONE"]}
    assert cmod.merge_healthcheck(None, None, None, None, None, None, False) is None
    with pytest.raises(cmod.ContainerError, match="need a healthcheck"):
        cmod.merge_healthcheck(None, None, "1s", None, None, None, False)
    with pytest.raises(cmod.ContainerError, match="conflicts"):
        cmod.merge_healthcheck(None, "true", None, None, None, None, True)


def test_names_and_capabilities():
    for good in ("web", "a.b_c-1", "7up"):
        cmod.check_name(good)
    for bad in ("", "-web", "we b", "wéb"):
        with pytest.raises(cmod.ContainerError, match="Invalid container name"):
            cmod.check_name(bad)
    assert cmod.cap_name("net_admin") == "CAP_NET_ADMIN" and cmod.cap_name("all") == "ALL"
    with pytest.raises(cmod.ContainerError, match="unknown capability"):
        cmod.cap_name("FLY")


def test_a_name_is_reserved_once_and_taken_over_from_the_dead(tmp_path):
    store = Store(tmp_path)
    os.makedirs(os.path.join(cmod.root_dir(store), "a" * 64))
    assert cmod.reserve_name(store, "web", "a" * 64) is None
    assert cmod.reserve_name(store, "web", "b" * 64) == "a" * 64
    cmod.release_name(store, "web", "b" * 64)  # not its owner: nothing happens
    assert cmod.reserve_name(store, "web", "b" * 64) == "a" * 64
    os.rmdir(os.path.join(cmod.root_dir(store), "a" * 64))  # the owner crashed away
    assert cmod.reserve_name(store, "web", "b" * 64) is None
    os.makedirs(os.path.join(cmod.root_dir(store), cmod.MAKING + "c" * 64))  # being made
    name = cmod.generate_name(store, "c" * 64)
    assert "_" in name and cmod.reserve_name(store, name, "d" * 64) == "c" * 64


def test_a_full_disk_writes_the_record_into_its_spare(tmp_path, monkeypatch):
    d = tmp_path / "c"
    d.mkdir()
    old, new = cmod.padded_record({"v": 1}), cmod.padded_record({"v": 2})
    assert len(old) % cmod.RECORD_BLOCK == 0
    (d / "container.json").write_bytes(old)
    (d / cmod.SPARE).write_bytes(old)
    cmod.save_when_full(str(d), new)
    assert (d / "container.json").read_bytes() == new
    assert (d / cmod.SPARE).read_bytes() == old  # the old record is the next spare
    (d / cmod.SPARE).unlink()
    with pytest.raises(OSError) as e:
        cmod.save_when_full(str(d), new)
    assert e.value.errno == errno.ENOSPC


def _a_block_device() -> str:
    import stat
    for name in sorted(os.listdir("/dev")):
        path = f"/dev/{name}"
        try:
            if stat.S_ISBLK(os.stat(path).st_mode):
                return path
        except OSError:
            continue
    pytest.skip("this machine shows no block device in /dev")


def test_block_device_limits_are_read_off_the_host():
    dev = _a_block_device()
    st = os.stat(dev)
    numbers = {"Major": os.major(st.st_rdev), "Minor": os.minor(st.st_rdev)}
    assert cmod.parse_block_device("--device-read-bps", f"{dev}:1mb") == \
        {"Path": dev, "Rate": 1 << 20, **numbers}
    assert cmod.parse_block_device("--device-write-iops", f"{dev}:300") == \
        {"Path": dev, "Rate": 300, **numbers}
    assert cmod.parse_block_device("--blkio-weight-device", f"{dev}:200") == \
        {"Path": dev, "Weight": 200, **numbers}
    for flag, spec, message in (
            ("--device-read-bps", f"{dev}", "the format is <device-path>:<number>"),
            ("--device-read-iops", f"{dev}:1mb", "the format is <device-path>:<number>$"),
            ("--device-read-bps", "dev/x:1", "the format"),
            ("--blkio-weight-device", f"{dev}:5", "the range is 10 to 1000"),
            ("--device-read-bps", "/dev/null:1", "not a block device"),
            ("--device-read-bps", "/dev/pyrun-none:1", "No such file")):
        with pytest.raises(cmod.InvalidSpec, match=message):
            cmod.parse_block_device(flag, spec)
