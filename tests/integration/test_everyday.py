"""The rest of the everyday set: pause/unpause, rename, update, as Docker's."""

from __future__ import annotations

import json
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


def test_update_changes_a_running_containers_limits(engine):  # noqa: F811
    cid = engine("run", "-d", "--network", "none", "-m", "64m", "--name", "pyrun-ev-upd",
                 "busybox", "sleep", "60").stdout.strip()
    engine("update", "-m", "96m", "--pids-limit", "30", "pyrun-ev-upd")
    cg = State.load(OCI_ROOT, cid).cgroup()
    files = [cg.paths["memory"] + "/memory.limit_in_bytes",
             cg.paths["pids"] + "/pids.max"] if cg.version == 1 else [
        cg.path + "/memory.max", cg.path + "/pids.max"]
    assert [open(f).read().strip() for f in files] == [str(96 << 20), "30"]
    assert '"Memory": 100663296' in engine("inspect", "pyrun-ev-upd").stdout  # kept
    p = engine("update", "pyrun-ev-upd", check=False)
    assert p.returncode != 0 and "one or more flags" in p.stderr


def test_dockers_top_level_aliases(engine, busybox):  # noqa: F811
    assert "busybox" in engine("images").stdout
    engine("tag", "busybox", "pyrun-alias:two")
    assert "pyrun-alias" in engine("images").stdout
    (image,) = json.loads(engine("inspect", "pyrun-alias:two").stdout)
    assert image["Id"] == busybox
    assert engine("history", "-q", "pyrun-alias:two").stdout.strip()
    engine("rmi", "pyrun-alias:two")
    assert "pyrun-alias" not in engine("images").stdout
    engine("run", "-d", "--network", "none", "--name", "busybox", "busybox", "sleep", "60")
    (first,) = json.loads(engine("inspect", "busybox").stdout)
    assert first["Name"] == "/busybox"  # a container's name wins over an image's, as Docker
