"""Integration fixtures: real containers from a busybox rootfs, each test on a private
runtime root, and a check that nothing the test made is left on the host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.conftest import PROJECT

PYRUN_OCI = [sys.executable, "-m", "runtime.oci.cli"]
BIN = os.path.join(os.path.dirname(sys.executable), "pyrun-oci")


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root (run scripts/test as root)")
        for item in items:
            if "integration" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def busybox_rootfs():
    """Built once per session, in a directory every uid can traverse: a container in a user
    namespace runs as an unprivileged host uid and must still reach its rootfs."""
    import pathlib
    import tempfile
    top = pathlib.Path(tempfile.mkdtemp(prefix="pyrun-test-busybox-"))
    top.chmod(0o755)
    d = top / "rootfs"
    subprocess.run([str(PROJECT / "scripts" / "make-busybox-rootfs"), str(d)], check=True)
    yield d
    shutil.rmtree(top, ignore_errors=True)


class Runtime:
    """pyrun-oci on a private --root; remembers what it made so cleanup can check it."""

    def __init__(self, root: str):
        self.root = root
        self.bin = BIN if os.path.exists(BIN) else None

        self.names: set[str] = set()

    def argv(self, *args) -> list[str]:
        head = [self.bin] if self.bin else list(PYRUN_OCI)
        return head + ["--root", self.root, *args]

    def __call__(self, *args, check=True, timeout=60, **kw) -> subprocess.CompletedProcess:
        """Run pyrun-oci; output is captured through files, not pipes: a created or detached
        container inherits the caller's stdio, and a pipe would stay open as long as it runs."""
        import tempfile
        if args and args[0] in ("create", "run") and args[-1] and not args[-1].startswith("-"):
            self.names.add(args[-1])
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)
        elif kw.get("stdin", 0) is None:
            kw.pop("stdin")
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            kw.setdefault("stdout", out)
            kw.setdefault("stderr", err)
            p = subprocess.run(self.argv(*args), timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout = out.read().decode(errors="replace") if kw["stdout"] is out else None
            p.stderr = err.read().decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError(f"pyrun-oci {' '.join(args)} exited {p.returncode}:\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid).stdout)

    def ids(self) -> list[str]:
        try:
            return sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []


def launched(module: str, *args: str) -> list[str]:
    """The command line native/pyrun_launch.c runs for `pyrun` (runtime.cli.fast) or
    `pyrun-oci` (runtime.oci.cli), with -X importtime: what a start imports, to stderr."""
    import sysconfig
    paths = list(dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib"),
                                str(PROJECT)]))
    return [sys.executable, "-X", "importtime", "-I", "-S", "-c",
            f"import sys; sys.path += {paths!r}; from {module} import launch; launch()", *args]


def imported(stderr: str) -> set[str]:
    """The modules -X importtime reported."""
    return {line.split("|")[2].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def leftover_cgroups(name: str) -> list[str]:
    out = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        for d in dirnames:
            if d == name:
                out.append(os.path.join(dirpath, d))
        if dirpath.count("/") > 5:
            dirnames[:] = []
    return out


def remove_cgroup_tree(name: str) -> None:
    """rmdir /sys/fs/cgroup/**/name and everything below it, deepest first (for parents that
    a peer such as podman makes and leaves)."""
    for path in leftover_cgroups(name):
        for dirpath, _, _ in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


@pytest.fixture
def oci():
    root = f"/run/pyrun-test-{uuid.uuid4().hex[:8]}"
    rt = Runtime(root)
    yield rt
    for cid in rt.ids():
        rt("delete", "--force", cid, check=False)
    left = rt.ids()
    shutil.rmtree(root, ignore_errors=True)
    assert not left, f"containers left in {root}: {left}"
    cgs = [d for name in rt.names for d in leftover_cgroups(name)]
    assert not cgs, f"cgroups left behind: {cgs}"


@pytest.fixture
def bundle(tmp_path, busybox_rootfs):
    """A bundle whose root.path is the session's busybox rootfs (absolute, and read-only in
    the default config, so tests cannot change it for each other)."""
    from runtime.oci.query import default_spec
    b = tmp_path / "bundle"
    b.mkdir()
    spec = default_spec()
    spec["root"]["path"] = str(busybox_rootfs)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    spec["process"]["rlimits"] = []
    return Bundle(b, spec)


class Bundle:
    def __init__(self, path, spec):
        self.path = path
        self.spec = spec

    def write(self, **process) -> str:
        self.spec["process"].update(process)
        (self.path / "config.json").write_text(json.dumps(self.spec))
        return str(self.path)


@pytest.fixture
def cid():
    """A container id unique to the test, with "pyrun" in it (so leaks are findable)."""
    return f"pyrun-t-{uuid.uuid4().hex[:10]}"
