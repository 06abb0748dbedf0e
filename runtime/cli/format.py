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
