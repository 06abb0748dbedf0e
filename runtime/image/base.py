"""Base images without a registry: import a root filesystem tar, or bootstrap Debian."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from runtime.errors import PyrunError
from runtime.image.store import Image, Store, new_config
from runtime.timestamps import rfc3339

DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def import_tar(store: Store, stream, name: str | None, source: str = "-",
               changes: dict | None = None) -> Image:
    """`pyrun image import`: a root filesystem tar becomes a one-layer image (docker import)."""
    diff_id, _ = store.add_layer_tar(stream)
    return _one_layer_image(store, diff_id, name, f"Imported from {source}", changes)


def _one_layer_image(store: Store, diff_id: str, name: str | None, comment: str,
                     changes: dict | None = None, created_by: str = "") -> Image:
    cfg = new_config()
    cfg["created"] = rfc3339()
    cfg["config"] = {"Env": list(DEFAULT_ENV), **(changes or {})}
    cfg["rootfs"]["diff_ids"] = [diff_id]
    cfg["history"] = [{"created": cfg["created"], "created_by": created_by, "comment": comment}]
    img = store.put_image(cfg)
    if name:
        store.tag(img.id, name)
    return img


def debian_mirror() -> str:
    """The Debian mirror this host's apt uses (deb822 or one-line format)."""
    candidates = []
    try:
        for fname in sorted(os.listdir("/etc/apt/sources.list.d")):
            if fname.endswith(".sources"):
                with open(os.path.join("/etc/apt/sources.list.d", fname)) as f:
                    for line in f:
                        if line.startswith("URIs:"):
                            candidates += line.split()[1:]
    except FileNotFoundError:
        pass
    try:
        with open("/etc/apt/sources.list") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == "deb":
                    uri = next((p for p in parts[1:] if "://" in p), None)
                    if uri:
                        candidates.append(uri)
    except FileNotFoundError:
        pass
    for uri in candidates:
        if "security" not in uri and "/debian" in uri:
            return uri
    if candidates:
        return candidates[0]
    raise PyrunError("no Debian mirror configured in /etc/apt (sources.list or *.sources)")


def bootstrap_debian(store: Store, suite: str, name: str | None = None, mirror: str | None = None,
                     out=sys.stdout) -> Image:
    """`pyrun image bootstrap debian:SUITE`: a minimal Debian root made by debootstrap (or
    mmdebstrap) from the host's mirror, as a one-layer image tagged debian:SUITE."""
    tool = shutil.which("mmdebstrap") or shutil.which("debootstrap")
    if tool is None:
        raise PyrunError("bootstrap needs debootstrap or mmdebstrap (apt-get install debootstrap)")
    mirror = mirror or debian_mirror()
    work = store.tmpdir("bootstrap-")
    rootfs = os.path.join(work, "rootfs")
    if tool.endswith("mmdebstrap"):
        argv = [tool, "--variant=minbase", "--mode=root", suite, rootfs, mirror]
    else:
        argv = [tool, "--variant=minbase", suite, rootfs, mirror]
    print(f"bootstrapping debian:{suite} from {mirror} with {os.path.basename(tool)}", file=out)
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        tail = []
        steps = 0
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-20:]
            if line.startswith(("I: Retrieving", "I: Extracting", "I: Unpacking",
                                "I: Configuring", "I: Installing", "I: Base system")):
                steps += 1
                _progress(out, f"[{steps}] {line[3:]}")
        if proc.wait() != 0:
            _progress(out, None)
            raise PyrunError(f"{os.path.basename(tool)} failed (exit {proc.returncode}):\n"
                             + "\n".join(tail))
        _progress(out, None)
        _slim_apt(rootfs)
        # Leave no apt caches in the image; a container's DNS is written at run time.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            p = os.path.join(rootfs, junk)
            for entry in os.listdir(p) if os.path.isdir(p) else []:
                full = os.path.join(p, entry)
                if os.path.isfile(full):
                    os.unlink(full)
        print("packing the root filesystem as a layer", file=out)
        diff_id, _ = store.add_layer_dir(rootfs, move=True)
        img = _one_layer_image(store, diff_id, name or f"debian:{suite}",
                               f"debian {suite} bootstrapped from {mirror}",
                               {"Cmd": ["bash"]},
                               created_by=f"pyrun image bootstrap debian:{suite}")
        return img
    finally:
        subprocess.run(["umount", "-R", "-l", rootfs], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


# What Docker's official Debian images configure (debuerreotype's "slimify"), so that
# `RUN apt-get install` layers hold the installed files, not the downloaded packages.
APT_SLIM = {
    "docker-clean": (
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n'),
    "docker-no-languages": 'Acquire::Languages "none";\n',
    "docker-gzip-indexes": 'Acquire::GzipIndexes "true";\n',
    "docker-autoremove-suggests": 'Apt::AutoRemove::SuggestsImportant "false";\n',
}


def _slim_apt(rootfs: str) -> None:
    conf = os.path.join(rootfs, "etc", "apt", "apt.conf.d")
    if os.path.isdir(conf):
        for name, text in APT_SLIM.items():
            with open(os.path.join(conf, name), "w") as f:
                f.write(text)


def _progress(out, text: str | None) -> None:
    tty = hasattr(out, "isatty") and out.isatty()
    if text is None:
        if tty:
            out.write("\n")
        return
    if tty:
        out.write("\r\033[K" + text[:120])
        out.flush()
    else:
        print(text, file=out)
