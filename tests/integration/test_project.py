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
