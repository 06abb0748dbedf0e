"""scripts/vagrant-box and scripts/test-vm: the parts that decide without running anything."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import ipaddress
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import PROJECT


def load(name: str):
    path = str(PROJECT / "scripts" / name)
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


@pytest.fixture
def box(monkeypatch):
    mod = load("vagrant-box")
    monkeypatch.setattr(mod, "insecure_key", lambda: "ssh-rsa AAAA vagrant insecure public key")
    return mod


def test_box_name_is_stable_and_follows_its_inputs(box, monkeypatch):
    name = box.box_name()
    assert name.startswith("pyrun/bookworm-") and len(name) == len("pyrun/bookworm-") + 12
    assert box.box_name() == name
    monkeypatch.setattr(box, "PACKAGES", box.PACKAGES + ["strace"])
    assert box.box_name() != name  # another package list, another box


def test_box_carries_the_projects_requirements(box):
    reqs = box.requirements()
    for r in ("click>=8.1", "pyroute2>=0.7", "python-prctl>=1.8", "cffi>=1.15", "pytest>=7"):
        assert r in reqs
    assert any(r.startswith("setuptools") for r in reqs)  # to build pyrun itself, offline


def test_box_configuration_lets_vagrant_in(box, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(box, "run", lambda *argv, **kw: calls.append(argv))
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    (root / "boot/vmlinuz-6.1.0-50-amd64").write_text("")
    (root / "boot/initrd.img-6.1.0-50-amd64").write_text("")
    wheels = root / "opt/pyrun/wheels"
    cmdline = box.configure(root, "1234-uuid", wheels)
    assert "root=UUID=1234-uuid" in cmdline and "net.ifnames=0" in cmdline
    assert (root / "etc/sudoers.d/vagrant").read_text() == "vagrant ALL=(ALL) NOPASSWD: ALL\n"
    assert (root / "etc/sudoers.d/vagrant").stat().st_mode & 0o777 == 0o440
    keys = root / "home/vagrant/.ssh/authorized_keys"
    assert "vagrant insecure public key" in keys.read_text()
    assert keys.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/machine-id").read_text() == ""
    assert "iface eth0 inet dhcp" in (root / "etc/network/interfaces").read_text()
    assert "find-links = /opt/pyrun/wheels" in (root / "etc/pip.conf").read_text()
    conf = (root / "boot/extlinux/extlinux.conf").read_text()
    assert "LINUX /boot/vmlinuz-6.1.0-50-amd64" in conf and "INITRD /boot/initrd.img-" in conf
    assert ("chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash",
            "vagrant") in calls


def test_vm_network_is_isolated_and_adds_no_firewall_rule():
    vm = load("test-vm")
    net = ET.fromstring(vm.network_xml(ipaddress.ip_network("192.168.125.0/24")))
    assert net.find("name").text == "pyrun-vagrant"
    assert net.find("bridge").get("name") == "pyrun-vm0"
    # "open": libvirt writes no iptables/nftables rule; no NAT, so nothing leaves the host.
    assert net.find("forward").get("mode") == "open"
    assert net.find("ip").get("address") == "192.168.125.1"
    rng = net.find("ip/dhcp/range")
    assert (rng.get("start"), rng.get("end")) == ("192.168.125.10", "192.168.125.254")


def test_vagrant_progress_redraws_are_dropped():
    vm = load("test-vm")
    line = b"\r\x1b[KProgress: 0%\r\x1b[KProgress: 57%\r\x1b[KProgress: 100%==> default: Creating\n"
    assert vm.PROGRESS.sub(b"", line) == b"==> default: Creating\n"
