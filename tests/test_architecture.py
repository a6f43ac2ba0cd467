"""The structure is a checked contract (issue 13), over every module, imports inside functions included:
import-linter runs the contracts in pyproject.toml (the direction reporting <- scheduler <- dashboard, the
epidemiology core apart from the operations, no import circles), and an AST scan finds imports of another
module's private names."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = ("import sys; from importlinter.cli import lint_imports_command; "
        "sys.argv = ['lint-imports', '--config', sys.argv[1]]; sys.exit(lint_imports_command())")


PACKAGES = ("reporting", "scheduler", "dashboard")


def test_the_import_contracts_hold() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert {contract["type"] for contract in declared} >= {"layers", "forbidden", "acyclic_siblings"}
    done = subprocess.run([sys.executable, "-c", LINT, str(ROOT / "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(rf"\b{len(declared)} kept, 0 broken", done.stdout), done.stdout[-3000:]


def _private_names_imported(path: Path) -> list[str]:
    """``from elsewhere import _name``: a module reaching into another's private names (``_`` is gettext)."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            found += [f"{module}: from {'.' * node.level}{node.module or ''} import {alias.name}"
                      for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__") and alias.name != "_"]
    return found


def test_no_module_imports_a_private_name_of_another() -> None:
    offenders = [line for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
                 for line in _private_names_imported(path)]
    assert offenders == []


def test_reporting_knows_no_path_of_the_dashboard() -> None:
    """What the dashboard needs of the write side (no-store answers, its CSRF cookie, problem documents for its
    machine endpoints, staff-only access) it declares when it is mounted (reporting.headers.mount_spa,
    problems.answer_json_under, authz.protect_prefix); reporting's code names none of its paths."""
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "reporting").rglob("*.py")
                 if "/dashboard" in path.read_text(encoding="utf-8")]
    assert offenders == []


def test_reporting_builds_and_answers_alone(tmp_path: Path) -> None:
    import reporting

    app = reporting.create_app({"TESTING": True, "COVIDMETER_DATABASE_URL": f"sqlite:///{tmp_path / 'alone.sqlite'}",
                                "COVIDMETER_SECRET_KEY": "alone-" + "k" * 40})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    missing = client.get("/dashboard/")
    assert missing.status_code == 404 and "_csrf_token" not in missing.headers.get("Set-Cookie", "")
