"""scheduler: the epidemiology core and the operations that run it. Imports ``reporting`` only.

- ``scheduler.incidence``: the core (case definitions, methods, the counting statement, disclosure control,
  statistics, display censoring, publishing the estimates with revisions); it imports none of the operations;
- the operations: ``jobs`` (the periodic jobs), ``runner`` (the one scheduler process), ``claims`` (who runs a
  job's period), ``retention`` (the purge), ``cli`` (the ``covidmeter`` commands), ``demo`` and ``synthetic``
  (the demo database and its synthetic panel).
"""

from __future__ import annotations

from flask import Flask

from .cli import register


def init_app(app: Flask) -> None:
    """Register the scheduler's commands (and, when configured, the in-process scheduler)."""
    register(app)
