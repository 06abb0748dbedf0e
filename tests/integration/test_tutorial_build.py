"""The tutorial, for real: a Debian base made by `image bootstrap`, examples/custom-nginx
built with apt-get reaching Debian's mirror and rebuilt from cache, then run with a published
port, fetched with curl, listed, stopped and removed, with nothing left behind."""

import re
import shutil
import tempfile

import pytest

from tests.conftest import PROJECT
from tests.integration.test_build import Pyrun


@pytest.fixture(scope="module")
def debian_store():
    if shutil.which("debootstrap") is None and shutil.which("mmdebstrap") is None:
        pytest.skip("debootstrap not installed (scripts/setup --test installs it)")
    root = tempfile.mkdtemp(prefix="pyrun-test-store-", dir="/var/tmp")
    pyrun = Pyrun(root)
    try:
        p = pyrun("image", "bootstrap", "debian:bookworm", timeout=900)
        assert p.stdout.strip().splitlines()[-1].startswith("debian:bookworm: sha256:")
        yield pyrun
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_bootstrapped_debian_is_a_one_layer_image(debian_store):
    ls = debian_store("image", "ls").stdout.splitlines()
    assert ls[1].split()[:2] == ["debian", "bookworm"]
    hist = debian_store("image", "history", "debian:bookworm").stdout.splitlines()
    assert len(hist) == 2 and "pyrun image bootstrap debian:bookworm" in hist[1]


def test_tutorial_build_history_and_cached_rebuild(debian_store):
    ctx = str(PROJECT / "examples" / "custom-nginx")
    p = debian_store("build", "--tag", "custom-nginx:packaged", ctx, timeout=900)
    out = p.stdout.splitlines()
    assert out[0] == "Step 1/5 : FROM debian:bookworm"
    assert "Step 2/5 : EXPOSE 80" in out
    assert "Step 3/5 : RUN apt-get update && apt-get install nginx -y" in out
    assert any("Setting up nginx" in line for line in out)
    assert out[-1] == "Successfully tagged custom-nginx:packaged"
    image_id = out[-2].split()[-1]
    assert re.fullmatch(r"[0-9a-f]{12}", image_id)

    # The installed web server is in the image.
    conf = debian_store.image_files("custom-nginx:packaged", "/etc/nginx/nginx.conf")
    assert b"http {" in conf

    hist = debian_store("image", "history", "custom-nginx:packaged").stdout.splitlines()
    rows = hist[1:]
    assert len(rows) == 5  # four instructions on top of the base's one
    assert "CMD [\"nginx\" \"-g\" \"daemon…" in rows[0] and rows[0].rstrip().endswith("0B")
    assert "EXPOSE 80" in rows[3] and rows[3].rstrip().endswith("0B")
    size = rows[2].split()[-1]
    assert size.endswith("MB") and 10 <= float(size[:-2]) < 150, rows[2]  # tens of MB

    again = debian_store("build", "--tag", "custom-nginx:packaged", ctx).stdout
    assert again.count(" ---> Using cache") == 4 and "Running in" not in again
    assert f"Successfully built {image_id}" in again

    # ...and by short ID, as the tutorial does
    info = debian_store("image", "inspect", image_id).stdout
    assert '"custom-nginx:packaged"' in info


def test_tutorial_run_publish_curl_ls_stop_rm(debian_store):
    from tests.conftest import free_port
    from tests.integration.test_engine import NOTHING, http_get, settled
    ctx = str(PROJECT / "examples" / "custom-nginx")
    built = debian_store("build", "--tag", "custom-nginx:packaged", ctx).stdout
    short_id = built.splitlines()[-2].split()[-1]
    port = free_port()
    try:
        cid = debian_store("run", "--detach", "--name", "custom-nginx-packaged", "--publish",
                           f"{port}:80", "custom-nginx:packaged").stdout.strip()
        page = http_get(f"http://127.0.0.1:{port}/", timeout=10)
        assert "<title>Welcome to nginx!</title>" in page
        ls = debian_store("ls").stdout.splitlines()
        assert ls[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                 "PORTS", "NAMES"]
        assert ls[1].startswith(cid[:12]) and f"0.0.0.0:{port}->80/tcp" in ls[1]
        assert "custom-nginx:packaged" in ls[1] and "Up " in ls[1]
        debian_store("stop", "custom-nginx-packaged")
        debian_store("rm", "custom-nginx-packaged")
        # and by short image id, as the tutorial does
        port2 = free_port()
        debian_store("run", "-d", "--name", "by-id", "-p", f"{port2}:80", short_id)
        assert "Welcome to nginx!" in http_get(f"http://127.0.0.1:{port2}/", timeout=10)
        debian_store("rm", "-f", "by-id")
    finally:
        ids = debian_store("ls", "-aq", check=False).stdout.split()
        if ids:
            debian_store("rm", "-f", *ids, check=False)
    assert debian_store("ls", "-aq").stdout == ""
    assert settled() == NOTHING
