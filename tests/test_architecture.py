"""The direction of dependency is a checked contract (issue 13): reporting <- scheduler <- dashboard, and the
epidemiology core scheduler.incidence imports none of scheduler's operations (jobs, runner, claims, retention,
cli, demo, synthetic); both checked by import-linter over every module (imports inside functions included) with
the contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = ("import sys; from importlinter.cli import lint_imports_command; "
        "sys.argv = ['lint-imports', '--config', sys.argv[1]]; sys.exit(lint_imports_command())")


def test_the_import_contracts_hold() -> None:
    done = subprocess.run([sys.executable, "-c", LINT, str(ROOT / "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


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
