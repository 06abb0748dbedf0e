"""`pyrun build` parsed without click must mean what click would make of the same words."""

from __future__ import annotations

import pytest

from runtime.cli import build as fast_build

SAME = [
    ["."],
    ["-t", "custom-nginx:packaged", "."],
    ["--tag", "a:1", "-t", "b:2", "--tag=c:3", "ctx"],
    ["-f", "other/Dockerfile", "--build-arg", "A=1", "--build-arg=B=x=y", "--build-arg", "C",
     "."],
    ["--target", "final", "--no-cache", "--pull", "-q", "--network", "none", "."],
    [".", "-t", "after:context"],  # options after CONTEXT, as click allows
    ["--file=Dockerfile.dev", "-"],
]
TO_CLICK = [
    ["--help"], ["-h"], [], [".", "extra"], ["-t"], ["-qt", "x", "."], ["-tname", "."],
    ["--no-cache=1", "."], ["--", "."], ["--tags", "x", "."], ["--network"],
]


@pytest.mark.parametrize("args", SAME)
def test_plain_spellings_parse_as_click_parses_them(args):
    from runtime.cli.image import build_cmd
    mine = fast_build.parse(args)
    ctx = build_cmd.make_context("build", list(args))
    theirs = {k: list(v) if isinstance(v, tuple) else v for k, v in ctx.params.items()}
    assert mine == theirs


@pytest.mark.parametrize("args", TO_CLICK)
def test_everything_else_is_left_to_click(args):
    assert fast_build.parse(args) is None


def test_errors_are_reported_as_main_reports_them(capsys):
    from runtime.cli.fast import main
    code = main(["build", "-t", "x:1", "/nonexistent-pyrun-context"])
    assert code == 125
    assert capsys.readouterr().err == \
        "pyrun: unable to prepare context: path '/nonexistent-pyrun-context' not found\n"
