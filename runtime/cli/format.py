"""Docker's output conventions: truncated columns, tables (sizes and durations: units.py)."""

from __future__ import annotations


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
    """A listing the Docker way: -q prints IDs, --format json one object per line, else a
    table of `columns` ((title, key) pairs)."""
    import json

    import click
    if quiet:
        click.echo("".join(dict.fromkeys(r[id_key] + "\n" for r in rows)), nl=False)
    elif fmt == "json":
        for r in rows:
            click.echo(json.dumps(r))
    else:
        click.echo(table([[t for t, _ in columns]] + [[r[k] for _, k in columns] for r in rows]),
                   nl=False)


def template(fmt: str, rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Docker's --format for a listing: "table" (the default columns), "json" or
    "{{json .}}" (an object per line), or a Go template over the row's fields ("{{.Name}}",
    "table {{.Name}}\t{{.CPUPerc}}": a table with those columns)."""
    import json
    import re
    if fmt in ("", "table"):
        return table([[t for t, _ in columns]] + [[r[k] for _, k in columns] for r in rows])
    if fmt.strip() in ("json", "{{json .}}"):
        return "".join(json.dumps(r) + "\n" for r in rows)
    fields = re.compile(r"{{\s*\.(\w+)\s*}}")
    unknown = [m for m in fields.findall(fmt) if rows and m not in rows[0]]
    if unknown or "{{" in fields.sub("", fmt):
        from runtime.errors import PyrunError
        raise PyrunError(f"template: unsupported field or action in {fmt!r} (fields: "
                         f"{', '.join(rows[0]) if rows else 'none'})")
    body = fmt[len("table"):].strip() if fmt.startswith("table") else fmt
    body = body.replace("\\t", "\t")
    lines = [fields.sub(lambda m: str(r[m.group(1)]), body) for r in rows]
    if fmt.startswith("table"):
        titles = {k: t for t, k in columns}
        head = fields.sub(lambda m: titles.get(m.group(1), m.group(1).upper()), body)
        cells = [line.split("\t") for line in [head] + lines]
        return table(cells)
    return "".join(line + "\n" for line in lines)
