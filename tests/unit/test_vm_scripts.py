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


def test_box_carries_every_package_setup_installs(box):
    """The VM has no mirror: scripts/setup, provisioning it, must find its packages there."""
    import re
    text = (PROJECT / "scripts" / "setup").read_text()
    wanted = re.search(r'^packages="([^"]*)"', text, re.M).group(1).split()
    assert "libseccomp-dev" in wanted
    assert set(wanted) <= set(box.PACKAGES), set(wanted) - set(box.PACKAGES)


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


class Vagrant:
    """Stands for a running `vagrant up`: records the signals it is sent."""

    def __init__(self):
        self.signals = []

    def poll(self):
        return None if not self.signals else 130

    def send_signal(self, sig):
        self.signals.append(sig)


def fake_virsh(leases: dict):
    """virsh -q as the watchdog asks it: the domain's interfaces, a network's leases."""
    def virsh(*args, check=True):
        if args[0] == "domiflist":
            return " vnet0   network   pyrun-vagrant   virtio   52:54:00:aa:bb:cc\n"
        if args[0] == "net-dhcp-leases":
            mac = args[args.index("--mac") + 1]
            return leases.get(mac, "")
        return "running\n"
    return virsh


def test_a_vm_with_no_address_is_interrupted_and_one_with_one_is_left_alone(monkeypatch):
    import signal
    vm = load("test-vm")
    monkeypatch.setattr(vm.time, "sleep", lambda s: None)
    clock = iter(range(0, 10_000, 60))
    monkeypatch.setattr(vm.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(vm, "LEASE_WAIT", 300)
    # A lease of another machine (a previous try's MAC) does not count.
    monkeypatch.setattr(vm, "virsh", fake_virsh({"52:54:00:00:00:01": " lease of another"}))
    hung = Vagrant()
    vm.lease_watchdog("pyrun-x-default")(hung)
    assert hung.signals == [signal.SIGINT]
    monkeypatch.setattr(vm, "virsh", fake_virsh(
        {"52:54:00:aa:bb:cc": " 2026-11-27 ... 52:54:00:aa:bb:cc ipv4 192.168.125.10/24"}))
    booted = Vagrant()
    vm.lease_watchdog("pyrun-x-default")(booted)
    assert booted.signals == []
