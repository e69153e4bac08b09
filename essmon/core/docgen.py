"""The parts of the docs that the code can say for itself (``essmon docs``).

A doc marks a generated region with ``<!-- BEGIN generated: NAME -->`` and
``<!-- END generated: NAME -->``; ``essmon docs --write`` rewrites what lies between from the
code, ``essmon docs --check`` fails when a doc differs from it. Regions: ``jobs`` (the
scheduler's ``JOBS``) and ``urls`` (the URL patterns). The settings' meanings are prose
kept by hand in docs/configuration.md; what can be checked of them is: every ``ESSMON_*``
variable the code reads has a row there, whose default is the code's, and the docs name no
variable the code does not read (``settings_problems``). tests/project/test_contracts.py runs both.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # essmon/
ROOT = PACKAGE.parent
# a checkout's docs (an installed package has none: then there is nothing to check)
DOCS = tuple(p for p in (*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md") if p.exists())
CONFIGURATION = ROOT / "docs" / "configuration.md"

REGION = re.compile(
    r"(?P<begin><!-- BEGIN generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)"
    r"(?P<end><!-- END generated: (?P=name) -->)",
    re.S,
)
NOTE = "<!-- made by `essmon docs --write` from the code: edit the code, not this table -->\n"


# --- settings ------------------------------------------------------------------------------

READERS = {"env_str", "env_int", "env_bool", "env_list", "env_path", "get"}
# Empty in the settings module and made at start-up when empty: generated (the secret key,
# kept in the data directory) or from another variable (the broker's files).
DERIVED = {
    "ESSMON_SECRET_KEY",
    "ESSMON_MQTT_ACL_FILE",
    "ESSMON_MQTT_SERVICE_PASSWORD_FILE",
    "ESSMON_MQTT_SERVICE_ACL_FILE",
}


@dataclass(frozen=True)
class Variable:
    name: str
    default: object | None  # None: computed at start-up, not a constant in the code
    where: str  # the module that reads it


def _reads(tree: ast.AST) -> Iterator[tuple[str, ast.expr | None]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        first = node.args[0]
        if (
            called in READERS
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and first.value.startswith("ESSMON_")
        ):
            if called == "get" and "environ" not in ast.unparse(func):
                continue
            yield first.value, node.args[1] if len(node.args) > 1 else None


def _constant(node: ast.expr | None) -> object | None:
    if node is None:
        return ""  # os.environ.get / env_str without a default
    try:  # our own source, constant expressions such as 15 * 60
        return eval(compile(ast.Expression(node), "<default>", "eval"), {"__builtins__": {}})
    except Exception:  # a name, a call: computed at start-up
        return None


def variables() -> dict[str, Variable]:
    """Every ``ESSMON_*`` variable the service reads, with its default as the code has it
    (the settings module first, then the rest, e.g. ``essmon serve``'s options)."""
    found: dict[str, Variable] = {}
    modules = [PACKAGE / "settings.py", *sorted(PACKAGE.rglob("*.py"))]
    for path in modules:
        if "simulator" in path.parts:  # a client: reads two of the service's, with its defaults
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, default in _reads(tree):
            where = str(path.relative_to(ROOT))
            found.setdefault(name, Variable(name, _constant(default), where))
    return found


def written(value: object) -> str:
    """A default as docs/configuration.md writes it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _documented_rows(text: str) -> dict[str, str]:
    """Variable → its default cell, from the tables of docs/configuration.md."""
    rows: dict[str, str] = {}
    column = None
    for line in text.splitlines():
        if not line.startswith("|"):
            column = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if "variable" in cells and "default" in cells:
            column = cells.index("default")
            continue
        match = re.fullmatch(r"`(ESSMON_[A-Z0-9_]+)`", cells[0])
        if match and column is not None:
            rows[match.group(1)] = cells[column]
    return rows


def settings_problems() -> list[str]:
    code = variables()
    rows = _documented_rows(CONFIGURATION.read_text(encoding="utf-8"))
    problems = []
    for name, var in sorted(code.items()):
        if name not in rows:
            problems.append(f"{name} (read in {var.where}) has no row in docs/configuration.md")
            continue
        if var.default is None:
            continue
        cell, value = rows[name], written(var.default)
        shown = f"`{value}`" in cell if value else "empty" in cell or var.name in DERIVED
        if not shown:
            problems.append(f"{name}: the code's default is {value!r}, the doc says {cell!r}")
    mentioned: set[str] = set()
    for doc in DOCS:
        mentioned |= set(re.findall(r"ESSMON_[A-Z0-9_]*[A-Z0-9]", doc.read_text(encoding="utf-8")))
    for name in sorted(mentioned - set(code)):
        if not any(real.startswith(name + "_") for real in code):  # ESSMON_SUPPORT_* and the like
            problems.append(f"{name} is in the docs but the code reads no such variable")
    return problems


# --- generated regions ---------------------------------------------------------------------


def every(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def jobs_table() -> str:
    from essmon.core.scheduler import JOBS

    defaults = variables()
    lines = ["| job | every | function | does |", "|---|---|---|---|"]
    for job in JOBS:
        interval = every(job.interval)
        if job.setting:
            default = defaults[job.setting].default
            interval = f"`{job.setting}` (default {every(timedelta(seconds=int(str(default))))})"
        function = job.func_path.removeprefix("essmon.")
        does = job.does.replace("|", "\\|")
        lines.append(f"| `{job.name}` | {interval} | `{function}` | {does} |")
    return "\n".join(lines) + "\n"


def _routes(
    patterns: list, prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, str]]:
    from django.urls import URLPattern, URLResolver

    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                yield route, "admin:…", "Django's admin (`essmon/*/admin.py`)"
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _routes(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            yield route, name, entry.lookup_str.removeprefix("essmon.")


def urls_table() -> str:
    from django.urls import get_resolver

    lines = ["| path | name | view |", "|---|---|---|"]
    for route, name, view in _routes(get_resolver().url_patterns):
        shown = route if route.startswith("^") else "/" + route
        name_cell = f"`{name}`" if name else ""
        view_cell = view if view.startswith("Django") else f"`{view}`"
        lines.append(f"| `{shown}` | {name_cell} | {view_cell} |")
    return "\n".join(lines) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {"jobs": jobs_table, "urls": urls_table}


def render(text: str) -> str:
    """``text`` with each generated region made again from the code."""

    def again(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in GENERATORS:
            raise ValueError(f"unknown generated region {name!r}")
        return f"{match.group('begin')}{NOTE}\n{GENERATORS[name]()}\n{match.group('end')}"

    return REGION.sub(again, text)


def stale_docs() -> list[Path]:
    """The docs whose generated regions differ from what the code makes now."""
    return [doc for doc in DOCS if (t := doc.read_text(encoding="utf-8")) != render(t)]


def write_docs() -> list[Path]:
    changed = stale_docs()
    for doc in changed:
        doc.write_text(render(doc.read_text(encoding="utf-8")), encoding="utf-8")
    return changed
