"""The rest of the everyday set: pause/unpause, rename, update, as Docker's."""

from __future__ import annotations

import json
import os
import subprocess
import time

from runtime.engine.containers import OCI_ROOT
from runtime.oci.state import State
from tests.integration.test_build import busybox, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import engine  # noqa: F401 - fixture


def test_pause_unpause_freezes_and_thaws(engine):  # noqa: F811
    cid = engine("run", "-d", "--network", "none", "--name", "pyrun-ev-pause", "busybox",
                 "sh", "-c", "while :; do echo x >> /tmp/ticks; done").stdout.strip()
    engine("pause", "pyrun-ev-pause")
    assert State.load(OCI_ROOT, cid).status() == "paused"
    assert "(Paused)" in engine("ls").stdout
    p = engine("exec", "pyrun-ev-pause", "true", check=False)
    assert p.returncode != 0 and "is paused" in p.stderr
    engine("unpause", "pyrun-ev-pause")
    def ticks():
        return int(engine("exec", "pyrun-ev-pause", "wc", "-c", "/tmp/ticks").stdout.split()[0])
    first = ticks()
    time.sleep(0.2)
    assert ticks() > first  # it runs again
    engine("pause", "pyrun-ev-pause")
    engine("stop", "-t", "1", "pyrun-ev-pause")  # a paused container stops (thawed first)
    assert engine("inspect", "pyrun-ev-pause").stdout.count('"Paused": false') == 1
    p = engine("unpause", "pyrun-ev-pause", check=False)
    assert p.returncode != 0 and "is not paused" in p.stderr


def test_rename_frees_the_old_name_and_takes_the_new(engine):  # noqa: F811
    engine("run", "-d", "--network", "none", "--name", "pyrun-ev-a", "busybox", "sleep", "60")
    engine("run", "-d", "--network", "none", "--name", "pyrun-ev-b", "busybox", "sleep", "60")
    p = engine("rename", "pyrun-ev-a", "pyrun-ev-b", check=False)
    assert p.returncode != 0 and "already in use" in p.stderr
    engine("rename", "pyrun-ev-a", "pyrun-ev-c")
    names = engine("ls", "--format", "json").stdout
    assert '"pyrun-ev-c"' in names and '"pyrun-ev-a"' not in names
    engine("run", "-d", "--network", "none", "--name", "pyrun-ev-a", "busybox", "true")
    p = engine("rename", "pyrun-ev-c", "bad name!", check=False)
    assert p.returncode != 0 and "Invalid container name" in p.stderr


def test_restart_keeps_a_rm_container_and_a_stop_removes_it(engine):  # noqa: F811
    # Docker's: a restart is no end for --rm (HasBeenManuallyRestarted); its files stay
    cid = engine("run", "-d", "--rm", "--network", "none", "--name", "pyrun-ev-rm", "busybox",
                 "sh", "-c", "echo ran >> /runs; exec sleep 60").stdout.strip()
    mounts = [line.split() for line in open("/proc/mounts") if cid in line]
    # its writable layer is volatile (no sync at unmount: it is thrown away), as podman's
    # (6.1 lists "volatile"; newer kernels "fsync=volatile")
    assert any(m[2] == "overlay" and {"volatile", "fsync=volatile"} & set(m[3].split(","))
               for m in mounts), mounts
    engine("restart", "-t", "0", "pyrun-ev-rm")
    assert engine("inspect", "-f", "{{.State.Status}} {{.State.Restarting}}",
                  "pyrun-ev-rm").stdout.split() == ["running", "false"]
    assert engine("exec", "pyrun-ev-rm", "cat", "/runs").stdout == "ran\nran\n"
    engine("stop", "-t", "0", "pyrun-ev-rm")
    deadline = time.monotonic() + 10
    while engine("ls", "-aq").stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine("ls", "-aq").stdout.strip() == ""
    assert not [line for line in open("/proc/mounts") if cid in line]


def test_update_changes_a_running_containers_limits(engine):  # noqa: F811
    cid = engine("run", "-d", "--network", "none", "-m", "64m", "--name", "pyrun-ev-upd",
                 "busybox", "sleep", "60").stdout.strip()
    cg = State.load(OCI_ROOT, cid).cgroup()
    swap = (cg.paths["memory"] + "/memory.memsw.limit_in_bytes" if cg.version == 1 else
            cg.path + "/memory.swap.max")
    # -m alone: as much swap again, as Docker's (v1 holds memory plus swap, v2 the swap)
    assert open(swap).read().strip() == str((128 if cg.version == 1 else 64) << 20)
    assert '"MemorySwap": 134217728' in engine("inspect", "pyrun-ev-upd").stdout
    engine("update", "-m", "96m", "--pids-limit", "30", "pyrun-ev-upd")
    files = [cg.paths["memory"] + "/memory.limit_in_bytes",
             cg.paths["pids"] + "/pids.max"] if cg.version == 1 else [
        cg.path + "/memory.max", cg.path + "/pids.max"]
    assert [open(f).read().strip() for f in files] == [str(96 << 20), "30"]
    assert '"Memory": 100663296' in engine("inspect", "pyrun-ev-upd").stdout  # kept
    engine("update", "--memory-swap", "160m", "pyrun-ev-upd")
    # v1 holds memory plus swap; v2 the swap alone
    assert open(swap).read().strip() == str((160 if cg.version == 1 else 64) << 20)
    p = engine("update", "-m", "200m", "pyrun-ev-upd", check=False)
    assert p.returncode != 0 and "update the memoryswap at the same time" in p.stderr
    engine("update", "-m", "200m", "--memory-swap", "-1", "pyrun-ev-upd")
    assert [open(f).read().strip() for f in (files[0], swap)] == \
        [str(200 << 20), "9223372036854771712" if cg.version == 1 else "max"]
    p = engine("update", "pyrun-ev-upd", check=False)
    assert p.returncode != 0 and "one or more flags" in p.stderr


def test_dockers_top_level_aliases(engine, busybox, tmp_path):  # noqa: F811
    assert "busybox" in engine("images").stdout
    engine("tag", "busybox", "pyrun-alias:two")
    assert "pyrun-alias" in engine("images").stdout
    engine("save", "-o", str(tmp_path / "two.tar"), "pyrun-alias:two")
    engine("rmi", "pyrun-alias:two")
    assert engine("load", "-i", str(tmp_path / "two.tar")).stdout == \
        "Loaded image: pyrun-alias:two\n"
    engine("run", "--network", "none", "--name", "pyrun-alias-src", "busybox", "sh", "-c",
           "echo exported > /mark")
    engine("export", "-o", str(tmp_path / "fs.tar"), "pyrun-alias-src")
    engine("import", str(tmp_path / "fs.tar"), "pyrun-alias:imported")
    assert engine("run", "--rm", "--network", "none", "pyrun-alias:imported",
                  "cat", "/mark").stdout == "exported\n"
    engine("rmi", "pyrun-alias:imported")
    (image,) = json.loads(engine("inspect", "pyrun-alias:two").stdout)
    assert image["Id"] == busybox
    assert engine("history", "-q", "pyrun-alias:two").stdout.strip()
    engine("rmi", "pyrun-alias:two")
    assert "pyrun-alias" not in engine("images").stdout
    engine("run", "-d", "--network", "none", "--name", "busybox", "busybox", "sleep", "60")
    (first,) = json.loads(engine("inspect", "busybox").stdout)
    assert first["Name"] == "/busybox"  # a container's name wins over an image's, as Docker
    p = engine("inspect", "pyrun-nothing-so-named", check=False)
    assert p.returncode != 0 and p.stderr == "pyrun: No such object: pyrun-nothing-so-named\n"


def test_cp_both_ways_diff_export_and_commit_then_run(engine, tmp_path):  # noqa: F811
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("hello\n")
    os.chmod(src / "sub" / "a.txt", 0o640)
    engine("run", "-d", "--network", "none", "--name", "pyrun-ev-cp", "busybox", "sleep", "60")
    engine("cp", str(src), "pyrun-ev-cp:/srv")  # /srv is missing: src becomes /srv
    assert engine("exec", "pyrun-ev-cp", "cat", "/srv/sub/a.txt").stdout == "hello\n"
    assert engine("exec", "pyrun-ev-cp", "stat", "-c", "%a",
                  "/srv/sub/a.txt").stdout.strip() == "640"
    engine("cp", "pyrun-ev-cp:/srv", str(tmp_path / "back"))  # the round trip
    assert (tmp_path / "back" / "sub" / "a.txt").read_text() == "hello\n"
    engine("cp", "pyrun-ev-cp:/etc/passwd", str(tmp_path))  # into an existing directory
    assert (tmp_path / "passwd").read_text().startswith("root:")
    # a symlink in the container that points at the host's root stays in the container
    engine("exec", "pyrun-ev-cp", "ln", "-s", "/", "/escape")
    engine("cp", str(src / "sub" / "a.txt"), "pyrun-ev-cp:/escape/tmp/planted")
    assert not os.path.exists("/tmp/planted")
    assert engine("exec", "pyrun-ev-cp", "cat", "/tmp/planted").stdout == "hello\n"
    p = engine("cp", "pyrun-ev-cp:/nope", str(tmp_path / "x"), check=False)
    assert p.returncode == 1 and "Could not find the file /nope" in p.stderr

    diff = engine("diff", "pyrun-ev-cp").stdout.splitlines()
    assert "A /srv/sub/a.txt" in diff and "A /escape" in diff and "C /tmp" in diff
    engine("exec", "pyrun-ev-cp", "rm", "/bin/true")
    assert "D /bin/true" in engine("diff", "pyrun-ev-cp").stdout.splitlines()

    out = tmp_path / "fs.tar"
    engine("export", "-o", str(out), "pyrun-ev-cp")
    listing = subprocess.run(["tar", "tf", str(out)], capture_output=True, text=True).stdout
    assert "srv/sub/a.txt" in listing.split() and "bin/busybox" in listing.split()

    image = engine("commit", "-m", "with srv", "pyrun-ev-cp", "pyrun-ev-snap:1").stdout.strip()
    assert image.startswith("sha256:")
    assert engine("run", "--rm", "--network", "none", "pyrun-ev-snap:1", "cat",
                  "/srv/sub/a.txt").stdout == "hello\n"
    assert "with srv" in engine("history", "pyrun-ev-snap:1").stdout
    assert engine("inspect", "pyrun-ev-cp").stdout.count('"Paused": false') == 1  # unpaused

    engine("stop", "-t", "0", "pyrun-ev-cp")  # a stopped container's files are reached too
    engine("cp", str(src / "sub" / "a.txt"), "pyrun-ev-cp:/srv/stopped.txt")
    engine("start", "pyrun-ev-cp")
    assert engine("exec", "pyrun-ev-cp", "cat", "/srv/stopped.txt").stdout == "hello\n"


NSS_MODULE = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void run(void) {
    int fd = open("/pyrun-nss-ran", O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) { write(fd, "root\n", 5); close(fd); }
}
"""


def test_cp_runs_none_of_the_containers_code(engine, tmp_path):  # noqa: F811
    # CVE-2019-14271's shape: a container names an NSS module of its own in nsswitch.conf;
    # a copy that looked up a user or group name past its chroot would load it, as root
    # on the host (the module's constructor would write /pyrun-nss-ran).
    (tmp_path / "nss.c").write_text(NSS_MODULE)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libnss_pyrunevil.so.2"),
                    str(tmp_path / "nss.c")], check=True)
    engine("run", "-d", "--network", "none", "--name", "pyrun-ev-nss", "busybox", "sleep", "60")
    engine("cp", str(tmp_path / "libnss_pyrunevil.so.2"), "pyrun-ev-nss:/tmp/")
    engine("exec", "pyrun-ev-nss", "sh", "-c",
           "mkdir -p /lib/x86_64-linux-gnu /lib64 && cp /tmp/libnss_pyrunevil.so.2 "
           "/lib/x86_64-linux-gnu/ && mv /tmp/libnss_pyrunevil.so.2 /lib64/ && "
           "printf 'passwd: pyrunevil files\\ngroup: pyrunevil files\\n' "
           ">/etc/nsswitch.conf && echo owned >/tmp/owned && chown 1234:1234 /tmp/owned")
    (tmp_path / "in.txt").write_text("in\n")
    # a bare relative name is the host's, as docker cp reads it
    engine("cp", "in.txt", "pyrun-ev-nss:/tmp/", cwd=str(tmp_path))
    engine("cp", "pyrun-ev-nss:/tmp/owned", str(tmp_path / "out"))
    assert (tmp_path / "out").read_text() == "owned\n"
    assert os.stat(tmp_path / "out").st_uid == 1234  # owners travel as numbers
    assert engine("exec", "pyrun-ev-nss", "cat", "/tmp/in.txt").stdout == "in\n"
    assert engine("exec", "pyrun-ev-nss", "cat", "/etc/nsswitch.conf").stdout.startswith(
        "passwd: pyrunevil")
    engine("export", "-o", str(tmp_path / "fs.tar"), "pyrun-ev-nss")
    ls = engine("exec", "pyrun-ev-nss", "ls", "/").stdout.split()
    assert "pyrun-nss-ran" not in ls


def test_system_df_and_prune(engine, tmp_path):  # noqa: F811
    engine("run", "-d", "--network", "none", "--name", "pyrun-ev-up", "busybox", "sleep", "60")
    engine("run", "--network", "none", "--name", "pyrun-ev-done", "busybox", "sh", "-c",
           "head -c 100000 /dev/zero > /big")
    engine("run", "--rm", "--network", "none", "-v", "/scratch", "busybox", "true")
    rows = {r["Type"]: r for r in map(json.loads, engine(
        "system", "df", "--format", "{{json .}}").stdout.splitlines())}
    assert rows["Containers"]["TotalCount"] == "2" and rows["Containers"]["Active"] == "1"
    assert rows["Images"]["Active"] == "1" and rows["Local Volumes"]["TotalCount"] == "1"
    reclaimable = rows["Containers"]["Reclaimable"].split()[0]  # the stopped one's /big
    assert reclaimable.endswith("kB") and 98 <= float(reclaimable[:-2]) < 200
    out = engine("system", "prune", "-f", "--volumes").stdout
    assert "Total: 1 containers, 0 images, 1 volumes" in out  # busybox is in use
    assert engine("ls", "-aq").stdout.split() == [engine("ls", "-q").stdout.strip()]


def test_inspect_format_as_docker_users_write_it(engine, busybox):  # noqa: F811
    cid = engine("run", "-d", "--name", "pyrun-ev-fmt", "-l", "tier=front", "busybox",
                 "sleep", "60").stdout.strip()
    pid, ip, tier = engine("inspect", "-f", "{{.State.Pid}} {{range .NetworkSettings.Networks}}"
                           "{{.IPAddress}}{{end}} {{index .Config.Labels \"tier\"}}",
                           "pyrun-ev-fmt").stdout.split()
    assert pid == str(State.load(OCI_ROOT, cid).pid)
    assert open(f"/proc/{pid}/cmdline", "rb").read() == b"sleep\x0060\x00"
    # the address the container itself has on its eth0
    assert f"inet {ip}/" in engine("exec", "pyrun-ev-fmt", "ip", "-4", "addr", "show",
                                   "eth0").stdout
    assert tier == "front"
    assert engine("container", "inspect", "--format", "{{.State.Status}}",
                  "pyrun-ev-fmt").stdout == "running\n"
    assert engine("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip() == busybox
    assert engine("network", "inspect", "-f", "{{.Name}}", "bridge").stdout == "bridge\n"
    engine("volume", "create", "pyrun-ev-fmt-vol")
    try:
        assert engine("volume", "inspect", "-f", "{{.Name}} {{.Driver}}",
                      "pyrun-ev-fmt-vol").stdout == "pyrun-ev-fmt-vol local\n"
    finally:
        engine("volume", "rm", "pyrun-ev-fmt-vol")
    p = engine("inspect", "-f", "{{.State.Pid", "pyrun-ev-fmt", check=False)
    assert p.returncode != 0 and p.stdout == ""
    assert p.stderr.strip().splitlines() == ["pyrun: template: unclosed action in "
                                             "'{{.State.Pid'"]


def test_version_as_docker_version(pyrun):  # noqa: F811
    out = pyrun("version").stdout
    assert out.startswith("Client:\n Version:           0.1.0\n")
    assert f"Kernel version:   {os.uname().release}" in out
    assert pyrun("version", "-f", "{{.Server.ApiVersion}}").stdout == "1.41\n"
    client = json.loads(pyrun("version", "--format", "{{json .Client}}").stdout)
    assert client["Os"] == "linux" and client["Version"] == "0.1.0"
