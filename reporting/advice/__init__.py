"""Advice after a report, by rules that are data (``advice-<version>.json``, or the file named by
COVIDMETER_ADVICE_FILE): each rule has a condition in the questionnaire's condition grammar
(``reporting.questionnaire.conditions``) over the report's answers, plus facts about the person given as
context (``age_65_plus``, ``young_child``, ``chronic_condition``, ``pregnant``), a level (urgent,
important, info) and texts in Danish and English, where ``{helpline}`` becomes the medical helpline of the
person's region. Every matching rule is shown, in the file's order. COVIDmeter gives no diagnosis: the
advice is general, and the page says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import current_app

from ..questionnaire import conditions
from ..questionnaire.conditions import DefinitionError
from ..reports.region import region_of

DEFAULT_FILE = Path(__file__).resolve().parent / "advice-1.json"
LEVELS = ("urgent", "important", "info")
CONTEXT = ("age_65_plus", "young_child", "chronic_condition", "pregnant")


@dataclass(frozen=True)
class Advice:
    key: str
    level: str
    text: str


@dataclass(frozen=True)
class AdviceRules:
    version: int
    rules: tuple[Mapping[str, Any], ...]
    helplines: Mapping[str, Mapping[str, str]]


def parse_rules(raw: Mapping[str, Any], name: str = "<advice>") -> AdviceRules:
    """Check a rule file: known levels, both languages, conditions in the grammar, a helpline per region."""
    rules = []
    for rule in raw.get("rules", []):
        where = f"{name} rule {rule.get('key')!r}"
        if rule.get("level") not in LEVELS:
            raise DefinitionError(f"{where}: level must be one of {LEVELS}")
        text = rule.get("text")
        if not isinstance(text, dict) or set(text) != {"da", "en"}:
            raise DefinitionError(f"{where}: text needs 'da' and 'en'")
        _check_condition(rule.get("when"), where)
        rules.append(rule)
    helplines = raw.get("helplines", {})
    for code, text in helplines.items():
        if set(text) != {"da", "en"}:
            raise DefinitionError(f"{name} helpline {code}: needs 'da' and 'en'")
    return AdviceRules(int(raw.get("version", 1)), tuple(rules), helplines)


def _check_condition(condition: Any, where: str) -> None:
    if not isinstance(condition, dict) or not condition:
        raise DefinitionError(f"{where}: 'when' must be a condition")
    for combinator in ("all", "any"):
        if combinator in condition:
            for part in condition[combinator]:
                _check_condition(part, where)
            return
    if "not" in condition:
        _check_condition(condition["not"], where)
        return
    if "context" in condition:
        if condition["context"] not in CONTEXT:
            raise DefinitionError(f"{where}: unknown context {condition['context']!r}; known: {CONTEXT}")
        return
    if "question" not in condition or not any(t in condition for t in conditions.TESTS):
        raise DefinitionError(f"{where}: a condition names a question and one of {conditions.TESTS}")


@lru_cache(maxsize=8)
def _load(path: str) -> AdviceRules:
    with open(path, encoding="utf-8") as f:
        return parse_rules(json.load(f), Path(path).name)


def rules() -> AdviceRules:
    return _load(current_app.config.get("COVIDMETER_ADVICE_FILE") or str(DEFAULT_FILE))


def person_context(*, age: int, intake_answers: Mapping[str, Any]) -> dict[str, bool]:
    return {"age_65_plus": age >= 65, "young_child": age < 2,
            "chronic_condition": intake_answers.get("chronic_condition") == "yes",
            "pregnant": intake_answers.get("pregnant") == "yes"}


def advice_for(answers: Mapping[str, Any], *, lang: str, region_code: int | None,
               context: Mapping[str, bool]) -> list[Advice]:
    loaded = rules()
    helpline = loaded.helplines.get(str(region_code), {}).get(lang) or (
        "lægevagten" if lang == "da" else "the medical helpline")
    out = []
    for rule in loaded.rules:
        if conditions.evaluate(rule["when"], answers, context):
            text = rule["text"].get(lang) or rule["text"]["en"]
            out.append(Advice(rule["key"], rule["level"], text.replace("{helpline}", helpline)))
    return out


def advice_after_report(answers: Mapping[str, Any], person: Any, *, age: int, lang: str,
                        region_code: int | None = None) -> list[Advice]:
    """The advice shown after a report, on the citizen's thank-you page, the weekly link's and in the citizen
    API's answer: the rules over the report's ``answers`` and the facts about ``person`` (a profile, or the
    profile as read for its report: its intake answers) at ``age``, with the helpline of ``region_code`` or,
    when that is not given, of the region of the person's municipality."""
    if region_code is None:
        region_code = region_of(person.municipality_code)
    return advice_for(answers, lang=lang, region_code=region_code,
                      context=person_context(age=age, intake_answers=person.intake_answers or {}))
