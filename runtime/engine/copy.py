"""cp and export: files in and out of a container, as tar streams.

The container's side of the copy runs in a child process chrooted into the container's root
filesystem, as Docker's chrootarchive does: a symlink in the container (/etc -> /) then
resolves inside it, never onto the host. A running container's root is its overlay mount;
a stopped one's is mounted for the child alone, in a mount namespace of its own, so nothing
outlives the child, however it ends.
"""

from __future__ import annotations

import os
import sys

from runtime.errors import NotFound, PyrunError


class CopyError(PyrunError):
    pass


def split_arg(arg: str) -> tuple[str | None, str]:
    """A `cp` argument → (container, path) for CONTAINER:PATH, (None, path) for the host's
    (an absolute or ./ path, "-", or a name without a colon), as docker cp splits it."""
    ref, sep, path = arg.partition(":")
    if not sep or arg.startswith(("/", ".", "-")):
        return None, arg
    return ref, path


def _in_container(c, work, stdin_fd: int | None = None, stdout_fd: int | None = None,
                  close=(), feed=None) -> None:
    """Run work() in a child chrooted into the container's root; its stdin/stdout are the
    given descriptors, and `close` the ones it must not hold (the other end of its pipe:
    held, a reader would never see the end). feed(), if given, runs here once the child
    exists (it writes the child's stdin: `close`'s descriptor, which it closes; stdin_fd is
    closed here first, so that a child that fails makes feed's writes fail, not block). A
    failure comes back as the child's one line."""
    # Imported before the fork, not in the child: out of reach after the chroot, and a
    # module another thread of ours is importing at the fork (the API service's requests,
    # _from_container's worker) keeps its lock held in the child for ever.
    import tarfile

    from runtime import tarfilter  # noqa: F401 - for the child, as tarfile
    from runtime.engine import bundle as bundlemod
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(err_r)
            for fd in close:
                os.close(fd)
            for fd, target in ((stdin_fd, 0), (stdout_fd, 1)):
                if fd is not None:
                    os.dup2(fd, target)
            # No user or group names are looked up past the chroot: glibc would load the
            # NSS modules that the container's /etc/nsswitch.conf names, from the
            # container's /lib, into this process, root on the host (CVE-2019-14271,
            # docker cp). Entries carry numbers; extraction uses them (numeric_owner).
            tarfile.pwd = tarfile.grp = None
            root = c.path("rootfs")
            if not c.running:
                bundlemod.private_mount_namespace()
                image = c.store.image(c.image)
                bundlemod.mount_overlay(image.layer_dirs + [c.path("init")], root,
                                        c.path("upper"), c.path("work"))
            os.chroot(root)
            os.chdir("/")
            work()
            os._exit(0)
        except BaseException as e:  # noqa: BLE001 - everything goes back as one line
            msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            name = f": {e.filename}" if isinstance(e, OSError) and e.filename else ""
            os.write(err_w, f"{msg}{name}".encode())
            os._exit(1)
    os.close(err_w)
    if feed is not None:
        os.close(stdin_fd)
        try:
            feed()
        except BaseException:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            os.close(err_r)
            raise
    with os.fdopen(err_r, "rb") as f:
        message = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise CopyError(message or "copy failed")


def _from_container(c, pack, consume) -> None:
    """pack() writes a tar stream to its stdout in the container (chrooted child);
    consume(stream) reads it here as it comes. The child's failure is raised after."""
    import threading
    r, w = os.pipe()
    failure: list[BaseException] = []

    def run():
        try:
            _in_container(c, pack, stdout_fd=w, close=(r,))
        except BaseException as e:  # noqa: BLE001 - raised again below
            failure.append(e)
        finally:
            os.close(w)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        with os.fdopen(r, "rb") as stream:
            consume(stream)
    finally:
        worker.join()
    if failure:
        raise failure[0]


def _pour(stream, out) -> None:
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        out.write(chunk)


def copy_out(c, src: str, dest: str, follow: bool = False) -> None:
    """CONTAINER:SRC → DEST on the host ("-": a tar stream on stdout). As docker cp: DEST an
    existing directory receives SRC under its own name; otherwise SRC becomes DEST; a
    symlink SRC is copied as the link, or (follow, -L) as what it points to."""
    import tarfile

    from runtime import tarfilter
    if not src.startswith("/"):
        src = "/" + src
    if dest == "-":
        arcname = os.path.basename(src.rstrip("/")) or "."
    elif os.path.isdir(dest):
        arcname = os.path.basename(src.rstrip("/")) or "."
    else:
        if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
            raise CopyError(f"no such directory: {os.path.dirname(os.path.abspath(dest))}")
        arcname = os.path.basename(dest.rstrip("/"))
    def pack():
        with tarfile.open(fileobj=os.fdopen(1, "wb"), mode="w|") as t:
            t.add(os.path.realpath(src) if follow else src, arcname=arcname)

    def consume(stream):
        if dest == "-":
            _pour(stream, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        target = dest if os.path.isdir(dest) else os.path.dirname(os.path.abspath(dest))
        try:
            with tarfile.open(fileobj=stream, mode="r|") as t:
                tarfilter.extractall(t, target, "tar")
        except tarfile.ReadError:
            pass  # the child failed before writing: its message follows

    try:
        _from_container(c, pack, consume)
    except CopyError as e:
        # Docker's words where the path is missing; any other failure says what it was
        missing = str(e).startswith("No such file or directory")
        raise CopyError(f"Could not find the file {src} in container {c.name}" if missing
                        else f"copy {src} from container {c.name}: {e}") from None


def copy_in(c, src: str, dest: str) -> None:
    """SRC on the host ("-": a tar stream on stdin) → CONTAINER:DEST. As docker cp: DEST an
    existing directory receives SRC under its own name; otherwise SRC becomes DEST."""
    import tarfile

    from runtime import tarfilter
    if not dest.startswith("/"):
        dest = "/" + dest
    if src != "-" and not os.path.lexists(src):
        raise CopyError(f"no such file or directory: {src}")
    top = os.path.basename(os.path.abspath(src)) if src != "-" else None
    r, w = os.pipe()

    def unpack():
        if os.path.isdir(dest):
            into, rename = dest, None
        elif top is None:
            raise FileNotFoundError(2, "destination directory does not exist", dest)
        else:
            into, rename = os.path.dirname(dest) or "/", os.path.basename(dest)
            if not os.path.isdir(into):
                raise FileNotFoundError(2, "no such directory", into)
        with tarfile.open(fileobj=os.fdopen(0, "rb"), mode="r|") as t:
            for m in t:
                if rename and (m.name == top or m.name.startswith(top + "/")):
                    m.name = rename + m.name[len(top):]
                tarfilter.extract(t, m, into, "tar")

    def feed():
        try:
            with os.fdopen(w, "wb") as out:
                if src == "-":
                    _pour(sys.stdin.buffer, out)
                else:
                    with tarfile.open(fileobj=out, mode="w|") as t:
                        t.add(src, arcname=top)
        except BrokenPipeError:
            pass  # the child failed: its message is the one to report

    _in_container(c, unpack, stdin_fd=r, close=(w,), feed=feed)


def export(c, out) -> None:
    """The container's whole filesystem as a tar stream written to out (a binary file)."""
    import tarfile

    def pack():
        with tarfile.open(fileobj=os.fdopen(1, "wb"), mode="w|") as t:
            for name in sorted(os.listdir("/")):
                t.add("/" + name, arcname=name)

    _from_container(c, pack, lambda stream: _pour(stream, out))


# ---- the Engine API's archive endpoints: tar streams both ways, and a path's stat ----------

def path_stat(c, path: str) -> dict:
    """What Docker's X-Docker-Container-Path-Stat says of a path in the container: name,
    size, mode (Go's FileMode bits), mtime, link target. NotFound-like CopyError if absent."""
    import json as _json
    import stat as st

    from runtime.timestamps import rfc3339  # before the fork (see _in_container)
    if not path.startswith("/"):
        path = "/" + path

    def pack():
        s = os.lstat(path)
        mode = s.st_mode & 0o777
        if st.S_ISDIR(s.st_mode):
            mode |= 1 << 31
        elif st.S_ISLNK(s.st_mode):
            mode |= 1 << 27
        target = os.readlink(path) if st.S_ISLNK(s.st_mode) else ""
        os.write(1, _json.dumps({"name": os.path.basename(path.rstrip("/")) or "/",
                                 "size": s.st_size, "mode": mode,
                                 "mtime": rfc3339(s.st_mtime), "linkTarget": target}).encode())

    got = []
    try:
        _from_container(c, pack, lambda stream: got.append(stream.read()))
    except CopyError as e:
        raise NoSuchPath(f"Could not find the file {path} in container {c.name}"
                         if str(e).startswith("No such file") else str(e)) from None
    return _json.loads(got[0])


class NoSuchPath(CopyError, NotFound):
    pass


def archive_out(c, path: str, write) -> None:
    """A tar of `path` (named by its base name, as docker cp wants it), given to write() in
    pieces as it is made."""
    import tarfile
    if not path.startswith("/"):
        path = "/" + path
    arcname = os.path.basename(path.rstrip("/")) or "."

    def pack():
        with tarfile.open(fileobj=os.fdopen(1, "wb"), mode="w|") as t:
            t.add(path, arcname=arcname)

    def consume(stream):
        while True:
            chunk = stream.read(1 << 16)
            if not chunk:
                break
            write(chunk)
    _from_container(c, pack, consume)


def archive_in(c, directory: str, chunks) -> None:
    """A tar stream (an iterator of bytes) unpacked into `directory` of the container, which
    must exist; names stay inside it (tarfile's filter, and the chroot)."""
    import tarfile

    from runtime import tarfilter
    if not directory.startswith("/"):
        directory = "/" + directory
    r, w = os.pipe()

    def unpack():
        if not os.path.isdir(directory):
            raise FileNotFoundError(2, "No such directory", directory)
        with tarfile.open(fileobj=os.fdopen(0, "rb"), mode="r|") as t:
            for m in t:
                tarfilter.extract(t, m, directory, "tar")

    def feed():
        try:
            with os.fdopen(w, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        except BrokenPipeError:
            pass  # the child failed: its message is the one to report

    try:
        _in_container(c, unpack, stdin_fd=r, close=(w,), feed=feed)
    except CopyError as e:
        if "No such directory" in str(e):
            raise NoSuchPath(f"Could not find the file {directory} in container {c.name}") \
                from None
        raise
