"""wait: until a container has exited for good (its restart policy done with it)."""

from __future__ import annotations

import time


def wait(c) -> int:
    """The container's exit code once it has ended and will not be restarted; 0 if its
    record went (--rm)."""
    while True:
        try:
            c.reload()
        except FileNotFoundError:
            return 0
        if not c.running and c.state.get("Status") != "created":
            policy = c.data["HostConfig"].get("RestartPolicy", {}).get("Name", "no")
            if policy == "no" or c.state.get("StoppedByUser") or not c.monitor_alive():
                return c.state.get("ExitCode", 0)
        time.sleep(0.1)
