"""oci/hooks.py without root: each hook gets the state on stdin, its own args and env (and
nothing of ours), runs in order, and the first failure stops the rest in one line."""

from __future__ import annotations

import json
import stat

import pytest

from runtime.errors import SetupError
from runtime.oci import hooks


def script(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def typed(raw: dict):
    return hooks.from_raw(raw)


def test_hooks_get_the_state_their_args_and_only_their_env_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRUN_LEAK", "from the runtime")
    out = tmp_path / "seen"
    second = script(tmp_path, "second", f'echo second >> {out}\n')
    raw = {"prestart": [{"path": "/bin/sh",
                         "args": ["sh", "-c", f'cat > {out}.state; echo "first $0 $1 '
                                  f'$GREETING ${{PYRUN_LEAK:-none}}" >> {out}',
                                  "hook-name", "arg1"],
                         "env": ["GREETING=hello"]},
                        {"path": second}]}
    hooks.run("prestart", typed(raw)["prestart"], {"id": "c1", "status": "created", "pid": 42})
    assert out.read_text() == "first hook-name arg1 hello none\nsecond\n"
    assert json.loads((tmp_path / "seen.state").read_text())["pid"] == 42


def test_the_first_failure_stops_the_rest_with_what_the_hook_said(tmp_path):
    marker = tmp_path / "ran"
    bad = script(tmp_path, "bad", "echo 'no network for you' >&2; exit 3\n")
    after = script(tmp_path, "after", f"touch {marker}\n")
    raw = {"poststart": [{"path": bad}, {"path": after}]}
    with pytest.raises(SetupError, match=f"^poststart hook {bad}: exit status 3: "
                                         "no network for you$"):
        hooks.run("poststart", typed(raw)["poststart"], {})
    assert not marker.exists()


def test_a_hook_past_its_timeout_is_stopped(tmp_path):
    slow = script(tmp_path, "slow", "exec sleep 30\n")
    raw = {"prestart": [{"path": slow, "timeout": 1}]}
    with pytest.raises(SetupError, match="timed out after 1s"):
        hooks.run("prestart", typed(raw)["prestart"], {})


def test_a_hook_that_cannot_run_says_why(tmp_path):
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)  # no execute bit for anyone: root cannot run it either
    raw = {"prestart": [{"path": str(plain)}]}
    with pytest.raises(SetupError, match="Permission denied"):
        hooks.run("prestart", typed(raw)["prestart"], {})
    raw = {"prestart": [{"path": str(tmp_path / "missing")}]}
    with pytest.raises(SetupError, match="No such file or directory"):
        hooks.run("prestart", typed(raw)["prestart"], {})
