"""engine/images.py (rmi: which request untags and which deletes, as Docker's) and
engine/system.py's image prune, over a temporary store holding configs without layers."""

from __future__ import annotations

import pytest

from runtime.engine import containers as cmod
from runtime.engine import model
from runtime.engine.images import ImageConflict, remove
from runtime.engine.system import prune_images
from runtime.image.store import Store


def image(store, n: int, parent=None):
    config = {"architecture": "amd64", "os": "linux", "created": f"2026-12-0{n}T00:00:00Z",
              "config": {"Cmd": [f"step{n}"]}, "rootfs": {"type": "layers", "diff_ids": []}}
    return store.put_image(config, parent=parent.id if parent else None)


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path)).ensure()


def test_a_name_of_several_is_untagged_the_last_deletes(store):
    img = image(store, 1)
    store.tag(img.id, "web:1")
    store.tag(img.id, "registry.example/team/web:1")
    assert remove(store, "web:1") == [{"Untagged": "web:1"}]
    assert store.image(img.id).tags == ["registry.example/team/web:1"]
    assert remove(store, "registry.example/team/web:1") == [
        {"Untagged": "registry.example/team/web:1"}, {"Deleted": img.id}]
    assert store.images() == []


def test_an_id_named_twice_needs_force(store):
    img = image(store, 1)
    store.tag(img.id, "a:1")
    store.tag(img.id, "b:1")
    with pytest.raises(ImageConflict, match="referenced in multiple repositories"):
        remove(store, img.short_id)
    assert sorted(store.image(img.id).tags) == ["docker.io/library/a:1",
                                               "docker.io/library/b:1"]  # nothing half done
    done = remove(store, img.short_id, force=True)
    assert {"Deleted": img.id} in done and len(done) == 3


def test_prune_takes_dangling_images_and_with_all_every_unused_one(store, tmp_path):
    base = image(store, 1)
    step = image(store, 2, parent=base)     # a build step of the named image below
    named = image(store, 3, parent=step)
    store.tag(named.id, "app:1")
    dangling = image(store, 4)
    used = image(store, 5)                  # no name, but a container was made from it
    c = cmod.Container(store, id="c" * 64, name="x", created="", image=used.id,
                       image_ref=used.id, path="true", args=[], config=model.Config(),
                       host=model.HostConfig(), net=model.NetworkSettings(),
                       state=model.State())
    import os
    os.makedirs(c.dir)
    c.save()
    assert prune_images(store) == [dangling.id]
    assert {i.id for i in store.images()} == {base.id, step.id, named.id, used.id}
    removed = prune_images(store, everything=True)
    assert set(removed) == {named.id, step.id, base.id}  # the chain goes with its name
    assert [i.id for i in store.images()] == [used.id]
