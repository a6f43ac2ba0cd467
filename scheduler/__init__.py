"""scheduler: the epidemiology (case definitions, aggregation, statistics, disclosure control) and every
periodic job. Imports ``reporting`` only."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the scheduler's commands (and, when configured, the in-process scheduler)."""
    from .cli import register

    register(app)
