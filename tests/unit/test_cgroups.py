"""cgroup path and value computation for v1 and v2, against fake cgroup trees in tmp dirs."""

import os

import pytest

from runtime.errors import ConfigError
from runtime.linux import cgroups as cg
from runtime.linux.cgroups.v1 import CgroupV1, hierarchies
from runtime.linux.cgroups.v2 import CgroupV2, v2_values


@pytest.mark.parametrize("given,want", [
    (None, "/pyrun/c1"),
    ("/a/b", "/a/b"),
    ("/a/../b", "/b"),
    ("machine.slice:pyrun:c1", "/machine.slice/pyrun-c1.scope"),
    (":pyrun:c1", "/system.slice/pyrun-c1.scope"),
])
def test_resolve_path(given, want):
    assert cg.resolve_path(given, "c1") == want


def test_resolve_path_refuses_bad_paths():
    with pytest.raises(ConfigError, match="root cgroup"):
        cg.resolve_path("/", "c1")
    with pytest.raises(ConfigError, match="leaves its parent"):
        cg.resolve_path("../x", "c1")
    with pytest.raises(ConfigError, match="slice:prefix:name"):
        cg.resolve_path("a:b", "c1")


@pytest.mark.parametrize("shares,weight", [(2, 1), (1024, 39), (262144, 10000), (0, 0)])
def test_shares_to_weight(shares, weight):
    assert cg.shares_to_weight(shares) == weight


def test_blkio_weight_conversion():
    assert cg.blkio_to_io_weight(10) == 1
    assert cg.blkio_to_io_weight(1000) == 10000
    assert cg.blkio_to_io_weight(500) == 4950


@pytest.mark.parametrize("rule,line", [
    ({"allow": False, "access": "rwm"}, "a *:* rwm"),
    ({"type": "c", "major": 1, "minor": 3, "access": "rw"}, "c 1:3 rw"),
    ({"type": "c", "major": 136, "minor": None}, "c 136:* rwm"),
    ({"type": "b", "major": -1, "minor": -1, "access": "m"}, "b *:* m"),
])
def test_device_rule(rule, line):
    assert cg.device_rule(rule) == line


def test_v2_values_convert_v1_style_resources():
    r = {"memory": {"limit": 100 << 20, "reservation": 50 << 20, "swap": 200 << 20},
         "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"},
         "pids": {"limit": 0}, "blockIO": {"weight": 500},
         "unified": {"memory.high": "90M"}}
    assert v2_values(r) == {
        "memory.max": str(100 << 20), "memory.low": str(50 << 20),
        "memory.swap.max": str(100 << 20), "cpu.weight": "39", "cpu.max": "50000 100000",
        "cpuset.cpus": "0-1", "pids.max": "max", "io.weight": "default 4950",
        "memory.high": "90M"}


def test_v2_refuses_swap_below_memory_and_bad_unified_keys():
    with pytest.raises(ValueError, match="swap"):
        v2_values({"memory": {"limit": 100, "swap": 50}})
    with pytest.raises(ValueError, match="bad key"):
        v2_values({"unified": {"../x": "1"}})


def test_mode_detection(tmp_path):
    assert cg.mode(str(tmp_path)) == "legacy"
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    assert cg.mode(str(tmp_path)) == "hybrid"
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    assert cg.mode(str(tmp_path)) == "unified"


def test_hierarchies_from_mountinfo(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text(
        "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
        "31 25 0:27 / /sys/fs/cgroup/memory rw shared:10 - cgroup cgroup rw,memory\n"
        "32 25 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "33 25 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
        "34 25 0:30 / /proc rw - proc proc rw\n")
    assert hierarchies(str(mi)) == {
        "cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd",
        "": "/sys/fs/cgroup/unified"}


@pytest.fixture
def creating_writes(monkeypatch):
    """cgroupfs has every file already; a tmp dir does not, so writes create them here."""
    def write_creating(path, value):
        with open(path, "w") as f:
            f.write(str(value))
    monkeypatch.setattr(cg, "write", write_creating)


class FakeV1Tree:
    """Directories that behave enough like cgroup v1 mounts: mkdir gives the files."""

    def __init__(self, root):
        self.root = root
        self.mounts = {}
        for c in ("cpu", "memory", "pids", "cpuset", "devices", "freezer"):
            d = root / c
            d.mkdir()
            self.mounts[c] = str(d)
        (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
        (root / "cpuset" / "cpuset.mems").write_text("0\n")

    def seed_on_make(self, monkeypatch):
        """Seed every directory cg.make_dirs makes, as the kernel would."""
        real_make = cg.make_dirs

        def make_and_seed(root, rel):
            made = real_make(root, rel)
            self.seed(made)
            return made
        monkeypatch.setattr(cg, "make_dirs", make_and_seed)

    def seed(self, made):
        """What the kernel puts in new cpuset directories: empty cpus and mems."""
        for d in made:
            if d.startswith(self.mounts["cpuset"]):
                for f in ("cpuset.cpus", "cpuset.mems"):
                    open(os.path.join(d, f), "w").close()


def test_v1_create_writes_limits_and_fills_cpuset(tmp_path, monkeypatch, creating_writes):
    tree = FakeV1Tree(tmp_path)
    mgr = CgroupV1("/pyrun/c1", mounts=tree.mounts)
    tree.seed_on_make(monkeypatch)
    mgr.create({"memory": {"limit": 64 << 20, "reservation": 32 << 20},
                "cpu": {"shares": 512, "quota": 20000, "period": 100000},
                "pids": {"limit": 10},
                "devices": [{"allow": False, "access": "rwm"},
                            {"allow": True, "type": "c", "major": 1, "minor": 3,
                             "access": "rwm"}]})
    d = lambda c, f: (tmp_path / c / "pyrun" / "c1" / f).read_text()  # noqa: E731
    assert d("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert d("memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert d("cpu", "cpu.shares") == "512"
    assert d("cpu", "cpu.cfs_quota_us") == "20000"
    assert d("cpu", "cpu.cfs_period_us") == "100000"
    assert d("pids", "pids.max") == "10"
    assert d("cpuset", "cpuset.cpus") == "0-3"  # copied from the parent, outermost first
    assert (tmp_path / "cpuset" / "pyrun" / "cpuset.cpus").read_text() == "0-3"
    # devices.allow is rewritten per rule: the last line written is the last default rule
    assert d("devices", "devices.allow") == "c 136:* rwm"
    assert d("devices", "devices.deny") == "a"
    state = mgr.to_dict()
    again = cg.manager_from_dict(state)
    assert again.paths == mgr.paths and again.made == mgr.made


def test_v1_cpuset_parents_left_empty_are_filled_too(tmp_path, monkeypatch, creating_writes):
    """A parent another create has just made (or a pod's, left empty) has no cpus yet: the
    container would fail to join with ENOSPC (seen once in 3,000 parallel runs)."""
    tree = FakeV1Tree(tmp_path)
    parent = tmp_path / "cpuset" / "pyrun"
    parent.mkdir()
    tree.seed([str(parent)])  # made by someone else, not filled yet
    tree.seed_on_make(monkeypatch)
    CgroupV1("/pyrun/c2", mounts=tree.mounts).create({})
    assert (parent / "cpuset.cpus").read_text() == "0-3"
    assert (parent / "c2" / "cpuset.mems").read_text() == "0"


def test_v1_destroy_removes_only_what_it_made(tmp_path):
    tree = FakeV1Tree(tmp_path)
    (tmp_path / "memory" / "shared").mkdir()
    mgr = CgroupV1("/shared/c1", mounts={"memory": tree.mounts["memory"]})
    mgr.create({})
    assert mgr.made == [[str(tmp_path / "memory" / "shared" / "c1")]]
    mgr.destroy()
    assert not (tmp_path / "memory" / "shared" / "c1").exists()
    assert (tmp_path / "memory" / "shared").exists()  # not ours


def test_v1_memory_swap_needs_swap_accounting(tmp_path):
    tree = FakeV1Tree(tmp_path)
    mgr = CgroupV1("/c1", mounts={"memory": tree.mounts["memory"]})
    with pytest.raises(OSError, match="no swap accounting"):
        mgr.create({"memory": {"limit": 100, "swap": 300}})


def test_v2_create_enables_controllers_and_writes_values(tmp_path, creating_writes):
    # As on a real cgroup2 mount: a new directory comes with its cgroup.subtree_control, and
    # /pyrun does not exist yet (on a fresh host, the first container makes it).
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids io\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    mgr = CgroupV2("/pyrun/c1", str(tmp_path))
    orig = cg.make_dirs

    def make(root, rel):
        made = orig(root, rel)
        for m in made:
            open(os.path.join(m, "cgroup.subtree_control"), "w").close()
        return made
    cg.make_dirs, saved = make, cg.make_dirs
    try:
        mgr.create({"memory": {"limit": 1 << 20}, "pids": {"limit": 5}})
    finally:
        cg.make_dirs = saved
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (tmp_path / "pyrun" / "cgroup.subtree_control").read_text() == "+memory +pids"
    # Not in the leaf: it holds the processes ("no internal processes").
    assert (tmp_path / "pyrun" / "c1" / "cgroup.subtree_control").read_text() == ""
    assert (tmp_path / "pyrun" / "c1" / "memory.max").read_text() == str(1 << 20)
    assert (tmp_path / "pyrun" / "c1" / "pids.max").read_text() == "5"
    assert mgr.made == [str(tmp_path / "pyrun"), str(tmp_path / "pyrun" / "c1")]
    # An update asking for what the create did not (pyrun-oci update --cpu-quota) enables
    # that controller first: without it cpu.max does not exist in the leaf.
    mgr.apply({"cpu": {"quota": 50000, "period": 100000}})
    assert (tmp_path / "pyrun" / "cgroup.subtree_control").read_text() == "+cpu +pids"
    assert (tmp_path / "pyrun" / "c1" / "cpu.max").read_text() == "50000 100000"


def test_v2_freeze_waits_for_the_event(tmp_path):
    d = tmp_path / "c1"
    d.mkdir()
    (d / "cgroup.freeze").write_text("0")
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    mgr = CgroupV2("/c1", str(tmp_path))
    mgr.freeze()
    assert (d / "cgroup.freeze").read_text() == "1"
    assert mgr.is_frozen()


def test_device_program_semantics():
    """The eBPF program compile() makes, run through a small interpreter."""
    from runtime.linux.cgroups import DEFAULT_DEVICE_RULES, devices_bpf as d
    C, B = d.DEV_CHAR, d.DEV_BLOCK
    R, W, M = d.ACC_READ, d.ACC_WRITE, d.ACC_MKNOD
    prog = d.compile([{"allow": False, "access": "rwm"}] + DEFAULT_DEVICE_RULES +
                     [{"allow": True, "type": "c", "major": 10, "minor": 200, "access": "r"},
                      {"allow": False, "type": "c", "major": 1, "minor": 9, "access": "w"}])
    assert d.run(prog, C, 1, 3, R | W) == 1          # /dev/null
    assert d.run(prog, C, 136, 7, R | W) == 1        # any pty (minor wildcard)
    assert d.run(prog, B, 8, 0, R) == 0              # a disk: denied by default
    assert d.run(prog, B, 8, 0, M) == 1              # ...though its node may be made
    assert d.run(prog, C, 10, 200, R) == 1           # allowed for reading...
    assert d.run(prog, C, 10, 200, R | W) == 0       # ...not for writing
    assert d.run(prog, C, 1, 9, R) == 1              # urandom: reading still allowed
    assert d.run(prog, C, 1, 9, W) == 0              # a later deny rule wins for writing
    allow_all = d.compile([{"allow": True, "access": "rwm"}])
    assert d.run(allow_all, B, 8, 0, R | W | M) == 1
    assert len(d.encode(prog)) == 8 * len(prog)


def test_empty_pyrun_parents_go_with_the_last_container(tmp_path):
    shared = tmp_path / "pyrun"
    other = tmp_path / "not-ours"
    (shared / "a").mkdir(parents=True)
    (other / "b").mkdir(parents=True)
    made_a = cg.make_dirs(str(tmp_path), "pyrun/c1")  # "pyrun" existed: only c1 is made
    cg.remove_dirs(made_a)
    assert shared.exists()  # "a" still lives there
    (shared / "a").rmdir()
    made_b = cg.make_dirs(str(tmp_path), "pyrun/c2")
    cg.remove_dirs(made_b)
    assert not shared.exists()  # empty and pyrun-named: removed with its last child
    made_c = cg.make_dirs(str(tmp_path), "not-ours/c3")
    cg.remove_dirs(made_c)
    assert other.exists()  # not pyrun's to remove


def test_lease_reclaim_keeps_wired_owners(tmp_path, monkeypatch):
    from runtime.net import bridge
    monkeypatch.setattr(bridge, "LEASES", str(tmp_path / "leases"))
    monkeypatch.setattr(bridge, "NETNS_DIR", str(tmp_path / "netns"))
    (tmp_path / "netns").mkdir()
    (tmp_path / "netns" / ("pyrun-" + "a" * 12)).write_text("")  # still wired
    (tmp_path / "leases").mkdir()
    (tmp_path / "leases" / "10.89.0.2").write_text("a" * 64)
    (tmp_path / "leases" / "10.89.0.3").write_text("b" * 64)    # its namespace is gone
    bridge.reclaim()
    assert sorted(os.listdir(tmp_path / "leases")) == ["10.89.0.2"]


def test_container_names_are_reserved_once(tmp_path):
    from runtime.engine import containers as cmod
    from runtime.image.store import Store
    store = Store(str(tmp_path))
    os.makedirs(os.path.join(cmod.root_dir(store), "a" * 64))
    assert cmod.reserve_name(store, "web", "a" * 64) is None
    assert cmod.reserve_name(store, "web", "b" * 64) == "a" * 64   # taken
    os.rmdir(os.path.join(cmod.root_dir(store), "a" * 64))         # its owner vanished
    os.makedirs(os.path.join(cmod.root_dir(store), "b" * 64))
    assert cmod.reserve_name(store, "web", "b" * 64) is None       # stale: taken over
    cmod.release_name(store, "web", "a" * 64)                       # not a's any more
    assert cmod.reserve_name(store, "web", "c" * 64) == "b" * 64


def test_warm_up_moves_again_and_again_until_finished(monkeypatch):
    """The lock must still be warm when the container's process moves, however long the
    preparing took: the thread keeps making its harmless move until finish_warm_up()."""
    import time

    from runtime.linux import cgroups
    moves = []
    monkeypatch.setattr(cgroups, "_own_procs_file", lambda: "/sys/fs/cgroup/pids/cgroup.procs")
    monkeypatch.setattr(cgroups, "write", lambda path, value: moves.append((path, value)))
    cgroups.start_warm_up()
    time.sleep(cgroups.REWARM_S * 6)
    cgroups.finish_warm_up()
    made = len(moves)
    assert made >= 3 and set(moves) == {("/sys/fs/cgroup/pids/cgroup.procs", os.getpid())}
    time.sleep(cgroups.REWARM_S * 3)
    assert len(moves) == made  # stopped
    cgroups.finish_warm_up()  # again: nothing to stop, no hang


def test_device_transitions_change_only_what_differs_allows_first():
    deny_all = {"allow": False, "access": "rwm"}
    null = {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    fuse = {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}
    current = ["c 1:3 rwm", "c 1:5 rwm", "c 10:229 r"]
    steps = cg.device_transitions(current, [deny_all, null, fuse])
    assert steps == [("allow", "c 10:229 w"), ("deny", "c 1:5 rwm")]
    assert cg.device_transitions(["c 1:3 rwm"], [deny_all, null]) == []
    # a later deny narrows an earlier allow
    narrowed = [deny_all, null, {"allow": False, "type": "c", "major": 1, "minor": 3,
                                 "access": "w"}]
    assert cg.device_transitions(["c 1:3 rwm"], narrowed) == [("deny", "c 1:3 w")]
    # a cgroup that allows everything (fresh), or rules not starting with deny-all: rewrite
    assert cg.device_transitions(["a *:* rwm"], [deny_all, null]) is None
    assert cg.device_transitions(current, [null]) is None


@pytest.mark.parametrize("blkio,v1,v2", [
    ({"weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300}]},
     [("weight_device", "8:0 500"), ("leaf_weight_device", "8:0 300")],
     [("io.weight", "8:0 4950")]),
    ({"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1024}],
      "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 10}]},
     [("throttle.read_bps_device", "8:0 1024"), ("throttle.write_iops_device", "8:16 10")],
     [("io.max", "8:0 rbps=1024"), ("io.max", "8:16 wiops=10")]),
])
def test_block_io_device_lines(blkio, v1, v2):
    assert cg.blkio_device_lines(blkio) == v1
    assert cg.io_device_lines(blkio) == v2


def test_device_access_ignores_letters_the_kernel_lacks():
    assert cg.device_rule({"type": "c", "major": 1, "minor": 3, "access": "rwa"}) == "c 1:3 rw"


def test_swap_limits_are_found_where_the_kernel_accounts_swap(tmp_path):
    from runtime.linux import cgroups
    v2 = tmp_path / "v2"
    (v2 / "system.slice").mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("memory pids\n")
    assert not cgroups.swap_limit_supported(str(v2))
    (v2 / "system.slice" / "memory.swap.max").write_text("max\n")
    assert cgroups.swap_limit_supported(str(v2))
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    assert not cgroups.swap_limit_supported(str(v1))  # swapaccount=0
    (v1 / "memory" / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")
    assert cgroups.swap_limit_supported(str(v1))
