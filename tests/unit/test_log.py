"""oci/log.py without root: runc's --log/--log-format lines, which containerd reads after a
failed call (the last "error" line is what its user sees), and what reaches stderr."""

from __future__ import annotations

import json

import pytest

from runtime.errors import PyrunError
from runtime.linux import diag
from runtime.oci import log


@pytest.fixture(autouse=True)
def reset():
    yield
    log.configure(None)  # closes the file: no other test writes into it
    diag.install(None)  # --debug installed log's sink for linux/'s notes


def lines(path) -> list[str]:
    return path.read_text().splitlines()


def test_json_lines_as_containerd_reads_them(tmp_path, capfd):
    path = tmp_path / "log.json"
    log.configure(str(path), "json")
    log.info("not without --debug")
    log.warning("cgroup v1 memory.swappiness ignored")
    log.error('exec: "nosuch": executable file not found in $PATH')
    records = [json.loads(line) for line in lines(path)]
    assert [r["level"] for r in records] == ["warning", "error"]
    assert records[-1]["msg"] == 'exec: "nosuch": executable file not found in $PATH'
    assert records[-1]["time"].endswith("Z") and "T" in records[-1]["time"]
    assert capfd.readouterr().err == ""  # with --log, nothing on stderr


def test_text_lines_quote_as_logrus(tmp_path):
    path = tmp_path / "log.txt"
    log.configure(str(path), "text", debug=True)
    log.debug('a "quoted"\nword\\')
    (line,) = lines(path)
    assert line.startswith('time="') and ' level=debug msg="a \\"quoted\\"\\nword\\\\"' in line


def test_the_log_is_appended_to(tmp_path):
    path = tmp_path / "log.json"
    path.write_text('{"level":"info","msg":"an earlier call"}\n')
    log.configure(str(path), "json")
    log.error("this call")
    assert [json.loads(line)["msg"] for line in lines(path)] == ["an earlier call", "this call"]


def test_without_a_log_errors_go_to_stderr_and_debug_only_with_debug(capfd):
    log.configure(None, "text")
    log.debug("hidden")
    log.error("container not running")
    assert capfd.readouterr().err == "pyrun-oci: error: container not running\n"
    log.configure(None, "text", debug=True)
    log.debug("shown")
    err = capfd.readouterr().err
    assert "level=debug" in err and 'msg="shown"' in err


def test_a_log_that_cannot_be_opened_is_one_clear_error(tmp_path):
    with pytest.raises(PyrunError, match=r"^--log .*/missing/log.json: No such file"):
        log.configure(str(tmp_path / "missing" / "log.json"), "json")
