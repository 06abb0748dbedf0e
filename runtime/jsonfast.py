"""JSON for the container start path, straight over CPython's C accelerator `_json`.

The json package is thin Python over the same accelerator, but importing it brings `re` and
`enum` along, on every `pyrun-oci run` (scripts/bench imports). This keeps the part pyrun
needs: compact encoding, and decoding with the standard semantics (ValueError on bad input).
"""

import _json


class _Context:
    """The attributes the C scanner reads from json.JSONDecoder."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity, as json does


_scan = _json.make_scanner(_Context())


def _default(obj):
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ": ", ", ",
                             False, False, True)


def loads(text) -> object:
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8-sig")
    start = len(text) - len(text.lstrip())
    try:
        obj, end = _scan(text, start)
    except (StopIteration, SystemError):
        # The scanner words its errors with json.decoder's JSONDecodeError, and only if that
        # module is loaded (else: SystemError). Errors are rare: let json say it properly.
        import json
        return json.loads(text)
    if text[end:].strip():
        raise ValueError(f"Extra data: line 1 column {end + 1} (char {end})")
    return obj


_encode_canonical = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ":",
                                       ",", True, False, True)


def dumps(obj) -> str:
    """As json.dumps(obj)."""
    return "".join(_encode(obj, 0))


def dumps_canonical(obj) -> str:
    """As json.dumps(obj, separators=(",", ":"), sort_keys=True): the bytes digests are of."""
    return "".join(_encode_canonical(obj, 0))


def load(f) -> object:
    return loads(f.read())
