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
