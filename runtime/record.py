"""@record: the part of @dataclass pyrun uses, without its import cost.

dataclasses imports inspect, a cost on every container start (scripts/bench imports).
Fields are the class's annotations, in order; a default that is a class (list, dict, User)
is a factory, called for each instance; anything else is the value itself.
"""


def record(cls):
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}

    def __init__(self, *args, **kw):
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} arguments")
        for n, v in zip(names, args):
            setattr(self, n, v)
        for n in names[len(args):]:
            if n in kw:
                setattr(self, n, kw.pop(n))
            elif n in defaults:
                d = defaults[n]
                setattr(self, n, d() if isinstance(d, type) else d)
            else:
                raise TypeError(f"{cls.__name__}() missing argument {n!r}")
        if kw:
            raise TypeError(f"{cls.__name__}() got unexpected arguments {sorted(kw)}")

    def __repr__(self):
        return f"{cls.__name__}(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in names) + ")"

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    cls.__init__ = __init__
    cls.__repr__ = __repr__
    cls.__eq__ = __eq__
    cls.__hash__ = None
    cls._fields = names
    return cls


def as_dict(obj) -> dict:
    return {n: getattr(obj, n) for n in obj._fields}
