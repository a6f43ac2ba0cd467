"""Disclosure control and publishing: suppression, low precision, idempotent re-runs, revisions as issues."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import (MISSING_LOW_PRECISION, MISSING_NONE, MISSING_NOT_PUBLISHED, MISSING_PRIVACY,
                              IncidenceEstimate)
from scheduler.incidence import aggregate_week
from scheduler.incidence.definitions import load_definitions
from scheduler.incidence.disclosure import DisclosurePolicy, disclose_cell
from scheduler.incidence.statistics import poisson_interval

from .factories import People, W, week
from .test_aggregation import build_known_population

DAY1, DAY2 = dt.date(2026, 3, 10), dt.date(2026, 3, 11)


def test_disclosure_rules() -> None:
    policy = DisclosurePolicy(suppress_below=5, min_active=100)
    shown = disclose_cell(200, 10, policy)
    assert (shown.active, shown.cases, shown.incidence, shown.missing_reason) == (200, 10, 0.05, MISSING_NONE)
    assert (shown.lower_95, shown.upper_95) == pytest.approx(poisson_interval(10, 200))
    zero = disclose_cell(200, 0, policy)  # zero may be shown
    assert (zero.cases, zero.incidence, zero.lower_95, zero.missing_reason) == (0, 0.0, 0.0, MISSING_NONE)
    for cases in (1, 4):
        small = disclose_cell(200, cases, policy)
        assert (small.active, small.cases, small.incidence, small.lower_95, small.upper_95) == (
            200, None, None, None, None)
        assert small.missing_reason == MISSING_PRIVACY
    assert disclose_cell(200, 5, policy).cases == 5
    few = disclose_cell(3, 0, policy)  # the active count itself identifies fewer than five people
    assert (few.active, few.cases, few.missing_reason) == (None, None, MISSING_PRIVACY)
    low = disclose_cell(99, 20, policy)
    assert (low.active, low.cases, low.incidence, low.missing_reason) == (99, None, None, MISSING_LOW_PRECISION)
    # Too few active: reason 6 whatever the count, so the reason does not tell that a count is not 1..4.
    assert disclose_cell(99, 2, policy).missing_reason == MISSING_LOW_PRECISION
    empty = disclose_cell(0, 0, policy)
    assert (empty.active, empty.incidence, empty.missing_reason) == (0, None, MISSING_LOW_PRECISION)
    assert disclose_cell(100, 0, policy).missing_reason == MISSING_NONE
    with pytest.raises(ValueError):
        disclose_cell(5, 6, policy)


def _config(app: Flask, **overrides: Any) -> dict[str, Any]:
    return {**app.config, **{f"COVIDMETER_{k}": v for k, v in overrides.items()}}


def _rows(key: tuple[str, str, str, str, str], monday: dt.date = W) -> list[IncidenceEstimate]:
    geo_type, geo_code, band, sex, definition = key
    return list(db.session.scalars(select(IncidenceEstimate).where(
        IncidenceEstimate.week == monday, IncidenceEstimate.geo_type == geo_type,
        IncidenceEstimate.geo_code == geo_code, IncidenceEstimate.age_band == band, IncidenceEstimate.sex == sex,
        IncidenceEstimate.definition_key == definition).order_by(IncidenceEstimate.issue)))


NATION_COVID = ("nation", "DK", "all", "all", "covid.ecdc")


def test_written_estimates_apply_disclosure(app: Flask) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            build_known_population(connection)
        definitions = load_definitions(db.session)
        result = aggregate_week(W, definitions, "w0", DAY1, config=_config(app, MIN_ACTIVE=5))
        assert result.written.inserted == 6 * 4 * 4 * 7 and result.national_active == 9
        [covid] = _rows(NATION_COVID)
        assert (covid.active, covid.cases, covid.incidence, covid.missing_reason) == (9, 6, 6 / 9, MISSING_NONE)
        assert (covid.lower_95, covid.upper_95) == pytest.approx(poisson_interval(6, 9))
        assert (covid.definition_version, covid.method, covid.issue) == (1, "w0", DAY1)
        [ili] = _rows(("nation", "DK", "all", "all", "ili.ecdc"))  # 2 cases: suppressed, active shown
        assert (ili.active, ili.cases, ili.incidence, ili.lower_95, ili.missing_reason) == (
            9, None, None, None, MISSING_PRIVACY)
        [small] = _rows(("region", "1084", "21-64", "female", "covid.ecdc"))  # 3 active
        # A region's age-by-sex cells are not published at all (scheduler.incidence.protection.published_cell).
        assert (small.active, small.cases, small.missing_reason) == (None, None, MISSING_NOT_PUBLISHED)
        [empty] = _rows(("region", "1083", "all", "all", "covid.ecdc"))
        assert (empty.active, empty.cases, empty.missing_reason) == (0, None, MISSING_LOW_PRECISION)
    with app.app_context():  # default thresholds (5 and 100): the nation's 9 active are too few
        aggregate_week(W, definitions, "w0", DAY2)
        latest = _rows(NATION_COVID)[-1]
        assert (latest.issue, latest.active, latest.cases, latest.incidence, latest.missing_reason) == (
            DAY2, 9, None, None, MISSING_LOW_PRECISION)


def test_rerun_is_harmless_and_revisions_are_new_issues(app: Flask) -> None:
    config = _config(app, MIN_ACTIVE=5, SUPPRESS_BELOW=1)  # revisions here, not disclosure: show every count
    with app.app_context():
        with db.engine.begin() as connection:
            build_known_population(connection)
        definitions = load_definitions(db.session)
        first = aggregate_week(W, definitions, "w0", DAY1, config=config)
        total = db.session.scalar(select(func.count()).select_from(IncidenceEstimate))
        again = aggregate_week(W, definitions, "w0", DAY1, config=config)
        assert (again.written.inserted, again.written.updated, again.written.unchanged) == (0, 0, first.cells)
        later = aggregate_week(W, definitions, "w0", DAY2, config=config)  # nothing changed: nothing written
        assert (later.written.inserted, later.written.updated) == (0, 0)
        assert db.session.scalar(select(func.count()).select_from(IncidenceEstimate)) == total

        # A late report for week W arrives on DAY2: a new issue for the cells it changes, the old one stays.
        with db.engine.begin() as connection:
            people = People(connection)
            people.report(people.person(1084, "male", 1990), W, symptoms=["cough", "fever"],
                          symptom_start=W + dt.timedelta(days=1))
        revised = aggregate_week(W, definitions, "w0", DAY2, config=config)
        assert revised.written.inserted > 0 and revised.written.updated == 0
        assert revised.written.unchanged > 0  # e.g. region 1081 is untouched
        db.session.expire_all()
        covid = _rows(NATION_COVID)
        assert [(r.issue, r.active, r.cases) for r in covid] == [(DAY1, 9, 6), (DAY2, 10, 7)]
        assert len(_rows(("region", "1081", "all", "all", "covid.ecdc"))) == 1

        # Another one the same day: today's issue is updated in place, no third row.
        with db.engine.begin() as connection:
            people = People(connection)
            people.report(people.person(1084, "female", 1990), W)
        same_day = aggregate_week(W, definitions, "w0", DAY2, config=config)
        assert same_day.written.updated > 0
        db.session.expire_all()
        assert [(r.issue, r.active, r.cases) for r in _rows(NATION_COVID)] == [(DAY1, 9, 6), (DAY2, 11, 7)]

        with pytest.raises(ValueError, match="later than"):
            aggregate_week(W, definitions, "w0", DAY1, config=config)
        other_week = aggregate_week(week(1), definitions, "w0", DAY2, config=config)
        assert other_week.written.inserted == 6 * 4 * 4 * 7  # keys of another week are independent


def test_not_a_monday(app: Flask) -> None:
    with app.app_context(), pytest.raises(ValueError, match="not a Monday"):
        aggregate_week(W + dt.timedelta(days=1), load_definitions(db.session), "w0", DAY1)


def test_published_rows_carry_intervals_standardisation_participation_and_flags(app: Flask) -> None:
    """A synthetic week large enough to publish: every derived figure is the statistics module's on the counts."""
    from scheduler.incidence.counting import count_weeks
    from scheduler.incidence.methods import W0
    from scheduler.incidence.statistics import standard_error, standardised_rate, wilson_interval
    from scheduler.incidence.strata import load_strata, load_weights
    from scheduler.synthetic import Epidemic, generate

    from reporting.models import ParticipationEstimate

    with app.app_context():
        with db.engine.begin() as connection:
            generate(connection, participants=4000, weeks=2, seed=9, end_week=W, today=W + dt.timedelta(days=6),
                     epidemic=Epidemic(covid_peak=0.2), show_progress=False)
        definitions = load_definitions(db.session, ["covid.ecdc", "any.symptom"])
        db.session.close()
        aggregate_week(W, definitions, "w0", DAY1, config=_config(app, PUBLIC_MIN_ACTIVE=100))
        [row] = _rows(NATION_COVID)
        with db.engine.connect() as connection:
            strata = load_strata(connection, "influenzanet")
            counts = count_weeks(connection, [W], definitions, W0, strata)[W]
            weights = load_weights(connection, "dk-2024", "influenzanet", strata.bands)
        nation = ("nation", "DK", "all", "all")
        covid = [d.key for d in definitions].index("covid.ecdc")
        active, cases = counts.active[nation], counts.cases[covid][nation]
        assert (row.active, row.cases, row.missing_reason) == (active, cases, MISSING_NONE) and cases > 50
        assert (row.wilson_lower_95, row.wilson_upper_95) == pytest.approx(wilson_interval(cases, active))
        assert row.stderr == pytest.approx(standard_error(cases, active))
        bands = [("nation", "DK", b, "all") for b in ("0-20", "21-64", "65+")]
        expected = standardised_rate([counts.cases[covid][c] for c in bands], [counts.active[c] for c in bands],
                                     weights)
        assert (row.standardised_incidence, row.standardised_lower_95, row.standardised_upper_95) == pytest.approx(
            (expected.rate, expected.lower, expected.upper))
        assert row.public and not row.display_censored and not row.upper_censored
        band_row = _rows(("nation", "DK", "21-64", "all", "covid.ecdc"))[0]
        assert band_row.standardised_incidence is None and not band_row.public  # only 'all' rows, nation/region
        participation = {p.geo_code: p for p in db.session.scalars(select(ParticipationEstimate))}
        assert participation["DK"].active == active and participation["DK"].registered >= 3800
        assert participation["DK"].response_rate == pytest.approx(active / participation["DK"].registered)
        assert participation["DK"].new_profiles is not None
        assert sum(participation[r].registered for r in ("1081", "1082", "1083", "1084", "1085")) == \
            participation["DK"].registered


def test_a_new_definition_version_is_data_only(app: Flask) -> None:
    """Adding version 2 of a definition is a row in case_definitions (as a migration inserts it): both versions
    are computed and every estimate names its version."""
    from reporting.models import CaseDefinition

    with app.app_context():
        with db.engine.begin() as connection:
            build_known_population(connection)
            connection.execute(CaseDefinition.__table__.insert().values(
                key="cli", version=2, label_en="CLI v2", label_da="CLI v2", description="fever only",
                source="test", kind="definition", default_method="w0", rule={"symptom": "fever"}, active=True))
        try:
            definitions = load_definitions(db.session, ["cli"])
            assert [(d.key, d.version) for d in definitions] == [("cli", 1), ("cli", 2)]
            aggregate_week(W, definitions, "w0", DAY1, config=_config(app, MIN_ACTIVE=5, SUPPRESS_BELOW=1))
            versions = dict(db.session.execute(select(IncidenceEstimate.definition_version, IncidenceEstimate.cases)
                                               .where(IncidenceEstimate.geo_type == "nation",
                                                      IncidenceEstimate.age_band == "all",
                                                      IncidenceEstimate.sex == "all")).all())
            assert versions == {1: 1, 2: 2}  # fever and cough: A; fever: A and D
        finally:
            with db.engine.begin() as connection:
                connection.execute(CaseDefinition.__table__.delete().where(CaseDefinition.key == "cli",
                                                                           CaseDefinition.version == 2))


def test_aggregates_version_changes_only_when_published_figures_change(app: Flask) -> None:
    """The dashboard's figure caches (in every web process) key on this version."""
    from reporting.aggregates_version import aggregates_version

    config = _config(app, MIN_ACTIVE=5, SUPPRESS_BELOW=1)
    with app.app_context():
        with db.engine.begin() as connection:
            build_known_population(connection)
        definitions = load_definitions(db.session)

        def version() -> str:
            with db.engine.connect() as connection:
                return aggregates_version(connection)

        before = version()
        aggregate_week(W, definitions, "w0", DAY1, config=config)
        published = version()
        assert published != before
        aggregate_week(W, definitions, "w0", DAY1, config=config)  # nothing changed
        assert version() == published
        with db.engine.begin() as connection:  # a late report changes today's issue in place (no new ids)
            people = People(connection)
            people.report(people.person(1084, "female", 1990), W)
        revised = aggregate_week(W, definitions, "w0", DAY1, config=config)
        assert revised.written.updated > 0 and revised.written.inserted == 0
        assert version() != published


@pytest.mark.parametrize("few_bounds", [0, 100], ids=["one interval per profile", "one count per boundary"])
def test_registrations_are_counted_in_local_weeks(app: Flask, monkeypatch: pytest.MonkeyPatch,
                                                  few_bounds: int) -> None:
    """A profile belongs to the week of its creation in Copenhagen time (W starts Monday 00:00 CET, which is
    Sunday 23:00 UTC), whichever way the counts are taken."""
    from reporting.models import Profile
    from scheduler.incidence import participation

    monkeypatch.setattr(participation, "FEW_BOUNDS", few_bounds)
    utc = dt.timezone.utc
    start = dt.datetime(W.year, W.month, W.day, tzinfo=utc) - dt.timedelta(hours=1)  # W's first instant
    created = {1084: [start - dt.timedelta(weeks=3), start - dt.timedelta(seconds=1), start,
                      start + dt.timedelta(days=7, seconds=-1)],
               1081: [start + dt.timedelta(days=7)]}
    with app.app_context(), db.engine.begin() as connection:
        people = People(connection)
        for region, instants in created.items():
            for instant in instants:
                profile = people.person(region)
                connection.execute(Profile.__table__.update().where(Profile.__table__.c.id == profile)
                                   .values(created_at=instant))
        counts = participation.count_registrations(connection, [week(-1), W, week(1)], "Europe/Copenhagen")
    assert counts[week(-1)][("region", "1084")] == (2, 1)
    assert counts[W][("region", "1084")] == (4, 2)
    assert counts[week(1)][("region", "1084")] == (4, 0)
    assert counts[W].get(("region", "1081"), (0, 0)) == (0, 0) and counts[week(1)][("region", "1081")] == (1, 1)
    assert counts[week(1)][("nation", "DK")] == (5, 1)



def test_new_profiles_are_never_withheld_where_two_registered_counts_give_them(app: Flask) -> None:
    """New profiles follow from registered(W) - registered(W-1) when nobody withdrew: they are published only
    with both registered counts, so a withheld one cannot be read back from them (issue 11, participation)."""
    from scheduler.incidence import aggregate_weeks
    from scheduler.synthetic import generate

    from reporting.models import ParticipationEstimate

    weeks = [W - dt.timedelta(weeks=k) for k in (3, 2, 1, 0)]
    with app.app_context():
        with db.engine.begin() as connection:  # small: regions with a handful of new sign-ups a week
            generate(connection, participants=120, weeks=4, seed=3, end_week=W, today=W + dt.timedelta(days=6),
                     show_progress=False)
        definitions = load_definitions(db.session, ["covid.ecdc"])
        db.session.close()
        aggregate_weeks(weeks, definitions, ["w0"], DAY1 + dt.timedelta(days=21), config=app.config)
        rows = {(r.week, r.geo_code): r for r in db.session.scalars(select(ParticipationEstimate))}
    withheld_new = 0
    for (monday, code), row in rows.items():
        before = rows.get((monday - dt.timedelta(weeks=1), code))
        if before is None:
            continue
        both_published = row.registered is not None and before.registered is not None
        assert (row.new_profiles is not None) == both_published, (monday, code, row.registered, before.registered)
        withheld_new += row.new_profiles is None
    assert withheld_new  # the population is small enough for the rule to matter


def test_a_final_week_is_never_revised_and_a_later_definition_joins_it(app: Flask) -> None:
    """Final issues stand (a withdrawal since changes nothing published), and a definition published for the
    week later is protected with the final tables taken as known (scheduler.incidence.protection, ``frozen``)."""
    from scheduler.incidence import aggregate_weeks
    from scheduler.synthetic import generate

    from reporting.accounts.data_rights import withdraw
    from reporting.models import Account

    final_day = W + dt.timedelta(days=14)
    with app.app_context():
        with db.engine.begin() as connection:
            generate(connection, participants=800, weeks=2, seed=5, end_week=W, today=W + dt.timedelta(days=6),
                     show_progress=False)
        covid = load_definitions(db.session, ["covid.ecdc"])
        both = load_definitions(db.session, ["covid.ecdc", "cli"])
        db.session.close()
        aggregate_weeks([W], covid, ["w0"], final_day, config=app.config)
        before = {(r.geo_code, r.age_band, r.sex): (r.active, r.cases, r.issue)
                  for r in db.session.scalars(select(IncidenceEstimate).where(IncidenceEstimate.final.is_(True)))}
        assert before and all(issue == final_day for _a, _c, issue in before.values())
        withdraw(db.session.scalars(select(Account.id)).first(), channel="web")
        aggregate_weeks([W], both, ["w0"], final_day + dt.timedelta(days=7), config=app.config)
        rows = list(db.session.scalars(select(IncidenceEstimate).where(IncidenceEstimate.final.is_(True))))
    after = {(r.geo_code, r.age_band, r.sex): (r.active, r.cases, r.issue)
             for r in rows if r.definition_key == "covid.ecdc"}
    assert after == before  # the final issue stands
    cli = [r for r in rows if r.definition_key == "cli"]
    assert cli and all(r.issue == final_day + dt.timedelta(days=7) for r in cli)
    assert all(r.active == before[(r.geo_code, r.age_band, r.sex)][0] or r.active is None for r in cli)
