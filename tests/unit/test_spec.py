"""config.json parsing and validation (pure)."""

import json

import pytest

from runtime.errors import ConfigError
from runtime.linux import syscalls as sc
from runtime.oci import spec
from runtime.oci.query import default_spec
from tests.conftest import conformance_dir


def parse(**changes):
    raw = default_spec()
    for path, value in changes.items():
        obj = raw
        keys = path.split("__")
        for k in keys[:-1]:
            obj = obj[k]
        obj[keys[-1]] = value
    return spec.parse(raw)


def test_default_spec_parses_into_typed_objects():
    s = parse()
    assert s.process.args == ["sh"]
    assert s.process.cwd == "/"
    assert s.root_path == "rootfs" and s.root_readonly
    assert [n.type for n in s.linux.namespaces] == ["pid", "network", "ipc", "uts", "mount",
                                                    "cgroup"]
    assert s.process.capabilities.bounding == [29, 5, 10]
    assert s.process.rlimits == [(7, 1024, 1024)]
    proc = next(m for m in s.mounts if m.destination == "/proc")
    assert proc.type == "proc" and proc.flags == 0


@pytest.mark.parametrize("options,flags,clear,propagation,data", [
    (["ro", "nosuid", "nodev"], sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV, 0, [], ""),
    (["rbind", "rprivate"], sc.MS_BIND | sc.MS_REC, 0, [sc.MS_PRIVATE | sc.MS_REC], ""),
    (["ro", "rw"], 0, sc.MS_RDONLY, [], ""),
    (["mode=755", "size=64k", "noexec"], sc.MS_NOEXEC, 0, [], "mode=755,size=64k"),
    (["bind", "shared", "slave"], sc.MS_BIND, 0, [sc.MS_SHARED, sc.MS_SLAVE], ""),
    (["tmpcopyup", "noatime", "atime"], 0, sc.MS_NOATIME, [], ""),
])
def test_mount_options(options, flags, clear, propagation, data):
    assert spec.parse_mount_options(options) == (flags, clear, propagation, data)


def test_type_bind_is_a_bind_mount_without_the_option():
    s = parse(mounts=[{"destination": "/data", "type": "bind", "source": "/srv"}])
    assert s.mounts[0].is_bind


@pytest.mark.parametrize("path,value,message", [
    ("process__args", [], "process.args: must be a non-empty list of strings"),
    ("process__args", "sh", "process.args: must be a non-empty list of strings"),
    ("process__cwd", "relative", "process.cwd: must be an absolute path"),
    ("process__user__uid", "0", "process.user.uid: must be an integer"),
    ("process__capabilities__bounding", ["CAP_NOPE"], "unknown capability 'CAP_NOPE'"),
    ("process__rlimits", [{"type": "RLIMIT_WHAT", "soft": 1, "hard": 1}],
     "process.rlimits[0].type: unknown rlimit"),
    ("ociVersion", "2.0.0", "ociVersion: unsupported version"),
    ("root", {}, "root.path: must name the root filesystem"),
    ("mounts", [{"destination": "relative"}], "mounts[0].destination: must be an absolute path"),
    ("linux__namespaces", [{"type": "network", "path": "/proc/1/ns/net"},
                           {"type": "network"}], "'network' listed twice, with different paths"),
    ("linux__namespaces", [{"type": "nope"}], "unknown namespace type 'nope'"),
    ("linux__devices", [{"path": "/etc/x", "type": "c"}], "must be a path under /dev"),
    ("linux__rootfsPropagation", "sideways", "unknown propagation 'sideways'"),
    ("hooks", {"prestart": [{"path": "rel"}]}, "hooks.prestart[0].path: must be an absolute"),
    ("hooks", {"afterparty": []}, "hooks.afterparty: unknown hook kind"),
    ("hooks", {"poststop": [{"path": "/x", "timeout": 0}]}, "timeout: must be greater than"),
])
def test_errors_name_the_field(path, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse(**{path: value})


def test_user_namespace_needs_mappings_and_mappings_need_it():
    raw = default_spec()
    raw["linux"]["namespaces"].append({"type": "user"})
    with pytest.raises(ConfigError, match="a new user namespace needs uid mappings"):
        spec.parse(raw)
    raw = default_spec(rootless=True)
    s = spec.parse(raw)
    assert s.linux.uid_mappings[0].size == 1
    raw["linux"]["namespaces"] = [n for n in raw["linux"]["namespaces"] if n["type"] != "user"]
    with pytest.raises(ConfigError, match="id mappings need a user namespace"):
        spec.parse(raw)


def test_hostname_needs_a_uts_namespace():
    raw = default_spec()
    raw["linux"]["namespaces"] = [n for n in raw["linux"]["namespaces"] if n["type"] != "uts"]
    with pytest.raises(ConfigError, match="hostname: setting a hostname needs a uts namespace"):
        spec.parse(raw)


def test_a_proc_bind_under_shared_propagation_is_refused():
    """Its masks would land on the host's /proc (the VM run found it: a test's container
    left the host unable to give user-namespace containers a procfs)."""
    proc_bind = [{"destination": "/proc", "type": "bind", "source": "/proc",
                  "options": ["rbind"]}]
    with pytest.raises(ConfigError, match="masks on the host's /proc"):
        parse(mounts=proc_bind, linux__rootfsPropagation="rshared")
    assert parse(mounts=proc_bind).mounts[0].destination == "/proc"  # rslave: fine


def test_the_same_namespace_twice_is_one():
    s = parse(linux__namespaces=[{"type": "uts"}, {"type": "cgroup"}, {"type": "cgroup"}])
    assert [n.type for n in s.linux.namespaces] == ["uts", "cgroup"]


def test_joined_namespace_keeps_its_path():
    s = parse(linux__namespaces=[{"type": "network", "path": "/proc/1/ns/net"}], hostname=None)
    assert s.linux.namespace("network").path == "/proc/1/ns/net"
    assert s.linux.namespace("pid") is None


def test_load_reports_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        spec.load(str(tmp_path))
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        spec.load(str(tmp_path))


def test_the_runtime_spec_good_linux_examples_parse():
    good = conformance_dir("oci-runtime-spec") / "schema" / "test" / "config" / "good"
    parsed = 0
    for f in sorted(good.glob("*.json")):
        if f.name.startswith(("freebsd", "zos")):
            continue
        raw = json.loads(f.read_text())
        s = spec.parse(raw, need_process=False)
        assert s.root_path
        parsed += 1
    assert parsed >= 3


def test_capability_table_matches_the_kernel_numbering():
    assert spec.CAPABILITY_NUMBERS["CAP_CHOWN"] == 0
    assert spec.CAPABILITY_NUMBERS["CAP_SYS_ADMIN"] == 21
    assert spec.CAPABILITY_NUMBERS["CAP_AUDIT_READ"] == 37
    assert spec.CAPABILITY_NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40
    assert spec.parse_capability("cap_kill", "x") == 5
