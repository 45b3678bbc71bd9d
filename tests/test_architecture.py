"""The layout rules of docs/architecture.md, read from the source with `ast` and `tokenize` (nothing imported)."""

from __future__ import annotations

import ast
import graphlib
import io
import itertools
import os
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL = ("dms_admin", "access")
FEATURE_APPS = {"accounts", "spam", "backups", "mailrules"}
APP_CODE = (*KERNEL, *sorted(FEATURE_APPS))
# The wiring may import everything: these two are the only kernel files that import a feature app
# (dms_admin/urls.py and the settings name the apps in strings, which are not imports).
WIRING = {"dms_admin/api/urls.py", "dms_admin/cron.py"}
MAX_FUNCTION_LINES = 60
MAX_VIEW_LINES = 30
ARCHIVE_PACKAGE = "backups.archive"


def python_files(*folders: str, app_code_only: bool = False) -> Iterator[Path]:
    """The Python files under the folders; `app_code_only`: migrations and tests left out."""
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if app_code_only and {"migrations", "tests"} & set(path.relative_to(ROOT).parts):
                continue
            yield path


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every module an import names, with its line (imports inside functions too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def test_the_kernel_imports_no_feature_app() -> None:
    offending = []
    for path in python_files(*KERNEL):
        if path.relative_to(ROOT).as_posix() in WIRING:
            continue
        for line, module in imported_modules(parsed(path)):
            if module.split(".")[0] in FEATURE_APPS:
                offending.append(f"{where(path, line)} imports {module}")
    assert not offending, "the kernel (dms_admin/, access/) must not import a feature app:\n" + "\n".join(offending)


def test_the_wiring_exceptions_are_still_needed() -> None:
    """An exception no longer used is removed from WIRING, so the list stays the minimal one."""
    for rel in sorted(WIRING):
        path = ROOT / rel
        modules = [module for _, module in imported_modules(parsed(path))] if path.exists() else []
        assert any(m.split(".")[0] in FEATURE_APPS for m in modules), f"{rel}: in WIRING but imports no feature app"


def functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """From the `def` line to the last line, docstring included, decorators not."""
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def test_no_function_is_longer_than_60_lines() -> None:
    offending = [
        f"{where(path, node.lineno)} {node.name}() is {length(node)} lines"
        for path in python_files(*APP_CODE, app_code_only=True)
        for node in functions(parsed(path))
        if length(node) > MAX_FUNCTION_LINES
    ]
    assert not offending, f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps):\n" + "\n".join(
        offending
    )


def test_no_view_is_longer_than_30_lines() -> None:
    """A view is a function whose first argument is the request: it authorizes, validates and calls a service."""
    offending = [
        f"{where(path, node.lineno)} {node.name}() is {length(node)} lines"
        for path in python_files(*APP_CODE, app_code_only=True)
        for node in functions(parsed(path))
        if node.args.args and node.args.args[0].arg == "request" and length(node) > MAX_VIEW_LINES
    ]
    assert not offending, f"views over {MAX_VIEW_LINES} lines (move the work into a service):\n" + "\n".join(offending)


def test_the_archive_package_has_no_import_cycle() -> None:
    """Its modules import each other downward only (docs/architecture.md lists them in that order)."""
    graph: dict[str, set[str]] = {}
    edges: dict[tuple[str, str], str] = {}
    upward = []
    for path in python_files("backups/archive"):
        if path.stem == "__init__":
            continue
        name = f"{ARCHIVE_PACKAGE}.{path.stem}"
        graph[name] = set()
        for line, module in imported_modules(parsed(path)):
            if module == ARCHIVE_PACKAGE:
                upward.append(f"{where(path, line)} imports the package's __init__")
            elif module.startswith(ARCHIVE_PACKAGE + "."):
                graph[name].add(module)
                edges[name, module] = where(path, line)
    assert not upward, "\n".join(upward)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))  # graphlib lists it from the imported to the importer
        steps = [f"{edges[a, b]}: {a} imports {b}" for a, b in itertools.pairwise(cycle)]
        raise AssertionError(f"import cycle in {ARCHIVE_PACKAGE}:\n" + "\n".join(steps)) from exc


def fmt_skips(source: str) -> tuple[list[tuple[int, int]], dict[int, str]]:
    """Each `# fmt: skip` as (its line, the first line of the statement it keeps), and every comment by line."""
    comments: dict[int, str] = {}
    skips: list[tuple[int, int]] = []
    start = None  # where the logical line being read began
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            line = token.start[0]
            comments[line] = token.string
            if "# fmt: skip" in token.string:
                skips.append((line, line if start is None else start))
        elif token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            start = None
        elif token.type not in (tokenize.NL, tokenize.INDENT, tokenize.DEDENT) and start is None:
            start = token.start[0]
    return skips, comments


def all_python_files() -> Iterator[Path]:
    """The repository's Python files: hidden folders (.venv, .git) and var/ left out, symlinks not followed."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("var", "node_modules", "__pycache__"))
        yield from (Path(folder) / name for name in sorted(files) if name.endswith(".py"))


def test_every_fmt_skip_says_why_it_is_kept_by_hand() -> None:
    """`# Kept by hand (fmt: skip): why` on the skipped line, on the line above its statement, or inside it."""
    offending = []
    for path in all_python_files():
        source = path.read_text(encoding="utf-8")
        if "fmt: skip" not in source:
            continue
        skips, comments = fmt_skips(source)
        for line, first in skips:
            if not any("Kept by hand" in comments.get(n, "") for n in range(first - 1, line + 1)):
                offending.append(where(path, line))
    assert not offending, "a `# fmt: skip` without a `# Kept by hand (fmt: skip): why` comment:\n" + "\n".join(
        offending
    )
