"""pyrun's image commands and builder on the real kernel, from a busybox base."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest

from tests.conftest import PROJECT

PYRUN = os.path.join(os.path.dirname(sys.executable), "pyrun")


class Pyrun:
    def __init__(self, root: str):
        self.root = root

    def __call__(self, *args, check=True, input=None, cwd=None, timeout=300):
        env = dict(os.environ, PYRUN_ROOT=self.root)
        p = subprocess.run([PYRUN, *args], capture_output=True, text=True, env=env,
                           input=input, cwd=cwd, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"pyrun {' '.join(args)}: exit {p.returncode}\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def image_files(self, image: str, path: str) -> bytes:
        """A file of an image, read from its layers (topmost first), with whiteouts."""
        from runtime.image.store import Store
        img = Store(self.root).resolve(image)
        for d in reversed(img.layer_dirs):
            p = os.path.join(d, path.lstrip("/"))
            if os.path.lexists(p):
                st = os.lstat(p)
                if (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0:
                    raise FileNotFoundError(path)
                with open(p, "rb") as f:
                    return f.read()
        raise FileNotFoundError(path)


@contextlib.contextmanager
def fresh_store():
    """A second, empty store (to load or pull into), removed afterwards."""
    other = Pyrun(tempfile.mkdtemp(prefix="pyrun-test-store-", dir="/var/tmp"))
    try:
        yield other
    finally:
        shutil.rmtree(other.root, ignore_errors=True)


@pytest.fixture
def pyrun():
    root = tempfile.mkdtemp(prefix="pyrun-test-store-", dir="/var/tmp")
    yield Pyrun(root)
    shutil.rmtree(root, ignore_errors=True)
    assert "pyrun-test-store" not in open("/proc/self/mountinfo").read()


@pytest.fixture
def busybox(pyrun, busybox_rootfs, tmp_path):
    tar = tmp_path / "busybox.tar"
    with tarfile.open(tar, "w") as t:
        for name in sorted(os.listdir(busybox_rootfs)):
            t.add(os.path.join(busybox_rootfs, name), arcname=name)
    out = pyrun("image", "import", str(tar), "busybox:latest").stdout.strip()
    assert out.startswith("sha256:")
    return out


def context(tmp_path, dockerfile: str, files: dict | None = None) -> str:
    d = tmp_path / "ctx"
    d.mkdir(exist_ok=True)
    (d / "Dockerfile").write_text(dockerfile)
    for name, body in (files or {}).items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body) if isinstance(body, str) else p.write_bytes(body)
    return str(d)


def test_import_and_ls(pyrun, busybox):
    out = pyrun("image", "ls").stdout.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert out[1].split()[:3] == ["busybox", "latest", busybox.split(":")[1][:12]]
    assert pyrun("image", "ls", "-q").stdout.strip() == busybox.split(":")[1][:12]
    (row,) = [json.loads(line) for line in pyrun("image", "ls", "--format", "json").stdout
              .splitlines()]
    assert row["Repository"] == "busybox" and row["Size"].endswith("MB")


def test_build_steps_cache_and_history(pyrun, busybox, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nARG WHO=world\nENV APP=/app\nWORKDIR $APP\n"
                  "COPY hello.txt ./\nRUN echo \"hi $WHO\" > built.txt && cat hello.txt\n"
                  "EXPOSE 8080\nCMD [\"cat\", \"/app/built.txt\"]\n",
                  {"hello.txt": "from the context\n"})
    p = pyrun("build", "-t", "demo:1", ctx)
    lines = p.stdout.splitlines()
    assert lines[0] == "Step 1/8 : FROM busybox"
    assert "Step 6/8 : RUN echo \"hi $WHO\" > built.txt && cat hello.txt" in lines
    assert "from the context" in lines  # the RUN's own output
    assert any(line.startswith(" ---> Running in ") for line in lines)
    assert lines[-2].startswith("Successfully built ") and lines[-1] == \
        "Successfully tagged demo:1"
    image_id = lines[-2].split()[-1]
    assert pyrun.image_files("demo:1", "/app/built.txt") == b"hi world\n"
    assert pyrun.image_files("demo:1", "/app/hello.txt") == b"from the context\n"
    cfg = json.loads(pyrun("image", "inspect", "demo:1").stdout)[0]
    assert cfg["Config"]["Cmd"] == ["cat", "/app/built.txt"]
    assert cfg["Config"]["WorkingDir"] == "/app" and "APP=/app" in cfg["Config"]["Env"]
    assert cfg["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert cfg["RepoTags"] == ["demo:1"] and cfg["Id"].split(":")[1].startswith(image_id)

    # unchanged: every step from cache, nothing runs
    again = pyrun("build", "-t", "demo:1", ctx).stdout
    assert again.count(" ---> Using cache") == 7 and "Running in" not in again
    assert f"Successfully built {image_id}" in again

    # history: newest first, the real step IDs, 0B for metadata, the file layers sized
    hist = pyrun("image", "history", "demo:1").stdout.splitlines()
    assert hist[0].split()[:2] == ["IMAGE", "CREATED"]
    assert hist[1].startswith(image_id) and "#(nop)  CMD [\"cat\" \"/app/built.tx…" in hist[1]
    assert hist[1].rstrip().endswith("0B")
    assert "<missing>" not in "\n".join(hist) and len(hist) == 1 + 8
    assert "|1 WHO=world /bin/sh -c echo" in hist[3]
    rows = [json.loads(r) for r in pyrun("image", "history", "--format", "json",
                                         "--no-trunc", "demo:1").stdout.splitlines()]
    assert rows[-1]["Comment"].startswith("Imported from")

    # changed content: COPY misses, and everything after it runs again
    with open(os.path.join(ctx, "hello.txt"), "a") as f:
        f.write("more\n")
    third = pyrun("build", "-t", "demo:2", ctx).stdout
    assert third.count(" ---> Using cache") == 3 and "Running in" in third
    # a build arg changes the RUN's cache key
    fourth = pyrun("build", "--build-arg", "WHO=you", "-t", "demo:3", ctx).stdout
    assert "Running in" in fourth
    assert pyrun.image_files("demo:3", "/app/built.txt") == b"hi you\n"
    nocache = pyrun("build", "--no-cache", "-t", "demo:3", ctx).stdout
    assert "Using cache" not in nocache


def test_dockerignore_and_copy_semantics(pyrun, busybox, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nCOPY . /src/\nCOPY dir /flat\nCOPY a.txt b.txt /two/\n"
                  "COPY --chown=1:5 --chmod=600 a.txt /owned\n",
                  {"a.txt": "a", "b.txt": "b", "secret.key": "no", "dir/x": "x",
                   "dir/sub/y": "y", ".dockerignore": "*.key\n"})
    pyrun("build", "-t", "copy:1", ctx)
    assert pyrun.image_files("copy:1", "/src/a.txt") == b"a"
    assert pyrun.image_files("copy:1", "/src/dir/sub/y") == b"y"
    with pytest.raises(FileNotFoundError):
        pyrun.image_files("copy:1", "/src/secret.key")
    assert pyrun.image_files("copy:1", "/flat/x") == b"x"  # a directory's contents
    assert pyrun.image_files("copy:1", "/two/b.txt") == b"b"
    from runtime.image.store import Store
    img = Store(pyrun.root).resolve("copy:1")
    owned = os.path.join(img.layer_dirs[-1], "owned")
    st = os.stat(owned)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1, 5, 0o600)


def test_multi_stage_copy_from_and_target(pyrun, busybox, tmp_path):
    ctx = context(tmp_path, "FROM busybox AS maker\nRUN echo made > /artifact\n"
                  "FROM busybox\nCOPY --from=maker /artifact /got\nRUN cat /got\n")
    p = pyrun("build", "-t", "ms:1", ctx)
    assert "made" in p.stdout.splitlines()
    assert pyrun.image_files("ms:1", "/got") == b"made\n"
    pyrun("build", "--target", "maker", "-t", "ms:maker", ctx)
    with pytest.raises(FileNotFoundError):
        pyrun.image_files("ms:maker", "/got")


def test_add_extracts_local_tars_and_rm_in_run_is_a_whiteout(pyrun, busybox, tmp_path):
    import io
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("inner/file.txt")
        info.size = 5
        t.addfile(info, io.BytesIO(b"hello"))
    ctx = context(tmp_path, "FROM busybox\nADD bundle.tar.gz /opt/\nRUN rm /bin/vi\n",
                  {"bundle.tar.gz": buf.getvalue()})
    pyrun("build", "-t", "add:1", ctx)
    assert pyrun.image_files("add:1", "/opt/inner/file.txt") == b"hello"
    with pytest.raises(FileNotFoundError):
        pyrun.image_files("add:1", "/bin/vi")


def test_failing_run_stops_with_its_code_and_leaves_nothing(pyrun, busybox, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nRUN echo before\nRUN echo oops >&2; exit 7\n"
                  "RUN echo never\n")
    before = set(os.listdir(os.path.join(pyrun.root, "layers")))
    p = pyrun("build", "-t", "bad:1", ctx, check=False)
    assert p.returncode == 7
    assert "oops" in p.stdout
    assert "The command '/bin/sh -c echo oops >&2; exit 7' returned a non-zero code: 7" \
        in p.stderr and "Dockerfile:3" in p.stderr
    assert "never" not in p.stdout
    assert "bad:1" not in pyrun("image", "ls").stdout
    assert os.listdir(os.path.join(pyrun.root, "tmp")) == []
    assert set(os.listdir(os.path.join(pyrun.root, "layers"))) - before <= set()  # no layer


@pytest.mark.parametrize("dockerfile,message", [
    ("FROM busybox\n\nRUNN echo\n", "Dockerfile:3: unknown instruction: RUNN"),
    ("FROM nosuch:image\n", "Dockerfile:1: FROM nosuch:image: image not found locally"),
    ("FROM busybox\nCOPY missing.txt /\n", "Dockerfile:2: COPY failed: file not found"),
    ("FROM busybox\nENV PATH\n", "Dockerfile:2: ENV must have two arguments"),
])
def test_bad_dockerfiles_are_one_clear_error(pyrun, busybox, tmp_path, dockerfile, message):
    ctx = context(tmp_path, dockerfile)
    p = pyrun("build", ctx, check=False)
    assert p.returncode != 0
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_dockerfile_on_stdin_and_onbuild(pyrun, busybox, tmp_path):
    p = pyrun("build", "-t", "parent:1", "-", input="FROM busybox\nONBUILD RUN echo triggered\n")
    assert "Successfully tagged parent:1" in p.stdout
    p = pyrun("build", "-t", "child:1", "-", input="FROM parent:1\nRUN true\n")
    assert "triggered" in p.stdout


def test_tag_rm_and_prune(pyrun, busybox, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nRUN echo x > /x\n")
    pyrun("build", "-t", "keep:1", ctx)
    pyrun("image", "tag", "keep:1", "other:2")
    assert "other" in pyrun("image", "ls").stdout
    out = pyrun("image", "rm", "other:2").stdout
    assert out.strip() == "Untagged: other:2"
    out = pyrun("image", "rm", "keep:1").stdout
    assert "Untagged: keep:1" in out and "Deleted: sha256:" in out
    assert "keep" not in pyrun("image", "ls", "-a").stdout
    p = pyrun("image", "rm", "nope:1", check=False)
    assert p.returncode != 0 and "No such image: nope:1" in p.stderr
    # the busybox layer is still there, the build's layer is gone
    layers = os.listdir(os.path.join(pyrun.root, "layers"))
    assert len(layers) == 1


def test_build_by_short_id_and_inspect_errors(pyrun, busybox, tmp_path):
    short = busybox.split(":")[1][:12]
    ctx = context(tmp_path, f"FROM {short}\nCMD [\"true\"]\n")
    assert "Successfully built" in pyrun("build", ctx).stdout
    p = pyrun("image", "inspect", "nosuch", check=False)
    assert p.returncode == 1 and "No such image: nosuch" in p.stderr


def test_examples_dockerfile_parses_with_the_module_entry():
    p = subprocess.run([sys.executable, "-m", "runtime.dockerfile",
                        str(PROJECT / "examples" / "custom-nginx" / "Dockerfile")],
                       capture_output=True, text=True, cwd=PROJECT)
    assert p.stdout.splitlines() == [
        '(from "debian:bookworm")', '(expose "80")',
        '(run "apt-get update &&     apt-get install nginx -y")',
        '(run "apt-get clean && rm -rf /var/lib/apt/lists/*")',
        '(cmd "nginx" "-g" "daemon off;")']


def test_run_steps_use_the_default_bridge(pyrun, busybox, tmp_path):  # noqa: F811
    ctx = context(tmp_path, "FROM busybox\nRUN ip -o -4 addr show eth0 | awk '{print $4}' > /addr;"
                  " ip -o link | awk -F': ' '{print $2}' > /links;"
                  " cat /etc/hosts /etc/hostname > /etc-seen\n")

    def names(text):  # pyrun's own bridge may still linger from the step before: not counted
        return {n for n in text.split() if not n.startswith("pyrun")}
    pyrun("build", "-t", "net:bridge", ctx)
    assert pyrun.image_files("net:bridge", "/addr").startswith(b"10.89.")
    # a step has a container's /etc files (engine/bundle.py), not kept in its layer
    hosts, hostname = pyrun.image_files("net:bridge", "/etc-seen").decode().rsplit("\n", 2)[:2]
    assert hosts.startswith("127.0.0.1\tlocalhost\n") and len(hostname) == 12
    assert pyrun.image_files("net:bridge", "/etc/hostname") == b"pyrun-busybox\n"
    pyrun("build", "--no-cache", "--network", "none", "-t", "net:none", ctx)
    assert pyrun.image_files("net:none", "/links") == b"lo\n"  # loopback only
    pyrun("build", "--no-cache", "--network", "host", "-t", "net:host", ctx)
    host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    inside = names(pyrun.image_files("net:host", "/links").decode())
    assert inside == names("\n".join(line.split(": ")[1] for line in host_links.splitlines()))
    assert "eth0" in inside


def test_add_from_a_url(pyrun, busybox, tmp_path):  # noqa: F811
    import http.server
    import threading
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "remote.txt").write_text("fetched over http\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path / "srv"), **kw)

        def log_message(self, *a):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/remote.txt"
        ctx = context(tmp_path, f"FROM busybox\nADD {url} /opt/\nADD {url} /named.txt\n")
        pyrun("build", "-t", "url:1", ctx)
    finally:
        server.shutdown()
    assert pyrun.image_files("url:1", "/opt/remote.txt") == b"fetched over http\n"
    assert pyrun.image_files("url:1", "/named.txt") == b"fetched over http\n"


def test_from_scratch_and_metadata_instructions(pyrun, busybox, tmp_path):  # noqa: F811
    ctx = context(tmp_path, "FROM scratch\nCOPY only.txt /\nLABEL a=b \"c d\"=e\n"
                  "USER 1000:1000\nVOLUME [\"/data\"]\nSTOPSIGNAL SIGQUIT\n"
                  "SHELL [\"/bin/ash\", \"-c\"]\nCMD echo hi\n"
                  "HEALTHCHECK --interval=5s --retries=2 CMD wget -q -O- localhost\n",
                  {"only.txt": "alone\n"})
    pyrun("build", "-t", "scratch:1", ctx)
    info = json.loads(pyrun("image", "inspect", "scratch:1").stdout)[0]
    assert len(info["RootFS"]["Layers"]) == 1
    assert pyrun.image_files("scratch:1", "/only.txt") == b"alone\n"
    cfg = info["Config"]
    assert cfg["Labels"] == {"a": "b", "c d": "e"} and cfg["User"] == "1000:1000"
    assert cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGQUIT"
    assert cfg["Shell"] == ["/bin/ash", "-c"] and cfg["Cmd"] == ["/bin/ash", "-c", "echo hi"]
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q -O- localhost"],
                                  "Interval": 5_000_000_000, "Retries": 2}


def test_image_prune_removes_dangling_images_only(pyrun, busybox, tmp_path):  # noqa: F811
    ctx = context(tmp_path, "FROM busybox\nRUN echo 1 > /v\n")
    pyrun("build", "-t", "keep:1", ctx)
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nRUN echo 2 > /v\n")
    pyrun("build", "-t", "keep:1", str(tmp_path / "ctx"))  # the first build is now dangling
    layers_before = set(os.listdir(os.path.join(pyrun.root, "layers")))
    out = pyrun("image", "prune").stdout
    assert out.strip().splitlines()[-1] == "Total: 1 images"  # the first build's RUN step
    assert len(layers_before - set(os.listdir(os.path.join(pyrun.root, "layers")))) == 1
    assert pyrun.image_files("keep:1", "/v") == b"2\n"
    assert "busybox" in pyrun("image", "ls").stdout
