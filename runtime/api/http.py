"""The HTTP/1.1 the Docker Engine API needs, over a connected socket, with the standard
library only: requests with Content-Length or chunked bodies, keep-alive, JSON answers,
chunked streams (logs, events, pulls, builds) and hijacked connections (attach, exec:
`Upgrade: tcp`, then raw bytes both ways).

Not http.server: its BaseHTTPRequestHandler reads bodies the caller must frame, has no chunked
request bodies (docker's build and cp send them), and hijacking means reaching under it.
"""

from __future__ import annotations

import json
import socket
import urllib.parse

from runtime.errors import PyrunError

MAX_HEADER = 64 * 1024
REASONS = {100: "Continue", 101: "UPGRADED", 200: "OK", 201: "Created", 204: "No Content",
           304: "Not Modified", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 500: "Internal Server Error",
           501: "Not Implemented"}


class ApiError(PyrunError):
    """An answer other than success, with Docker's status and message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Closed(Exception):
    """The client went away (or sent nothing more on a kept-alive connection)."""


class Request:
    def __init__(self, method: str, target: str, version: str, headers: dict, rfile,
                 conn: "Connection"):
        self.method = method
        self.version = version
        self.headers = headers            # lower-cased names
        url = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(url.path)
        self.query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        self.rfile = rfile
        self.conn = conn
        self._body = None
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            self.length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            raise ApiError(400, "bad Content-Length") from None
        self.consumed = False

    # ---- the query
    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        v = self.arg(name)
        if v is None:
            return default
        return v.lower() not in ("0", "false", "no", "")

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        v = self.arg(name)
        if v in (None, ""):
            return default
        try:
            return int(v)
        except ValueError:
            raise ApiError(400, f"invalid value for {name}: {v!r}") from None

    def json_arg(self, name: str) -> dict:
        v = self.arg(name)
        if not v:
            return {}
        try:
            return json.loads(v)
        except ValueError:
            raise ApiError(400, f"invalid JSON in {name}") from None

    # ---- the body
    def chunks(self):
        """The body as it comes (for a tar context or archive: never all in memory)."""
        if self.consumed:
            return
        self.consumed = True
        if self.chunked:
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise Closed()
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise ApiError(400, "bad chunk size") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                yield from self._exactly(size)
                self.rfile.readline(8)
        else:
            yield from self._exactly(self.length)

    def _exactly(self, size: int):
        while size:
            data = self.rfile.read(min(size, 1 << 16))
            if not data:
                raise Closed()
            size -= len(data)
            yield data

    def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join(self.chunks())
        return self._body

    def json(self, required: bool = False):
        raw = self.body()
        if not raw.strip():
            if required:
                raise ApiError(400, "request body is empty: a JSON object is expected")
            return {}
        try:
            return json.loads(raw)
        except ValueError as e:
            raise ApiError(400, f"invalid JSON: {e}") from None

    def wants_upgrade(self) -> bool:
        return "upgrade" in self.headers.get("connection", "").lower()


class Connection:
    """One client connection: requests in turn (keep-alive), answers written to it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.rfile = sock.makefile("rb", buffering=1 << 16)
        self.keep_alive = True
        self.started = False     # an answer's status line is out
        self.hijacked = False    # raw bytes from now on: no HTTP framing of any kind

    def read_request(self) -> Request:
        line = self.rfile.readline(MAX_HEADER)
        while line in (b"\r\n", b"\n"):  # stray line ends between requests
            line = self.rfile.readline(MAX_HEADER)
        if not line:
            raise Closed()
        try:
            method, target, version = line.decode("latin-1").split()
        except ValueError:
            raise ApiError(400, "malformed request line") from None
        headers = {}
        size = 0
        while True:
            h = self.rfile.readline(MAX_HEADER)
            size += len(h)
            if not h:
                raise Closed()
            if h in (b"\r\n", b"\n"):
                break
            if size > MAX_HEADER:
                raise ApiError(400, "headers too large")
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        self.started = False
        req = Request(method.upper(), target, version, headers, self.rfile, self)
        self.keep_alive = version == "HTTP/1.1" and \
            headers.get("connection", "").lower() != "close"
        if headers.get("expect", "").lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return req

    def head(self, status: int, headers: dict) -> None:
        """The status line and headers (Docker's own among them); the body is the caller's."""
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}",
                 "Api-Version: 1.41", "Server: pyrun", "Docker-Experimental: false",
                 "Ostype: linux"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if not self.keep_alive:
            lines.append("Connection: close")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.started = True

    def send(self, status: int, body: bytes = b"", content_type: str = "application/json",
             head_only: bool = False) -> None:
        headers = {"Content-Length": str(len(body))}
        if content_type and (body or head_only):
            headers["Content-Type"] = content_type
        self.head(status, headers)
        if body and not head_only:
            self.sock.sendall(body)

    def send_json(self, status: int, obj) -> None:
        self.send(status, (json.dumps(obj) + "\n").encode())

    def send_error(self, status: int, message: str) -> None:
        self.send_json(status, {"message": message})

    # ---- streams
    def start_stream(self, status: int = 200, content_type: str = "application/json") -> None:
        """A chunked answer: write() pieces, end() once (or the connection closes)."""
        self.head(status, {"Content-Type": content_type, "Transfer-Encoding": "chunked"})

    def write(self, data: bytes) -> None:
        if data:
            self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    def write_json(self, obj) -> None:
        self.write((json.dumps(obj) + "\n").encode())

    def end(self) -> None:
        self.sock.sendall(b"0\r\n\r\n")

    def hijack(self, req: Request, content_type: str) -> socket.socket:
        """Take the connection over (attach, exec start): 101 when the client asked for
        the upgrade, else 200 with a body that lasts until the connection closes. The
        caller then owns the socket; no other request follows on it."""
        if req.wants_upgrade():
            self.keep_alive = True  # (no "Connection: close" beside the upgrade)
            self.head(101, {"Content-Type": content_type, "Connection": "Upgrade",
                             "Upgrade": "tcp"})
        else:
            self.keep_alive = False
            self.head(200, {"Content-Type": content_type})
        self.keep_alive = False
        self.hijacked = True
        return self.sock


def end_hijacked(sock: socket.socket) -> None:
    """The end of a taken-over stream: our side's end first, then what the client still
    sends (a terminal's last keys, its own end) read and dropped until it closes, for a
    second at most. Closing with bytes unread would reset the connection instead, and the
    docker CLI prints "connection reset by peer" after the output."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1)
        while sock.recv(1 << 16):
            pass
    except OSError:
        pass


def frame(stream: int, data: bytes) -> bytes:
    """One piece of Docker's multiplexed stream: stream (0 stdin, 1 stdout, 2 stderr), a
    big-endian length, the bytes."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data
