"""The project's own promises: the Vagrantfile is valid, the scripts are executable."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import PROJECT


def test_vagrantfile_validates():
    if shutil.which("vagrant") is None:
        pytest.skip("vagrant not installed (Debian package vagrant; scripts/setup --test)")
    p = subprocess.run(["vagrant", "validate"], cwd=PROJECT, capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, VAGRANT_CHECKPOINT_DISABLE="1"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Vagrantfile validated successfully" in p.stdout


def setup_packages(flag: str = "") -> set[str]:
    """The Debian packages `scripts/setup [flag]` installs."""
    import re
    text = (PROJECT / "scripts" / "setup").read_text()
    base = set(re.search(r'^packages="([^"]*)"', text, re.M).group(1).split())
    if not flag:
        return base
    block = text.split(f'"{flag}" ]; then', 1)[1].split("elif", 1)[0].split("fi\n", 1)[0]
    return base | set(re.search(r'packages="\$packages ([^"]*)"', block).group(1).split())


def test_setup_installs_what_the_host_suite_uses():
    """A fresh machine runs scripts/setup --test and then the host suite: every tool the
    suite calls must come from that step, not from a later one (the VM part's --vm)."""
    need = {"vagrant", "vagrant-libvirt",    # test_vagrantfile_validates
            "gcc", "libc6-dev",              # the static probe of test_isolation
            "libseccomp-dev",                # pyrun's own build
            "runc", "crun", "containerd", "containernetworking-plugins",  # test_cri
            "podman", "skopeo", "umoci", "docker.io",
            "docker-registry", "nginx-light"}
    assert need <= setup_packages("--test"), need - setup_packages("--test")


def test_readme_commands_exist_and_are_executable():
    readme = (PROJECT / "README.md").read_text()
    for script in ("scripts/demo", "scripts/test"):
        assert script in readme
        assert os.access(PROJECT / script, os.X_OK)
    assert (PROJECT / ".ci" / "run").read_text().strip().endswith("exec scripts/test")


@pytest.mark.parametrize("command,usage", [("pyrun", "Usage: pyrun "),
                                           ("pyrun-oci", "usage: pyrun-oci ")])
def test_the_installed_commands_run_the_package_through_the_launcher(command, usage):
    """native/pyrun_launch.c, installed under both names, runs the venv's Python on this
    package, from any directory (a bundle's, for containerd), through the /usr/local/bin
    symlink too, and the program calls itself by its command's name."""
    venv_bin = PROJECT / ".venv" / "bin"
    with open(venv_bin / command, "rb") as f:
        assert f.read(4) == b"\x7fELF"  # the native launcher, not a Python script
    for path in (venv_bin / command, shutil.which(command)):
        p = subprocess.run([str(path), "--help"], capture_output=True, text=True, cwd="/")
        assert p.returncode == 0 and (p.stdout + p.stderr).startswith(usage), p.stderr


def test_the_unit_tests_need_no_root():
    """tests/unit runs without root, as the project promises: here as uid 1000 of a user
    namespace of its own (util-linux's unshare), where the kernel refuses what only root
    may do (a chown to another owner, a chroot outside a namespace of one's own)."""
    import sys
    p = subprocess.run(["unshare", "--user", "--map-user=1000", "--map-group=1000",
                        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(PROJECT / "tests" / "unit")],
                       cwd=PROJECT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert " passed" in p.stdout.splitlines()[-1]
