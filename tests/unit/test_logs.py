"""engine/logs.py without root: the json-file log read back across its rotated files, with
--tail and --since, past torn lines (followed reading is tests/integration/test_logs.py's)."""

from __future__ import annotations

import calendar
import json

from runtime.engine import logs, model
from runtime.engine.containers import Container


class Store:
    def __init__(self, root):
        self.root = str(root)


def line(text: str, second: int) -> str:
    return json.dumps({"log": text + "\n", "stream": "stdout",
                       "time": f"2026-12-01T10:00:{second:02d}.000000000Z"}) + "\n"


def logged(tmp_path) -> Container:
    c = Container(Store(tmp_path), id="a" * 64, name="web", created="", image="",
                  image_ref="", path="true", args=[], config=model.Config(),
                  net=model.NetworkSettings(), host=model.HostConfig(
                      log_config={"Type": "json-file",
                                  "Config": {"max-size": "1k", "max-file": "3"}}))
    d = tmp_path / "containers" / c.id
    d.mkdir(parents=True)
    (d / "container.log.2").write_text(line("one", 1))
    (d / "container.log.1").write_text(line("two", 2) + '{"log": "torn')
    (d / "container.log").write_text(line("three", 3) + line("four", 4))
    return c


def test_all_files_oldest_first_past_a_torn_line(tmp_path):
    c = logged(tmp_path)
    # the torn line (a crash mid-write, then rotation) is skipped, as Docker's reader skips
    # what it cannot decode
    assert [r["log"] for r in logs.entries(c)] == ["one\n", "two\n", "three\n", "four\n"]


def test_tail_since_and_from_end(tmp_path):
    c = logged(tmp_path)
    assert [r["log"] for r in logs.entries(c, tail=1)] == ["four\n"]
    assert list(logs.entries(c, tail=0)) == []
    since = calendar.timegm((2026, 12, 1, 10, 0, 3)) * 10**9
    assert [r["log"] for r in logs.entries(c, since_ns=since)] == ["three\n", "four\n"]
    assert list(logs.entries(c, from_end=True)) == []


def test_no_log_yet_is_no_lines(tmp_path):
    c = logged(tmp_path)
    for f in (tmp_path / "containers" / c.id).iterdir():
        f.unlink()
    assert list(logs.entries(c)) == []


def test_opened_is_called_once_the_past_is_skipped_and_what_follows_is_read(tmp_path):
    """attach's input starts from opened(): a line the input causes, written from then on,
    is among the records (the container here has no monitor, so following ends at once,
    after a last read)."""
    c = logged(tmp_path)
    log = tmp_path / "containers" / c.id / "container.log"

    def opened():
        with open(log, "a") as f:
            f.write(line("caused by the input", 5))
    got = [r["log"] for r in logs.entries(c, follow=True, from_end=True, opened=opened)]
    assert got == ["caused by the input\n"]
