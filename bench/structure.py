"""The shape of the code, measured: module and function sizes, import circles, imports inside functions,
imports of another module's private names, and (where the ``duplicates`` tool is on PATH) repeated blocks.

    python bench/structure.py                      # this tree
    python bench/structure.py --baseline eba3f25   # this tree beside another revision, with ratios

The baseline is measured in the same run: its files are taken with ``git archive`` into a temporary folder
and measured by this script in a subprocess there (the package names are the same in both trees, so each
tree is imported alone). docs/architecture.md records the figures of issue 13's redesign.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ("reporting", "scheduler", "dashboard")
ROOT = Path(__file__).resolve().parent.parent


def sources(root: Path) -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py"))
    if (root / "wsgi.py").exists():
        yield root / "wsgi.py"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _imports_inside_functions(tree: ast.AST) -> int:
    inside: set[int] = set()
    for function in _functions(tree):
        for node in ast.walk(function):
            if isinstance(node, ast.Import | ast.ImportFrom):
                inside.add(id(node))
    return len(inside)


def _private_imports(tree: ast.AST, name: str) -> list[str]:
    """``from other import _name`` where other is not the importing module itself."""
    found = []
    package = name if name in PACKAGES else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            source = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, source] if source else base)
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and alias.name != "_":  # _ is gettext
                    found.append(f"{name} <- {source}.{alias.name}")
    return found


def _circles(root: Path) -> list[list[str]]:
    """Strongly connected components (more than one module) of the import graph, every import counted,
    including those inside functions: hiding an import in a function keeps the circle."""
    import grimp

    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    sys.setrecursionlimit(10_000)

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return sorted(components)


def _duplicated_pairs(root: Path) -> int | None:
    if shutil.which("duplicates") is None:
        return None
    total = 0
    for package in PACKAGES:
        output = subprocess.run(["duplicates", "--repo", str(root / package), "--seconds", "120"],
                                capture_output=True, text=True, check=False).stdout
        first = output.splitlines()[0] if output else ""
        match = re.match(r"(\d+) pairs?", first)
        total += int(match.group(1)) if match else 0
    return total


def measure(root: Path) -> dict[str, object]:
    modules: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    in_function = 0
    private: list[str] = []
    for path in sources(root):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        name = module_name(root, path)
        modules.append((len(text.splitlines()), name))
        for function in _functions(tree):
            functions.append((function.end_lineno - function.lineno + 1, f"{name}.{function.name}"))
        in_function += _imports_inside_functions(tree)
        private += _private_imports(tree, name)
    circles = _circles(root)
    return {
        "modules": len(modules),
        "lines": sum(size for size, _ in modules),
        "largest_modules": sorted(modules, reverse=True)[:6],
        "largest_functions": sorted(functions, reverse=True)[:6],
        "imports_inside_functions": in_function,
        "private_name_imports": len(private),
        "private_name_examples": private[:6],
        "import_circles": len(circles),
        "modules_in_circles": sum(len(c) for c in circles),
        "circle_examples": [c[:4] for c in circles[:4]],
        "duplicated_pairs": _duplicated_pairs(root),
    }


def _measure_elsewhere(revision: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="structure-") as folder:
        archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
        tar = Path(folder) / "tree.tar"
        tar.write_bytes(archive)
        with tarfile.open(tar) as bundle:
            bundle.extractall(folder, filter="data")
        tree = Path(folder)
        shutil.copy(Path(__file__), tree / "measure_structure.py")
        environment = {**os.environ, "PYTHONPATH": str(tree)}
        result = subprocess.run([sys.executable, str(tree / "measure_structure.py"), "--json", "--root", str(tree)],
                                cwd=tree, env=environment, capture_output=True, text=True, check=True)
        return json.loads(result.stdout)


def _show(now: dict[str, object], then: dict[str, object] | None, label: str) -> None:
    scalars = ("modules", "lines", "imports_inside_functions", "private_name_imports", "import_circles",
               "modules_in_circles", "duplicated_pairs")
    print(f"{'measure':<28}{label:>12}" + (f"{'baseline':>12}{'ratio':>9}" if then else ""))
    for key in scalars:
        value = now[key]
        line = f"{key:<28}{'-' if value is None else value:>12}"
        if then:
            before = then[key]
            ratio = "" if not before or value is None else f"{value / before:.2f}"
            line += f"{'-' if before is None else before:>12}{ratio:>9}"
        print(line)
    for key in ("largest_modules", "largest_functions"):
        print(f"\n{key.replace('_', ' ')} (lines):")
        rows = list(zip(now[key], then[key])) if then else [(row, None) for row in now[key]]
        for row, before in rows:
            text = f"  {row[0]:>5}  {row[1]:<52}"
            if before:
                text += f"{before[0]:>5}  {before[1]}"
            print(text)
    for key in ("circle_examples", "private_name_examples"):
        if now[key]:
            print(f"\n{key.replace('_', ' ')}:")
            for example in now[key]:
                print("  ", example)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--baseline", help="a git revision to measure beside this tree")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args()
    sys.path.insert(0, str(arguments.root))
    now = measure(arguments.root)
    if arguments.json:
        print(json.dumps(now))
        return
    then = _measure_elsewhere(arguments.baseline) if arguments.baseline else None
    _show(now, then, "this tree")


if __name__ == "__main__":
    main()
