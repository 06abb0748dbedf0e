"""Names that resolve on user-defined networks: a resolver at 127.0.0.11:53 in each
attached container's network namespace, as Docker's embedded DNS.

One small process per host serves every container: it opens a UDP socket bound to
127.0.0.11:53 *inside* each container's network namespace (setns, socket, setns back; a
socket stays in the namespace it was made in, and the whole of 127.0.0.0/8 is local on a
namespace's loopback), and answers there:
  - A for a container's name, alias or short id (also NAME.NETWORK) on a network the asking
    container is on; NODATA for other types of those names (AAAA: no IPv6 here);
  - PTR for the addresses of those containers (NAME.NETWORK);
  - anything else is forwarded to the container's --dns servers, else the host's resolvers
    (from the host's namespace, so a 127.0.0.53 there works), and the answer relayed; not
    for a container only on internal networks (NXDOMAIN: it has no way out).

What it serves comes from DNS_DIR, one file per container written by the engine
(register/unregister, below), which then asks the resolver to sync over a unix socket and
waits for its "ok": by the time the container's process starts, its socket is open. The
resolver is started on demand (`python -m runtime.net.dns pyrun-dns`), keeps to itself with a
lock, closes a container's socket when its file goes or its namespace is gone (a socket would
keep the namespace, and so its veth, alive), and exits once it has served nobody for LINGER
seconds. UDP only: answers this small are never truncated.
"""

from __future__ import annotations

import os
import socket
import struct

from runtime import paths

DNS_DIR = paths.DNS_DIR
SOCKET = paths.DNS_SOCKET
LOCK = paths.DNS_LOCK
ADDRESS = "127.0.0.11"
TTL = 600
LINGER = 2.0
FORWARD_TIMEOUT = 5.0

A, PTR, AAAA, ANY = 1, 12, 28, 255
NOERROR, FORMERR, SERVFAIL, NXDOMAIN = 0, 1, 2, 3


# ---- the engine's side ---------------------------------------------------------------------------

def register(container_id: str, netns: str, endpoints: list[dict], servers=()) -> None:
    """Serve DNS in this container's namespace. endpoints: [{"network": id, "network_name",
    "ip", "names": [...]}], one per user-defined network it is on; servers: where its other
    questions go (--dns), else the host's resolvers. Returns once the resolver's socket is
    open there."""
    os.makedirs(DNS_DIR, 0o755, exist_ok=True)
    from runtime import jsonfast as json
    path = os.path.join(DNS_DIR, container_id)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps({"netns": netns, "endpoints": endpoints, "dns": list(servers)}))
    os.rename(tmp, path)  # whole or not at all: the resolver reads it at any moment
    sync(start=True)


def unregister(container_id: str) -> None:
    """Stop serving this container (safe to repeat); its socket is closed when this returns,
    so nothing keeps its namespace alive."""
    try:
        os.unlink(os.path.join(DNS_DIR, container_id))
    except FileNotFoundError:
        return
    sync(start=False)


def registered(container_id: str) -> dict | None:
    from runtime import jsonfast as json
    try:
        with open(os.path.join(DNS_DIR, container_id)) as f:
            return json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None


def sync(start: bool, patience: float = 5.0) -> None:
    """Ask the resolver to read DNS_DIR again and wait for it; start one if none runs (and
    `start`). A resolver that cannot be reached in `patience` seconds is an error."""
    import time
    deadline = time.monotonic() + patience
    spawned = 0.0
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            s.connect(SOCKET)
            s.sendall(b"sync\n")
            if s.recv(16) == b"ok\n":
                return
        except (FileNotFoundError, ConnectionRefusedError):
            if not start:
                return  # no resolver: nothing of the container's is open
        except OSError:
            pass  # the resolver ended meanwhile: ask the next one
        finally:
            s.close()
        now = time.monotonic()
        if now > deadline:
            from runtime.net.bridge import NetworkError
            raise NetworkError("the DNS resolver for user-defined networks did not answer")
        if start and now - spawned > 0.5:  # none yet, or the one started lost a race
            spawn()
            spawned = now
        time.sleep(0.005)


def spawn() -> None:
    """Start a resolver, detached: a grandchild (so that nobody must reap it but init) in a
    session of its own, with nothing of ours open, as a process of its own (`ps` shows
    `pyrun-dns`; a fork of the caller would carry its memory and its command line)."""
    import sys
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(3, 1 << 16)
                os.execv(sys.executable, [sys.executable, "-m", "runtime.net.dns", "pyrun-dns"])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


# ---- DNS messages --------------------------------------------------------------------------------

def parse_query(msg: bytes) -> tuple[int, int, str, int, int]:
    """(id, flags, name, qtype, end of the question) of a query with one question; ValueError
    if it is not one."""
    if len(msg) < 12:
        raise ValueError("short")
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if flags & 0x8000 or qd != 1:
        raise ValueError("not a query of one question")
    labels, pos = [], 12
    while True:
        n = msg[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0:
            raise ValueError("compressed question")
        labels.append(msg[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
        if pos >= len(msg):
            raise ValueError("short")
    qtype, _qclass = struct.unpack("!HH", msg[pos:pos + 4])
    if pos + 4 > len(msg):
        raise ValueError("short")
    return qid, flags, ".".join(labels).lower(), qtype, pos + 4


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii", "replace")[:63]
    return out + b"\0"


def answer(query: bytes, end: int, rcode: int, records: list[tuple[int, bytes]]) -> bytes:
    """A reply to `query` (its question copied; end: where the question ends) with the
    records given as (type, rdata), each named by a pointer to the question's name."""
    qid, flags = struct.unpack("!HH", query[:4])
    flags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode  # QR AA RD(copied) RA
    out = struct.pack("!HHHHHH", qid, flags, 1, len(records), 0, 0) + query[12:end]
    for rtype, rdata in records:
        out += struct.pack("!HHHIH", 0xC00C, rtype, 1, TTL, len(rdata)) + rdata
    return out


def lookup(entries: dict, asker: str, name: str, qtype: int):
    """What the resolver answers `asker` (a container id) for (name, qtype): (rcode, records),
    or None to forward the question. `entries`: container id -> its registered data."""
    me = entries.get(asker)
    if not me:
        return None
    mine = {e["network"] for e in me["endpoints"]}
    if qtype == PTR and name.endswith(".in-addr.arpa"):
        ip = ".".join(reversed(name[:-len(".in-addr.arpa")].split(".")))
        for data in entries.values():
            for e in data["endpoints"]:
                if e["network"] in mine and e["ip"] == ip and e["names"]:
                    return NOERROR, [(PTR, encode_name(f"{e['names'][0]}."
                                                       f"{e['network_name']}"))]
        return None
    found = []
    for data in entries.values():
        for e in data["endpoints"]:
            if e["network"] not in mine:
                continue
            suffix = "." + e["network_name"].lower()
            bare = name[:-len(suffix)] if name.endswith(suffix) else name
            if bare in (n.lower() for n in e["names"]) and e["ip"] not in found:
                found.append(e["ip"])
    if not found:
        return None
    if qtype not in (A, ANY):
        return NOERROR, []  # the name exists, without records of that type
    return NOERROR, [(A, socket.inet_aton(ip)) for ip in found]


def upstreams(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    """The host's resolvers (the resolver runs in the host's namespace: loopback ones too)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) >= 2 and w[0] == "nameserver" and ":" not in w[1]:
                    out.append((w[1], 53))
    except OSError:
        pass
    return out or [("8.8.8.8", 53)]


# ---- the resolver --------------------------------------------------------------------------------

class Resolver:
    def __init__(self):
        from runtime.linux import syscalls as sc
        self.sc = sc
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.entries: dict[str, dict] = {}
        self.socks: dict[str, socket.socket] = {}   # container id -> its 127.0.0.11 socket
        self.mtime = None
        self.upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.pending: dict[int, tuple] = {}  # forwarded id -> (socket, address, id, time)
        self.next_id = int.from_bytes(os.urandom(2), "big")

    def _open_in(self, netns: str) -> socket.socket:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.sc.setns(fd, self.sc.CLONE_NEWNET)
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                try:
                    s.bind((ADDRESS, 53))
                except OSError:
                    s.close()
                    raise
            finally:
                self.sc.setns(self.home, self.sc.CLONE_NEWNET)
        finally:
            os.close(fd)
        return s

    def sync(self) -> None:
        """Read DNS_DIR again (when it changed) and open/close sockets to match; entries
        whose namespace is gone (a killed teardown) are dropped, their file removed."""
        from runtime import jsonfast as json
        from runtime.net.bridge import netns_alive
        try:
            mtime = os.stat(DNS_DIR).st_mtime_ns
            names = os.listdir(DNS_DIR)
        except FileNotFoundError:
            mtime, names = None, []
        if mtime != self.mtime:
            self.mtime = mtime
            entries = {}
            for cid in names:
                if cid.endswith(".tmp"):
                    continue
                try:
                    with open(os.path.join(DNS_DIR, cid)) as f:
                        entries[cid] = json.loads(f.read())
                except (FileNotFoundError, ValueError):
                    continue
            self.entries = entries
        for cid in list(self.entries):
            if not netns_alive(f"pyrun-{cid[:12]}"):
                del self.entries[cid]
                try:
                    os.unlink(os.path.join(DNS_DIR, cid))
                except FileNotFoundError:
                    pass
        for cid in list(self.socks):
            if cid not in self.entries:
                self.socks.pop(cid).close()
        for cid, data in self.entries.items():
            if cid not in self.socks:
                try:
                    self.socks[cid] = self._open_in(data["netns"])
                except OSError:
                    pass  # its namespace went meanwhile: dropped at the next sync

    def handle(self, cid: str, s: socket.socket) -> None:
        try:
            msg, addr = s.recvfrom(4096)
        except OSError:
            return
        try:
            qid, flags, name, qtype, end = parse_query(msg)
        except (ValueError, IndexError, struct.error):
            if len(msg) >= 12:
                s.sendto(struct.pack("!HH", *struct.unpack("!HH", msg[:4])[:1], 0x8001) +
                         b"\0" * 8, addr)  # FORMERR, no question
            return
        self.sync()  # a container started since: the directory's mtime says so
        got = lookup(self.entries, cid, name, qtype)
        if got is not None:
            s.sendto(answer(msg, end, *got), addr)
            return
        me = self.entries.get(cid) or {}
        if me.get("endpoints") and all(e.get("internal") for e in me["endpoints"]):
            s.sendto(answer(msg, end, NXDOMAIN, []), addr)  # no way out: names neither
            return
        servers = [(ip, 53) for ip in me.get("dns") or []]
        self.forward(msg, qid, s, addr, servers or upstreams())

    def forward(self, msg: bytes, qid: int, s: socket.socket, addr, servers) -> None:
        import time
        self.next_id = (self.next_id + 1) & 0xFFFF
        fid = self.next_id
        self.pending[fid] = (s, addr, qid, time.monotonic(), msg)
        out = struct.pack("!H", fid) + msg[2:]
        for server in servers:
            try:
                self.upstream.sendto(out, server)
            except OSError:
                continue

    def relay(self) -> None:
        try:
            msg, _ = self.upstream.recvfrom(65535)
        except OSError:
            return
        if len(msg) < 12:
            return
        got = self.pending.pop(struct.unpack("!H", msg[:2])[0], None)
        if got is None:
            return  # a second upstream's answer, or a late one
        s, addr, qid, _, _ = got
        try:
            s.sendto(struct.pack("!H", qid) + msg[2:], addr)
        except OSError:
            pass

    def expire(self) -> None:
        import time
        now = time.monotonic()
        for fid, (s, addr, qid, t, msg) in list(self.pending.items()):
            if now - t > FORWARD_TIMEOUT:
                del self.pending[fid]
                try:
                    _, _, _, _, end = parse_query(msg)
                    s.sendto(answer(msg, end, SERVFAIL, []), addr)
                except (OSError, ValueError, IndexError, struct.error):
                    pass


def serve() -> None:
    """The resolver's main loop (in a detached child: see sync)."""
    import fcntl
    import select
    import time
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    lock = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another one serves (or is ending: the client asks again)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        os.unlink(SOCKET)  # a killed resolver's; the lock says none runs
    except FileNotFoundError:
        pass
    old = os.umask(0o077)
    try:
        control.bind(SOCKET)
    finally:
        os.umask(old)
    control.listen(64)
    r = Resolver()
    r.sync()
    idle_since = time.monotonic()
    try:
        while True:
            by_fd = {s.fileno(): cid for cid, s in r.socks.items()}
            ready, _, _ = select.select([control, r.upstream, *r.socks.values()], [], [], 0.5)
            for s in ready:
                if s is control:
                    try:
                        conn, _ = control.accept()
                    except OSError:
                        continue
                    with conn:
                        conn.settimeout(1)
                        try:
                            if conn.recv(16).startswith(b"sync"):
                                r.sync()
                                conn.sendall(b"ok\n")
                        except OSError:
                            pass
                elif s is r.upstream:
                    r.relay()
                elif s.fileno() in by_fd:
                    r.handle(by_fd[s.fileno()], s)
            r.expire()
            if not ready:
                r.sync()  # a killed teardown's container: its namespace is gone
            now = time.monotonic()
            if r.socks or r.pending:
                idle_since = now
            elif now - idle_since >= LINGER:
                break
    finally:
        # The socket's name goes first: a client that finds none starts a new resolver,
        # which waits for nothing (ours is released just after).
        try:
            os.unlink(SOCKET)
        except FileNotFoundError:
            pass
        control.close()
        os.close(lock)


if __name__ == "__main__":
    serve()
