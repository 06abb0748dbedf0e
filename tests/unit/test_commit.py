"""engine/commit.py's change list (`docker diff`): an upper directory read against the
image's layers, over plain directories (the integration tests commit real containers)."""

from __future__ import annotations

import os
from types import SimpleNamespace

from runtime.engine.commit import changes


def container(tmp_path, layers: list[dict], upper: dict):
    def make(root, files):
        for rel, text in files.items():
            p = root / rel
            if text is None:
                p.mkdir(parents=True, exist_ok=True)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text)
    dirs = []
    for i, files in enumerate(layers):
        make(tmp_path / f"layer{i}", files)
        dirs.append(str(tmp_path / f"layer{i}"))
    make(tmp_path / "upper", upper)
    image = SimpleNamespace(layer_dirs=dirs)  # bottom first, as the store lists them
    store = SimpleNamespace(image=lambda image_id: image)
    return SimpleNamespace(store=store, image="sha256:x",
                           path=lambda name: str(tmp_path / name))


def test_added_and_changed_paths_in_dockers_order(tmp_path):
    c = container(tmp_path,
                  layers=[{"etc/hostname": "a", "usr/bin/sh": "sh"}, {"etc/motd": "hi"}],
                  upper={"etc/motd": "changed", "etc/new.conf": "x", "srv/www/index.html": "y",
                         "usr/bin": None})
    assert changes(c) == [("C", "/etc"), ("C", "/etc/motd"), ("A", "/etc/new.conf"),
                          ("A", "/srv"), ("A", "/srv/www"), ("A", "/srv/www/index.html"),
                          ("C", "/usr"), ("C", "/usr/bin")]


def test_a_symlink_is_listed_not_followed(tmp_path):
    c = container(tmp_path, layers=[{"etc/x": "1"}], upper={"etc": None})
    os.symlink("/nonexistent", tmp_path / "upper" / "etc" / "link")
    assert changes(c) == [("C", "/etc"), ("A", "/etc/link")]

