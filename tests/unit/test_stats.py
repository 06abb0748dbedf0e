"""engine/stats.py's row (pure) and cli/format.py's --format templates."""

from __future__ import annotations

import pytest

from runtime.cli.format import template
from runtime.engine import stats
from runtime.errors import PyrunError
from runtime.units import bytes_size


class C:
    id, name = "a" * 64, "web"


def sample(total_ns: int, system_ns: int, usage: int = 10 << 20, inactive: int = 2 << 20,
           limit: int = 64 << 20) -> dict:
    return {"pid": 0, "system": system_ns, "data": {
        "cpu": {"usage": {"total": total_ns, "percpu": [0, 0]}},
        "memory": {"usage": {"usage": usage, "limit": limit},
                   "raw": {"total_inactive_file": inactive}},
        "pids": {"current": 3},
        "blkio": {"ioServiceBytesRecursive": [{"op": "Read", "value": 2_000_000},
                                              {"op": "Write", "value": 1000}]}}}


def test_a_row_is_what_docker_stats_shows():
    r = stats.row(C(), sample(0, 0), sample(50_000_000, 100_000_000), 8 << 30)
    # half of the host's time over 2 CPUs: 100% of one CPU, as Docker counts it
    assert r["CPUPerc"] == "100.00%"
    assert r["MemUsage"] == "8MiB / 64MiB" and r["MemPerc"] == "12.50%"
    assert r["BlockIO"] == "2MB / 1kB" and r["PIDs"] == "3" and r["ID"] == "a" * 12
    unlimited = stats.row(C(), sample(0, 0), sample(0, 1, limit=2**63), 8 << 30)
    assert unlimited["MemUsage"].endswith(" / 8GiB")  # no limit: the host's memory


@pytest.mark.parametrize("size,text", [(0, "0B"), (950272, "928KiB"), (64 << 20, "64MiB"),
                                       (1_293_942, "1.234MiB")])
def test_bytes_size_is_go_units(size, text):
    assert bytes_size(size) == text


ROWS = [{"Name": "web", "CPUPerc": "1.00%"}, {"Name": "db", "CPUPerc": "2.00%"}]
COLS = [("NAME", "Name"), ("CPU %", "CPUPerc")]


def test_templates_as_docker_reads_them():
    assert template("{{.Name}}", ROWS, COLS) == "web\ndb\n"
    assert template("{{json .}}", ROWS, COLS).splitlines()[0] == \
        '{"Name": "web", "CPUPerc": "1.00%"}'
    assert template("table {{.Name}}\\t{{.CPUPerc}}", ROWS, COLS).splitlines() == [
        "NAME   CPU %", "web    1.00%", "db     2.00%"]
    assert template("table", ROWS, COLS).splitlines()[0] == "NAME   CPU %"
    with pytest.raises(PyrunError, match="no field 'Nope'"):
        template("{{.Nope}}", ROWS, COLS)
    with pytest.raises(PyrunError, match="has no {{end}}"):
        template("{{range .}}", ROWS, COLS)
