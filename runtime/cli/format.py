"""Docker's output conventions: truncated columns, tables (sizes and durations: units.py)."""

from __future__ import annotations

from runtime.cli.options import Option


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell plus three spaces, as docker's tabwriter."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        out.append("   ".join(c.ljust(w) for c, w in zip(r[:-1], widths[:-1])) + "   " + r[-1]
                   if len(r) > 1 else r[0])
    return "\n".join(line.rstrip() for line in out) + "\n"


def emit_rows(rows: list[dict], columns: list[tuple[str, str]], quiet: bool = False,
              fmt: str = "table", id_key: str = "ID") -> None:
    """A listing the Docker way: -q prints IDs, --format json one object per line, a Go
    template ("{{.Names}}", "table {{.ID}}\\t{{.Status}}") over each row, else a table of
    `columns` ((title, key) pairs)."""
    import sys

    from runtime import jsonfast as json
    if quiet:
        sys.stdout.write("".join(dict.fromkeys(r[id_key] + "\n" for r in rows)))
    elif fmt not in ("table", "json"):
        sys.stdout.write(template(fmt, rows, columns))
    elif fmt == "json":
        sys.stdout.write("".join(json.dumps(r) + "\n" for r in rows))
    else:
        sys.stdout.write(table([[t for t, _ in columns]] +
                               [[r[k] for _, k in columns] for r in rows]))


def template(fmt: str, rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Docker's --format for a listing: "table" (the default columns), "json" or
    "{{json .}}" (an object per line), or a Go template over each row (gotemplate.py:
    "{{.Name}}", "{{.Actor.Attributes.name}}"; "table {{.Name}}\t{{.CPUPerc}}": a table with
    those columns)."""
    import json
    import re

    from runtime.cli import gotemplate
    if fmt in ("", "table"):
        return table([[t for t, _ in columns]] + [[r[k] for _, k in columns] for r in rows])
    if fmt.strip() in ("json", "{{json .}}"):
        return "".join(json.dumps(r) + "\n" for r in rows)
    fields = re.compile(r"{{\s*\.(\w+)\s*}}")
    unknown = [m for m in fields.findall(fmt) if rows and m not in rows[0]]
    if unknown:  # a listing's rows are flat: a typo is an error, not "<no value>"
        from runtime.errors import PyrunError
        raise PyrunError(f"template: no field {unknown[0]!r} in {fmt!r} (fields: "
                         f"{', '.join(rows[0])})")
    body = fmt[len("table"):].strip() if fmt.startswith("table") else fmt
    body = body.replace("\\t", "\t")
    tree = gotemplate.parse(body)
    lines = [gotemplate.execute(tree, r) for r in rows]
    if fmt.startswith("table"):
        titles = {k: t for t, k in columns}
        head = fields.sub(lambda m: titles.get(m.group(1), m.group(1).upper()), body)
        cells = [line.split("\t") for line in [head] + lines]
        return table(cells)
    return "".join(line + "\n" for line in lines)


# every `inspect`'s -f/--format (options.click_options makes the click option from it)
INSPECT_FORMAT = [Option(("-f", "--format"), "fmt", "value",
                         "Go template executed for each object ({{.State.Pid}})")]


def inspect_output(objects: list[dict], fmt: str | None) -> str:
    """`inspect`'s output: the objects as a JSON array, or with -f/--format a Go template
    executed over each object, a line each (parsed once, before anything is printed)."""
    if not fmt or fmt == "json":
        import json
        return json.dumps(objects, indent=4) + "\n"
    from runtime.cli import gotemplate
    tree = gotemplate.parse(fmt)
    return "".join(gotemplate.execute(tree, o) + "\n" for o in objects)
