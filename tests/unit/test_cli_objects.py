"""`pyrun volume` and `pyrun network` (cli/volume.py, cli/network.py) as a user runs them:
the command line in, the lines out and the exit code, over a temporary store (and network
definitions under the test's own directory: the host's networks are not touched)."""

from __future__ import annotations

import json
import sys

import pytest



@pytest.fixture
def pyrun(tmp_path, monkeypatch, capsys, network_defs):
    root = str(tmp_path / "store")

    def run(*args) -> tuple[int, str, str]:
        from runtime.cli.main import main
        monkeypatch.setattr(sys, "argv", ["pyrun", "--root", root, *args])
        code = main()
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_a_volumes_life_through_the_command_line(pyrun):
    assert pyrun("volume", "create", "--label", "tier=db", "pyrun-data") == \
        (0, "pyrun-data\n", "")
    code, anon, _ = pyrun("volume", "create")
    assert code == 0 and len(anon.strip()) == 64  # a random name, as Docker's
    code, out, _ = pyrun("volume", "ls")
    assert out.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert sorted(line.split()[1] for line in out.splitlines()[1:]) == \
        sorted(["pyrun-data", anon.strip()])
    assert pyrun("volume", "ls", "-q", "--filter", "label=tier=db")[1] == "pyrun-data\n"
    assert pyrun("volume", "inspect", "-f", "{{.Labels.tier}} {{.Driver}}",
                 "pyrun-data")[1] == "db local\n"
    (v,) = json.loads(pyrun("volume", "inspect", "pyrun-data")[1])
    assert v["Name"] == "pyrun-data" and v["Mountpoint"].endswith("/_data")
    code, out, _ = pyrun("volume", "prune", "-f")  # the anonymous one only
    assert out.endswith("Total reclaimed space: 1 volume(s)\n") and anon.strip() in out
    assert pyrun("volume", "rm", "pyrun-data") == (0, "pyrun-data\n", "")
    assert pyrun("volume", "ls", "-q")[1] == ""


def test_volume_mistakes_are_one_line_and_exit_1(pyrun):
    for args, message in ((("volume", "rm", "pyrun-none"), "no such volume"),
                          (("volume", "create", "bad name"), "invalid characters"),
                          (("volume", "create", "-d", "nfs", "x"), "driver 'nfs' not found"),
                          (("volume", "ls", "--filter", "colour=red"), "invalid filter")):
        code, out, err = pyrun(*args)
        assert (code, out) == (1, "") and err.count("\n") == 1, (args, err)
        assert message in err.lower(), (args, err)
    assert pyrun("volume", "rm", "-f", "pyrun-none")[0] == 0  # -f: no error
    code, _, err = pyrun("volume", "inspect")  # a usage error: 125, as docker's
    assert code == 125 and "Missing argument" in err


def test_a_networks_life_through_the_command_line(pyrun):
    code, nid, _ = pyrun("network", "create", "--subnet", "10.91.0.0/24", "--label", "a=b",
                         "pyrun-front")
    assert code == 0 and len(nid.strip()) == 64
    code, out, _ = pyrun("network", "ls", "--format", "{{.Name}} {{.Driver}}")
    assert out.splitlines() == ["bridge bridge", "host host", "none null",
                                "pyrun-front bridge"]
    assert pyrun("network", "ls", "-q", "--filter", "name=front")[1] == nid[:12] + "\n"
    (d,) = json.loads(pyrun("network", "inspect", "pyrun-front")[1])
    assert d["IPAM"]["Config"] == [{"Subnet": "10.91.0.0/24", "Gateway": "10.91.0.1"}]
    assert d["Labels"] == {"a": "b"}
    code, _, err = pyrun("network", "create", "pyrun-front")
    assert code == 1 and "already exists" in err
    code, _, err = pyrun("network", "create", "-d", "overlay", "pyrun-x")
    assert code == 1 and "driver 'overlay' not found" in err
    assert pyrun("network", "rm", "pyrun-front") == (0, "pyrun-front\n", "")
    code, _, err = pyrun("network", "rm", "pyrun-front")
    assert code == 1 and err.count("\n") == 1
