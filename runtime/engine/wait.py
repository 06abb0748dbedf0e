"""wait: until a container has exited for good (its restart policy done with it)."""

from __future__ import annotations

import time


def wait(c, after: str = "") -> int:
    """The container's exit code once it has ended and will not be restarted. A record gone
    meanwhile (--rm) is answered from the journal's last "die" of the container. after: a
    FinishedAt the end must differ from (the end of the start to come for a container that
    has already ended: Docker's next-exit, which `docker start -a` waits for)."""
    from runtime.timestamps import pauses
    sleeps = pauses()
    while True:
        try:
            c.reload()
        except FileNotFoundError:
            return last_exit_code(c)
        if not c.running and c.state.status != "created" and \
                not (after and c.state.finished_at == after):
            policy = c.host.restart_name()
            if policy == "no" or c.state.stopped_by_user or not c.monitor_alive():
                return c.state.exit_code
        time.sleep(next(sleeps))


def last_exit_code(c) -> int:
    from runtime.engine import journal
    dies = journal.read(c.store, 0, None, {"container": [c.id], "event": ["die"]})
    if not dies:
        return 0
    try:
        return int(dies[-1]["Actor"]["Attributes"].get("exitCode", 0))
    except ValueError:
        return 0
