"""runtime/oci/events.py: runc's stats JSON from cgroup files (a fake tree here)."""

from __future__ import annotations

import json

import pytest

from runtime.errors import PyrunError
from runtime.oci import events as ev


def write(d, files: dict) -> str:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return str(d)


def test_v1_stats_read_as_runc_reports_them(tmp_path):
    acct = write(tmp_path / "cpuacct", {
        "cpuacct.usage": "5000\n", "cpuacct.usage_percpu": "3000 2000 \n",
        "cpuacct.stat": "user 3\nsystem 1\n"})
    cpu = write(tmp_path / "cpu", {"cpu.stat": "nr_periods 10\nnr_throttled 2\n"
                                               "throttled_time 777\n"})
    mem = write(tmp_path / "memory", {
        "memory.usage_in_bytes": "4096", "memory.limit_in_bytes": "67108864",
        "memory.max_usage_in_bytes": "8192", "memory.failcnt": "1",
        "memory.stat": "cache 512\nrss 1024\n"})
    pids = write(tmp_path / "pids", {"pids.current": "3", "pids.max": "max"})
    blkio = write(tmp_path / "blkio", {"blkio.throttle.io_service_bytes_recursive":
                                       "254:0 Read 100\n254:0 Write 200\nTotal 300\n"})
    data = ev.stats_v1({"cpuacct": acct, "cpu": cpu, "memory": mem, "pids": pids,
                        "blkio": blkio})
    assert data["cpu"]["usage"] == {"total": 5000, "percpu": [3000, 2000], "kernel": 10**7,
                                    "user": 3 * 10**7}
    assert data["cpu"]["throttling"] == {"periods": 10, "throttled_periods": 2,
                                         "throttled_time": 777}
    assert data["memory"]["usage"] == {"limit": 67108864, "usage": 4096, "max": 8192,
                                       "failcnt": 1}
    assert data["memory"]["cache"] == 512 and data["memory"]["raw"]["rss"] == 1024
    assert data["pids"] == {"current": 3, "limit": 0}  # "max": no limit, as runc says it
    assert data["blkio"]["ioServiceBytesRecursive"] == [
        {"major": 254, "minor": 0, "op": "Read", "value": 100},
        {"major": 254, "minor": 0, "op": "Write", "value": 200}]


def test_v2_stats_read_as_runc_reports_them(tmp_path):
    d = write(tmp_path / "c1", {
        "cpu.stat": "usage_usec 50\nuser_usec 30\nsystem_usec 20\nnr_periods 4\n"
                    "nr_throttled 1\nthrottled_usec 9\n",
        "memory.current": "4096", "memory.max": "max", "memory.events": "max 2\noom_kill 1\n",
        "memory.stat": "file 100\nanon 200\n", "pids.current": "2", "pids.max": "42",
        "io.stat": "254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"})
    data = ev.stats_v2(d)
    assert data["cpu"]["usage"] == {"total": 50000, "kernel": 20000, "user": 30000}
    assert data["cpu"]["throttling"]["throttled_time"] == 9000
    assert data["memory"]["usage"]["limit"] == ev.NO_LIMIT
    assert data["memory"]["usage"]["failcnt"] == 2 and data["memory"]["cache"] == 100
    assert data["pids"] == {"current": 2, "limit": 42}
    assert {"major": 254, "minor": 0, "op": "Write", "value": 2} in \
        data["blkio"]["ioServicedRecursive"]
    json.dumps(data)  # all of it serializable, as the line is


@pytest.mark.parametrize("text,seconds", [("5s", 5), ("500ms", 0.5), ("1m30s", 90), ("2", 2)])
def test_interval_takes_gos_durations(text, seconds):
    assert ev.parse_interval(text) == seconds


@pytest.mark.parametrize("bad", ["", "5x", "0s", "s"])
def test_interval_rejects(bad):
    with pytest.raises(PyrunError, match="--interval"):
        ev.parse_interval(bad)
