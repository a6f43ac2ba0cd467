"""The retention horizon as the aggregation sees it: the date before which retention purged the reports
(``purged_before``, recorded by scheduler.retention) and the first week whose estimates depend on no purged
report (``first_recomputable_week``). The aggregation skips the weeks before it, so re-running an old week can
never publish a "revision" that only reflects deleted data (docs/methods.md, "Retention and revisions")."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import Connection, select

from reporting.models import InstanceFact

from .methods import SPAN_WEEKS

PURGE_FACT = "reports_purged_before"


def purged_before(connection: Connection) -> dt.date | None:
    """Reports of weeks before this date have been deleted by retention (None: never)."""
    value = connection.scalar(select(InstanceFact.value).where(InstanceFact.key == PURGE_FACT))
    return dt.date.fromisoformat(value) if value else None


def first_recomputable_week(horizon: dt.date, method: Any) -> dt.date:
    """The first Monday whose estimates for ``method`` depend on no purged report: the season starts at the
    horizon; the activity window and the same-episode look-back reach back a few weeks more, and a count of
    reports around W (``min_reports_in_season``) its half-span of 26 weeks (scheduler.incidence.methods)."""
    back = method.window_weeks + math.ceil((method.same_episode_days or 0) / 7) + 1
    if method.min_reports_in_season > 1:
        back = max(back, method.window_weeks + SPAN_WEEKS + 1)
    first_monday = horizon + dt.timedelta(days=(7 - horizon.weekday()) % 7)
    return first_monday + dt.timedelta(weeks=back)
