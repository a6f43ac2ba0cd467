"""The direction of dependency is a checked contract (issue 13): reporting <- scheduler <- dashboard, checked by
import-linter over every module (imports inside functions included) with the contract in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = ("import sys; from importlinter.cli import lint_imports_command; "
        "sys.argv = ['lint-imports', '--config', sys.argv[1]]; sys.exit(lint_imports_command())")


def test_the_layers_contract_holds() -> None:
    done = subprocess.run([sys.executable, "-c", LINT, str(ROOT / "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout
