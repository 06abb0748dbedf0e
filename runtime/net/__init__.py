"""Networking for containers: the bridge, IPAM, named namespaces, published ports."""
