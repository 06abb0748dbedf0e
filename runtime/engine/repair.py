"""repair: what killed or crashed commands left, put right first thing in every command
(the CLI's and the API's alike): containers whose monitor died, unfinished records, old
trash, a dead build's runtime state, the network's leftovers."""

from __future__ import annotations

import os
import time

from runtime import jsonfast as json
from runtime.engine.containers import (MAKING, PENDING, TRASH, Container, after_last,
                                       all_containers, delete_tree, release_name,
                                       remove_files, root_dir, teardown)
from runtime.image.store import Store


def refresh(store: Store) -> None:
    """Repair what killed or crashed commands left, first thing in every command: a container
    whose monitor (or creator) is dead is exited, or removed with --rm, and its networking,
    mounts and runtime state are removed; unfinished records, build steps whose build is
    gone, stale leases and netns files, old trash. A concurrent command may be removing a
    record meanwhile: that one is skipped, never a reason to fail this command."""
    for c in all_containers(store):
        try:
            repair_container(c)
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed by another command meanwhile
        except OSError:
            continue  # cannot be recorded now (a full disk): the next command tries again
    _sweep_unfinished(store)
    _sweep_trash(store)
    from runtime.engine import oci
    oci.reap_build_steps()
    from runtime.net import network
    network.repair()


def repair_container(c: Container) -> None:
    status = c.state.status
    started_setup = status == "created" and c.state.monitor_pid
    if (status == "running" or started_setup) and not c.monitor_alive():
        teardown(c)
        c.mark_exited(c.state.exit_code or 137, error="monitor died")
        if c.host.auto_remove:
            remove_files(c)
        after_last()


def _sweep_unfinished(store: Store) -> None:
    """Records whose create was killed before they were renamed into place: a pending
    directory names its creator; an unfinished one holds its creator's identity (written
    before it got that name), so neither needs a grace period."""
    from runtime.oci.state import process_alive
    for name, path in _entries(store, PENDING):
        try:
            pid, start, _ = name[len(PENDING):].split("-", 2)
            if process_alive(int(pid), int(start)):
                continue
        except ValueError:
            pass  # not of pyrun's making: it goes too
        delete_tree(path)
    for name, path in _entries(store, MAKING):
        try:
            with open(os.path.join(path, "creator")) as f:
                pid, start = (int(w) for w in f.read().split())
            if process_alive(pid, start):
                continue
        except FileNotFoundError:
            if not os.path.isdir(path):
                continue  # renamed into place meanwhile
        except (OSError, ValueError):
            pass  # unreadable: no live creator can be told from it
        release_name(store, _unfinished_name(path), name[len(MAKING):])
        delete_tree(path)


def _entries(store: Store, prefix: str) -> list[tuple[str, str]]:
    """(name, path) of the containers directory's entries whose name starts with prefix."""
    root = root_dir(store)
    try:
        return [(n, os.path.join(root, n)) for n in os.listdir(root) if n.startswith(prefix)]
    except FileNotFoundError:
        return []


def _unfinished_name(path: str) -> str:
    try:
        with open(os.path.join(path, "container.json")) as f:
            return json.loads(f.read()).get("Name") or ""
    except (OSError, ValueError):
        return ""


def _sweep_trash(store: Store) -> None:
    """Delete removed containers' files that a background deletion left (it died, or the
    machine went down): trash older than a minute."""
    for _, path in _entries(store, TRASH):
        try:
            if time.time() - os.stat(path).st_ctime > 60:  # rename sets ctime
                delete_tree(path)
        except FileNotFoundError:
            pass
