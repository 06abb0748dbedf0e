"""repair (runtime/engine/repair.py): what a killed create leaves is swept by the very next
command, with no grace period, while a live creator's directory is left alone."""

from __future__ import annotations

import os

import pytest

from runtime.engine import containers as cmod
from runtime.engine import repair
from runtime.image.store import Store
from runtime.oci.state import own_identity


@pytest.fixture
def store(tmp_path, monkeypatch):
    from runtime.net import networks
    monkeypatch.setattr(networks, "DEFS", str(tmp_path / "networks"))
    s = Store(str(tmp_path))
    os.makedirs(cmod.root_dir(s))
    return s


def identities():
    """This process's identity, and one of a dead process (its pid, another start time:
    as a pid reused after its creator died)."""
    pid, start = own_identity()
    return (pid, start), (pid, start + 1)


def test_a_pending_directory_of_a_dead_creator_goes_at_once(store):
    """create() makes its directory under a name that says who made it, so a creator
    killed before it wrote anything is known dead (it once waited ten seconds)."""
    (pid, start), (dpid, dstart) = identities()
    root = cmod.root_dir(store)
    mine = os.path.join(root, f"{cmod.PENDING}{pid}-{start}-{'a' * 64}")
    dead = os.path.join(root, f"{cmod.PENDING}{dpid}-{dstart}-{'b' * 64}")
    odd = os.path.join(root, cmod.PENDING + "no-identity")
    for d in (mine, dead, odd):
        os.mkdir(d)
    repair.refresh(store)
    assert sorted(os.listdir(root)) == [os.path.basename(mine)]


@pytest.mark.parametrize("creator, kept", [
    ("live", True),
    ("dead", False),
    ("", False),  # empty: a creator file is complete before the directory gets this name
    (None, False),
])
def test_an_unfinished_record_goes_with_its_creator_and_frees_its_name(store, creator, kept):
    (pid, start), (dpid, dstart) = identities()
    cid = "c" * 64
    making = os.path.join(cmod.root_dir(store), cmod.MAKING + cid)
    os.mkdir(making)
    assert cmod.reserve_name(store, "web", cid) is None
    with open(os.path.join(making, "container.json"), "w") as f:
        f.write('{"Name": "web"}')
    if creator is not None:
        text = {"live": f"{pid} {start}", "dead": f"{dpid} {dstart}"}.get(creator, creator)
        with open(os.path.join(making, "creator"), "w") as f:
            f.write(text)
    repair.refresh(store)
    assert os.path.isdir(making) == kept
    assert (cmod.reserve_name(store, "web", "d" * 64) == cid) == kept
