"""`python -m runtime.dockerfile FILE` (dockerfile/__main__.py): the parse in BuildKit's
test dump format, which the conformance cases are compared with; errors in one line."""

from __future__ import annotations

import subprocess
import sys


def dump(*args):
    return subprocess.run([sys.executable, "-m", "runtime.dockerfile", *args],
                          capture_output=True, text=True, timeout=60)


def test_a_dockerfile_dumped(tmp_path):
    f = tmp_path / "Dockerfile"
    f.write_text("FROM busybox\nRUN echo hi\n")
    p = dump(str(f))
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.splitlines() == ['(from "busybox")', '(run "echo hi")']


def test_errors_are_one_line_and_usage_is_2(tmp_path):
    p = dump(str(tmp_path / "none"))
    assert p.returncode == 1 and p.stderr == f"{tmp_path / 'none'}: No such file or directory\n"
    empty = tmp_path / "Dockerfile"
    empty.write_text("# only a comment\n")
    p = dump(str(empty))
    assert p.returncode == 1 and p.stderr.count("\n") == 1
    assert "file with no instructions" in p.stderr
    p = dump()
    assert p.returncode == 2 and p.stderr.startswith("usage:")
