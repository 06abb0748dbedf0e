"""pyrun events: the journal every lifecycle change appends to, read back and followed as
`docker events` shows it."""

from __future__ import annotations

import json
import os
import subprocess
import time

from tests.integration.test_build import PYRUN, busybox, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import engine  # noqa: F401 - fixture


def actions(out: str, name: str) -> list[str]:
    return [e["Action"] for e in map(json.loads, out.splitlines())
            if e["Actor"]["Attributes"]["name"] == name]


def test_events_of_a_run_stop_rm_in_order(engine):  # noqa: F811
    since = f"{time.time():.3f}"
    engine("run", "--rm", "--network", "none", "--name", "pyrun-ev-once", "busybox", "true")
    engine("run", "-d", "--network", "none", "--name", "pyrun-ev-web", "-l", "tier=web",
           "busybox", "sleep", "60")
    engine("stop", "-t", "1", "pyrun-ev-web")
    engine("rm", "pyrun-ev-web")
    out = engine("events", "--since", since, "--until", "0s", "--format", "{{json .}}").stdout
    assert actions(out, "pyrun-ev-once") == ["create", "start", "die", "destroy"]
    # sleep as PID 1 ignores SIGTERM: the stop's SIGKILL follows after its timeout
    assert actions(out, "pyrun-ev-web") == ["create", "start", "kill", "kill", "die", "stop",
                                            "destroy"]
    web = [e for e in map(json.loads, out.splitlines())
           if e["Actor"]["Attributes"]["name"] == "pyrun-ev-web"]
    assert web[2]["Actor"]["Attributes"]["signal"] == "15"
    assert web[4]["Actor"]["Attributes"]["exitCode"] == "137"
    assert web[0]["Actor"]["Attributes"]["tier"] == "web"  # labels, as Docker's
    assert [e["timeNano"] for e in web] == sorted(e["timeNano"] for e in web)
    filtered = engine("events", "--since", since, "--until", "0s", "--filter", "event=die",
                      "--filter", "label=tier=web", "--format", "{{.Action}} {{.id}}").stdout
    assert filtered.split() == ["die", web[0]["id"]]
    text = engine("events", "--since", since, "--until", "0s").stdout.splitlines()
    assert text[0].split()[1:3] == ["container", "create"] and "name=pyrun-ev-once" in text[0]


def test_events_follow_what_happens_now(engine, tmp_path):  # noqa: F811
    env = dict(os.environ, PYRUN_ROOT=engine.root)
    out = tmp_path / "events"
    with open(out, "w") as f:
        follower = subprocess.Popen([PYRUN, "events", "--format", "{{.Action}}"], stdout=f,
                                    env=env)
    try:
        time.sleep(0.5)  # it reads from "now": give it a moment to start
        engine("run", "--rm", "--network", "none", "--name", "pyrun-ev-live", "busybox", "true")
        deadline = time.monotonic() + 10
        while "destroy" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.read_text().split() == ["create", "start", "die", "destroy"]
    finally:
        follower.kill()
        follower.wait()
    p = engine("events", "--since", "yesterday", check=False)
    assert p.returncode == 1 and "invalid time" in p.stderr
