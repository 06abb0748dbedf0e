"""Volumes as Docker users reach for them: the lifecycle commands, a new volume seeded from
the image, --mount and --tmpfs."""

from __future__ import annotations

import json
import os

from tests.integration.test_build import busybox, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import engine  # noqa: F401 - fixture

NONE = ("--network", "none")


def test_volume_lifecycle_and_seeding(engine):  # noqa: F811
    assert engine("volume", "create", "--label", "team=web", "pyrun-vol-data").stdout == \
        "pyrun-vol-data\n"
    (info,) = json.loads(engine("volume", "inspect", "pyrun-vol-data").stdout)
    assert info["Labels"] == {"team": "web"} and info["Driver"] == "local"
    assert os.path.isdir(info["Mountpoint"]) and os.listdir(info["Mountpoint"]) == []
    assert "pyrun-vol-data" in engine("volume", "ls", "-q").stdout.split()
    assert engine("volume", "ls", "-q", "--filter", "label=team=db").stdout == ""

    # a new volume mounted where the image has files starts with them (Docker's copy-up)
    out = engine("run", "--rm", *NONE, "-v", "pyrun-vol-etc:/etc", "busybox",
                 "cat", "/etc/passwd").stdout
    assert out.startswith("root:")
    (etc,) = json.loads(engine("volume", "inspect", "pyrun-vol-etc").stdout)
    passwd = os.path.join(etc["Mountpoint"], "passwd")
    assert open(passwd).read() == out and os.stat(passwd).st_uid == 0
    # what a container writes, the next one reads; a volume is seeded only while empty
    engine("run", "--rm", *NONE, "-v", "pyrun-vol-data:/data", "busybox", "sh", "-c",
           "echo kept > /data/note")
    engine("run", "-d", *NONE, "--name", "pyrun-vol-user", "-v", "pyrun-vol-data:/data:ro",
           "busybox", "sleep", "60")
    assert engine("exec", "pyrun-vol-user", "cat", "/data/note").stdout == "kept\n"
    p = engine("exec", "pyrun-vol-user", "touch", "/data/x", check=False)
    assert p.returncode != 0  # :ro
    (c,) = json.loads(engine("inspect", "pyrun-vol-user").stdout)
    assert c["Mounts"][0]["Name"] == "pyrun-vol-data" and c["Mounts"][0]["RW"] is False

    p = engine("volume", "rm", "pyrun-vol-data", check=False)
    assert p.returncode == 1 and "volume is in use" in p.stderr
    assert "pyrun-vol-data" not in engine("volume", "ls", "-q", "--filter",
                                          "dangling=true").stdout.split()
    engine("rm", "-f", "pyrun-vol-user")
    engine("volume", "rm", "pyrun-vol-data")
    assert not os.path.exists(info["Mountpoint"])
    anonymous = engine("run", "--rm", *NONE, "-v", "/scratch", "busybox", "true")
    assert anonymous.returncode == 0
    pruned = engine("volume", "prune", "-f").stdout
    assert "Total reclaimed space: 1 volume(s)" in pruned  # the anonymous one only
    assert "pyrun-vol-etc" in engine("volume", "ls", "-q").stdout
    engine("volume", "prune", "-f", "-a")
    assert engine("volume", "ls", "-q").stdout == ""
    p = engine("volume", "create", "bad name", check=False)
    assert p.returncode == 1 and "invalid characters" in p.stderr


def test_mount_and_tmpfs_options(engine, tmp_path):  # noqa: F811
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.ini").write_text("x=1\n")
    out = engine("run", "--rm", *NONE,
                 "--mount", f"type=bind,source={tmp_path / 'conf'},target=/conf,readonly",
                 "--mount", "type=tmpfs,destination=/cache,tmpfs-size=1m",
                 "--tmpfs", "/run/app:size=2m,mode=1777",
                 "busybox", "sh", "-c",
                 "cat /conf/app.ini; touch /conf/y 2>/dev/null || echo ro; "
                 "grep -E ' /(cache|run/app) ' /proc/self/mountinfo | "
                 "awk '{print $5, $9, $NF}'; stat -c %a /run/app").stdout.splitlines()
    assert out[0] == "x=1" and out[1] == "ro"
    mounts = {line.split()[0]: line for line in out[2:4]}
    assert mounts["/cache"].split()[1] == "tmpfs" and "size=1024k" in mounts["/cache"]
    assert "size=2048k" in mounts["/run/app"]
    assert out[4] == "1777"
    p = engine("run", "--rm", *NONE, "--mount", "type=bind,source=/nonexistent-pyrun,"
               "target=/x", "busybox", "true", check=False)
    assert p.returncode == 125 and "bind source path does not exist" in p.stderr
    p = engine("run", "--rm", *NONE, "--mount", "type=nfs,target=/x", "busybox", "true",
               check=False)
    assert p.returncode == 125 and "type bind, volume or tmpfs" in p.stderr


def test_volumes_from_another_container(engine, tmp_path):  # noqa: F811
    """The data-container pattern: one container's volumes (an anonymous one included) and
    bind mounts, at the same places in another, read-only with :ro."""
    engine("create", "--name", "pyrun-data", *NONE, "-v", "pyrun-vol-shared:/shared", "-v",
           "/anon", "-v", f"{tmp_path}:/site", "busybox", "true")
    engine("run", "--rm", *NONE, "--volumes-from", "pyrun-data", "busybox", "sh", "-c",
           "echo one > /shared/f && echo two > /anon/f && echo three > /site/f")
    assert (tmp_path / "f").read_text() == "three\n"
    out = engine("run", "--rm", *NONE, "--volumes-from", "pyrun-data:ro", "busybox", "sh",
                 "-c", "cat /shared/f /anon/f /site/f; touch /shared/g 2>/dev/null || "
                 "echo read-only").stdout
    assert out.split() == ["one", "two", "three", "read-only"]
    (info,) = json.loads(engine("inspect", "pyrun-data").stdout)
    anon = next(m["Name"] for m in info["Mounts"] if m["Destination"] == "/anon")
    p = engine("run", "-d", *NONE, "--volumes-from", "pyrun-data", "busybox", "sleep", "30")
    (user,) = json.loads(engine("inspect", p.stdout.strip()).stdout)
    assert user["HostConfig"]["VolumesFrom"] == ["pyrun-data"]
    assert anon in [m.get("Name") for m in user["Mounts"]]  # the same volume, not a copy
    p = engine("run", "--rm", "--volumes-from", "pyrun-nonesuch", "busybox", "true",
               check=False)
    assert p.returncode == 125 and "No such container: pyrun-nonesuch" in p.stderr
    engine("rm", "-f", "pyrun-data", *engine("ls", "-q").stdout.split())
    engine("volume", "rm", "pyrun-vol-shared", anon)
