"""Sizes as Docker's flags take them: 512, 64k, 64m, 1.5g, 10MB (binary multiples)."""

UNITS = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parse_size(text: str) -> int:
    """Bytes; ValueError for what is not a size."""
    t = text.strip().lower()
    mult = 1
    if t and t[-1] in UNITS:
        mult = UNITS[t[-1]]
        t = t[:-1]
        if mult == 1 and t[-1:] in UNITS:  # "10mb": the b after a unit
            mult = UNITS[t[-1]]
            t = t[:-1]
    value = int(float(t) * mult)
    if value < 0:
        raise ValueError(f"negative size {text!r}")
    return value
