"""The settings tables of README.md and docs/operations.md, generated from config.py.

Each table sits between two marker lines; `--write` regenerates them, `--check` exits 1 when a
document has drifted from the declarations (a test runs the check):

    python -m operator_argo.config_docs --write     # after adding or changing a setting
    python -m operator_argo.config_docs --check
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from operator_argo.config import declarations
from operator_argo.config_readers import Declared

REGENERATE = "python -m operator_argo.config_docs --write"
BEGIN = f"<!-- settings table: generated from operator_argo/config.py by `{REGENERATE}` -->"
END = "<!-- end of the generated settings table -->"


def shown_default(item: Declared) -> str:
    """The default as the docs show it."""
    if item.shown is not None:
        return item.shown
    value = item.default
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if value in ("", (), frozenset()):
        return "empty"
    return f"`{value}`"


def _names(item: Declared) -> str:
    return " / ".join(f"`{name}`" for name in item.names)


def _chart(item: Declared) -> str:
    if not item.chart or item.chart.startswith(("(", "`")):
        return item.chart or "-"
    return f"`{item.chart}`"


def _doc(item: Declared) -> str:
    return f"{item.doc} (secret: never logged)" if item.secret else item.doc


def readme_table(items: Iterable[Declared]) -> list[str]:
    rows = ["| Variable | Default | Unit | Meaning |", "|---|---|---|---|"]
    rows += [f"| {_names(i)} | {shown_default(i)} | {i.unit or '-'} | {_doc(i)} |" for i in items]
    return rows


def operations_table(items: Iterable[Declared]) -> list[str]:
    rows = ["| Env var | Chart value | Default | Unit | Meaning |", "|---|---|---|---|---|"]
    rows += [
        f"| {_names(i)} | {_chart(i)} | {shown_default(i)} | {i.unit or '-'} | {_doc(i)} |"
        for i in items
    ]
    return rows


DOCUMENTS: dict[str, Callable[[Iterable[Declared]], list[str]]] = {
    "README.md": readme_table,
    "docs/operations.md": operations_table,
}


def render(text: str, table: Sequence[str]) -> str:
    """`text` with the lines between the markers replaced by `table`."""
    lines = text.split("\n")
    try:
        start, end = lines.index(BEGIN), lines.index(END)
    except ValueError:
        raise SystemExit(f"the settings table markers are missing:\n{BEGIN}\n{END}") from None
    return "\n".join([*lines[: start + 1], *table, *lines[end:]])


def main(argv: Sequence[str] | None = None) -> int:
    """Write (`--write`) or verify (`--check`) the tables under `--root` (default: here)."""
    parser = argparse.ArgumentParser(prog="python -m operator_argo.config_docs")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the tables")
    mode.add_argument("--check", action="store_true", help="exit 1 if a table has drifted")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    args = parser.parse_args(argv)
    items = list(declarations())
    drifted = []
    for name, make_table in DOCUMENTS.items():
        path = args.root / name
        current = path.read_text(encoding="utf-8")
        wanted = render(current, make_table(items))
        if wanted == current:
            continue
        if args.write:
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {path}")
        else:
            drifted.append(name)
    if drifted:
        print(f"settings tables drifted in {', '.join(drifted)}: run `{REGENERATE}`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
