"""the triggers' look-ups planned the same way whenever they are planned: by the (profile_id, week) key

PL/pgSQL plans each statement of a trigger once per connection and keeps the plan until the table's statistics
or definition change. Planned while ``weekly_reports`` was empty or had never been analysed (a fresh install,
CI, the demo's one-transaction load), the season ordinal's look-up and the late flags' update went through
``ix_weekly_reports_cells`` (leading column ``week``) instead of the participant's key, reading every report
of the season (or of the week) for each report written: the write path slowed down as the table grew
(issue 12, fault 6). The functions now name a participant's reports only by a range of the row
``(profile_id, week)``, which only the unique index on that key can serve, keep any other test out of the
scan (an aggregate's FILTER), and run with ``enable_seqscan = off``, so the plan is that index probe however
the table looked when it was made (tests/faults/test_plan_stability.py).

The function texts below are snapshots (this migration imports nothing of the application): UPGRADE as of
this revision, the same text as reporting/reports/season_ordinal.py and scheduler/caseflags.py install when
they rebuild the functions (a test holds them equal); DOWNGRADE as revisions 0011 and 0012_jobs left them (what 0008 and
0009 create from migrations/frozen). Every database, fresh or not, gets today's text from here. Replacing a
function keeps its triggers; nothing is rewritten or locked beyond the catalogue. SQLite has none of these
functions: a no-op there.

Revision ID: 0013_ordinal
Revises: 0012_jobs
Create Date: 2026-12-05
"""

from alembic import op

revision = "0013_ordinal"
down_revision = "0012_jobs"
branch_labels = None
depends_on = None

UPGRADE = (
    """CREATE OR REPLACE FUNCTION covidmeter_renumber_season(profile character varying, w date)
 RETURNS void
 LANGUAGE sql
AS $function$
        UPDATE weekly_reports AS t SET season_ordinal = numbered.n
        FROM (SELECT id, row_number() OVER (ORDER BY week) AS n FROM weekly_reports
              WHERE profile_id = profile
                AND (profile_id, week) >= (profile, covidmeter_season_start(w))
                AND (profile_id, week) < (profile, covidmeter_season_end(w))) AS numbered
        WHERE t.id = numbered.id AND t.season_ordinal <> numbered.n
          AND t.profile_id = profile
          AND (t.profile_id, t.week) >= (profile, covidmeter_season_start(w))
          AND (t.profile_id, t.week) < (profile, covidmeter_season_end(w))
    $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_season_ordinal_insert()
 RETURNS trigger
 LANGUAGE plpgsql
 SET enable_seqscan TO 'off'
AS $function$
    DECLARE
        later boolean;
    BEGIN
        SELECT count(*) FILTER (WHERE week < NEW.week) + 1, coalesce(bool_or(week > NEW.week), false)
        INTO NEW.season_ordinal, later
        FROM weekly_reports
        WHERE profile_id = NEW.profile_id
          AND (profile_id, week) >= (NEW.profile_id, covidmeter_season_start(NEW.week))
          AND (profile_id, week) < (NEW.profile_id, covidmeter_season_end(NEW.week));
        IF later THEN
            UPDATE weekly_reports SET season_ordinal = season_ordinal + 1
            WHERE profile_id = NEW.profile_id
              AND (profile_id, week) > (NEW.profile_id, NEW.week)
              AND (profile_id, week) < (NEW.profile_id, covidmeter_season_end(NEW.week));
        END IF;
        RETURN NEW;
    END $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_season_ordinal_delete()
 RETURNS trigger
 LANGUAGE plpgsql
 SET enable_seqscan TO 'off'
AS $function$
    BEGIN
        UPDATE weekly_reports SET season_ordinal = season_ordinal - 1
        WHERE profile_id = OLD.profile_id
          AND (profile_id, week) > (OLD.profile_id, OLD.week)
          AND (profile_id, week) < (OLD.profile_id, covidmeter_season_end(OLD.week));
        RETURN NULL;
    END $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_season_ordinal_move()
 RETURNS trigger
 LANGUAGE plpgsql
 SET enable_seqscan TO 'off'
AS $function$
    BEGIN
        PERFORM covidmeter_renumber_season(OLD.profile_id, OLD.week);
        PERFORM covidmeter_renumber_season(NEW.profile_id, NEW.week);
        RETURN NULL;
    END $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_late_flags(profile character varying, w date, submitted timestamp with time zone)
 RETURNS bigint
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
            SELECT coalesce(bit_or(l.case_flags) FILTER (
                       WHERE l.onset_week = w AND NOT (l.same_illness IS NOT NULL AND l.same_illness = 'yes' AND (EXTRACT(EPOCH FROM (l.submitted_at - submitted)) / 86400.0) <= 15)),
                   0)::bigint
            FROM weekly_reports AS l
            WHERE l.profile_id = profile
              AND (l.profile_id, l.week) >= (profile, w + 7) AND (l.profile_id, l.week) <= (profile, w + 7)
        $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_late_flags_pull()
 RETURNS trigger
 LANGUAGE plpgsql
 SET enable_seqscan TO 'off'
AS $function$
    BEGIN
        NEW.late_flags := covidmeter_late_flags(NEW.profile_id, NEW.week, NEW.submitted_at);
        RETURN NEW;
    END $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_late_flags_push()
 RETURNS trigger
 LANGUAGE plpgsql
 SET enable_seqscan TO 'off'
AS $function$
    BEGIN
        IF TG_OP <> 'INSERT' AND OLD.onset_week = OLD.week - 7 THEN
            UPDATE weekly_reports AS a
            SET late_flags = covidmeter_late_flags(a.profile_id, a.week, a.submitted_at)
            WHERE a.profile_id = OLD.profile_id
              AND (a.profile_id, a.week) >= (OLD.profile_id, OLD.onset_week)
              AND (a.profile_id, a.week) <= (OLD.profile_id, OLD.onset_week);
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.onset_week = NEW.week - 7 THEN
            UPDATE weekly_reports AS a
            SET late_flags = covidmeter_late_flags(a.profile_id, a.week, a.submitted_at)
            WHERE a.profile_id = NEW.profile_id
              AND (a.profile_id, a.week) >= (NEW.profile_id, NEW.onset_week)
              AND (a.profile_id, a.week) <= (NEW.profile_id, NEW.onset_week);
        END IF;
        RETURN NULL;
    END $function$""",
)

DOWNGRADE = (
    """CREATE OR REPLACE FUNCTION covidmeter_renumber_season(profile character varying, w date)
 RETURNS void
 LANGUAGE sql
AS $function$
        UPDATE weekly_reports AS t SET season_ordinal = numbered.n
        FROM (SELECT id, row_number() OVER (ORDER BY week) AS n FROM weekly_reports
              WHERE profile_id = profile AND week >= covidmeter_season_start(w)
                AND week < covidmeter_season_end(w)) AS numbered
        WHERE t.id = numbered.id AND t.season_ordinal <> numbered.n
    $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_season_ordinal_insert()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
        later boolean;
    BEGIN
        SELECT count(*) FILTER (WHERE week < NEW.week) + 1, coalesce(bool_or(week > NEW.week), false)
        INTO NEW.season_ordinal, later
        FROM weekly_reports
        WHERE profile_id = NEW.profile_id AND week >= covidmeter_season_start(NEW.week)
          AND week < covidmeter_season_end(NEW.week);
        IF later THEN
            UPDATE weekly_reports SET season_ordinal = season_ordinal + 1
            WHERE profile_id = NEW.profile_id AND week > NEW.week AND week < covidmeter_season_end(NEW.week);
        END IF;
        RETURN NEW;
    END $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_season_ordinal_delete()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        UPDATE weekly_reports SET season_ordinal = season_ordinal - 1
        WHERE profile_id = OLD.profile_id AND week > OLD.week AND week < covidmeter_season_end(OLD.week);
        RETURN NULL;
    END $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_season_ordinal_move()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        PERFORM covidmeter_renumber_season(OLD.profile_id, OLD.week);
        PERFORM covidmeter_renumber_season(NEW.profile_id, NEW.week);
        RETURN NULL;
    END $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_late_flags(profile character varying, w date, submitted timestamp with time zone)
 RETURNS bigint
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
            SELECT coalesce(bit_or(l.case_flags), 0)::bigint FROM weekly_reports AS l
            WHERE l.profile_id = profile AND l.week = w + 7 AND l.onset_week = w
              AND NOT (l.same_illness IS NOT NULL AND l.same_illness = 'yes' AND (EXTRACT(EPOCH FROM (l.submitted_at - submitted)) / 86400.0) <= 15)
        $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_late_flags_pull()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        NEW.late_flags := covidmeter_late_flags(NEW.profile_id, NEW.week, NEW.submitted_at);
        RETURN NEW;
    END $function$""",
    """CREATE OR REPLACE FUNCTION covidmeter_late_flags_push()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        IF TG_OP <> 'INSERT' AND OLD.onset_week = OLD.week - 7 THEN
            UPDATE weekly_reports AS a
            SET late_flags = covidmeter_late_flags(a.profile_id, a.week, a.submitted_at)
            WHERE a.profile_id = OLD.profile_id AND a.week = OLD.onset_week;
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.onset_week = NEW.week - 7 THEN
            UPDATE weekly_reports AS a
            SET late_flags = covidmeter_late_flags(a.profile_id, a.week, a.submitted_at)
            WHERE a.profile_id = NEW.profile_id AND a.week = NEW.onset_week;
        END IF;
        RETURN NULL;
    END $function$""",
)


def _replace(functions: tuple[str, ...]) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    for definition in functions:
        connection.exec_driver_sql(definition)  # verbatim: no bind parameters are looked for in the text


def upgrade() -> None:
    _replace(UPGRADE)


def downgrade() -> None:
    _replace(DOWNGRADE)
