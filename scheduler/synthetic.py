"""A synthetic participant population with a known epidemic, for the demo, the tests and the benchmarks.

What it simulates (deterministic given the seed and the end week):

- accounts (``participant-00001@example.invalid``), some of them households of 2-4 profiles (partner, child,
  parent) that report together, as FluTracking and COVIDmeter let one person report for a household;
- profiles spread over the five regions by population (``regions.population``) and over the municipalities of
  their region, with realistic ages (birth years) and sexes; participants join over the period;
- about 70 % of enrolled participants reporting each week (a per-household propensity), on a report day
  within the week;
- illness: an epidemic COVID-19 wave and a later influenza wave whose peak week and size differ by region and
  whose attack rate differs by age, plus background colds; each episode has a symptom profile drawn from
  illness-specific symptom probabilities (so ILI, COVID and fever+cough definitions pick out different
  illnesses), an onset day, a duration, sudden onset, fever start, and reports of a continuing episode answer
  "same illness" as the citizen questionnaire would; a little symptom noise in healthy weeks.

It RECORDS the truth it simulated: per week x region x age band, the probability of a new illness onset per
participant at risk, by illness type, with the number of participants enrolled and the onsets that happened.

Reports fill the typed columns as the citizen service does: the person's stratum copied onto the report,
``age_years`` = ISO year of the week minus birth year, onset from ``reporting.weeks.onset_date`` (first known
of fever start, symptom start, report date) and its ISO week, and the answers JSON with questionnaire version
"weekly-1". Rows are inserted with SQLAlchemy Core executemany in batches (or COPY on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import JSON, Connection, Date, DateTime, Engine, TypeDecorator, insert, select
from tqdm import tqdm

from reporting.models import (Account, AgeBand, Consent, Municipality, Profile, Region, WeeklyReport)
from reporting.symptoms import SYMPTOMS
from reporting.weeks import format_iso_week, iso_year, monday_of, onset_date

QUESTIONNAIRE_VERSION = "weekly-1"
INTAKE_VERSION = "intake-1"
CONSENT_VERSION = "1"
ILLNESSES = ("covid", "influenza", "cold")
_BIT = {name: 1 << i for i, name in enumerate(SYMPTOMS)}

# Probability of each symptom in an episode of each illness (round figures in the spirit of the ECDC case
# definitions and the symptom frequencies reported by Menni et al. 2020; illustrative, not estimates).
SYMPTOM_PROBABILITIES: dict[str, dict[str, float]] = {
    "covid": {"fever": 0.45, "chills": 0.25, "runny_nose": 0.30, "sneezing": 0.15, "sore_throat": 0.40,
              "cough": 0.60, "shortness_of_breath": 0.20, "headache": 0.55, "muscle_pain": 0.40,
              "chest_pain": 0.10, "tiredness": 0.65, "loss_of_appetite": 0.30, "nausea": 0.08,
              "diarrhoea": 0.10, "loss_of_smell": 0.35, "loss_of_taste": 0.30},
    "influenza": {"fever": 0.85, "chills": 0.55, "runny_nose": 0.35, "sneezing": 0.20, "sore_throat": 0.50,
                  "cough": 0.80, "shortness_of_breath": 0.15, "headache": 0.65, "muscle_pain": 0.65,
                  "chest_pain": 0.10, "tiredness": 0.75, "loss_of_appetite": 0.45, "coloured_sputum": 0.15,
                  "nausea": 0.10, "vomiting": 0.05},
    "cold": {"fever": 0.06, "chills": 0.05, "runny_nose": 0.80, "sneezing": 0.60, "sore_throat": 0.50,
             "cough": 0.40, "headache": 0.25, "muscle_pain": 0.05, "tiredness": 0.25, "watery_eyes": 0.20,
             "coloured_sputum": 0.10},
}
SUDDEN_ONSET = {"covid": 0.45, "influenza": 0.75, "cold": 0.15}
DURATION_DAYS = {"covid": (5, 15), "influenza": (4, 11), "cold": (3, 9)}
NOISE_SYMPTOMS = ("headache", "tiredness", "stomach_ache", "watery_eyes", "runny_nose", "cough", "nausea",
                  "muscle_pain", "rash", "diarrhoea")
REPORT_WEEKDAY_WEIGHTS = (0.30, 0.20, 0.12, 0.10, 0.10, 0.10, 0.08)  # Monday's reminder brings most reports


@dataclass(frozen=True)
class Epidemic:
    """Weekly onset probabilities: peak height by illness, age multipliers (below 21, 21-64, 65+), regional
    timing (weeks after the national reference peak) and size."""

    covid_peak: float = 0.035
    influenza_peak: float = 0.025
    cold_base: float = 0.015
    covid_peak_at: float = 0.40  # fraction of the simulated period
    influenza_peak_at: float = 0.72
    width_fraction: float = 0.10
    age_multipliers: dict[str, tuple[float, float, float]] = field(default_factory=lambda: {
        "covid": (1.3, 1.0, 0.6), "influenza": (1.8, 1.0, 0.8), "cold": (2.0, 1.0, 0.6)})
    # region code -> (delay of the COVID-19 peak in weeks, size), (delay of the influenza peak, size)
    regional: dict[int, tuple[tuple[float, float], tuple[float, float]]] = field(default_factory=lambda: {
        1084: ((0.0, 1.20), (1.0, 0.90)), 1085: ((1.0, 1.00), (0.0, 1.10)), 1083: ((2.0, 0.90), (2.0, 1.00)),
        1082: ((3.0, 0.85), (3.0, 1.00)), 1081: ((5.0, 0.70), (1.0, 1.25))})
    noise_rate: float = 0.05

    def age_group(self, ages: np.ndarray) -> np.ndarray:
        return np.where(ages < 21, 0, np.where(ages < 65, 1, 2))

    def probabilities(self, week_index: int, weeks: int, monday: dt.date, region: int,
                      age_group: np.ndarray) -> dict[str, np.ndarray]:
        width = max(1.5, self.width_fraction * weeks)
        (covid_delay, covid_size), (flu_delay, flu_size) = self.regional.get(region, ((0.0, 1.0), (0.0, 1.0)))
        covid_shape = math.exp(-0.5 * ((week_index - (self.covid_peak_at * (weeks - 1) + covid_delay)) / width) ** 2)
        flu_shape = math.exp(-0.5 * ((week_index - (self.influenza_peak_at * (weeks - 1) + flu_delay)) / width) ** 2)
        season = 1 + 0.4 * math.cos(2 * math.pi * (monday.timetuple().tm_yday - 15) / 365.25)
        scale = {"covid": self.covid_peak * covid_size * covid_shape,
                 "influenza": self.influenza_peak * flu_size * flu_shape,
                 "cold": self.cold_base * season}
        return {name: scale[name] * np.asarray(self.age_multipliers[name])[age_group] for name in ILLNESSES}


@dataclass
class Population:
    """What was generated: sizes, and the truth (one row per week x region x age band)."""

    accounts: int
    profiles: int
    reports: int
    first_week: dt.date
    last_week: dt.date
    seed: int
    truth: list[dict[str, Any]]
    seconds: float
    # Seconds spent on each simulated week (its reports generated and written), in order: a write path whose
    # cost grows with the table shows here as later weeks slowing down (bench/demo_build.py).
    week_seconds: list[float] = field(default_factory=list)
    week_write_seconds: list[float] = field(default_factory=list)  # of which writing its reports (COPY/INSERT)
    week_reports: list[int] = field(default_factory=list)  # reports written for each week, in order

    def truth_document(self) -> dict[str, Any]:
        return {
            "generator": "scheduler.synthetic",
            "seed": self.seed,
            "participants": self.profiles,
            "first_week": format_iso_week(self.first_week),
            "last_week": format_iso_week(self.last_week),
            "illnesses": list(ILLNESSES),
            "meaning": "probability: chance of a new illness onset in that week for a participant not already ill "
                       "(by illness, and 'any' for their sum); participants: enrolled that week; onsets: new "
                       "episodes that began among them",
            "symptom_probabilities": SYMPTOM_PROBABILITIES,
            "cells": self.truth,
        }


def _age_sample(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "self":  # participatory cohorts skew to middle age; 18+
        return np.clip(rng.normal(48, 15, n), 18, 92).astype(int)
    if kind == "child":
        return rng.integers(0, 18, n)
    if kind == "parent":
        return np.clip(rng.normal(78, 6, n), 60, 99).astype(int)
    raise ValueError(kind)


def _sqlite_converter(column: Any) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's SQLite dialect stores a non-NULL value of this column, when the driver would store it
    differently (so rows written here read back exactly like rows written through SQLAlchemy)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl
    if isinstance(kind, DateTime):
        utc = dt.timezone.utc
        return lambda v: v.astimezone(utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(kind, Date):
        return dt.date.isoformat
    if isinstance(kind, JSON):
        return json.dumps
    return None  # str, int and bool (stored as 0/1) go as they are


class _Writer:
    """Bulk insert in batches: Core executemany, the driver's executemany with values in SQLAlchemy's SQLite
    storage format (the fast path on SQLite), or COPY on PostgreSQL."""

    def __init__(self, connection: Connection, use_copy: bool, batch_size: int = 5000) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        self.use_copy = use_copy and self.dialect == "postgresql"
        self.batch_size = batch_size

    def write(self, table: Any, rows: list[dict[str, Any]], progress: tqdm | None = None) -> None:
        if not rows:
            return
        if self.use_copy:
            self._copy(table, rows)
        elif self.dialect == "sqlite":
            self._sqlite(table, rows)
        else:
            for start in range(0, len(rows), self.batch_size):
                self.connection.execute(insert(table), rows[start:start + self.batch_size])
        if progress is not None:
            progress.update(len(rows))

    def _sqlite(self, table: Any, rows: list[dict[str, Any]]) -> None:
        columns = list(rows[0])
        converters = [(i, convert) for i, name in enumerate(columns)
                      if (convert := _sqlite_converter(table.c[name])) is not None]
        statement = (f'INSERT INTO "{table.name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
                     f'VALUES ({", ".join("?" for _ in columns)})')
        pick = operator.itemgetter(*columns)
        for start in range(0, len(rows), self.batch_size):
            values = []
            for row in rows[start:start + self.batch_size]:
                value = list(pick(row))
                for i, convert in converters:
                    if value[i] is not None:
                        value[i] = convert(value[i])
                values.append(tuple(value))
            self.connection.exec_driver_sql(statement, values)

    def _copy(self, table: Any, rows: list[dict[str, Any]]) -> None:
        columns = list(rows[0])
        raw = self.connection.connection.driver_connection
        names = ", ".join(f'"{c}"' for c in columns)
        json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c]) if c in json_columns else row[c] for c in columns])


def generate(connection: Connection, participants: int = 20_000, weeks: int = 30, seed: int = 0,
             end_week: dt.date | None = None, today: dt.date | None = None, timezone: str = "Europe/Copenhagen",
             epidemic: Epidemic | None = None, response_rate: float = 0.7, email_prefix: str = "participant",
             age_band_scheme: str = "influenzanet", use_copy: bool = True, show_progress: bool = True,
             log: Callable[[str], None] = lambda message: None) -> Population:
    """Generate and insert the population in the caller's transaction; return sizes and the truth.

    ``end_week`` (a Monday) defaults to the week of ``today`` (default: today in ``timezone``); reports of days
    after ``today`` are not made.
    """
    started = time.perf_counter()
    if participants < 1 or weeks < 1:
        raise ValueError("participants and weeks must be at least 1")
    zone = ZoneInfo(timezone)
    today = today or dt.datetime.now(zone).date()
    end_week = end_week or monday_of(today)
    if end_week.weekday() != 0:
        raise ValueError(f"end_week {end_week} is not a Monday")
    epidemic = epidemic or Epidemic()
    rng = np.random.default_rng(seed)
    first_week = end_week - dt.timedelta(weeks=weeks - 1)
    writer = _Writer(connection, use_copy)
    if connection.dialect.name == "sqlite":  # index pages stay in memory during the bulk load (~256 MB at most)
        connection.exec_driver_sql("PRAGMA cache_size = -262144")

    # Reference data.
    regions = connection.execute(select(Region.code, Region.population).order_by(Region.code)).all()
    region_codes = np.array([code for code, _ in regions])
    region_share = np.array([pop for _, pop in regions], dtype=float)
    region_share /= region_share.sum()
    municipalities: dict[int, np.ndarray] = {}
    for code, region in connection.execute(select(Municipality.code, Municipality.region_code)
                                           .order_by(Municipality.code)):
        municipalities.setdefault(region, []).append(code)  # type: ignore[arg-type]
    municipalities = {region: np.array(codes) for region, codes in municipalities.items()}
    bands = connection.execute(select(AgeBand.label, AgeBand.min_age, AgeBand.max_age)
                               .where(AgeBand.scheme == age_band_scheme).order_by(AgeBand.position)).all()

    # Accounts and households (size 1-4).
    sizes = rng.choice([1, 2, 3, 4], size=participants, p=[0.72, 0.14, 0.09, 0.05])
    cut = int(np.searchsorted(np.cumsum(sizes), participants)) + 1
    sizes = sizes[:cut]
    sizes[-1] -= int(sizes.sum()) - participants
    n_accounts = len(sizes)
    account_region = rng.choice(region_codes, size=n_accounts, p=region_share)
    account_municipality = np.zeros(n_accounts, dtype=int)
    for code in region_codes:
        in_region = np.flatnonzero(account_region == code)
        account_municipality[in_region] = rng.choice(municipalities[int(code)], size=len(in_region))
    # Half join in the first week, the rest over the period (recruitment during the season).
    account_join = np.where(rng.random(n_accounts) < 0.5, 0, rng.integers(0, weeks, n_accounts))
    account_propensity = np.clip(rng.beta(7, 3, n_accounts) * response_rate / 0.7, 0, 1)

    # Profiles: the account holder, then partner / child / parent.
    account_of = np.repeat(np.arange(n_accounts), sizes)
    position = np.arange(participants) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    holder_age = _age_sample(rng, n_accounts, "self")
    relation = np.full(participants, "self", dtype=object)
    ages = np.empty(participants, dtype=int)
    sex = np.empty(participants, dtype=object)
    holder_sex = rng.choice(["female", "male", "other"], size=n_accounts, p=[0.58, 0.41, 0.01])
    is_holder = position == 0
    ages[is_holder] = holder_age
    sex[is_holder] = holder_sex
    others = np.flatnonzero(~is_holder)
    draw = rng.random(len(others))
    for i, p in enumerate(others):
        account = account_of[p]
        base = holder_age[account]
        if position[p] == 1 and draw[i] < 0.6:
            relation[p] = "partner"
            ages[p] = int(np.clip(base + rng.integers(-6, 7), 18, 95))
            sex[p] = {"female": "male", "male": "female"}.get(holder_sex[account], "female")
        elif base < 62 or draw[i] < 0.2:
            relation[p] = "child"
            ages[p] = int(np.clip(base - rng.integers(22, 40), 0, 40)) if base >= 40 else int(
                _age_sample(rng, 1, "child")[0])
            sex[p] = "female" if rng.random() < 0.5 else "male"
        else:
            relation[p] = "parent"
            ages[p] = int(np.clip(base + rng.integers(22, 32), 60, 99))
            sex[p] = "female" if rng.random() < 0.6 else "male"
    birth_year = first_week.year - ages
    profile_region = account_region[account_of]
    profile_municipality = account_municipality[account_of]
    profile_join = account_join[account_of]
    pseudonyms = [rng.bytes(16).hex() for _ in range(participants)]

    # Write accounts, consents and profiles.
    def local_utc(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(dt.timezone.utc)

    log(f"writing {n_accounts:,} accounts and {participants:,} profiles")
    join_times = [local_utc(first_week + dt.timedelta(weeks=int(w)), 8) for w in range(weeks)]
    account_rows = [{"email": f"{email_prefix}-{i + 1:05d}@example.invalid",
                     "language": "en" if (i % 10) == 9 else "da", "status": "active",
                     "created_at": join_times[account_join[i]], "confirmed_at": join_times[account_join[i]],
                     "reminder_weekday": 0} for i in range(n_accounts)]
    account_ids: list[int] = []
    table = Account.__table__
    for start in range(0, n_accounts, 5000):
        batch = account_rows[start:start + 5000]
        result = connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), batch)
        account_ids.extend(result.scalars())
    writer.write(Consent.__table__, [{"account_id": account_ids[i], "version": CONSENT_VERSION,
                                      "given_at": join_times[account_join[i]]} for i in range(n_accounts)])
    writer.write(Profile.__table__, [
        {"id": pseudonyms[p], "account_id": account_ids[account_of[p]], "relation": relation[p],
         "display_name": None, "birth_year": int(birth_year[p]), "sex": sex[p],
         "municipality_code": int(profile_municipality[p]), "intake_version": INTAKE_VERSION,
         "intake_answers": {}, "created_at": join_times[profile_join[p]],
         "updated_at": join_times[profile_join[p]]} for p in range(participants)])

    # Episode state: the current and the previous episode of each person (day numbers from first_week).
    n = participants
    current = {"id": np.full(n, -1), "type": np.zeros(n, dtype=int), "onset": np.full(n, -10_000),
               "end": np.full(n, -10_000), "mask": np.zeros(n, dtype=np.int64), "sudden": np.zeros(n, bool),
               "fever_delay": np.zeros(n, dtype=int), "start_known": np.ones(n, bool), "tested": np.zeros(n, int)}
    previous = {key: value.copy() for key, value in current.items()}
    last_reported_episode = np.full(n, -2)
    next_episode_id = 0
    symptom_index = np.array([[SYMPTOM_PROBABILITIES[ill].get(s, 0.0) for s in SYMPTOMS] for ill in ILLNESSES])
    powers = (np.int64(1) << np.arange(len(SYMPTOMS), dtype=np.int64))
    days = [first_week + dt.timedelta(days=d) for d in range(weeks * 7)]
    today_index = (today - first_week).days
    mask_names: dict[int, list[str]] = {}

    def names_of(mask: int) -> list[str]:
        names = mask_names.get(mask)
        if names is None:
            names = mask_names[mask] = [s for s in SYMPTOMS if mask & _BIT[s]]
        return names

    truth: list[dict[str, Any]] = []
    week_seconds: list[float] = []
    week_write_seconds: list[float] = []
    week_reports: list[int] = []
    total_reports = 0
    reports_table = WeeklyReport.__table__
    progress = tqdm(total=weeks, desc="synthetic weeks", unit="week", disable=not show_progress)
    for t in range(weeks):
        week_started = time.perf_counter()
        monday = first_week + dt.timedelta(weeks=t)
        m = t * 7
        enrolled = profile_join <= t
        year = iso_year(monday)
        age_now = year - birth_year
        group = epidemic.age_group(age_now)

        # New onsets: persons enrolled and not ill at the start of the week.
        probabilities = np.zeros((len(ILLNESSES), n))
        for code in region_codes:
            in_region = profile_region == code
            for k, values in enumerate(epidemic.probabilities(t, weeks, monday, int(code), group[in_region])
                                       .values()):
                probabilities[k, in_region] = values
        at_risk = enrolled & (current["end"] < m)
        u = rng.random(n)
        cumulative = np.cumsum(probabilities, axis=0)
        illness = np.where(u < cumulative[0], 0, np.where(u < cumulative[1], 1, np.where(u < cumulative[2], 2, -1)))
        new = at_risk & (illness >= 0)
        idx = np.flatnonzero(new)
        for key in current:
            previous[key][idx] = current[key][idx]
        types = illness[idx]
        current["id"][idx] = np.arange(next_episode_id, next_episode_id + len(idx))
        next_episode_id += len(idx)
        current["type"][idx] = types
        current["onset"][idx] = m + rng.integers(0, 7, len(idx))
        low = np.array([DURATION_DAYS[ILLNESSES[k]][0] for k in types], dtype=int)
        high = np.array([DURATION_DAYS[ILLNESSES[k]][1] for k in types], dtype=int)
        current["end"][idx] = current["onset"][idx] + rng.integers(low, high + 1) - 1
        draws = rng.random((len(idx), len(SYMPTOMS))) < symptom_index[types]
        masks = draws.astype(np.int64) @ powers
        masks = np.where(masks == 0, np.where(types == 2, _BIT["runny_nose"], _BIT["cough"]), masks)
        current["mask"][idx] = masks
        current["sudden"][idx] = rng.random(len(idx)) < np.array([SUDDEN_ONSET[ILLNESSES[k]] for k in types])
        current["fever_delay"][idx] = (rng.random(len(idx)) < 0.3).astype(int)
        current["start_known"][idx] = rng.random(len(idx)) < 0.93
        current["tested"][idx] = rng.random(len(idx)) < np.where(types == 0, 0.5, 0.1)

        # Truth for this week.
        for code in region_codes:
            in_region = enrolled & (profile_region == code)
            for label, lo, hi in bands:
                cell = in_region & (age_now >= lo) & (age_now <= hi)
                count = int(cell.sum())
                row: dict[str, Any] = {"week": format_iso_week(monday), "monday": monday.isoformat(),
                                       "region_code": int(code), "age_band": label, "participants": count,
                                       "at_risk": int((cell & at_risk).sum())}
                probs = {name: float(probabilities[k, cell].mean()) if count else None
                         for k, name in enumerate(ILLNESSES)}
                probs["any"] = sum(v for v in probs.values() if v is not None) if count else None
                row["probability"] = probs
                row["onsets"] = {name: int((cell & new & (illness == k)).sum()) for k, name in enumerate(ILLNESSES)}
                truth.append(row)

        # Reports: households respond together on a report day of the week (never after today).
        responds_account = rng.random(n_accounts) < account_propensity
        report_weekday = rng.choice(7, size=n_accounts, p=REPORT_WEEKDAY_WEIGHTS)
        report_day = m + report_weekday[account_of]
        reporting = enrolled & responds_account[account_of] & (report_day <= today_index)
        who = np.flatnonzero(reporting)
        rd = report_day[who]

        def overlaps(state: dict[str, np.ndarray]) -> np.ndarray:
            return (state["id"][who] >= 0) & (state["onset"][who] <= rd) & (state["end"][who] >= rd - 6)

        use_current = overlaps(current)
        use_previous = ~use_current & overlaps(previous)
        episode = {key: np.where(use_current, current[key][who], previous[key][who]) for key in current}
        has_episode = use_current | use_previous
        noise = ~has_episode & (rng.random(len(who)) < epidemic.noise_rate)
        noise_symptom = rng.choice(len(NOISE_SYMPTOMS), size=len(who))
        noise_day = rd - rng.integers(0, 7, len(who))
        dont_know = rng.random(len(who)) < 0.05
        temperature_measured = rng.random(len(who)) < 0.7
        minutes = rng.integers(7 * 60, 23 * 60, len(who))
        positive = rng.random(len(who)) < 0.9
        pcr = rng.random(len(who)) < 0.5

        rows = []
        for j, p in enumerate(who.tolist()):
            day_number = int(rd[j])
            report_date = days[day_number]
            values: dict[str, Any] = {name: False for name in SYMPTOMS}
            same_illness = symptom_start = symptom_end = fever_start = highest = tested = test_result = None
            sudden = None
            if has_episode[j]:
                mask = int(episode["mask"][j])
                names = names_of(mask)
                kind = ILLNESSES[int(episode["type"][j])]
                episode_id = int(episode["id"][j])
                same = last_reported_episode[p] == episode_id
                same_illness = "dont_know" if dont_know[j] else ("yes" if same else "no")
                last_reported_episode[p] = episode_id
                onset_day = int(episode["onset"][j])
                if episode["start_known"][j]:
                    symptom_start = days[onset_day]
                end_day = int(episode["end"][j])
                if end_day < day_number:
                    symptom_end = days[end_day]
                sudden = bool(episode["sudden"][j])
                if mask & _BIT["fever"]:
                    fever_start = days[min(onset_day + int(episode["fever_delay"][j]), day_number)]
                    highest = "dont_know"
                    if temperature_measured[j]:
                        highest = "37.5_37.9" if kind == "cold" else ("39_39.9" if kind == "influenza" else "38_38.9")
                if episode["tested"][j]:
                    tested = "pcr" if pcr[j] else "antigen"
                    test_result = "positive" if kind == "covid" and positive[j] else "negative"
                else:
                    tested = "none"
            elif noise[j]:
                names = [NOISE_SYMPTOMS[int(noise_symptom[j])]]
                same_illness = "no"
                last_reported_episode[p] = -1
                symptom_start = days[max(int(noise_day[j]), 0)]
                sudden = False
                tested = "none"
            else:
                names = []
                last_reported_episode[p] = -1
            for name in names:
                values[name] = True
            onset = onset_date(report_date, fever_start, symptom_start)
            # The answers as the weekly-1 questionnaire stores them (reporting/questionnaires/weekly-1.json);
            # the typed columns above are what its ``store`` mapping derives from them.
            answers: dict[str, Any] = {"symptoms": names or ["none"]}
            if names:
                answers.update({
                    "same_illness": same_illness,
                    "symptom_start": symptom_start.isoformat() if symptom_start else None,
                    "symptom_end": symptom_end.isoformat() if symptom_end else None,
                    "sudden_onset": "yes" if sudden else "no",
                    "tested": "no" if tested == "none" else tested})
                if fever_start is not None:
                    answers.update({"fever_start": fever_start.isoformat(), "highest_temperature": highest})
                if test_result is not None:
                    answers["test_result"] = test_result
            submitted = dt.datetime(report_date.year, report_date.month, report_date.day,
                                    int(minutes[j]) // 60, int(minutes[j]) % 60, tzinfo=zone)
            rows.append({
                "profile_id": pseudonyms[p], "week": monday,
                "submitted_at": submitted.astimezone(dt.timezone.utc), "revision": 1,
                "questionnaire_version": QUESTIONNAIRE_VERSION, "answers": answers,
                "region_code": int(profile_region[p]), "municipality_code": int(profile_municipality[p]),
                "sex": sex[p], "birth_year": int(birth_year[p]), "age_years": int(year - birth_year[p]),
                "no_symptoms": not names, **values,
                "same_illness": same_illness, "symptom_start": symptom_start, "symptom_end": symptom_end,
                "sudden_onset": sudden, "fever_start": fever_start, "fever_sudden": None,
                "temperature_measured": None, "highest_temperature": highest, "tested": tested,
                "test_result": test_result, "onset_date": onset, "onset_week": monday_of(onset)})
        # Persons who did not report this week keep their last reported episode (the question is about the
        # last report, whenever it was).
        write_started = time.perf_counter()
        writer.write(reports_table, rows)
        total_reports += len(rows)
        week_seconds.append(time.perf_counter() - week_started)
        week_write_seconds.append(time.perf_counter() - write_started)
        week_reports.append(len(rows))
        progress.update(1)
        progress.set_postfix(reports=f"{total_reports:,}")
    progress.close()
    return Population(n_accounts, participants, total_reports, first_week, end_week, seed, truth,
                      time.perf_counter() - started, week_seconds, week_write_seconds, week_reports)


def generate_into(engine: Engine, **kwargs: Any) -> Population:
    """``generate`` in one transaction of its own."""
    with engine.begin() as connection:
        return generate(connection, **kwargs)


def national_truth(population: Population, illnesses: Sequence[str] = ILLNESSES) -> Iterator[tuple[str, float]]:
    """Participant-weighted national probability of a new onset of any of ``illnesses``, per week."""
    by_week: dict[str, list[tuple[int, float]]] = {}
    for cell in population.truth:
        if cell["participants"]:
            p = sum(cell["probability"][name] for name in illnesses)
            by_week.setdefault(cell["week"], []).append((cell["participants"], p))
    for week, cells in by_week.items():
        total = sum(n for n, _ in cells)
        yield week, sum(n * p for n, p in cells) / total
