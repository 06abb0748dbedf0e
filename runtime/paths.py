"""Every place on the host the engine keeps something, in one list (each has "pyrun" in its
path, so that leaks can be found). The OCI runtime keeps its own default (runtime/oci/state.py
DEFAULT_ROOT, runc's --root), and the seccomp cache its own (runtime/linux/seccomp.py)."""

STORE = "/var/lib/pyrun"                  # images, layers, containers (--root, PYRUN_ROOT)
RUN = "/run/pyrun"                        # what a reboot should forget
OCI_ROOT = "/run/pyrun/oci"               # pyrun-oci's state of the engine's containers
BUILD_OCI_ROOT = "/run/pyrun-build"       # pyrun-oci's state of build steps (RUN)
NETNS_DIR = "/run/pyrun/netns"            # named network namespaces
NETWORK_LOCK = "/run/pyrun/network.lock"  # one network change at a time
NFT_MARK = "/run/pyrun/nft-table-v3"      # pyrun's nftables table exists (v3: the boundary
#                                           chain; an older pyrun's table is replaced)
LEASES = "/var/lib/pyrun/network/leases"  # IPAM: one file per address given out (the
#                                           default network; LEASES-<id> a user network's)
NETWORK_DEFS = "/var/lib/pyrun/network/networks"  # user-defined networks, a file each
DNS_DIR = "/run/pyrun/dns"                # the resolver's view: a file per container
DNS_SOCKET = "/run/pyrun/dns.sock"        # the resolver's control socket
DNS_LOCK = "/run/pyrun/dns.lock"          # held by the one resolver running


def console_socket(container_id: str) -> str:
    """Where a detached tty container's monitor receives its pty."""
    return f"{RUN}/console-{container_id[:12]}.sock"
