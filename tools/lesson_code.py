"""Lesson code lives in the notebooks and is exported to `helpers`, d2l-style.

A notebook code cell tagged `export` holds only functions and classes. Each of them
also exists, character for character, in exactly one module of `helpers/`, under a
comment that names the notebook. The notebook is the source: edit the cell, then run

    make lesson-code        (python tools/lesson_code.py sync)

to copy it into `helpers`. `python tools/lesson_code.py check` (run by the tests, and
so by CI) fails when a notebook cell and its copy in `helpers` differ.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
HELPERS_DIR = PROJECT_ROOT / "helpers"
EXPORT_TAG = "export"


@dataclass(frozen=True)
class Export:
    """One function or class defined in an exported notebook cell."""

    notebook: Path
    name: str
    source: str


def marker(notebook: Path) -> str:
    """The comment placed above an exported definition in `helpers`."""
    return f"# From notebooks/{notebook.name}: edit it there, then `make lesson-code`."


def _span(node: ast.stmt) -> tuple[int, int]:
    """First and last line (1-based) of a definition, decorators included."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return first, node.end_lineno


def notebook_exports(notebook: Path) -> list[Export]:
    """Every definition in the cells of `notebook` tagged `export`."""
    exports = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code" or EXPORT_TAG not in cell["metadata"].get(
            "tags", []
        ):
            continue
        source = "".join(cell["source"])
        lines = source.splitlines()
        for node in ast.parse(source).body:
            if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                raise ValueError(
                    f"{notebook.name}: an exported cell may hold only functions and "
                    f"classes, found a {type(node).__name__} at line {node.lineno}: "
                    "move it to another cell."
                )
            first, last = _span(node)
            exports.append(
                Export(notebook, node.name, "\n".join(lines[first - 1 : last]))
            )
    return exports


def helper_definitions() -> dict[str, list[tuple[Path, int, int]]]:
    """Each top-level function and class of `helpers`: (file, first line, last line)."""
    found: dict[str, list[tuple[Path, int, int]]] = {}
    for path in sorted(HELPERS_DIR.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found.setdefault(node.name, []).append((path, *_span(node)))
    return found


def _locate(export: Export, definitions: dict) -> tuple[Path, int, int]:
    """The single place in `helpers` that holds the copy of `export`."""
    places = definitions.get(export.name, [])
    if len(places) != 1:
        where = (
            ", ".join(str(p.relative_to(PROJECT_ROOT)) for p, _, _ in places)
            or "nowhere"
        )
        raise LookupError(
            f"{export.notebook.name} exports {export.name!r}, which is defined in "
            f"{where}: it must be defined in exactly one module of helpers/ (add a "
            "stub there, then sync)."
        )
    return places[0]


def all_exports() -> list[Export]:
    """The exports of every notebook, in reading order."""
    return [
        e
        for notebook in sorted(NOTEBOOK_DIR.glob("*.ipynb"))
        for e in notebook_exports(notebook)
    ]


def check() -> list[str]:
    """Every difference between an exported notebook cell and its copy in `helpers`."""
    problems = []
    definitions = helper_definitions()
    for export in all_exports():
        try:
            path, first, last = _locate(export, definitions)
        except LookupError as error:
            problems.append(str(error))
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        where = f"{path.relative_to(PROJECT_ROOT)}:{first}"
        if "\n".join(lines[first - 1 : last]) != export.source:
            problems.append(
                f"{export.name} in {where} differs from {export.notebook.name}"
            )
        elif first < 2 or lines[first - 2] != marker(export.notebook):
            problems.append(
                f"{export.name} in {where} lacks the line {marker(export.notebook)!r}"
            )
    return problems


def sync() -> list[str]:
    """Copy every exported definition from its notebook into `helpers`; what changed."""
    changed = []
    for export in all_exports():
        path, first, last = _locate(export, helper_definitions())
        lines = path.read_text(encoding="utf-8").splitlines()
        has_marker = first >= 2 and lines[first - 2].startswith(
            "# From notebooks/"
        )
        start = first - 2 if has_marker else first - 1
        new = (
            lines[:start]
            + [marker(export.notebook)]
            + export.source.splitlines()
            + lines[last:]
        )
        if new != lines:
            path.write_text("\n".join(new) + "\n", encoding="utf-8")
            changed.append(f"{export.name} -> {path.relative_to(PROJECT_ROOT)}")
    return changed


def main(argv: list[str]) -> int:
    """`check` (the default) or `sync`."""
    command = argv[1] if len(argv) > 1 else "check"
    if command == "sync":
        for line in sync():
            print("updated", line)
        return 0
    if command == "check":
        problems = check()
        for problem in problems:
            print(problem)
        if problems:
            print("Fix: edit the notebook cell, then run `make lesson-code`.")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
