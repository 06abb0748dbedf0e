"""Where linux/ says what it did not do as asked (a flag the kernel refuses dropped, a rule
that cannot apply skipped): to a sink the layer above installs (runtime/oci/log.py does, as
its debug lines), so that linux/ imports nothing from that layer. Silent until then."""

from __future__ import annotations

_sink = None  # a function taking the message, or None (no typing import: start path)


def install(sink) -> None:
    global _sink
    _sink = sink


def debug(msg: str) -> None:
    if _sink is not None:
        _sink(msg)
