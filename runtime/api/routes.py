"""The API's routing table: handlers register with @route; the server (server.py) looks
requests up here. Apart from both, so that neither imports the other's user."""

from __future__ import annotations

import re

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"

ROUTES: list[tuple[str, re.Pattern, object]] = []


def route(method: str, pattern: str):
    """Register a handler for METHOD /pattern ({name} matches one path segment, {name*} the
    rest, for image names with slashes)."""
    regex = re.compile("^" + re.sub(r"\{(\w+)\*\}", r"(?P<\1>.+)",
                                    re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)) + "$")

    def register(fn):
        ROUTES.append((method, regex, fn))
        return fn
    return register
