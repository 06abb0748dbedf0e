"""`pyrun system service`: the Docker Engine API on a unix socket (or TLS over TCP), a thread
per connection, each request routed to a handler that calls the engine's verbs (the same the
CLI calls; no logic only one of them has).

    serve(uri=None, idle=5.0, tls=None)

The socket: unix:///run/pyrun/docker.sock by default (root's, mode 0660, group `pyrun` when
that group exists, as Docker's `docker` group), or one passed by systemd (LISTEN_FDS,
LISTEN_PID; both unset before anything runs, as podman does), or tcp://HOST:PORT only with
client certificates verified. The service exits after `idle` seconds with no request and no
connection (0: never).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time

from runtime import paths
from runtime.api.http import ApiError, Closed, Connection
from runtime.api.routes import API_VERSION, ROUTES
from runtime.errors import Conflict, NotFound, PyrunError

DEFAULT_URI = f"unix://{paths.RUN}/docker.sock"
TRACE = bool(os.environ.get("PYRUN_API_TRACE"))  # each request on stderr, for debugging
VERSION_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


def status_of(e: Exception) -> int:
    if isinstance(e, ApiError):
        return e.status
    if isinstance(e, NotFound):
        return 404
    if isinstance(e, Conflict):
        return 409
    from runtime.errors import ConfigError, InvalidParameter
    if isinstance(e, (InvalidParameter, ConfigError, ValueError)):
        return 400
    return 500


class Service:
    def __init__(self, store_root: str | None = None):
        from runtime.image.store import Store
        self.store = Store(store_root).ensure()
        self.lock = threading.Lock()
        self.active = 0
        self.last = time.monotonic()
        self.version_prefix_seen = False
        from runtime.api import build, containers, images, networks, system, volumes  # noqa: F401,E501
        # (importing them registers their routes)

    def _busy(self, delta: int) -> None:
        with self.lock:
            self.active += delta
            self.last = time.monotonic()

    def handle_connection(self, sock: socket.socket) -> None:
        self._busy(+1)
        conn = Connection(sock)
        try:
            while conn.keep_alive:
                try:
                    req = conn.read_request()
                except Closed:
                    break
                except ApiError as e:
                    conn.keep_alive = False
                    conn.send_error(e.status, str(e))
                    break
                self.last = time.monotonic()
                self.dispatch(conn, req)
                if conn.keep_alive and not req.consumed and (req.length or req.chunked):
                    for _ in req.chunks():  # a body the handler did not read
                        pass
        except (Closed, ConnectionError, BrokenPipeError, OSError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass
            self._busy(-1)

    def dispatch(self, conn: Connection, req) -> None:
        if TRACE:
            import sys
            print(f"api: {time.monotonic():.3f} {req.method} {req.path} {req.query}", file=sys.stderr,
                  flush=True)
        path = req.path
        m = VERSION_PREFIX.match(path)
        if m:
            major, minor, path = int(m.group(1)), int(m.group(2)), m.group(3)
            if (major, minor) > (1, 41):
                return conn.send_error(400, f"client version {major}.{minor} is too new. "
                                            f"Maximum supported API version is {API_VERSION}")
        method = "GET" if req.method == "HEAD" else req.method
        allowed = False
        for m_, regex, fn in ROUTES:
            hit = regex.match(path)
            if not hit:
                continue
            allowed = True
            if m_ != method:
                continue
            try:
                fn(self, conn, req, **hit.groupdict())
            except Exception as e:  # noqa: BLE001 - every failure becomes Docker's answer
                if isinstance(e, (Closed, BrokenPipeError, ConnectionError)):
                    raise
                status = status_of(e)
                if not isinstance(e, (PyrunError, ValueError)):  # a bug: the log says where
                    import sys
                    import traceback
                    traceback.print_exc(file=sys.stderr)
                message = str(e) if isinstance(e, (PyrunError, ValueError)) else \
                    f"{type(e).__name__}: {e}"
                if conn.hijacked:  # raw bytes: nothing can be said but by closing
                    conn.keep_alive = False
                elif conn.started:  # a stream was under way: end it with the error
                    try:
                        conn.write_json({"error": message, "errorDetail": {"message": message}})
                        conn.end()
                    except OSError:
                        pass
                    conn.keep_alive = False
                else:
                    conn.send_error(status, message)
            return
        if allowed:
            return conn.send_error(405, f"method {req.method} not allowed on {path}")
        conn.send_error(404, f"page not found: {req.method} {req.path}")

    def idle_for(self) -> float:
        with self.lock:
            return 0.0 if self.active else time.monotonic() - self.last


def listening_socket(uri: str | None, tls: dict | None = None) -> tuple[socket.socket, str]:
    """The socket to serve: systemd's, or made from the URI; and the path to remove at the
    end ("" for systemd's and TCP)."""
    fds = os.environ.pop("LISTEN_FDS", None)
    pid = os.environ.pop("LISTEN_PID", None)
    os.environ.pop("LISTEN_FDNAMES", None)
    if fds and pid == str(os.getpid()) and int(fds) >= 1:
        s = socket.socket(fileno=3)
        fam = s.family
        os.set_inheritable(3, False)
        if fam not in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
            raise PyrunError("the socket systemd passed is not a unix or TCP socket")
        return s, ""
    uri = uri or DEFAULT_URI
    if uri.startswith("unix://"):
        path = uri[len("unix://"):]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            os.unlink(path)  # a previous service's (a live one would still answer: checked)
        except FileNotFoundError:
            pass
        old = os.umask(0o117)
        try:
            s.bind(path)
        finally:
            os.umask(old)
        try:
            import grp
            os.chown(path, 0, grp.getgrnam("pyrun").gr_gid)
        except (KeyError, ImportError):
            pass  # no pyrun group: root's alone
        os.chmod(path, 0o660)
        s.listen(128)
        return s, path
    if uri.startswith("tcp://"):
        if not tls:
            raise PyrunError("tcp:// is served only with TLS client verification (--tlsverify "
                             "--tlscacert --tlscert --tlskey): anyone who reaches the port "
                             "would be root on this host")
        host, _, port = uri[len("tcp://"):].rpartition(":")
        s = socket.create_server((host or "127.0.0.1", int(port)), reuse_port=False)
        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls["ca"])
        ctx.load_cert_chain(tls["cert"], tls["key"])
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx.wrap_socket(s, server_side=True), ""
    raise PyrunError(f"cannot serve {uri!r}: unix:///PATH or tcp://HOST:PORT")


def serve(uri: str | None = None, idle: float = 5.0, tls: dict | None = None,
          store_root: str | None = None, ready=None) -> None:
    import signal
    import sys

    def stop(signum, _frame):
        sys.exit(0)  # through the finally below: the socket's name goes with the service
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listener, path = listening_socket(uri, tls)
    svc = Service(store_root)
    listener.settimeout(0.5)
    if ready:
        ready(listener)
    try:
        while True:
            try:
                sock, _ = listener.accept()
            except socket.timeout:
                if idle and svc.idle_for() >= idle:
                    return
                continue
            except OSError:
                continue  # a TLS handshake that failed: that client only
            sock.settimeout(None)
            svc._busy(0)
            threading.Thread(target=svc.handle_connection, args=(sock,), daemon=True).start()
    finally:
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass
        listener.close()
