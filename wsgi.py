"""The composition root: the reporting app with the scheduler's commands and the dashboard mounted.

    gunicorn 'wsgi:create_app()'      # web processes
    covidmeter scheduler              # the one scheduler process
    covidmeter demo                   # everything on one machine, on SQLite, with synthetic data
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, routes_command, shell_command

import dashboard
import reporting
import scheduler
from reporting.config import ConfigurationError


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = reporting.create_app(config)
    scheduler.init_app(app)
    dashboard.init_app(app)
    return app


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False, add_version_option=False,
             load_dotenv=False, set_debug_flag=False)
def cli() -> None:
    """covidmeter: participatory surveillance of COVID-like illness."""


cli.add_command(shell_command)
cli.add_command(routes_command)


def main() -> None:
    """The ``covidmeter`` console script: configuration problems are said plainly, without a traceback."""
    try:
        cli.main(prog_name="covidmeter")
    except ConfigurationError as exc:
        click.echo(f"covidmeter: cannot start: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
