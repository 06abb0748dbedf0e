"""pyrun's default seccomp profile against Docker's, capability set by capability set, and
the --security-opt and profile-file checks."""

from __future__ import annotations

import json

import pytest

from runtime.engine import containers as cmod
from runtime.engine.config import DEFAULT_CAPS, RunSpec, oci_config
from runtime.engine.seccomp_profile import DEFAULT_PROFILE, load_file, to_oci
from runtime.errors import PyrunError
from runtime.linux.names import CAPABILITY_NAMES
from tests.conftest import conformance_dir


def rules(oci: dict) -> set:
    """What a section allows or refuses, per syscall, whatever the grouping."""
    out = set()
    for r in oci["syscalls"]:
        args = tuple(sorted((a["index"], a["value"], a.get("valueTwo", 0), a["op"])
                            for a in r.get("args") or []))
        for name in r["names"]:
            out.add((name, r["action"], r.get("errnoRet"), args))
    return out


CAP_SETS = {
    "default": DEFAULT_CAPS,
    "cap-add SYS_ADMIN": DEFAULT_CAPS + ["CAP_SYS_ADMIN"],
    "cap-add SYS_PTRACE, SYS_TIME": DEFAULT_CAPS + ["CAP_SYS_PTRACE", "CAP_SYS_TIME"],
    "cap-add ALL": list(CAPABILITY_NAMES),
    "cap-drop ALL": [],
}


@pytest.mark.parametrize("caps", list(CAP_SETS.values()), ids=list(CAP_SETS))
@pytest.mark.parametrize("machine,kernel", [("x86_64", "6.1.0"), ("aarch64", "6.1.0"),
                                            ("x86_64", "4.4.0")])
def test_the_default_profile_is_dockers_policy(caps, machine, kernel):
    docker = json.loads((conformance_dir("seccomp") / "docker-default.json").read_text())
    ours, theirs = (to_oci(p, caps, machine=machine, kernel=kernel)
                    for p in (DEFAULT_PROFILE, docker))
    assert rules(ours) == rules(theirs)
    for key in ("defaultAction", "defaultErrnoRet", "architectures"):
        assert ours.get(key) == theirs.get(key), key


def test_capabilities_open_what_they_guard():
    plain = {r[0] for r in rules(to_oci(DEFAULT_PROFILE, DEFAULT_CAPS, "x86_64", "6.1"))
             if r[1] == "SCMP_ACT_ALLOW" and not r[3]}
    admin = {r[0] for r in rules(to_oci(DEFAULT_PROFILE, DEFAULT_CAPS + ["CAP_SYS_ADMIN"],
                                        "x86_64", "6.1"))
             if r[1] == "SCMP_ACT_ALLOW" and not r[3]}
    assert {"unshare", "mount", "setns", "keyctl"} & plain == set()
    assert {"unshare", "mount", "setns", "clone"} <= admin
    assert "keyctl" not in admin  # no capability unlocks the kernel keyrings
    assert "arch_prctl" in plain and "riscv_flush_icache" not in plain


def test_oci_config_carries_the_filter_unless_told_not_to(tmp_path):
    cfg = oci_config(RunSpec(str(tmp_path), ["true"]))
    assert cfg["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert cfg["process"]["noNewPrivileges"] is False
    assert "seccomp" not in oci_config(RunSpec(str(tmp_path), ["true"], seccomp=None))["linux"]
    nnp = oci_config(RunSpec(str(tmp_path), ["true"], no_new_privileges=True))
    assert nnp["process"]["noNewPrivileges"] is True


@pytest.mark.parametrize("opts,want", [
    ([], {}),
    (["seccomp=unconfined"], {"unconfined": True}),
    (["seccomp:unconfined"], {"unconfined": True}),
    (["no-new-privileges"], {"no_new_privileges": True}),
    (["no-new-privileges=true"], {"no_new_privileges": True}),
    (["no-new-privileges:false"], {"no_new_privileges": False}),
    (["apparmor=unconfined", "label=disable"], {}),
])
def test_security_opts(opts, want):
    assert cmod.parse_security_opts(opts) == want


@pytest.mark.parametrize("opt,message", [
    ("seccomp", 'invalid --security-opt: "seccomp"'),
    ("nosuch=1", 'invalid --security-opt: "nosuch=1"'),
    ("no-new-privileges=maybe", 'invalid --security-opt: "no-new-privileges=maybe"'),
    ("apparmor=docker-default", "this host has no AppArmor"),
    ("label=type:svirt_t", "this host has no SELinux"),
    ("seccomp=/nonexistent/pyrun.json", "seccomp profile /nonexistent/pyrun.json: No such file"),
])
def test_bad_security_opts_are_one_line(opt, message):
    with pytest.raises(PyrunError, match=message.replace("(", r"\(")) as e:
        cmod.parse_security_opts([opt])
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("text,message", [
    ("{", "not valid JSON"),
    ("[]", "must be a JSON object"),
    ('{"defaultAction": "SCMP_ACT_MAYBE"}', "defaultAction: unknown action 'SCMP_ACT_MAYBE'"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], '
     '"action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "LIKE"}]}]}',
     r"syscalls\[0\].args\[0\].op: unknown operator 'LIKE'"),
])
def test_bad_profile_files_name_the_field(tmp_path, text, message):
    path = tmp_path / "profile.json"
    path.write_text(text)
    with pytest.raises(PyrunError, match=f"seccomp profile {path}: .*{message}"):
        load_file(str(path))


def test_profile_files_in_both_forms(tmp_path):
    docker_form = tmp_path / "docker.json"
    docker_form.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW", "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
        "syscalls": [{"name": "getppid", "action": "SCMP_ACT_ERRNO", "errnoRet": 77},
                     {"names": ["sync"], "action": "SCMP_ACT_ERRNO",
                      "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}))
    oci = to_oci(load_file(str(docker_form)), DEFAULT_CAPS, machine="x86_64")
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert oci["syscalls"] == [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
                                "errnoRet": 77}]
    oci_form = tmp_path / "oci.json"
    oci_form.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                                    "architectures": ["SCMP_ARCH_X86_64"],
                                    "syscalls": [{"names": ["read"],
                                                  "action": "SCMP_ACT_ALLOW"}]}))
    assert to_oci(load_file(str(oci_form)), []) == json.loads(oci_form.read_text())
