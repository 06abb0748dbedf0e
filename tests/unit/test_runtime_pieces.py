"""The runtime's pure pieces: CLI parsing, signals, state, channel, rootfs steps with fake
syscalls, the exec lookup and the CVE-2019-5736 guard, capability ordering."""

import errno
import json
import os
import sys

import pytest

from runtime.errors import ContainerNotFound, PyrunError, SetupError
from runtime.linux import rootfs
from runtime.linux import syscalls as sc
from runtime.oci import channel as ch
from runtime.oci import cli, process
from runtime.oci.kill import parse_signal
from runtime.oci.state import State, proc_start_time, validate_id
from runtime.record import as_dict, record


# ---- CLI -------------------------------------------------------------------------------------

def test_options_follow_go_flag_rules():
    opts, rest = cli.parse_options(
        ["--bundle", "/b", "-pid-file=/p", "--detach", "id", "--not-an-option"],
        cli.COMMANDS["run"])
    assert opts == {"bundle": "/b", "pid-file": "/p", "detach": True}
    assert rest == ["id", "--not-an-option"]
    opts, rest = cli.parse_options(["-b", "x", "--", "-id"], cli.COMMANDS["create"])
    assert opts == {"bundle": "x"} and rest == ["-id"]
    opts, _ = cli.parse_options(["--env", "A=1", "-e", "B=2", "--force=false"],
                                {**cli.COMMANDS["exec"], "force": cli.B})
    assert opts == {"env": ["A=1", "B=2"], "force": False}


def test_unknown_flag_and_missing_value_are_usage_errors():
    with pytest.raises(cli.UsageError, match="flag provided but not defined: -bogus"):
        cli.parse_options(["--bogus"], cli.COMMANDS["start"])
    with pytest.raises(cli.UsageError, match="flag needs an argument"):
        cli.parse_options(["--bundle"], cli.COMMANDS["create"])


def test_main_turns_errors_into_exit_1_and_one_line(capfd, tmp_path):
    assert cli.main(["--root", str(tmp_path), "state", "nope"]) == 1
    err = capfd.readouterr().err
    assert err.strip() == "pyrun-oci: error: container does not exist: nope"
    assert cli.main(["--root", str(tmp_path), "frobnicate"]) == 1
    assert "no such command: frobnicate" in capfd.readouterr().err
    assert cli.main(["--root", str(tmp_path), "start"]) == 1
    assert "requires exactly 1 argument" in capfd.readouterr().err


def test_the_systemd_cgroup_driver_is_refused_in_one_line(capfd, tmp_path):
    assert cli.main(["--systemd-cgroup", "--root", str(tmp_path), "create", "--bundle",
                     str(tmp_path), "c1"]) == 1
    err = capfd.readouterr().err.strip()
    assert err == ("pyrun-oci: error: --systemd-cgroup: pyrun-oci has no systemd cgroup "
                   "driver; use cgroupfs (containerd: SystemdCgroup = false)")
    assert os.listdir(tmp_path) == []


def test_spec_and_features_commands(tmp_path, capsys):
    assert cli.main(["spec", "--bundle", str(tmp_path)]) == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"] and cfg["root"]["path"] == "rootfs"
    assert cli.main(["features"]) == 0
    feats = json.loads(capsys.readouterr().out)
    assert "rbind" in feats["mountOptions"] and "user" in feats["linux"]["namespaces"]


@pytest.mark.parametrize("text,num", [("9", 9), ("0", 0), ("KILL", 9), ("SIGTERM", 15), ("sigusr1", 10),
                                      ("RTMIN", 34), ("RTMIN+2", 36), ("RTMAX-1", 63)])
def test_parse_signal(text, num):
    assert parse_signal(text) == num


@pytest.mark.parametrize("bad", ["-1", "65", "SIGNOPE", "RTMIN+40", ""])
def test_parse_signal_rejects(bad):
    with pytest.raises(PyrunError, match="invalid signal"):
        parse_signal(bad)


# ---- state -------------------------------------------------------------------------------------

def make_state(tmp_path, **data):
    d = tmp_path / "c1"
    d.mkdir(exist_ok=True)
    base = {"id": "c1", "pid": 0, "bundle": "/b", "rootfs": "/b/rootfs", "created": "t"}
    base.update(data)
    (d / "state.json").write_text(json.dumps(base))
    return State.load(str(tmp_path), "c1")


def test_status_is_derived_from_the_kernel(tmp_path):
    assert make_state(tmp_path).status() == "stopped"
    me = os.getpid()
    start = proc_start_time(me)[0]
    st = make_state(tmp_path, pid=me, pid_start=start)
    assert st.status() == "running"
    (tmp_path / "c1" / "start.sock").write_text("")
    assert st.status() == "created"
    st = make_state(tmp_path, pid=me, pid_start=start + 1)  # a reused pid is not ours
    assert st.status() == "stopped"
    assert "pid" not in st.oci_state() and st.runc_view()["pid"] == 0


def test_native_view_is_what_the_launchers_verbs_read(tmp_path):
    """native/oci_fast.c reads these lines; hooks to run leave the verbs to Python."""
    v2 = {"version": 2, "rel": "/pyrun-x/c1", "root": "/cg",
          "made": ["/cg/pyrun-x", "/cg/pyrun-x/c1"]}
    st = make_state(tmp_path, pid=42, pid_start=7, cgroup=v2)
    assert st.native_view() == ("pid 42\nstart 7\nprocs /cg/pyrun-x/c1/cgroup.procs\n"
                                "freezer /cg/pyrun-x/c1/cgroup.freeze\n"
                                "group\ndir /cg/pyrun-x\ndir /cg/pyrun-x/c1\n")
    v1 = {"version": 1, "rel": "/c1", "mounts": {"pids": "/cg/pids", "memory": "/cg/memory"},
          "made": [["/cg/pids/c1"], [], ["/cg/memory/c1"]]}
    text = make_state(tmp_path, pid=42, pid_start=7, cgroup=v1).native_view()
    assert text.splitlines()[2:] == ["procs /cg/pids/c1/cgroup.procs", "group",
                                     "dir /cg/pids/c1", "group", "dir /cg/memory/c1"]
    for hooks in ({"poststart": [{"path": "/bin/true"}]}, {"poststop": [{"path": "/x"}]}):
        assert make_state(tmp_path, pid=42, cgroup=v2, hooks=hooks).native_view() is None
    assert make_state(tmp_path, pid=42, cgroup=None).native_view() is None
    odd = dict(v2, made=["/cg/a\nb"])
    assert make_state(tmp_path, pid=42, cgroup=odd).native_view() is None


def test_missing_and_invalid_ids(tmp_path):
    with pytest.raises(ContainerNotFound, match="container does not exist: x"):
        State.load(str(tmp_path), "x")
    for bad in ("", "..", "a/b", "a b"):
        with pytest.raises(PyrunError, match="invalid container id"):
            validate_id(bad)


def test_proc_start_time_handles_odd_process_names():
    assert proc_start_time(os.getpid())[1] in "RS"
    assert proc_start_time(2 ** 22 + 12345) is None


# ---- channel -----------------------------------------------------------------------------------

def test_channel_round_trip_and_failures():
    host, child = ch.Channel.pair()
    child.send(ch.Pid(42))
    child.send(ch.Failed("mount /x: Permission denied", 126))
    assert host.expect(ch.Pid) == ch.Pid(42)
    with pytest.raises(SetupError, match="mount /x: Permission denied") as e:
        host.expect(ch.Ready)
    assert e.value.exit_code == 126
    child.send(ch.Ready())
    with pytest.raises(SetupError, match="unexpected message"):
        host.expect(ch.Pid)
    child.close()
    with pytest.raises(ch.ChannelClosed):
        host.recv()
    host.close()


def test_record_behaves_like_a_small_dataclass():
    @record
    class P:
        a: int
        b: list = list
        c: str = "x"
    p = P(1)
    assert (p.a, p.b, p.c) == (1, [], "x") and P(1).b is not p.b
    assert P(1, c="y") == P(a=1, b=[], c="y") and as_dict(p) == {"a": 1, "b": [], "c": "x"}
    with pytest.raises(TypeError, match="missing argument 'a'"):
        P()
    with pytest.raises(TypeError, match="unexpected"):
        P(1, d=2)


# ---- rootfs steps with the fake syscalls ------------------------------------------------------

def test_mask_path_mounts_tmpfs_on_dirs_and_null_on_files(fake_sc, tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("secret")
    rootfs.mask_path(str(tmp_path / "dir"))
    rootfs.mask_path(str(tmp_path / "file"))
    rootfs.mask_path(str(tmp_path / "absent"))
    assert fake_sc.named("mount") == [
        ("mount", "tmpfs", str(tmp_path / "dir"), "tmpfs", sc.MS_RDONLY, None),
        ("mount", "/dev/null", str(tmp_path / "file"), None, sc.MS_BIND),
    ]


def test_readonly_path_binds_then_remounts_keeping_locked_flags(fake_sc, tmp_path):
    rootfs.readonly_path(str(tmp_path))
    (bind, remount) = fake_sc.named("mount")
    assert bind == ("mount", str(tmp_path), str(tmp_path), None, sc.MS_BIND | sc.MS_REC)
    flags = remount[4]
    assert flags & sc.MS_REMOUNT and flags & sc.MS_BIND and flags & sc.MS_RDONLY
    assert flags & sc.MS_NOSUID and flags & sc.MS_NODEV and flags & sc.MS_NOEXEC


def test_readonly_path_skips_what_does_not_exist(fake_sc):
    fake_sc.fail("mount", errno.ENOENT)
    rootfs.readonly_path("/nonexistent/pyrun")
    assert len(fake_sc.named("mount")) == 1


def test_pivot_root_sequence(fake_sc, tmp_path):
    cwd = os.getcwd()
    try:
        rootfs.pivot_root(str(tmp_path))
    finally:
        os.chdir(cwd)
    assert fake_sc.calls == [
        ("pivot_root", ".", "."),
        ("mount", None, ".", None, sc.MS_SLAVE | sc.MS_REC),
        ("umount2", ".", sc.MNT_DETACH),
    ]


def test_pivot_root_failure_names_the_root(fake_sc, tmp_path):
    fake_sc.fail("pivot_root", errno.EINVAL)
    cwd = os.getcwd()
    try:
        with pytest.raises(SetupError, match=f"pivot_root {tmp_path}: Invalid argument"):
            rootfs.pivot_root(str(tmp_path))
    finally:
        os.chdir(cwd)


def test_root_propagation_default_is_rslave(fake_sc):
    rootfs.set_root_propagation(None)
    rootfs.set_root_propagation("rprivate")
    assert [c[4] for c in fake_sc.named("mount")] == [sc.MS_SLAVE | sc.MS_REC,
                                                       sc.MS_PRIVATE | sc.MS_REC]


def test_mkdir_all_in_root_keeps_symlinks_inside(tmp_path):
    """Real openat2 (no root needed): an absolute link means the root's "/"."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../../../../../../", root / "up")
    os.symlink("/made/by/link", root / "dangling")
    rfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for path, where in (("/abs/x", root / "etc" / "x"), ("/up/y", root / "y"),
                            ("/dangling/z", root / "made" / "by" / "link" / "z")):
            fd = rootfs.mkdir_all_in_root(rfd, path)
            assert os.readlink(f"/proc/self/fd/{fd}") == str(where)
            os.close(fd)
    finally:
        os.close(rfd)
    assert not (tmp_path / "x").exists() and sorted(os.listdir(tmp_path)) == ["root"]


def test_syscall_errors_read_like_runc():
    e = sc.error(errno.EINVAL, "pivot_root", "/r")
    assert str(e) == "pivot_root /r: Invalid argument"
    assert isinstance(sc.error(errno.ENOENT, "mount", "/x"), FileNotFoundError)


# ---- the exec lookup and CVE-2019-5736 guard --------------------------------------------------

def test_lookup_uses_the_containers_path(tmp_path):
    prog = tmp_path / "bin" / "tool"
    prog.parent.mkdir()
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    assert process.lookup("tool", [f"PATH=/nowhere:{prog.parent}"]) == str(prog)
    with pytest.raises(process.ExecError, match='"tool": executable file not found') as e:
        process.lookup("tool", ["PATH=/nowhere"])
    assert e.value.exit_code == 127
    with pytest.raises(process.ExecError, match="no such file"):
        process.lookup("/no/such", [])


def test_refuses_a_script_whose_interpreter_is_the_runtime(tmp_path):
    script = tmp_path / "evil"
    script.write_text(f"#!{sys.executable}\nprint('x')\n")
    hop = tmp_path / "hop"
    hop.write_text(f"#!{script}\n")
    for path in (script, hop):
        with pytest.raises(process.ExecError, match="CVE-2019-5736") as e:
            process.refuse_runtime_binary(str(path))
        assert e.value.exit_code == 126
    fine = tmp_path / "fine"
    fine.write_text("#!/bin/sh\necho\n")
    process.refuse_runtime_binary(str(fine))


# ---- capabilities: the order the kernel needs ------------------------------------------------

def test_capabilities_drop_bounding_before_switching_user(monkeypatch, fake_sc):
    from runtime.linux import capabilities as caps
    from runtime.oci.spec import Capabilities
    log = []
    monkeypatch.setattr(caps._prctl, "prctl", lambda *a: log.append(("prctl", *a)))
    monkeypatch.setattr(caps._prctl, "set_caps", lambda *a: log.append(("set_caps",) + a))
    monkeypatch.setattr(caps, "last_cap", lambda: 3)
    monkeypatch.setattr(os, "setgroups", lambda g: log.append(("setgroups", g)))
    monkeypatch.setattr(os, "setresgid", lambda *a: log.append(("setresgid", a)))
    monkeypatch.setattr(os, "setresuid", lambda *a: log.append(("setresuid", a)))
    c = Capabilities(bounding=[1, 2], effective=[1], permitted=[1, 2], inheritable=[2],
                     ambient=[2, 1])
    caps.apply(c, 1000, 1000, [5])
    P = caps._prctl
    assert log[:2] == [("prctl", P.PR_CAPBSET_DROP, 0), ("prctl", P.PR_CAPBSET_DROP, 3)]
    assert log[2:7] == [("prctl", P.PR_SET_KEEPCAPS, 1), ("setgroups", [5]),
                        ("setresgid", (1000, 1000, 1000)), ("setresuid", (1000, 1000, 1000)),
                        ("prctl", P.PR_SET_KEEPCAPS, 0)]
    assert log[7] == ("set_caps", [1], [1, 2], [2], [0, 2, 3], [0, 3], [0, 1, 3])
    # ambient: cleared, then only what is permitted and inheritable is raised (2, not 1)
    assert fake_sc.named("prctl") == [("prctl", sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL),
                                      ("prctl", sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, 2)]


def test_jsonfast_agrees_with_json():
    import json as std

    from runtime import jsonfast
    docs = ['{"a": [1, 2.5, true, null, "x\\u00e9\\n"], "b": {"c": -1e3}}', "  [ ] ",
            '"\\ud83d\\ude00"', '{"nested": {"deep": [[], {}]}}']
    for d in docs:
        assert jsonfast.loads(d) == std.loads(d)
        assert std.loads(jsonfast.dumps(jsonfast.loads(d))) == std.loads(d)
    assert jsonfast.loads(b'\xef\xbb\xbf{"bom": 1}') == {"bom": 1}
    for bad in ["", "{", '{"a":1} x', "[1,]", '"\\x"', "{not json"]:
        with pytest.raises(ValueError):
            jsonfast.loads(bad)
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonfast.dumps({"x": object()})


def test_intermediate_reports_the_pid_before_the_init_speaks(monkeypatch):
    """The init's first message must never overtake the intermediate's Pid (a race seen with
    20 concurrent runs): the init waits until the pid has been sent."""
    from runtime.oci import init
    host, child = ch.Channel.pair()
    order = []

    def fake_init(ctx, host_pid):
        # ...and is told its pid as the host sees it (here: no pid namespace, the same).
        ctx.chan.send(ch.Ready() if host_pid == os.getpid() else ch.Failed(f"{host_pid}"))
        os._exit(0)
    monkeypatch.setattr(init, "container_init", fake_init)
    monkeypatch.setattr(init, "enter_namespaces", lambda spec, chan: None)
    real_send = ch.Channel.send

    def slow_send(self, msg):  # the intermediate is slow to report: the init must wait
        if isinstance(msg, ch.Pid):
            import time
            time.sleep(0.2)
        real_send(self, msg)
    monkeypatch.setattr(ch.Channel, "send", slow_send)

    class Ctx:
        chan = child
        cgroup = None
        seccomp = seccomp_sock = None
        spec = type("S", (), {"process": type("P", (), {"rlimits": [], "terminal": False})(),
                              "hooks": {},
                              "linux": type("L", (), {"namespace": lambda self, kind: None})()})()
    pid = os.fork()
    if pid == 0:
        init.intermediate(Ctx())
    child.close()
    for _ in range(2):
        order.append(type(host.recv()).__name__)
    os.waitpid(pid, 0)
    assert order == ["Pid", "Ready"]
