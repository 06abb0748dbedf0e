"""Healthchecks: the image's HEALTHCHECK or run's --health-* flags, run in the container
every interval by a small process the container's monitor starts beside it (only for a
container that has one), until the container stops.

The result lives in the container's health.json (Docker's State.Health: Status starting,
healthy or unhealthy, FailingStreak, the last five results), apart from the record, which
other processes rewrite: no update is ever lost between them. A change of status is a
"health_status: ..." event.
"""

from __future__ import annotations

import os
import sys
import time

from runtime import jsonfast as json


# Docker's defaults (nanoseconds, as the image config spells them)
DEFAULTS = {"Interval": 30_000_000_000, "Timeout": 30_000_000_000, "Retries": 3,
            "StartPeriod": 0}
FILE = "health.json"
KEEP = 5          # results kept in the log
OUTPUT = 4096     # bytes of a check's output kept


def settings(healthcheck: dict | None) -> dict | None:
    """A record's healthcheck (Docker's HealthConfig) with Docker's defaults filled in, or
    None (none, or NONE)."""
    hc = healthcheck or {}
    test = hc.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    out = dict(DEFAULTS)
    out.update({k: v for k, v in hc.items() if v})
    return out


def argv(test: list[str]) -> list[str]:
    return ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else list(test[1:])


def read(container_dir: str) -> dict | None:
    try:
        with open(os.path.join(container_dir, FILE)) as f:
            return json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None


def _write(container_dir: str, health: dict) -> None:
    tmp = os.path.join(container_dir, f"{FILE}.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(json.dumps(health))
    os.rename(tmp, os.path.join(container_dir, FILE))


def check(container_id: str, hc: dict) -> dict:
    """Run the check once in the container: Docker's result entry."""
    import subprocess

    from runtime.engine import oci
    from runtime.timestamps import rfc3339
    start = rfc3339()
    try:
        p = subprocess.run(oci.argv("exec", container_id, *argv(hc["Test"])),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=hc["Timeout"] / 1e9)
        code, output = p.returncode, (p.stdout + p.stderr)[-OUTPUT:].decode(errors="replace")
    except subprocess.TimeoutExpired:
        code = -1
        output = f"Health check exceeded timeout ({hc['Timeout'] / 1e9:g}s)"
    return {"Start": start, "End": rfc3339(), "ExitCode": code, "Output": output}


def watch(store, container_id: str) -> None:
    """Check every interval until the container stops; keep health.json current."""
    from runtime.engine import journal
    from runtime.engine import oci
    from runtime.engine.containers import load
    c = load(store, container_id)
    hc = settings(c.config.healthcheck)
    if hc is None:
        return
    health = {"Status": "starting", "FailingStreak": 0, "Log": []}
    _write(c.dir, health)
    began = time.monotonic()
    while True:
        time.sleep(hc["Interval"] / 1e9)
        st = oci.state(c)
        if st is None:
            return  # deleted
        status = st.status()
        if status == "stopped":
            return
        if status == "paused":
            continue
        result = check(container_id, hc)
        health["Log"] = (health["Log"] + [result])[-KEEP:]
        before = health["Status"]
        if result["ExitCode"] == 0:
            health["FailingStreak"] = 0
            health["Status"] = "healthy"
        elif time.monotonic() - began >= hc["StartPeriod"] / 1e9 or before != "starting":
            health["FailingStreak"] += 1  # failures in the start period do not count
            if health["FailingStreak"] >= hc["Retries"]:
                health["Status"] = "unhealthy"
        _write(c.dir, health)
        if health["Status"] != before:
            journal.record(c, f"health_status: {health['Status']}")


def start_watching(store, c) -> None:
    """Start the checker beside the container, if it has a healthcheck (a child of the
    monitor: the monitor's pump reaps it; it ends by itself when the container stops)."""
    if settings(c.config.healthcheck) is None:
        return
    import subprocess
    subprocess.Popen([sys.executable, "-m", "runtime.engine.health", store.root, c.id],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, close_fds=True)


def main(argv_: list[str]) -> None:
    from runtime.image.store import Store
    watch(Store(argv_[0]), argv_[1])


if __name__ == "__main__":
    main(sys.argv[1:])
