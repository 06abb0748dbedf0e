"""`pyrun ls` (cli/ps.py) over records in a temporary store: Docker's columns, running ones
by default, -a, -q, --no-trunc, filters and templates."""

from __future__ import annotations

import os

from runtime.cli import ps
from runtime.engine import containers as cmod
from runtime.engine import model
from tests.unit.fakes import running_container


def two(tmp_path):
    """A running container (this test is its monitor) and one that has exited."""
    up = running_container(tmp_path, "a", labels={"tier": "web"})
    up.created = "2026-12-01T10:00:00.000000000Z"
    up.save()
    gone = cmod.Container(up.store, id="b" * 64, name="done", created="2026-12-01T09:00:00Z",
                          image=up.image, image_ref="busybox", path="sh",
                          args=["-c", "echo a long command line indeed"],
                          config=model.Config(), host=model.HostConfig(),
                          net=model.NetworkSettings(), state=model.State())
    os.makedirs(gone.dir)
    gone.save()
    gone.mark_exited(3)
    return up, gone


def ls(capsys, store, **kw) -> list[str]:
    assert ps.ls(root=store.root, **kw) == 0
    return capsys.readouterr().out.splitlines()


def test_running_ones_by_default_all_with_a(tmp_path, capsys):
    up, gone = two(tmp_path)
    out = ls(capsys, up.store)
    assert out[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                              "PORTS", "NAMES"]
    assert len(out) == 2 and out[1].startswith("a" * 12) and out[1].endswith("web")
    assert '"sleep 30"' in out[1] and "Up " in out[1]
    out = ls(capsys, up.store, show_all=True)
    assert [line[:12] for line in out[1:]] == ["a" * 12, "b" * 12]  # newest first
    assert "Exited (3)" in out[2] and '"sh -c echo a long c…"' in out[2]  # 20, as Docker


def test_quiet_no_trunc_filters_and_templates(tmp_path, capsys):
    up, gone = two(tmp_path)
    assert ls(capsys, up.store, show_all=True, quiet=True) == ["a" * 12, "b" * 12]
    assert ls(capsys, up.store, show_all=True, quiet=True, no_trunc=True) == \
        ["a" * 64, "b" * 64]
    # a status filter shows the stopped without -a, as docker ps -f status=exited
    assert ls(capsys, up.store, filters=("status=exited",), quiet=True) == ["b" * 12]
    assert ls(capsys, up.store, filters=("label=tier=web",), show_all=True,
              fmt="{{.Names}} {{.State}} {{.Labels}}") == ["web running tier=web"]
    cmd = ls(capsys, up.store, show_all=True, no_trunc=True, fmt="{{.Command}}")
    assert cmd[1] == '"sh -c echo a long command line indeed"'


def test_the_fast_path_reads_what_click_would(tmp_path):
    assert ps.parse(["-a", "-q", "--filter", "name=web", "--format", "{{.ID}}"]) == {
        "show_all": True, "quiet": True, "no_trunc": False, "filters": ["name=web"],
        "fmt": "{{.ID}}"}
    assert ps.parse(["--bogus"]) is None  # click says what is wrong
