"""engine/config.py: settings → config.json, decided in one place for containers and build
steps. Pure: no root, no files."""

from __future__ import annotations

import pytest

from runtime.engine.config import DEFAULT_CAPS, DEFAULT_PATH, MASKED, RunSpec, from_record, \
    hosts_file, oci_config, resolv_file
from runtime.oci import spec


def mount(cfg: dict, dest: str) -> dict:
    return next(m for m in cfg["mounts"] if m["destination"] == dest)


def test_defaults_are_dockers_and_parse_as_a_runtime_would():
    cfg = oci_config(RunSpec("/r", ["sh"], env=["A=1"]))
    assert cfg["process"]["env"] == [DEFAULT_PATH, "A=1"]
    assert cfg["process"]["capabilities"]["bounding"] == DEFAULT_CAPS
    assert cfg["linux"]["namespaces"] == [{"type": t} for t in (  # all its own
        "pid", "ipc", "uts", "mount", "cgroup", "network")]
    assert cfg["linux"]["maskedPaths"] == MASKED
    assert cfg["linux"]["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert "ro" in mount(cfg, "/sys")["options"]
    assert mount(cfg, "/sys/fs/cgroup")["type"] == "cgroup"  # read-only, as Docker's
    assert "ro" in mount(cfg, "/sys/fs/cgroup")["options"]
    assert cfg["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert cfg["root"] == {"path": "/r", "readonly": False} and "annotations" not in cfg
    parsed = spec.parse(cfg)  # what pyrun-oci will read: valid, field by field
    assert parsed.process.args == ["sh"]


@pytest.mark.parametrize("settings,check", [
    ({"network": "/run/pyrun/netns/x"},
     lambda c: {"type": "network", "path": "/run/pyrun/netns/x"} in c["linux"]["namespaces"]),
    # --network none: one of its own, which the runtime makes (and sets its loopback up)
    ({"network": "new"}, lambda c: {"type": "network"} in c["linux"]["namespaces"]),
    ({"network": "host"},
     lambda c: "network" not in {n["type"] for n in c["linux"]["namespaces"]}),
    ({"env": ["PATH=/x"]}, lambda c: c["process"]["env"] == ["PATH=/x"]),
    ({"memory": 64 << 20, "pids_limit": 50, "nano_cpus": 500_000_000},
     lambda c: c["linux"]["resources"]["memory"] == {"limit": 64 << 20} and
     c["linux"]["resources"]["pids"] == {"limit": 50} and
     c["linux"]["resources"]["cpu"] == {"quota": 50000, "period": 100000}),
    ({"privileged": True},
     lambda c: c["linux"]["maskedPaths"] == [] and c["linux"]["readonlyPaths"] == [] and
     c["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}] and
     "ro" not in mount(c, "/sys")["options"] and
     "ro" not in mount(c, "/sys/fs/cgroup")["options"]),
    ({"seccomp": None}, lambda c: "seccomp" not in c["linux"]),
    ({"readonly_rootfs": True, "terminal": True, "no_new_privileges": True},
     lambda c: c["root"]["readonly"] and c["process"]["terminal"] and
     c["process"]["noNewPrivileges"]),
    ({"caps": ["CAP_KILL"]}, lambda c: c["process"]["capabilities"]["effective"] ==
     ["CAP_KILL"]),
    ({"annotations": {"org.pyrun.owner": "1:2"}},
     lambda c: c["annotations"] == {"org.pyrun.owner": "1:2"}),
    ({}, lambda c: "size=65536k" in mount(c, "/dev/shm")["options"]),  # Docker's 64 MiB
    ({"shm_size": 256 << 20}, lambda c: "size=262144k" in mount(c, "/dev/shm")["options"]),
    ({}, lambda c: c["process"]["rlimits"] == [] and "sysctl" not in c["linux"] and
     "oomScoreAdj" not in c["process"]),
    ({"oom_score_adj": 500}, lambda c: c["process"]["oomScoreAdj"] == 500 and
     spec.parse(c).process.oom_score_adj == 500),
    ({"devices": [{"PathInContainer": "/dev/xnull", "Type": "c", "Major": 1, "Minor": 3,
                   "FileMode": 0o666, "CgroupPermissions": "rw"}]},
     lambda c: c["linux"]["devices"] == [{"path": "/dev/xnull", "type": "c", "major": 1,
                                          "minor": 3, "fileMode": 0o666, "uid": 0,
                                          "gid": 0}] and
     c["linux"]["resources"]["devices"] == [
         {"allow": False, "access": "rwm"},  # everything else stays refused
         {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]),
    ({"sysctl": {"net.core.somaxconn": "1024"}},
     lambda c: c["linux"]["sysctl"] == {"net.core.somaxconn": "1024"}),
    ({"host_namespaces": ("pid", "ipc", "uts"), "network": "host"},
     lambda c: [n["type"] for n in c["linux"]["namespaces"]] == ["mount", "cgroup"] and
     "hostname" not in c and mount(c, "/dev/shm")["source"] == "/dev/shm" and
     mount(c, "/dev/shm")["type"] == "bind"),
    # --pid/--ipc container:NAME: the donor's namespaces joined by path, its /dev/shm bound
    ({"joined_namespaces": {"pid": "/proc/7/ns/pid", "ipc": "/proc/7/ns/ipc"},
      "shm_source": "/var/lib/pyrun/containers/d/shm"},
     lambda c: c["linux"]["namespaces"][:2] == [{"type": "pid", "path": "/proc/7/ns/pid"},
                                                {"type": "ipc", "path": "/proc/7/ns/ipc"}] and
     mount(c, "/dev/shm") == {"destination": "/dev/shm", "type": "bind",
                              "source": "/var/lib/pyrun/containers/d/shm",
                              "options": ["rbind", "rprivate"]} and
     spec.parse(c).linux.namespace("pid").path == "/proc/7/ns/pid"),
    ({"ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048},
                  {"Name": "core", "Soft": -1, "Hard": -1}]},
     lambda c: c["process"]["rlimits"] == [
         {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048},
         {"type": "RLIMIT_CORE", "soft": 2 ** 64 - 1, "hard": 2 ** 64 - 1}]),
    ({"uid": 1000, "gid": 1000, "additional_gids": [27]},
     lambda c: c["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [27]}),
])
def test_settings_become_config(settings, check):
    assert check(oci_config(RunSpec("/r", ["sh"], **settings)))


class Store:
    root = "/var/lib/pyrun"


def record(**hc):
    """A container's record, as container.json holds it, read back."""
    from runtime.engine.containers import Container
    return Container.from_json(Store(), {
        "Id": "c" * 64, "Image": "sha256:" + "1" * 64, "Path": "nginx",
        "Args": ["-g", "daemon off;"],
        "Config": {"Env": ["A=1"], "WorkingDir": "/srv", "Hostname": "web", "Tty": False},
        "HostConfig": {"Binds": [], "Capabilities": DEFAULT_CAPS, **hc}})


def test_the_cgroup_flags_become_the_resources_beside_memory_and_cpus():
    s = from_record(record(Memory=64 << 20, MemorySwap=-1, MemoryReservation=32 << 20,
                           OomKillDisable=True, CpuShares=512, CpusetCpus="0",
                           BlkioWeight=300, NanoCpus=500_000_000,
                           BlkioWeightDevice=[{"Path": "/dev/vda", "Weight": 200, "Major": 254,
                                               "Minor": 0}],
                           BlkioDeviceReadBps=[{"Path": "/dev/vda", "Rate": 1 << 20,
                                                "Major": 254, "Minor": 0}],
                           BlkioDeviceWriteIOps=[{"Path": "/dev/vda", "Rate": 300,
                                                  "Major": 254, "Minor": 0}]),
                    None, (0, 0, []))
    r = oci_config(s)["linux"]["resources"]
    assert r["memory"] == {"limit": 64 << 20, "swap": -1, "reservation": 32 << 20,
                           "disableOOMKiller": True}
    assert r["cpu"] == {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0"}
    assert r["blockIO"] == {
        "weight": 300, "weightDevice": [{"major": 254, "minor": 0, "weight": 200}],
        "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1 << 20}],
        "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 300}]}
    from runtime.linux import cgroups  # the v1 and v2 files the runtime will write
    assert cgroups.blkio_device_lines(r["blockIO"]) == [
        ("weight_device", "254:0 200"), ("throttle.read_bps_device", "254:0 1048576"),
        ("throttle.write_iops_device", "254:0 300")]
    assert cgroups.io_device_lines(r["blockIO"])[1:] == [("io.max", "254:0 rbps=1048576"),
                                                        ("io.max", "254:0 wiops=300")]
    plain = oci_config(from_record(record(), "host", (0, 0, [])))["linux"]["resources"]
    assert set(plain) == {"devices"}  # nothing asked, nothing set


def test_a_container_record_becomes_its_run_spec():
    s = from_record(record(Binds=[{"Source": "/data", "Destination": "/d", "RW": False}],
                           Memory=1 << 30), "/ns", (33, 33, []))
    assert s.rootfs == "/var/lib/pyrun/containers/" + "c" * 64 + "/rootfs"
    assert s.args == ["nginx", "-g", "daemon off;"] and (s.uid, s.gid) == (33, 33)
    assert [m["destination"] for m in s.mounts] == ["/etc/hosts", "/etc/hostname",
                                                    "/etc/resolv.conf", "/d"]
    assert "ro" in s.mounts[-1]["options"] and s.memory == 1 << 30
    assert s.cgroups_path == "/pyrun/" + "c" * 64 and s.hostname == "web"
    assert s.caps == DEFAULT_CAPS and s.cwd == "/srv" and s.network == "/ns"


def test_init_and_unconfined_records():
    c = record(Init=True)
    c.seccomp = "unconfined"
    s = from_record(c, "host", (0, 0, []), init="/opt/pyrun-init")
    assert s.args[:2] == ["/sbin/pyrun-init", "--"] and s.seccomp is None
    assert s.mounts[-1]["source"] == "/opt/pyrun-init"


def test_hosts_file():
    assert hosts_file("web", "10.1.0.5", ["db:10.0.0.9"]).splitlines()[1:] == [
        "::1\tlocalhost ip6-localhost ip6-loopback", "10.1.0.5\tweb", "10.0.0.9\tdb"]
    assert "web" not in hosts_file("web")  # a build step: no address of its own
    # a legacy link: the alias, the short id and the name, as Docker writes them
    assert hosts_file("web", "10.1.0.5", (), [("10.1.0.3", "database 0123456789ab db")]
                      ).splitlines()[2] == "10.1.0.3\tdatabase 0123456789ab db"


HOST = "search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n"


@pytest.mark.parametrize("host, mode, dns, embedded, want", [
    (HOST, "bridge", (), False, "search example.org\nnameserver 10.0.0.1\n"),
    (HOST, "host", (), False, HOST),  # the host's own loopback resolver is reachable
    ("nameserver 127.0.0.53\n", "bridge", (), False, "nameserver 8.8.8.8\n"),
    (HOST, "bridge", ("1.1.1.1",), False, "search example.org\nnameserver 1.1.1.1\n"),
    (HOST, "front", ("1.1.1.1",), True,
     "search example.org\nnameserver 127.0.0.11\noptions ndots:0\n"),
    ("", "bridge", (), False, "nameserver 8.8.8.8\n"),
])
def test_resolv_file(host, mode, dns, embedded, want):
    assert resolv_file(host, mode, dns, embedded) == want
