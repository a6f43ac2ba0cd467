"""Advice by rules after a report (reporting.advice) and how the person's region is doing, read only from
published aggregates (reporting.reports.region)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from reporting.advice import DEFAULT_FILE, advice_for, parse_rules, person_context
from reporting.extensions import db
from reporting.models import IncidenceEstimate
from reporting.questionnaire import DefinitionError
from reporting.reports import region as regions

from .citizens import sign_up_and_log_in

ADULT = person_context(age=40, intake_answers={})


def keys(app: Flask, answers: dict, context: dict = ADULT, region_code: int = 1084, lang: str = "en") -> list[str]:
    with app.app_context():
        return [a.key for a in advice_for(answers, lang=lang, region_code=region_code, context=context)]


def test_rules_by_answers_and_person(app: Flask) -> None:
    assert keys(app, {"symptoms": ["none"]}) == ["well"]
    assert keys(app, {"symptoms": ["cough"], "tested": "no"}) == ["get_tested", "stay_home"]
    assert keys(app, {"symptoms": ["shortness_of_breath"], "tested": "pcr", "test_result": "positive"}) == [
        "emergency", "positive_test", "stay_home"]
    assert keys(app, {"symptoms": ["fever"], "temperature_measured": "yes", "highest_temperature": "39_39.9",
                      "tested": "antigen", "test_result": "negative"}) == ["call_doctor", "stay_home"]
    # A fever at 38 is "call the doctor" only for people at higher risk.
    moderate = {"symptoms": ["fever"], "highest_temperature": "38_38.9", "tested": "no"}
    assert "call_doctor" not in keys(app, moderate)
    assert "call_doctor" in keys(app, moderate, person_context(age=70, intake_answers={}))
    assert "call_doctor" in keys(app, moderate, person_context(age=30, intake_answers={"pregnant": "yes"}))
    assert "call_doctor" in keys(app, moderate, person_context(age=1, intake_answers={}))


def test_helpline_of_the_region_in_both_languages(app: Flask) -> None:
    with app.app_context():
        high = {"symptoms": ["fever"], "highest_temperature": "ge40"}
        (da,) = [a for a in advice_for(high, lang="da", region_code=1084, context=ADULT) if a.key == "call_doctor"]
        assert "Akuttelefonen 1813" in da.text and da.level == "important"
        (en,) = [a for a in advice_for(high, lang="en", region_code=1081, context=ADULT) if a.key == "call_doctor"]
        assert "70 15 03 00" in en.text and "{helpline}" not in en.text


def test_texts_are_configuration(app: Flask, config: dict, tmp_path: Path) -> None:
    from reporting import create_app

    raw = json.loads(DEFAULT_FILE.read_text(encoding="utf-8"))
    raw["rules"] = [{"key": "custom", "level": "info", "when": {"question": "symptoms", "any_of": ["none"]},
                     "text": {"da": "Egen tekst", "en": "Own text"}}]
    path = tmp_path / "advice.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    other = create_app({**config, "COVIDMETER_ADVICE_FILE": str(path)})
    with other.app_context():
        assert [a.text for a in advice_for({"symptoms": ["none"]}, lang="da", region_code=1084, context=ADULT)] == [
            "Egen tekst"]
        db.engine.dispose()
    with pytest.raises(DefinitionError):
        parse_rules({"rules": [{"key": "x", "level": "shout", "when": {}, "text": {"da": "", "en": ""}}]})
    with pytest.raises(DefinitionError):
        parse_rules({"rules": [{"key": "x", "level": "info", "when": {"context": "zodiac", "equals": 1},
                                "text": {"da": "a", "en": "b"}}]})


def estimate(week: dt.date, issue: dt.date, incidence: float | None, *, region: str = "1082", missing: int = 0,
             age_band: str = "all", method: str = "w0", lower: float | None = None, upper: float | None = None) -> IncidenceEstimate:
    return IncidenceEstimate(week=week, geo_type="region", geo_code=region, age_band=age_band, sex="all",
                             definition_key="covid.ecdc", definition_version=1, method=method, active=500,
                             cases=None if incidence is None else int(incidence * 500), incidence=incidence,
                             lower_95=lower, upper_95=upper, missing_reason=missing, issue=issue)


def test_region_trend_reads_only_published_figures(app: Flask, client: FlaskClient) -> None:
    w1, w2, w3 = dt.date(2026, 11, 2), dt.date(2026, 11, 9), dt.date(2026, 11, 16)
    with app.app_context():
        db.session.add_all([
            estimate(w1, dt.date(2026, 11, 10), 0.02, lower=0.01, upper=0.03),
            estimate(w2, dt.date(2026, 11, 17), 0.05, lower=0.04, upper=0.06),
            estimate(w2, dt.date(2026, 11, 24), 0.06, lower=0.05, upper=0.07),  # a revision: the newest issue counts
            estimate(w3, dt.date(2026, 11, 24), None, missing=3),  # withheld: not shown
            estimate(w3, dt.date(2026, 11, 24), 0.5, age_band="65+"),  # not the margin
            estimate(w3, dt.date(2026, 11, 24), 0.5, method="w1_s2_if2_ex"),  # not the definition's method
            estimate(w3, dt.date(2026, 11, 24), 0.5, region="1084"),  # another region
        ])
        db.session.commit()
        trend = regions.region_trend(1082)
        assert [(w.week, w.incidence) for w in trend.weeks] == [(w1, 0.02), (w2, 0.06)]
        assert trend.change == "up" and trend.region_name == "Region Midtjylland"
    sign_up_and_log_in(app, client)  # lives in Aarhus, Region Midtjylland
    page = client.get("/me/history?lang=en").data.decode()
    assert "How Region Midtjylland is doing" in page and "6.0 %" in page and "That is more than the week before." in page
    assert "50.0 %" not in page
