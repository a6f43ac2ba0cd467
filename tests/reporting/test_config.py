"""Configuration comes from COVIDMETER_* variables; production refuses to start unsafely."""

from __future__ import annotations

from pathlib import Path

import pytest

from reporting.config import ConfigurationError, load_config


def test_embedded_default_is_sqlite_in_instance_folder(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={})
    assert config["COVIDMETER_DATABASE_URL"] == f"sqlite:///{tmp_path / 'covidmeter.sqlite'}"
    assert config["COVIDMETER_ENV"] == "development"
    assert config["COVIDMETER_DEV_OUTBOX"] is True
    # A development secret is generated once and kept, so sessions survive a restart.
    assert config["SECRET_KEY"] == load_config(tmp_path, environ={})["SECRET_KEY"]
    assert len(config["SECRET_KEY"]) >= 32


def test_environment_variables_are_parsed(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={
        "COVIDMETER_DATABASE_URL": "postgresql+psycopg://db/covidmeter",
        "COVIDMETER_SMTP_HOST": "smtp.example.org",
        "COVIDMETER_SMTP_PORT": "587",
        "COVIDMETER_SMTP_STARTTLS": "true",
        "COVIDMETER_MIN_ACTIVE": "50",
    })
    assert config["COVIDMETER_DATABASE_URL"] == "postgresql+psycopg://db/covidmeter"
    assert config["COVIDMETER_SMTP_PORT"] == 587
    assert config["COVIDMETER_SMTP_STARTTLS"] is True
    assert config["COVIDMETER_MIN_ACTIVE"] == 50


def test_overrides_win_over_environment(tmp_path: Path) -> None:
    config = load_config(tmp_path, {"MIN_ACTIVE": 7}, environ={"COVIDMETER_MIN_ACTIVE": "50"})
    assert config["COVIDMETER_MIN_ACTIVE"] == 7


def test_bad_number_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="COVIDMETER_SMTP_PORT='abc'"):
        load_config(tmp_path, environ={"COVIDMETER_SMTP_PORT": "abc"})


@pytest.mark.parametrize("secret", [None, "short", "changeme"])
def test_production_refuses_without_a_real_secret(tmp_path: Path, secret: str | None) -> None:
    environ = {"COVIDMETER_ENV": "production"}
    if secret:
        environ["COVIDMETER_SECRET_KEY"] = secret
    with pytest.raises(ConfigurationError, match="COVIDMETER_SECRET_KEY must be set"):
        load_config(tmp_path, environ=environ)


def test_production_with_a_real_secret(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={"COVIDMETER_ENV": "production", "COVIDMETER_SECRET_KEY": "x" * 48,
                                            "COVIDMETER_DATABASE_URL": "postgresql+psycopg://db/c"})
    assert config["COVIDMETER_DEV_OUTBOX"] is False
    assert config["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "secret_key").exists()


def test_production_refusal_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console script says why it will not start, without a traceback."""
    import subprocess
    import sys

    env = {"COVIDMETER_ENV": "production", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "wsgi", "db", "current"], env=env, capture_output=True,
                            text=True, cwd=Path(__file__).parents[2], timeout=60)
    assert result.returncode != 0
    assert "COVIDMETER_SECRET_KEY must be set" in result.stderr
    assert "Traceback" not in result.stderr
