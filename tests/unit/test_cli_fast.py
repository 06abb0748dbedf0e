"""`pyrun build`, `pyrun run` and `pyrun ls` parsed without click must mean what click
would make of the same words; whatever they do not parse goes to click."""

from __future__ import annotations

import importlib

import pytest

BUILD_SAME = [
    ["."],
    ["-t", "custom-nginx:packaged", "."],
    ["--tag", "a:1", "-t", "b:2", "--tag=c:3", "ctx"],
    ["-f", "other/Dockerfile", "--build-arg", "A=1", "--build-arg=B=x=y", "--build-arg", "C",
     "."],
    ["--target", "final", "--no-cache", "--pull", "-q", "--network", "none", "."],
    [".", "-t", "after:context"],  # options after CONTEXT, as click allows
    ["--file=Dockerfile.dev", "-"],
]
BUILD_TO_CLICK = [
    ["--help"], ["-h"], [], [".", "extra"], ["-t"], ["-qt", "x", "."], ["-tname", "."],
    ["--no-cache=1", "."], ["--", "."], ["--tags", "x", "."], ["--network"],
]


def test_errors_are_reported_as_main_reports_them(capsys):
    from runtime.cli.fast import main
    code = main(["build", "-t", "x:1", "/nonexistent-pyrun-context"])
    assert code == 1  # docker build's
    assert capsys.readouterr().err == \
        "pyrun: unable to prepare context: path '/nonexistent-pyrun-context' not found\n"


@pytest.mark.parametrize("argv, runs", [
    (["run", "busybox"], True), (["container", "run", "x"], True),
    (["--root", "/r", "run", "x"], True), (["--root=/r", "container", "run", "x"], True),
    (["create", "x"], False), (["rm", "run"], False), (["container", "rm", "run"], False),
    ([], False), (["--root", "run"], False),
])
def test_only_run_is_125s(argv, runs):
    """The docker CLI's codes, read off docker 28 here: `run` fails with 125, every other
    command (create, start, rm, exec, network rm, ...) with 1."""
    from runtime.cli.report import report
    from runtime.errors import CommandNotFound, PyrunError, StatusError
    assert report(PyrunError("x"), argv) == (125 if runs else 1)
    assert report(OSError(28, "No space left on device"), argv) == (125 if runs else 1)
    assert report(CommandNotFound("x"), argv) == (127 if runs else 1)  # start's too: 1
    failed_step = StatusError("RUN exit 7")
    failed_step.exit_code = 7
    assert report(failed_step, argv) == 7  # docker build's: the step's code


# ---- run / create --------------------------------------------------------------------------------

RUN_SAME = [
    ["busybox"],
    ["--rm", "busybox", "true"],
    ["--rm", "--network", "none", "busybox", "true"],
    ["-d", "--name", "web", "--publish", "8080:80", "custom-nginx:packaged"],
    ["-it", "busybox", "sh"],
    ["-dit", "-p", "80", "--publish=90:90", "-e", "A=1", "--env=B", "busybox", "sh", "-c", "x"],
    ["-m", "64m", "--cpus", "0.5", "--pids-limit", "20", "--stop-timeout=3", "busybox"],
    ["--pull", "never", "--restart", "on-failure:2", "--init", "busybox"],
    ["-v", "/a:/b:ro", "--cap-add", "NET_ADMIN", "--cap-drop=ALL", "--privileged", "busybox"],
    ["busybox", "ls", "-l", "--rm", "-d"],  # after IMAGE, everything is the command's
]
RUN_TO_CLICK = [
    [], ["--help"], ["-d"], ["--pids-limit", "many", "busybox"], ["--cpus", "x", "busybox"],
    ["--pull", "sometimes", "busybox"], ["--env-file", "/nonexistent/pyrun", "busybox"],
    ["-p8080:80", "busybox"], ["-p=80", "busybox"], ["-dp", "80", "busybox"], ["--rm=1", "busybox"],
    ["--", "busybox"], ["--no-such-flag", "busybox"], ["--name"],
]

PS_SAME = [[], ["-a"], ["-aq"], ["--all", "--quiet", "--no-trunc"], ["-f", "status=exited",
           "--filter=name=web"], ["--format", "json", "-a"], ["--format=table"],
           ["--format", "{{.Names}} {{.Status}}"]]
PS_TO_CLICK = [["--help"], ["-af", "x"], ["--format"], ["extra"], ["-f"],
               ["--all=1"], ["-n", "3"]]


def _click_command(module: str):
    if module == "build":
        from runtime.cli.image import build_cmd
        return build_cmd
    if module == "ps":
        from runtime.cli.container import ls_cmd
        return ls_cmd
    from runtime.cli.container import run_cmd
    return run_cmd


@pytest.mark.parametrize("module,args", [("build", a) for a in BUILD_SAME] +
                         [("run", a) for a in RUN_SAME] + [("ps", a) for a in PS_SAME])
def test_plain_spellings_parse_as_click_parses_them(module, args):
    mine = importlib.import_module(f"runtime.cli.{module}").parse(args)
    ctx = _click_command(module).make_context(module, list(args))
    theirs = {k: list(v) if isinstance(v, tuple) else v for k, v in ctx.params.items()}
    assert mine == theirs


@pytest.mark.parametrize("module,args", [("build", a) for a in BUILD_TO_CLICK] +
                         [("run", a) for a in RUN_TO_CLICK] +
                         [("ps", a) for a in PS_TO_CLICK])
def test_everything_else_is_left_to_click(module, args):
    assert importlib.import_module(f"runtime.cli.{module}").parse(args) is None


def test_run_errors_are_reported_as_main_reports_them(capsys, tmp_path, monkeypatch):
    from runtime.cli.fast import main
    monkeypatch.setenv("PYRUN_ROOT", str(tmp_path))
    code = main(["run", "--rm", "--pull", "never", "no-such-image-pyrun"])
    assert code == 125
    assert capsys.readouterr().err.startswith(
        "pyrun: Unable to find image 'no-such-image-pyrun' locally (--pull never)")
