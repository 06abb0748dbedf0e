"""NAT, published ports and isolation in the kernel, in pyrun's own nftables table (and
nothing else).

    table ip pyrun
      chain boundary    filter hook prerouting, before NAT: drop what comes from any other
                        interface than lo to 127.0.0.0/8, and what comes from outside
                        pyrun's links to a network's addresses (see _ensure_table)
      set same          (subnet . subnet) for each network: traffic that stays in one
      set internal      the subnets of --internal networks
      set subnets       every network's subnet
      chain prerouting  nat hook prerouting: fib daddr type local → publish  (from outside)
      chain output      nat hook output:     fib daddr type local → publish  (from this host,
                                                                               127.0.0.1 too)
      chain publish     one "dport HOSTPORT dnat to IP:PORT" rule per published port,
                        commented with its container's id
      chain postrouting nat hook postrouting: masquerade what leaves the containers for the
                        world, loopback sources going to a container (127.0.0.1:PORT), and
                        hairpin traffic (a container to a published port)
      chain forward     filter hook forward: drop what goes from one network to another
                        (networks are isolated, as Docker's), and what enters or leaves an
                        internal network

Every link pyrun makes is named pyrun* (the host ends of the containers' veths, each
network's own link), so the rules match them by that prefix. Networks are told apart by
address: each container's host end drops a source address that is not its container's
(rp_filter, bridge.attach), so a source address says which network a packet comes from.
No userland proxy: the kernel forwards. The host's own ruleset is never listed, flushed or
changed; `nft` gets our table's commands only.
"""

from __future__ import annotations

import os

from runtime import paths
from runtime.errors import PyrunError

TABLE = "pyrun"
# Exists from the moment pyrun's table is complete until it is deleted (/run: not past a
# reboot, as the table). It spares each start a look at the ruleset (an `nft` run).
MARK = paths.NFT_MARK


class PortError(PyrunError):
    pass


def _nft(script: str) -> str:
    import shutil
    import subprocess
    nft = shutil.which("nft")
    if nft is None:
        raise PortError("nft not found: install Debian's nftables package (scripts/setup)")
    p = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True)
    if p.returncode != 0:
        raise PortError(f"nftables: {p.stderr.strip()}")
    return p.stdout


def _nft_json(args: list[str]) -> dict:
    import json
    return json.loads(_nft_list(["-j", *args]) or "{}")


def _nft_list(args: list[str]) -> str:
    """What `nft ARGS` prints, or "" where it fails (no such table or chain)."""
    import subprocess
    p = subprocess.run(["nft", *args], capture_output=True, text=True)
    return p.stdout if p.returncode == 0 else ""


def ensure_table(net=None) -> None:
    """The table, with `net`'s (a bridge.Net, the default network if None) elements."""
    from runtime.net.bridge import default_net, network_lock
    with network_lock():
        _ensure_table()
        _allow_network(net or default_net())


def _ensure_table() -> None:
    """Our table, its chains and NAT rules; under network_lock(). Made in one transaction
    where none is (one `nft` run; a transaction that deletes anything waits for the
    kernel's grace periods, so nothing is rewritten)."""
    if os.path.exists(MARK):
        return
    chains = f"""
add set ip {TABLE} same {{ type ipv4_addr . ipv4_addr; flags interval; }}
add set ip {TABLE} internal {{ type ipv4_addr; flags interval; }}
add set ip {TABLE} subnets {{ type ipv4_addr; flags interval; }}
add chain ip {TABLE} boundary {{ type filter hook prerouting priority raw; policy accept; }}
add chain ip {TABLE} forward {{ type filter hook forward priority filter; policy accept; }}
add chain ip {TABLE} publish
add chain ip {TABLE} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain ip {TABLE} output {{ type nat hook output priority -100; policy accept; }}
add chain ip {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
"""
    # The links pyrun makes route 127.0.0.0/8 (route_localnet, for the DNAT of
    # 127.0.0.1:PORT). Without the boundary chain's first rule, a container with
    # CAP_NET_RAW (a default capability) could send a crafted frame to the host's 127.0.0.1
    # and reach what listens there for the host alone (the route_localnet hole of Kubernetes'
    # CVE-2020-8558), and the DNAT in prerouting would take another host's frame to
    # 127.0.0.1:PORT to a port published on 127.0.0.1 alone (moby/moby#41872). The kernel
    # drops such martians itself where no route_localnet is set, so the rule takes nothing
    # else away. It runs before NAT: a reply to a DNATed loopback client still carries the
    # masqueraded address there.
    # Its second rule: the host forwards, so without it a neighbour on the host's LAN that
    # routes a container subnet through the host reaches every container's ports, published
    # or not (Docker closed the same hole in 28.0 with a raw PREROUTING drop per container).
    # A published port is reached at the host's address: before NAT, so not dropped; and
    # the host's own traffic to a container leaves by OUTPUT, not through here.
    rules = f"""
add rule ip {TABLE} boundary iifname != "lo" ip daddr 127.0.0.0/8 drop
add rule ip {TABLE} boundary iifname != "pyrun*" ip daddr @subnets drop
add rule ip {TABLE} prerouting fib daddr type local jump publish
add rule ip {TABLE} output fib daddr type local jump publish
add rule ip {TABLE} postrouting iifname "pyrun*" oifname != "pyrun*" masquerade
add rule ip {TABLE} postrouting ip saddr 127.0.0.0/8 oifname "pyrun*" masquerade
add rule ip {TABLE} postrouting iifname "pyrun*" oifname "pyrun*" ct status dnat masquerade
add rule ip {TABLE} forward iifname "pyrun*" oifname "pyrun*" ip saddr . ip daddr != @same drop
add rule ip {TABLE} forward ip saddr @internal ip saddr . ip daddr != @same drop
add rule ip {TABLE} forward ip daddr @internal ip saddr . ip daddr != @same drop
"""
    for name in _marks(any_version=True):  # elements that went with a table, or an older
        os.unlink(name)                     # pyrun's marks
    os.makedirs(os.path.dirname(MARK), exist_ok=True)
    try:
        _nft(f"create table ip {TABLE}\n" + chains + rules)  # fails if the table exists
    except PortError:
        # A table without the mark: a crash before the mark was written, or an older
        # pyrun's, whose rules would not do. Replaced in one transaction, with what its
        # running containers need carried over: their networks' elements and published
        # ports (an upgrade of pyrun must not cut them off).
        kept, subnets = _carried()
        _nft(f"add table ip {TABLE}\ndelete table ip {TABLE}\nadd table ip {TABLE}\n" +
             chains + rules + kept)
        for subnet in subnets:
            open(_network_mark(subnet), "w").close()
    open(MARK, "w").close()


def _carried() -> tuple[str, list[str]]:
    """The existing table's networks and published ports, as commands for the new one, and
    the subnets among them. Set elements are read from nft's JSON (subnets as prefixes);
    the publish chain's rules are taken as nft lists them, which is its own input syntax."""
    out, subnets = [], []
    data = _nft_json(["list", "table", "ip", TABLE]).get("nftables", [])
    sets = {x["set"]["name"]: x["set"].get("elem", []) for x in data if "set" in x}

    def prefix(e) -> str:
        return f"{e['prefix']['addr']}/{e['prefix']['len']}" if isinstance(e, dict) else str(e)
    for e in sets.get("same", []):
        if isinstance(e, dict) and "concat" in e:
            a, b = (prefix(x) for x in e["concat"])
            out.append(f"add element ip {TABLE} same {{ {a} . {b} }}")
            out.append(f"add element ip {TABLE} subnets {{ {a} }}")
            subnets.append(a)
    for e in sets.get("internal", []):
        out.append(f"add element ip {TABLE} internal {{ {prefix(e)} }}")
    for line in _nft_list(["list", "chain", "ip", TABLE, "publish"]).splitlines():
        line = line.strip()
        if " dnat to " in line:
            out.append(f"add rule ip {TABLE} publish {line}")
    return "".join(line + "\n" for line in out), subnets


def _rules(table: str, chain: str) -> list[dict]:
    data = _nft_json(["list", "chain", "ip", table, chain])
    return [x["rule"] for x in data.get("nftables", []) if "rule" in x]


def port_free(host_port: int, proto: str = "tcp", host_ip: str = "0.0.0.0") -> bool:
    """Is anything listening on (or bound to) the host port? A published port answers
    for every local address, so the check binds the wildcard address."""
    import socket
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((host_ip, host_port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(proto: str = "tcp") -> int:
    import socket
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _network_mark(subnet) -> str:
    return f"{MARK}.{str(subnet).replace('/', '_')}"


def _marks(any_version: bool = False) -> list[str]:
    """The networks' marks (any_version: an older pyrun's too, nft-table-v2.*)."""
    folder, base = os.path.split(MARK)
    prefix = base.rsplit("-", 1)[0] + "-" if any_version else base + "."
    try:
        return [os.path.join(folder, n) for n in os.listdir(folder)
                if n.startswith(prefix) and n != base]
    except FileNotFoundError:
        return []


def _allow_network(net) -> None:
    """A network's set elements (its own traffic passes; an internal one's stays in), once
    per table: a mark beside the table's, named after the subnet, says they are in. Under
    network_lock()."""
    mark = _network_mark(net.subnet)
    if os.path.exists(mark):
        return
    script = (f"add element ip {TABLE} same {{ {net.subnet} . {net.subnet} }}\n"
              f"add element ip {TABLE} subnets {{ {net.subnet} }}\n")
    if net.internal:
        script += f"add element ip {TABLE} internal {{ {net.subnet} }}\n"
    _nft(script)
    open(mark, "w").close()


def forget_network(net) -> None:
    """Take a removed network's elements out (its subnet may be another network's next).
    Under network_lock()."""
    mark = _network_mark(net.subnet)
    if not os.path.exists(mark):
        return
    script = (f"delete element ip {TABLE} same {{ {net.subnet} . {net.subnet} }}\n"
              f"delete element ip {TABLE} subnets {{ {net.subnet} }}\n")
    if net.internal:
        script += f"delete element ip {TABLE} internal {{ {net.subnet} }}\n"
    try:
        _nft(script)
    except PortError:
        pass  # the table went meanwhile, and the elements with it
    os.unlink(mark)


def publish(container_id: str, ip: str, ports: list[dict], net=None) -> None:
    """ports: [{"host_ip", "host_port", "container_port", "proto"}]; a host_port of 0 is
    given a free port here (written into the dict). Also makes the table, whose masquerade
    rule every container on a network needs to reach out, and lets the traffic of the
    container's network (a bridge.Net, the default network if None) through its isolation
    rules.

    The check and the rules are one step under network_lock(), and the rules themselves are
    the record of what is taken (host-wide, whatever store a container is in, and as long as
    a crashed container's rules remain): of concurrent runs asking for one port, one gets it
    and the others Docker's "port is already allocated"."""
    from runtime.net.bridge import default_net, network_lock
    with network_lock():
        _ensure_table()
        _allow_network(net or default_net())
        if not ports:
            return
        taken = set(published_ports())
        for p in ports:
            if p["host_port"] == 0:
                while True:
                    p["host_port"] = free_port(p["proto"])
                    if (p["proto"], p["host_port"]) not in taken:
                        break
            elif (p["proto"], p["host_port"]) in taken or not port_free(p["host_port"],
                                                                         p["proto"]):
                raise PortError(f"Bind for {p.get('host_ip') or '0.0.0.0'}:{p['host_port']} "
                                "failed: port is already allocated")
            taken.add((p["proto"], p["host_port"]))
        _add_rules(container_id, ip, ports)


def _add_rules(container_id: str, ip: str, ports: list[dict]) -> None:
    lines = []
    for p in ports:
        match = f"{p['proto']} dport {p['host_port']}"
        if p.get("host_ip") and p["host_ip"] != "0.0.0.0":
            match = f"ip daddr {p['host_ip']} {match}"
        lines.append(f'add rule ip {TABLE} publish {match} dnat to {ip}:{p["container_port"]} '
                     f'comment "pyrun {container_id}"')
    _nft("\n".join(lines) + "\n")


def unpublish(container_id: str) -> None:
    """Remove every rule commented with this container's id (safe to repeat)."""
    tag = f"pyrun {container_id}"
    handles = [r["handle"] for r in _rules(TABLE, "publish") if r.get("comment") == tag]
    if handles:
        _nft("".join(f"delete rule ip {TABLE} publish handle {h}\n" for h in handles))


def published_ports() -> list[tuple[str, int]]:
    """(proto, host port) of every published rule in our table."""
    out = []
    for r in _rules(TABLE, "publish"):
        for e in r.get("expr", []):
            m = e.get("match", {})
            left = m.get("left", {}).get("payload", {})
            if left.get("field") == "dport":
                out.append((left.get("protocol", "tcp"), int(m.get("right"))))
    return out


def remove_table_if_unused() -> None:
    """The table goes with the last bridged container (no lease left); under
    network_lock()."""
    from runtime.net.bridge import leases_in_use
    if leases_in_use() or not os.path.exists(MARK):
        return
    try:
        _nft(f"delete table ip {TABLE}\n")
    except PortError:
        pass  # already gone
    os.unlink(MARK)
    for name in _marks():  # the networks' elements went with the table
        os.unlink(name)
