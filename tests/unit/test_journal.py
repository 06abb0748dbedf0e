"""engine/journal.py and `pyrun events`' argument parsing: no root, a temporary store."""

from __future__ import annotations

import pytest

from runtime.cli.system import parse_filters, parse_when
from runtime.engine import journal, model
from runtime.errors import PyrunError


class Store:
    def __init__(self, root):
        self.root = str(root)


class C:
    def __init__(self, store, name, labels=None):
        self.store, self.name, self.id = store, name, (name * 64)[:64]
        self.image_ref, self.image = "busybox", "sha256:" + "0" * 64
        self.config = model.Config(labels=labels or {})


def test_record_read_filter_and_rotate(tmp_path, monkeypatch):
    store = Store(tmp_path)
    web, db = C(store, "web", {"tier": "front"}), C(store, "db")
    for c, action in ((web, "create"), (db, "create"), (web, "start"), (web, "die")):
        journal.record(c, action, **({"exitCode": 0} if action == "die" else {}))
    events = journal.read(store)
    assert [(e["Actor"]["Attributes"]["name"], e["Action"]) for e in events] == [
        ("web", "create"), ("db", "create"), ("web", "start"), ("web", "die")]
    assert events[3]["Actor"]["Attributes"]["exitCode"] == "0"
    assert events[0]["Actor"]["Attributes"]["tier"] == "front"
    pick = journal.read(store, filters={"container": ["web"], "event": ["start", "die"]})
    assert [e["Action"] for e in pick] == ["start", "die"]
    assert journal.read(store, filters={"label": ["tier=front"], "event": ["create"]})[0][
        "id"] == web.id
    assert journal.read(store, since_ns=events[2]["timeNano"])[0]["Action"] == "start"
    monkeypatch.setattr(journal, "MAX_BYTES", 10)  # the next record rotates
    journal.record(db, "destroy")
    assert [e["Action"] for e in journal.read(store)][-2:] == ["die", "destroy"]
    assert (tmp_path / "events.log.1").exists()


@pytest.mark.parametrize("text,want", [("1700000000", 1700000000 * 10**9),
                                       ("10m", (2000 - 600) * 10**9), ("0s", 2000 * 10**9),
                                       ("1h30m", (2000 - 5400) * 10**9)])
def test_when(text, want):
    assert parse_when(text, now=2000) == want


def test_bad_when_and_filters_say_so():
    with pytest.raises(PyrunError, match="invalid time"):
        parse_when("yesterday")
    with pytest.raises(PyrunError, match="invalid filter"):
        parse_filters(["colour=red"])
    assert parse_filters(["event=die", "event=stop"]) == {"event": ["die", "stop"]}


@pytest.mark.parametrize("text,ns", [("30s", 30 * 10**9), ("1m30s", 90 * 10**9),
                                     ("500ms", 5 * 10**8), ("1.5s", 15 * 10**8)])
def test_go_durations(text, ns):
    from runtime.units import parse_duration
    assert parse_duration(text) == ns


@pytest.mark.parametrize("bad", ["", "30", "s", "1x", "soon"])
def test_bad_durations(bad):
    from runtime.units import parse_duration
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_default_log_limits_are_the_default_opts_parsed():
    from runtime.engine import containers as cmod
    from runtime.units import parse_size
    assert cmod.DEFAULT_LOG_LIMITS == (parse_size(cmod.DEFAULT_LOG_OPTS["max-size"]),
                                       int(cmod.DEFAULT_LOG_OPTS["max-file"]))
