"""What a container start may import, held by a test instead of comments: `pyrun run --rm`
and `pyrun-oci run` started as the launcher starts them (native/pyrun_launch.c), in a fresh
interpreter, with -X importtime. Each module named here costs milliseconds of every start
(BENCHMARKS.md, runtime-start and engine); the start path was cut free of them."""

from __future__ import annotations

import os
import subprocess

from tests.integration.conftest import imported, launched
from tests.integration.test_build import busybox, pyrun  # noqa: F401 - fixtures
from tests.integration.test_engine import engine  # noqa: F401 - fixture

# click (~20-30 ms: the fast path parses run's plain spellings), json/re/enum (jsonfast over
# _json), dataclasses (record), signal (_signal), socket (_socket), shutil/tempfile,
# subprocess (fork+exec by hand), typing, argparse, logging, hashlib (_sha256).
HEAVY = {"click", "json", "re", "enum", "dataclasses", "signal", "socket", "shutil",
         "tempfile", "subprocess", "typing", "argparse", "logging", "hashlib", "threading",
         "runtime._seccomp"}


def test_pyrun_run_imports_none_of_the_heavy_modules(engine, busybox):  # noqa: F811
    env = dict(os.environ, PYRUN_ROOT=engine.root)
    p = subprocess.run(launched("runtime.cli.fast", "run", "--rm", "--network", "none",
                                "busybox", "echo", "started"),
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout == "started\n", p.stderr[-2000:]
    modules = imported(p.stderr)
    assert "runtime.oci.create" in modules  # it did start a container
    assert modules & HEAVY == set()


def test_pyrun_oci_run_imports_none_of_the_heavy_modules(oci, bundle, cid):
    bundle.write(args=["true"])
    oci.names.add(cid)
    p = subprocess.run(launched("runtime.oci.cli", "--root", oci.root, "run", "--bundle",
                                str(bundle.path), cid), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    modules = imported(p.stderr)
    assert "runtime.oci.init" in modules
    assert modules & HEAVY == set()


def test_pyrun_ls_imports_none_of_the_heavy_modules(engine, busybox):  # noqa: F811
    env = dict(os.environ, PYRUN_ROOT=engine.root)
    engine("create", "--name", "listed", "--network", "none", "busybox", "true")
    p = subprocess.run(launched("runtime.cli.fast", "ls", "-a"), capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0 and "listed" in p.stdout, p.stderr[-2000:]
    modules = imported(p.stderr)
    assert "runtime.engine.inspect" in modules  # it did list them
    assert modules & HEAVY == set()
