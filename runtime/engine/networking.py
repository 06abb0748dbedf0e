"""A container's networks: what `run --network/--network-alias`, `network connect` and
`network disconnect` ask for, and their wiring while it runs.

The record keeps one endpoint per network in NetworkSettings.Networks (as Docker's inspect
shows them): asked for at create (or by connect), given an address, MAC and veth while the
container runs, emptied again at teardown. The first network's interface is eth0 and holds
the default route; the others are eth1, eth2... On user-defined networks the container's
name, aliases and short id resolve for the others through 127.0.0.11 (runtime/net/dns.py).

    requested(network, aliases) -> the record's NetworkSettings at create
    donor_ref(network, o)       -> NAME of --network container:NAME, checked, or None
    wire(c, netns)              every endpoint attached, ports published, names served
    unwire(c)                   all of it undone (safe to repeat)
    connect(c, network, aliases, ip) / disconnect(c, network, force)
"""

from __future__ import annotations

from runtime.engine.model import Endpoint, NetworkSettings, Port, container_ref, dump, load
from runtime.errors import InvalidParameter, PyrunError
from runtime.net import networks as netdefs

NO_WIRING = ("none", "host")


class NetworkingError(PyrunError):
    pass


class InvalidEndpoint(NetworkingError, InvalidParameter):
    """An alias or address the network cannot take: the API's 400."""


def endpoint(d: dict, aliases=(), ip: str | None = None) -> Endpoint:
    return Endpoint(network_id=d["Id"], aliases=list(aliases),
                    ipam_config={"IPv4Address": ip} if ip else None)


def requested(network: str, aliases=(), ip: str | None = None) -> NetworkSettings:
    """NetworkSettings of a new container on `network` (a name or id; checked here)."""
    d = netdefs.get(network)
    if aliases and d["Name"] in netdefs.PREDEFINED:
        raise InvalidEndpoint("network-scoped aliases are only supported for user-defined "
                              "networks")
    if ip:
        _check_ip(d, ip)
    return NetworkSettings(networks={d["Name"]: endpoint(d, aliases, ip)})


def _check_ip(d: dict, ip: str) -> None:
    if d["Name"] in netdefs.PREDEFINED:
        raise InvalidEndpoint("user specified IP address is supported only when connecting "
                              "to networks with user configured subnets")
    net = netdefs.net_of(d)
    if not net.subnet.contains(ip) or ip == net.gateway:
        raise InvalidEndpoint(f"no configured subnet contains IP address {ip}")


def donor_ref(network: str, o) -> str | None:
    """--network container:NAME (a sidecar in another container's network namespace, as
    Docker's): NAME, which create records as "container:<its id>" (a rename does not lose
    it); None for any other network. What only a namespace of its own could take is
    refused, in Docker's words."""
    ref = container_ref(network)
    if ref is None:
        return None
    if not ref:
        raise InvalidEndpoint("invalid container format container:<name|id>")
    for given, what in ((o.publish or o.publish_all, "port publishing"),
                        (o.hostname, "hostname"), (o.dns, "dns"),
                        (o.add_hosts, "custom host-to-IP mapping"),
                        (o.network_aliases, "network-scoped aliases"),
                        (o.ip, "user specified IP address"), (o.links, "links")):
        if given:
            raise InvalidEndpoint(f"conflicting options: {what} and the network mode")
    return ref


def mode(c) -> str:
    return c.host.network_mode


def joined(c) -> str | None:
    """The id of the container whose network namespace this one joins, or None."""
    return container_ref(mode(c))


def wired(c) -> bool:
    """Does the container have interfaces of its own (not none, host, or another's)?"""
    m = mode(c)
    return m not in NO_WIRING and container_ref(m) is None


def endpoints(c) -> dict[str, Endpoint]:
    """The record's endpoints by network name."""
    return c.net.networks


def _pool(name: str, ep: Endpoint) -> str:
    from runtime.net import bridge
    return bridge.LEASES if name == "bridge" else f"{bridge.LEASES}-{ep.network_id[:12]}"


def _attach(c, netns: str, name: str, ep: Endpoint, index: int,
            ifname: str | None = None) -> None:
    """One endpoint wired: the veth, the address, the ports (published on the first)."""
    from runtime.net import bridge, ports as portsmod
    try:
        d = netdefs.get(name)
        if ep.network_id and d["Id"] != ep.network_id:
            raise netdefs.NoSuchNetwork(name)  # removed, and another made under its name
    except netdefs.NoSuchNetwork:
        raise NetworkingError(f"network {name} not found: it was removed after the "
                              "container was created (network disconnect it)") from None
    net = netdefs.net_of(d)
    att = bridge.attach(c.id, netns, net, ifname=ifname or f"eth{index}", ip=ep.requested_ip,
                        default_route=index == 0)
    ep.wired(att["ip"], att["gateway"], att["prefix"], att["mac"], att["veth"])
    c.save()  # before the ports: a killed start's teardown finds the address to give back
    ports = [dump(p) for p in c.host.ports] if index == 0 else []
    portsmod.publish(c.id, att["ip"], ports, net)
    if ports:  # with the host ports publish() picked for "-p CONTAINER" and -P
        c.host.ports = [load(Port, p) for p in ports]


def wire(c, netns: str) -> None:
    """Attach every endpoint, then serve names on the user-defined ones. The first endpoint's
    address is also the top-level IPAddress (as the default bridge's is in Docker's)."""
    eps = {name: ep for name, ep in endpoints(c).items() if name not in NO_WIRING}
    for index, (name, ep) in enumerate(eps.items()):
        _attach(c, netns, name, ep, index)
    first = next(iter(eps.values()), None)
    if first:
        ns = c.net
        ns.ip_address, ns.gateway = first.ip_address, first.gateway
        ns.ip_prefix_len, ns.mac_address = first.ip_prefix_len, first.mac_address
    # Not saved here: mark_running saves it all next, and what a killed start leaves is
    # found without it (the leases by the endpoints each _attach saved, the ports and the
    # names by the container's id).
    serve_names(c, netns)


def dns_endpoints(c) -> list[dict]:
    """What the resolver serves of this container: on each user-defined network, its name,
    aliases and short id at that network's address."""
    out = []
    for name, ep in endpoints(c).items():
        if name not in netdefs.PREDEFINED and ep.ip_address:
            out.append({"network": ep.network_id, "network_name": name, "ip": ep.ip_address,
                        "names": [c.name, *ep.aliases, c.id[:12]],
                        "internal": _internal(name)})
    return out


def _internal(name: str) -> bool:
    try:
        return netdefs.get(name)["Internal"]
    except netdefs.NoSuchNetwork:
        return False


def on_user_network(c) -> bool:
    return any(name not in netdefs.PREDEFINED for name in endpoints(c))


def serve_names(c, netns: str) -> None:
    eps = dns_endpoints(c)
    if eps:
        from runtime.net import dns
        dns.register(c.id, netns, eps, list(c.host.dns))


def unwire(c) -> None:
    """Undo wire() (safe to repeat, and after any part of it): names, ports, addresses."""
    from runtime.net import bridge
    if not wired(c):
        return
    if on_user_network(c):
        from runtime.net import dns
        dns.unregister(c.id)
    if c.host.ports:
        from runtime.net import ports as portsmod
        try:
            portsmod.unpublish(c.id)
        except PyrunError:
            pass
    for name, ep in endpoints(c).items():
        if ep.ip_address:
            bridge.detach({"ip": ep.ip_address, "leases": _pool(name, ep)})
            ep.unwired()
    c.net.unwired()


def connect(c, network: str, aliases=(), ip: str | None = None) -> None:
    """Put a container on one more network: at once if it runs (a new interface), at its
    next start otherwise."""
    c.reload()
    if joined(c):
        raise NetworkingError("container sharing network namespace with another container "
                              "or host cannot be connected to any other network")
    if mode(c) in NO_WIRING:
        raise NetworkingError("container cannot be disconnected from host network or "
                              "connected to host network" if mode(c) == "host" else
                              "container cannot be connected to a network while it is on "
                              "the none network")
    d = netdefs.get(network)
    if d["Name"] in ("host", "none"):
        raise NetworkingError(f"container cannot be connected to the {d['Name']} network")
    if d["Name"] in endpoints(c):
        raise NetworkingError(f"endpoint with name {c.name} already exists in network "
                              f"{d['Name']}")
    if aliases and d["Name"] == "bridge":
        raise InvalidEndpoint("network-scoped aliases are only supported for user-defined "
                              "networks")
    if ip:
        _check_ip(d, ip)
    eps = endpoints(c)
    eps[d["Name"]] = endpoint(d, aliases, ip)
    if not c.running:
        c.save()
        return
    netns = c.net.netns
    try:
        from runtime.net import bridge
        _attach(c, netns, d["Name"], eps[d["Name"]], len(eps) - 1, bridge.free_ifname(netns))
    except BaseException:
        ep = eps.pop(d["Name"])
        if ep.ip_address:
            from runtime.net import bridge
            bridge.detach({"ip": ep.ip_address, "leases": _pool(d["Name"], ep)})
        c.save()
        raise
    c.save()
    serve_names(c, netns)
    from runtime.engine import journal
    journal.record_network(c.store, d, "connect", container=c.id)


def disconnect(c, network: str, force: bool = False) -> None:
    c.reload()
    d = netdefs.get(network)
    eps = endpoints(c)
    if d["Name"] not in eps:
        if force:
            return
        raise NetworkingError(f"container {c.id[:12]} is not connected to network "
                              f"{d['Name']}")
    ep = eps.pop(d["Name"])
    if ep.ip_address:
        from runtime.net import bridge
        bridge.delete_link(ep.endpoint_id)  # its peer in the container goes with it
        bridge.detach({"ip": ep.ip_address, "leases": _pool(d["Name"], ep)})
        if not eps and c.host.ports:  # nothing left to publish to
            from runtime.net import ports as portsmod
            portsmod.unpublish(c.id)
    c.save()
    if c.running:
        if dns_endpoints(c):
            serve_names(c, c.net.netns)
        else:
            from runtime.net import dns
            dns.unregister(c.id)
    from runtime.engine import journal
    journal.record_network(c.store, d, "disconnect", container=c.id)


def inspected(containers, d: dict) -> dict:
    """`network inspect` of a network: its definition, with those of `containers` that run
    on it (Docker's Containers map)."""
    members = {}
    for c in containers:
        ep = c.net.networks.get(d["Name"])
        if ep and ep.ip_address and c.running:
            members[c.id] = {"Name": c.name, "EndpointID": ep.endpoint_id,
                             "MacAddress": ep.mac_address,
                             "IPv4Address": f"{ep.ip_address}/{ep.ip_prefix_len}",
                             "IPv6Address": ""}
    return {**d, "Containers": members}


# ---- the networks themselves, as the CLI and the API change them (with their events) ------

def create_network(store, name: str, subnet: str | None = None, gateway: str | None = None,
                   internal: bool = False, labels: dict | None = None) -> dict:
    from runtime.engine import journal
    d = netdefs.create(name, subnet, gateway, internal, labels)
    journal.record_network(store, d, "create")
    return d


def remove_network(store, name: str) -> dict:
    from runtime.engine import journal
    d = netdefs.remove(name)
    journal.record_network(store, d, "destroy")
    return d


def prune_networks(store) -> list[str]:
    """Remove the user-defined networks no container is on; their names."""
    removed = []
    for d in netdefs.list_all():
        if not netdefs.in_use(d):
            try:
                remove_network(store, d["Id"])
            except netdefs.NetworkError:
                continue  # taken meanwhile
            removed.append(d["Name"])
    return removed
