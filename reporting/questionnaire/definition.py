"""Questionnaire definitions: declarative, versioned JSON files in ``reporting/questionnaires/``.

A definition is named ``<key>-<version>.json`` (``weekly-1.json``). Its identity, ``weekly-1``, is stored on
every answer set, so an answer can always be read with the definition it was given under. A published
version is never edited: a change of wording, options or rules is a new file with the next version.

Shape of a definition::

    {"key": "weekly", "version": 1, "target": "weekly_report", "title": {"da": ..., "en": ...},
     "questions": [
        {"key": "symptoms", "type": "multi", "text": {...}, "hint": {...},
         "options": [{"value": "none", "label": {...}, "exclusive": true, "column": "no_symptoms"}, ...],
         "condition": {...}, "rules": [{"rule": "required"}, ...], "store": {"flags": true}}, ...]}

Question types: ``multi`` (checkboxes; an option may be ``exclusive``), ``single`` (radio buttons),
``select`` (a drop-down with option groups, or options from a named source such as ``municipalities``),
``date``, ``year`` and ``number`` (whole numbers). Conditions are described in ``conditions.py``, rules in
``validation.py``, the ``store`` mapping in ``store.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import conditions
from .conditions import DefinitionError

DEFINITIONS_DIR = Path(__file__).resolve().parent.parent / "questionnaires"
LANGUAGES = ("da", "en")
TYPES = ("multi", "single", "select", "date", "year", "number")
CHOICE_TYPES = ("multi", "single", "select")
RULES = ("required", "min", "max", "not_in_future", "max_days_back", "not_before")
TARGETS = ("weekly_report", "profile")

LocalText = Mapping[str, str]

# Named option sources for ``"options_from"``: name -> function returning option groups (called at
# render and validation time, inside an application context).
OPTION_SOURCES: dict[str, Callable[[], tuple["OptionGroup", ...]]] = {}


def local(text: LocalText | None, lang: str) -> str:
    if not text:
        return ""
    return text.get(lang) or text.get("en") or next(iter(text.values()))


@dataclass(frozen=True)
class Option:
    value: str | int
    label: LocalText
    exclusive: bool = False
    column: str | None = None  # for ``multi`` questions stored as boolean flags

    def text(self, lang: str) -> str:
        return local(self.label, lang)

    @property
    def form_value(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class OptionGroup:
    label: LocalText | None
    options: tuple[Option, ...]

    def text(self, lang: str) -> str:
        return local(self.label, lang)


@dataclass(frozen=True)
class Rule:
    name: str
    value: Any = None
    when: Mapping[str, Any] | None = None
    message: LocalText | None = None


@dataclass(frozen=True)
class Question:
    key: str
    type: str
    label: LocalText
    hint: LocalText | None = None
    placeholder: LocalText | None = None
    autocomplete: str | None = None
    static_groups: tuple[OptionGroup, ...] = ()
    options_from: str | None = None
    condition: Mapping[str, Any] | None = None
    rules: tuple[Rule, ...] = ()
    store: Mapping[str, Any] | None = None

    def text(self, lang: str) -> str:
        return local(self.label, lang)

    def hint_text(self, lang: str) -> str:
        return local(self.hint, lang)

    def placeholder_text(self, lang: str) -> str:
        return local(self.placeholder, lang)

    @property
    def optional(self) -> bool:
        return not any(rule.name == "required" and rule.when is None for rule in self.rules)

    @property
    def is_choice(self) -> bool:
        return self.type in CHOICE_TYPES

    def groups(self) -> tuple[OptionGroup, ...]:
        if self.options_from:
            try:
                source = OPTION_SOURCES[self.options_from]
            except KeyError:
                raise DefinitionError(f"question {self.key!r}: unknown option source {self.options_from!r}") from None
            return source()
        return self.static_groups

    def options(self) -> tuple[Option, ...]:
        return tuple(option for group in self.groups() for option in group.options)

    def option(self, form_value: str) -> Option | None:
        for option in self.options():
            if option.form_value == form_value:
                return option
        return None

    @property
    def anchor(self) -> str:
        """The id of the first control, which an error summary links to."""
        return f"q-{self.key}-0" if self.type in ("multi", "single") else f"q-{self.key}"


@dataclass(frozen=True)
class Questionnaire:
    key: str
    version: int
    target: str
    title: LocalText
    questions: tuple[Question, ...]
    source: str | None = None
    by_key: Mapping[str, Question] = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        """What is stored with the answers, e.g. ``weekly-1``."""
        return f"{self.key}-{self.version}"

    def title_text(self, lang: str) -> str:
        return local(self.title, lang)

    def question(self, key: str) -> Question:
        return self.by_key[key]


def _text(raw: Any, where: str, required: bool = True) -> LocalText | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, dict) or set(raw) != set(LANGUAGES) or not all(isinstance(v, str) and v for v in raw.values()):
        raise DefinitionError(f"{where}: texts need a non-empty string for each of {LANGUAGES}")
    return dict(raw)


def _option(raw: Any, where: str) -> Option:
    if not isinstance(raw, dict) or "value" not in raw:
        raise DefinitionError(f"{where}: an option needs a value")
    return Option(value=raw["value"], label=_text(raw.get("label"), f"{where} option {raw['value']!r}"),
                  exclusive=bool(raw.get("exclusive", False)), column=raw.get("column"))


def parse_definition(raw: Mapping[str, Any], name: str = "<definition>") -> Questionnaire:
    """Build and check a questionnaire from its JSON form."""
    for key in ("key", "version", "target", "title", "questions"):
        if key not in raw:
            raise DefinitionError(f"{name}: missing {key!r}")
    if raw["target"] not in TARGETS:
        raise DefinitionError(f"{name}: target must be one of {TARGETS}")
    questions: list[Question] = []
    seen: set[str] = set()
    for q in raw["questions"]:
        where = f"{name} question {q.get('key')!r}"
        if not q.get("key") or q["key"] in seen:
            raise DefinitionError(f"{where}: a question needs a unique key")
        if q.get("type") not in TYPES:
            raise DefinitionError(f"{where}: type must be one of {TYPES}")
        groups: tuple[OptionGroup, ...] = ()
        if q["type"] in CHOICE_TYPES:
            if "groups" in q:
                groups = tuple(OptionGroup(_text(g.get("label"), where, required=False),
                                           tuple(_option(o, where) for o in g["options"])) for g in q["groups"])
            elif "options" in q:
                groups = (OptionGroup(None, tuple(_option(o, where) for o in q["options"])),)
            elif not q.get("options_from"):
                raise DefinitionError(f"{where}: a choice question needs options, groups or options_from")
            values = [o.form_value for g in groups for o in g.options]
            if len(values) != len(set(values)):
                raise DefinitionError(f"{where}: option values must be unique")
        rules = []
        for r in q.get("rules", []):
            if r.get("rule") not in RULES:
                raise DefinitionError(f"{where}: unknown rule {r.get('rule')!r}; known: {RULES}")
            if r["rule"] == "not_before" and r.get("value") not in seen:
                raise DefinitionError(f"{where}: not_before must name an earlier question")
            if r.get("when") is not None:
                conditions.check(r["when"], seen, where)
            rules.append(Rule(r["rule"], r.get("value"), r.get("when"),
                              _text(r.get("message"), where, required=False)))
        if q.get("condition") is not None:
            conditions.check(q["condition"], seen, where)
        store = q.get("store")
        if store is not None and not (store.get("flags") or store.get("column")):
            raise DefinitionError(f"{where}: store needs 'column' or 'flags'")
        if store and store.get("flags") and (q["type"] != "multi" or any(o.column is None for g in groups for o in g.options)):
            raise DefinitionError(f"{where}: flags storage needs a multi question whose options all name a column")
        questions.append(Question(
            key=q["key"], type=q["type"], label=_text(q.get("text"), where),
            hint=_text(q.get("hint"), where, required=False),
            placeholder=_text(q.get("placeholder"), where, required=False),
            autocomplete=q.get("autocomplete"), static_groups=groups, options_from=q.get("options_from"),
            condition=q.get("condition"), rules=tuple(rules), store=store,
        ))
        seen.add(q["key"])
    return Questionnaire(key=raw["key"], version=int(raw["version"]), target=raw["target"],
                         title=_text(raw["title"], name), questions=tuple(questions), source=raw.get("source"),
                         by_key={q.key: q for q in questions})


@lru_cache(maxsize=None)
def load(identity: str) -> Questionnaire:
    """A definition by its identity (``weekly-1``)."""
    path = DEFINITIONS_DIR / f"{identity}.json"
    if "/" in identity or not path.is_file():
        raise LookupError(f"no questionnaire definition {identity!r} in {DEFINITIONS_DIR}")
    with path.open(encoding="utf-8") as f:
        questionnaire = parse_definition(json.load(f), path.name)
    if questionnaire.id != identity:
        raise DefinitionError(f"{path.name}: declares {questionnaire.id!r}, expected {identity!r}")
    return questionnaire


def versions(key: str) -> list[int]:
    found = []
    for path in DEFINITIONS_DIR.glob(f"{key}-*.json"):
        suffix = path.stem[len(key) + 1:]
        if suffix.isdigit():
            found.append(int(suffix))
    return sorted(found)


@lru_cache(maxsize=None)
def current(key: str) -> Questionnaire:
    """The newest version of a questionnaire, which new answers are given under. Looked up once per process
    (definitions ship with the code: a new version arrives with a deployment, which restarts the workers)."""
    found = versions(key)
    if not found:
        raise LookupError(f"no questionnaire definition for {key!r} in {DEFINITIONS_DIR}")
    return load(f"{key}-{found[-1]}")
