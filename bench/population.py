"""Benchmark helper: a national-scale synthetic population loaded into PostgreSQL with COPY.

``scheduler.synthetic`` builds households and a detailed epidemic row by row, which is right for the demo and
the tests but slow at a million participants. This generator is vectorised with numpy and streams rows with
COPY: one account and one profile per participant, about 70 % weekly response (a per-person propensity),
episodes of illness with onset, duration, symptoms and "same illness" on continuing reports, and a regional
wave. The rows are filled like the citizen service fills them (stratum copied onto the report, onset = first
known of fever start, symptom start, report date, and its ISO week).

The generated columns ``case_flags`` and ``week_flags`` (scheduler/incidence/caseflags.py) are filled by PostgreSQL
during the COPY, as they are when the service writes a report; the season ordinal
(reporting/reports/season_ordinal.py) is written with each row, as its trigger would set it. During the load the
secondary indexes of ``weekly_reports`` are dropped and triggers are off for the loading session
(``session_replication_role = replica``: foreign-key checks, and the triggers that keep ``late_flags``); afterwards
the indexes are rebuilt under their migration names, the late flags are set in one statement
(``caseflags.recompute_late_flags``, as a rebuild does), and the tables are vacuumed and analysed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import numpy as np
from sqlalchemy import Engine, select, text
from tqdm import tqdm

from reporting.models import Municipality, Region
from reporting.models.people import new_unsubscribe_key
from reporting.reports import season_ordinal
from reporting.symptoms import SYMPTOMS
from reporting.weeks import season_of
from scheduler.incidence import caseflags

INDEXES = {
    "uq_weekly_reports_profile_id_week": "ALTER TABLE weekly_reports ADD CONSTRAINT "
                                         "uq_weekly_reports_profile_id_week UNIQUE (profile_id, week)",
    "ix_weekly_reports_week_region": "CREATE INDEX ix_weekly_reports_week_region ON weekly_reports (week, region_code)",
    "ix_weekly_reports_onset_week": "CREATE INDEX ix_weekly_reports_onset_week ON weekly_reports (onset_week)",
    "ix_weekly_reports_late_onset": "CREATE INDEX ix_weekly_reports_late_onset ON weekly_reports (onset_week) "
                                    "WHERE onset_week < week",
    "ix_weekly_reports_same_illness": "CREATE INDEX ix_weekly_reports_same_illness ON weekly_reports (week) "
                                      "WHERE same_illness = 'yes' AND onset_week = week",
    caseflags.LATE_ONSET_INDEX: f"CREATE INDEX {caseflags.LATE_ONSET_INDEX} ON weekly_reports (onset_week) "
                                f"INCLUDE (week, profile_id, {caseflags.COLUMN}, same_illness, submitted_at) "
                                "WHERE onset_week < week",
    caseflags.CELLS_INDEX: f"CREATE INDEX {caseflags.CELLS_INDEX} ON weekly_reports "
                           f"(week, region_code, age_years, sex, {caseflags.WEEK_COLUMN})",
}
ILLNESS_SYMPTOMS = {  # probability of each symptom in an episode (illustrative, as scheduler.synthetic)
    "covid": {"fever": 0.45, "chills": 0.25, "runny_nose": 0.30, "sore_throat": 0.40, "cough": 0.60,
              "shortness_of_breath": 0.20, "headache": 0.55, "muscle_pain": 0.40, "tiredness": 0.65,
              "loss_of_smell": 0.35, "loss_of_taste": 0.30},
    "cold": {"fever": 0.06, "runny_nose": 0.80, "sneezing": 0.60, "sore_throat": 0.50, "cough": 0.40,
             "headache": 0.25, "tiredness": 0.25, "watery_eyes": 0.20},
}


def load(engine: Engine, participants: int, weeks: int, first_week: dt.date, seed: int = 1,
         response_rate: float = 0.7) -> int:
    """Generate and COPY the population; returns the number of reports."""
    rng = np.random.default_rng(seed)
    with engine.connect() as connection:
        regions = connection.execute(select(Region.code, Region.population).order_by(Region.code)).all()
        municipalities = connection.execute(select(Municipality.code, Municipality.region_code)).all()
    codes = np.array([c for c, _ in regions])
    share = np.array([p for _, p in regions], dtype=float)
    share /= share.sum()
    by_region = {int(c): np.array([m for m, r in municipalities if r == c]) for c in codes}

    n = participants
    region = rng.choice(codes, size=n, p=share)
    municipality = np.empty(n, dtype=int)
    for code in codes:
        where = np.flatnonzero(region == code)
        municipality[where] = rng.choice(by_region[int(code)], size=len(where))
    age = np.clip(rng.normal(44, 21, n), 0, 95).astype(int)
    birth_year = first_week.year - age
    sex = rng.choice(np.array(["female", "male", "other"]), size=n, p=[0.52, 0.47, 0.01])
    propensity = np.clip(rng.beta(7, 3, n) * response_rate / 0.7, 0, 1)
    pseudonym = [f"b{i:031d}" for i in range(n)]
    joined = dt.datetime(first_week.year, first_week.month, first_week.day, 6, tzinfo=dt.timezone.utc)

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET session_replication_role = replica")
        for name in INDEXES:
            if name.startswith("uq_"):
                cursor.execute(f"ALTER TABLE weekly_reports DROP CONSTRAINT IF EXISTS {name}")
            else:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
        raw.commit()
        with tqdm(total=2 * n, desc="accounts and profiles", unit="row") as progress:
            with cursor.copy("COPY accounts (id, email, language, status, created_at, confirmed_at, "
                             "reminder_weekday, unsubscribe_key) FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row((i + 1, f"bench-{i + 1:07d}@example.invalid", "da", "active", joined, joined,
                                    i % 7, new_unsubscribe_key()))
                    if i % 100_000 == 0:
                        progress.update(min(100_000, n - i))
            with cursor.copy("COPY profiles (id, account_id, relation, birth_year, sex, municipality_code, "
                             "intake_version, intake_answers, created_at, updated_at) FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row((pseudonym[i], i + 1, "self", int(birth_year[i]), sex[i], int(municipality[i]),
                                    "intake-1", "{}", joined, joined))
                    if i % 100_000 == 0:
                        progress.update(min(100_000, n - i))
        cursor.execute("SELECT setval(pg_get_serial_sequence('accounts', 'id'), %s)", (n,))
        raw.commit()

        total = _reports(cursor, rng, n, weeks, first_week, pseudonym, region, municipality, sex, birth_year,
                         propensity)
        raw.commit()
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for name, statement in tqdm(INDEXES.items(), desc="rebuilding indexes", unit="index"):
            cursor.execute(statement)
            raw.commit()
    finally:
        raw.close()
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE weekly_reports")  # the join below is planned well only with statistics
        late = caseflags.recompute_late_flags(connection)
    print(f"late flags: {late:,} reports of a week carry a late onset ({time.perf_counter() - started:.0f} s)",
          flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return total


def _reports(cursor: Any, rng: np.random.Generator, n: int, weeks: int, first_week: dt.date, pseudonym: list[str],
             region: np.ndarray, municipality: np.ndarray, sex: np.ndarray, birth_year: np.ndarray,
             propensity: np.ndarray) -> int:
    symptoms = list(SYMPTOMS)
    probabilities = np.array([[ILLNESS_SYMPTOMS[k].get(s, 0.0) for s in symptoms] for k in ("covid", "cold")])
    onset = np.full(n, -1000)
    end = np.full(n, -1000)
    kind = np.zeros(n, dtype=int)
    masks = np.zeros((n, len(symptoms)), dtype=bool)
    reported_episode = np.zeros(n, dtype=bool)
    days = [first_week + dt.timedelta(days=d) for d in range(weeks * 7 + 7)]
    mondays = [first_week + dt.timedelta(weeks=t) for t in range(weeks + 1)]
    delay = {int(c): i * 1.5 for i, c in enumerate(sorted(set(region.tolist())))}
    region_delay = np.array([delay[int(r)] for r in region])
    columns = ["profile_id", "week", "submitted_at", "revision", "questionnaire_version", "answers", "region_code",
               "municipality_code", "sex", "birth_year", "age_years", "no_symptoms", *symptoms, "same_illness",
               "symptom_start", "sudden_onset", "onset_date", "onset_week", season_ordinal.COLUMN]
    # The season ordinal the triggers would give (they are off during the load): reports so far this season.
    in_season = np.zeros(n, dtype=int)
    statement = f"COPY weekly_reports ({', '.join(columns)}) FROM STDIN"
    answers_none = json.dumps({"symptoms": ["none"]})
    answers_ill = json.dumps({"symptoms": ["see typed columns"]})
    total = 0
    progress = tqdm(total=weeks, desc="weekly reports (COPY)", unit="week")
    for t in range(weeks):
        m = 7 * t
        # A regional wave of COVID-like illness over a background of colds.
        wave = 0.03 * np.exp(-0.5 * ((t - 0.45 * weeks - region_delay) / (0.12 * weeks)) ** 2)
        p_covid, p_cold = wave, 0.015
        free = end < m
        u = rng.random(n)
        new = free & (u < p_covid + p_cold)
        idx = np.flatnonzero(new)
        kind[idx] = (u[idx] >= p_covid[idx]).astype(int)
        onset[idx] = m + rng.integers(0, 7, len(idx))
        end[idx] = onset[idx] + rng.integers(4, 13, len(idx))
        draw = rng.random((len(idx), len(symptoms))) < probabilities[kind[idx]]
        draw[~draw.any(axis=1), symptoms.index("cough")] = True
        masks[idx] = draw
        reported_episode[idx] = False

        responds = rng.random(n) < propensity
        who = np.flatnonzero(responds)
        if t > 0 and season_of(mondays[t]) != season_of(mondays[t - 1]):
            in_season[:] = 0
        in_season[who] += 1
        ordinals = in_season[who].tolist()
        report_day = m + rng.integers(0, 7, len(who))
        ill = (onset[who] <= report_day) & (end[who] >= report_day - 6)
        same = np.where(ill & reported_episode[who], "yes", "no")
        reported_episode[who[ill]] = True
        symptom_rows = np.where(ill[:, None], masks[who], False).tolist()
        age = (mondays[t].isocalendar()[0] - birth_year[who]).tolist()
        onset_day = np.where(ill, onset[who], report_day).tolist()
        hours = rng.integers(7, 23, len(who)).tolist()
        ill_list, same_list, day_list = ill.tolist(), same.tolist(), report_day.tolist()
        monday = mondays[t]
        with cursor.copy(statement) as copy:
            for j, p in enumerate(who.tolist()):
                sick = ill_list[j]
                od = days[onset_day[j]]
                rd = days[day_list[j]]
                copy.write_row((
                    pseudonym[p], monday, dt.datetime(rd.year, rd.month, rd.day, hours[j], tzinfo=dt.timezone.utc),
                    1, "weekly-1", answers_ill if sick else answers_none, int(region[p]), int(municipality[p]),
                    sex[p], int(birth_year[p]), age[j], not sick, *symptom_rows[j],
                    same_list[j] if sick else None, od if sick else None, False if sick else None, od,
                    mondays[onset_day[j] // 7], ordinals[j]))
        total += len(who)
        progress.update(1)
        progress.set_postfix(reports=f"{total:,}")
    progress.close()
    return total
