"""Healthchecks that run: --health-* flags and the image's HEALTHCHECK, State.Health in
inspect, (healthy)/(unhealthy) in ls, --filter health=."""

from __future__ import annotations

import json
import time

from tests.integration.test_build import busybox, context, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import engine  # noqa: F401 - fixture


def health(engine, name: str) -> dict:  # noqa: F811
    (c,) = json.loads(engine("inspect", name).stdout)
    return c["State"]["Health"]


def wait_health(engine, name: str, status: str, timeout: float = 15) -> dict:  # noqa: F811
    deadline = time.monotonic() + timeout
    while True:
        h = health(engine, name)
        if h["Status"] == status:
            return h
        assert time.monotonic() < deadline, h
        time.sleep(0.1)


def test_a_healthcheck_goes_healthy_then_unhealthy(engine):  # noqa: F811
    engine("run", "-d", "--network", "none", "--name", "pyrun-hc", "--health-cmd",
           "cat /tmp/ok", "--health-interval", "200ms", "--health-retries", "2",
           "--health-timeout", "2s", "busybox", "sleep", "120")
    assert health(engine, "pyrun-hc")["Status"] == "starting"
    assert "(health: starting)" in engine("ls").stdout
    engine("exec", "pyrun-hc", "sh", "-c", "echo fine > /tmp/ok")
    h = wait_health(engine, "pyrun-hc", "healthy")
    assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0
    assert h["Log"][-1]["Output"] == "fine\n"
    assert "(healthy)" in engine("ls").stdout
    assert engine("ls", "-q", "--filter", "health=healthy").stdout.strip()
    engine("exec", "pyrun-hc", "rm", "/tmp/ok")
    h = wait_health(engine, "pyrun-hc", "unhealthy")
    assert h["FailingStreak"] >= 2 and h["Log"][-1]["ExitCode"] != 0
    assert "(unhealthy)" in engine("ls").stdout
    assert engine("ls", "-q", "--filter", "health=healthy").stdout == ""
    events = engine("events", "--since", "5m", "--until", "0s", "--filter",
                    "container=pyrun-hc", "--format", "{{.Action}}").stdout.split("\n")
    assert "health_status: healthy" in events and "health_status: unhealthy" in events


def test_the_images_healthcheck_and_no_healthcheck(engine, tmp_path):  # noqa: F811
    ctx = context(tmp_path, "FROM busybox\nHEALTHCHECK --interval=200ms CMD true\n")
    engine("build", "-t", "pyrun-hc-image:1", ctx)
    engine("run", "-d", "--network", "none", "--name", "pyrun-hc-img", "pyrun-hc-image:1",
           "sleep", "60")
    wait_health(engine, "pyrun-hc-img", "healthy")
    engine("run", "-d", "--network", "none", "--name", "pyrun-hc-off", "--no-healthcheck",
           "pyrun-hc-image:1", "sleep", "60")
    (c,) = json.loads(engine("inspect", "pyrun-hc-off").stdout)
    assert "Health" not in c["State"]
    p = engine("run", "--rm", "--network", "none", "--health-interval", "soon", "busybox",
               "true", check=False)
    assert p.returncode == 125 and "a duration" in p.stderr
