"""Which essmon app imports which, counted in modules: the import graph at app level.

    .venv/bin/python tools/app_imports.py [--root DIR]

Prints one line per app with the apps it imports and, for each, how many module-to-module
imports there are; imports made only for the type checker (``if TYPE_CHECKING``) are left
out, as the layer contract in pyproject.toml leaves them out. ``--root`` reads another
checkout (for instance an older commit in a ``git worktree``) instead of this one.
`lint-imports` says whether the graph keeps the layer order; this says what the graph is.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import grimp


def app_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def app_graph(root: Path) -> dict[str, Counter[str]]:
    sys.path.insert(0, str(root))
    graph = grimp.build_graph("essmon", exclude_type_checking_imports=True, cache_dir=None)
    edges: dict[str, Counter[str]] = defaultdict(Counter)
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            source, target = app_of(importer), app_of(imported)
            if source != target:
                edges[source][target] += 1
    return edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    edges = app_graph(args.root.resolve())
    total = 0
    for source in sorted(edges):
        targets = edges[source]
        total += sum(targets.values())
        listed = ", ".join(f"{t} {n}" for t, n in sorted(targets.items()))
        print(f"{source:>14} -> {listed}")
    print(f"{len(edges)} apps, {total} imports between apps")


if __name__ == "__main__":
    main()
