"""scheduler.incidence: the epidemiology core. Case definitions and participation methods, the counting
statement run by the database, disclosure control, statistics, display censoring and the publishing of the
estimates with revisions. It knows nothing of when or by whom it is run: the operations of ``scheduler``
(jobs, claims, retention, the CLI) call it, never the other way round (a contract in pyproject.toml).

A run, step by step (``aggregate_weeks``, in ``run``):

- ``strata``: the grid of a week (geographies x age bands x sexes, with the margins) and the standard population;
- ``rules``, ``statements``, ``window``: the method's per-report rules as SQL and the one counting statement;
- ``counting``: the statement run, its rows laid on the full grid of each week;
- ``publishing``: disclosure control (``protection``, ``disclosure``), intervals (``statistics``), age
  standardisation and the open-data flag;
- ``censoring``: Influenzanet's display censoring against the season maxima;
- ``participation``: the participation estimates;
- ``estimates``: the writes with revisions; ``horizon``: the weeks retention left recomputable.

Beside them: ``definitions``, ``methods``, ``caseflags`` (stored case flags), ``sqlfunctions`` (portable date SQL)
and ``reference`` (the plain-Python reference the tests hold the statement to).
"""

from .run import WEEKS_PER_STATEMENT, aggregate_week, aggregate_weeks, report_weeks

__all__ = ["WEEKS_PER_STATEMENT", "aggregate_week", "aggregate_weeks", "report_weeks"]
