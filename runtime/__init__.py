"""pyrun: a container engine for Linux, and pyrun-oci, the OCI runtime under it."""

__version__ = "0.1.0"
