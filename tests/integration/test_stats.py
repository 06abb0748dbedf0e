"""pyrun stats: what `docker stats` shows, read from the container's cgroup; a one-shot
--no-stream in a fraction of a second."""

from __future__ import annotations

import json
import os
import time

from runtime.engine.containers import OCI_ROOT
from runtime.oci.state import State
from tests.integration.test_build import busybox, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import engine  # noqa: F401 - fixture


def mib(text: str) -> float:
    value, unit = float(text[:-3] if text[-3:] in ("KiB", "MiB", "GiB") else text[:-1]), \
        text[-3:] if text[-3:] in ("KiB", "MiB", "GiB") else "B"
    return value * {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]


def test_stats_no_stream_reports_the_cgroups_figures(engine):  # noqa: F811
    cid = engine("run", "-d", "--network", "none", "-m", "64m", "--name", "pyrun-stats-busy",
                 "busybox", "sh", "-c", "sleep 300 & while :; do :; done").stdout.strip()
    engine("run", "-d", "--network", "none", "--name", "pyrun-stats-done", "busybox", "true")
    time.sleep(0.3)
    t = time.monotonic()
    out = engine("stats", "--no-stream", "--format", "{{json .}}").stdout
    took = time.monotonic() - t
    rows = {r["Name"]: r for r in map(json.loads, out.splitlines())}
    assert set(rows) == {"pyrun-stats-busy"}  # running ones only
    row = rows["pyrun-stats-busy"]
    assert row["ID"] == cid[:12]
    used, limit = row["MemUsage"].split(" / ")
    assert mib(limit) == 64
    cgroup = State.load(OCI_ROOT, cid).cgroup()
    assert row["PIDs"] == str(len(cgroup.pids()))  # sh and its sleep
    usage = cgroup.stats()
    current = int(usage.get("memory.usage_in_bytes") or usage.get("memory.current"))
    assert 0 < mib(used) <= current / 2**20 + 1  # the cgroup's usage, less the page cache
    assert float(row["CPUPerc"].rstrip("%")) > 20  # one busy loop
    print(f"stats --no-stream took {took:.2f} s")  # click's import and two looks

    table = engine("stats", "--no-stream", "-a").stdout.splitlines()
    assert table[0].split()[:3] == ["CONTAINER", "ID", "NAME"]
    assert any("pyrun-stats-done" in line and "0.00%" in line for line in table[1:])
    p = engine("stats", "--no-stream", "--format", "{{.Nope}}", check=False)
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1
    assert os.path.isdir(f"/proc/{State.load(OCI_ROOT, cid).pid}")
