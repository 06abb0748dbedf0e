"""A container's output as the json-file log driver keeps it (container.log and its rotated
container.log.N, one JSON object a line: log, stream, time), read for `logs` and `attach`.

    entries(c, follow=False, tail=None, since_ns=0, from_end=False) -> iterator of dicts

Following survives rotation (the pump starts a new file: reading goes on from the new one)
and ends once the container no longer runs and its last lines are read.
"""

from __future__ import annotations

import os
import time

from runtime import jsonfast as json


def _parse(line: str):
    try:
        rec = json.loads(line)
    except ValueError:
        return None  # a line cut by a crash or a full disk
    return rec if isinstance(rec, dict) else None


def _time_ns(rec: dict) -> int:
    from runtime.units import parse_time_ns
    return parse_time_ns(rec.get("time", "")) or 0


def entries(c, follow: bool = False, tail: int | None = None, since_ns: int = 0,
            from_end: bool = False, poll: float = 0.1, opened=None, stop=None):
    """The log's records, oldest first: the last `tail` of them (all when None), those at or
    after since_ns, or (from_end) none of the past; then, with follow, the new ones as they
    come until the container ends (looked for every `poll` seconds at most: sooner while
    the container is young or talkative). opened(), if given, is called once the past is
    read (or skipped): attach gives its input from then on, so that none of the output that
    input makes is missed. stop, an Event, ends the following early (an attach detached)."""
    from runtime.timestamps import pauses
    sleeps = pauses(most=poll)
    from runtime.engine.containers import log_limits
    path = c.path("container.log")
    lines: list[str] = []
    if not from_end:
        _, files = log_limits(c.host.log_config)
        for old in range(files - 1, 0, -1):  # rotated files first, the oldest first
            try:
                with open(f"{path}.{old}") as f:
                    lines += f.readlines()
            except FileNotFoundError:
                pass
    while True:
        try:
            f = open(path)
            break
        except FileNotFoundError:
            pass
        if not follow:
            return
        # A container just started may not have its log yet: wait while it runs
        try:
            c.reload()
        except FileNotFoundError:
            return
        starting = c.state.status == "created" and c.monitor_alive()
        if not (c.running or starting):
            try:
                f = open(path)
                break
            except FileNotFoundError:
                return
        time.sleep(next(sleeps))
    try:
        if from_end:
            f.seek(0, os.SEEK_END)
        else:
            lines += f.readlines()
        if opened is not None:
            opened()
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        for line in lines:
            rec = _parse(line)
            if rec is not None and (not since_ns or _time_ns(rec) >= since_ns):
                yield rec
        partial = ""
        while follow and not (stop is not None and stop.is_set()):
            line = partial + f.readline()
            if line.endswith("\n"):
                partial = ""
                rec = _parse(line)
                if rec is not None:
                    yield rec
                sleeps = pauses(most=poll)  # output flows: look again soon
                continue
            partial = line  # a line being written: the rest comes with the next read
            try:
                rotated = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                rotated = False
            if rotated:  # the pump started a new file: on with that one
                f.close()
                f = open(path)
                partial = ""
                continue
            try:
                c.reload()
                ended = not c.running
            except FileNotFoundError:
                ended = True  # removed as it ended (--rm)
            if ended:
                for line in f.readlines():
                    rec = _parse(partial + line)
                    partial = ""
                    if rec is not None:
                        yield rec
                break
            time.sleep(next(sleeps))
    finally:
        f.close()
