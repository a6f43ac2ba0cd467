"""Case definitions: rules kept as data (``case_definitions.rule``), compiled twice.

A rule is a small boolean expression over the typed columns of ``weekly_reports``:

    {"all": [rule, ...]}            every sub-rule holds (an empty list holds)
    {"any": [rule, ...]}            at least one sub-rule holds (an empty list does not)
    {"not": rule}                   the sub-rule does not hold
    {"symptom": "cough"}            the symptom was reported (reporting.symptoms.SYMPTOMS)
    {"field": "sudden_onset", "is": true}
                                    a follow-up answer equals a value (NULL, i.e. not answered, equals only null)
    {"age_over": 5}                 age in years (on the report) is strictly above n
    {"any_symptom": true}           any symptom other than the explicit "no symptoms"
    {"logistic": {"intercept": b0, "terms": [term, ...], "threshold": t}}
                                    a logistic model: b0 + sum of the terms > logit(t), i.e. P > t. A term is
                                    {"coefficient": b, "variable": "age_years"} (b times the age) or
                                    {"coefficient": b, "rule": rule} (b when the rule holds, else 0, so an
                                    unanswered input counts as 0 / false). Used for the symptom-based
                                    prediction of Menni et al., Nat Med 2020 (kind 'model', never a diagnosis).

The definitions themselves follow ifnBase (R/syndrome_provider_2019.R, R/syndrome_provider_covid.R) and are
seeded by migration 0001. Each rule compiles to

- a SQLAlchemy boolean expression over a ``weekly_reports`` table (or alias), so the aggregation runs in the
  database, and
- a plain-Python predicate over a report-like mapping (column name -> value), the reference the tests hold the
  SQL to.

The logistic node compares the linear predictor with logit(t) (0 for t = 0.5) instead of computing
1 / (1 + exp(-x)): older SQLite builds have no exp(), and both sides add the same terms in the same order in
IEEE double precision, so SQL and Python agree to the last bit.

Both use two-valued logic: a comparison with an unanswered (NULL) follow-up question is false, never NULL,
so ``not`` means the same thing in SQL and in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
import math
from typing import Any

from sqlalchemy import ColumnElement, Float, FromClause, and_, case, cast, false, literal, not_, or_, select, true
from sqlalchemy.orm import Session

from reporting.models import CaseDefinition, WeeklyReport
from reporting.symptoms import SYMPTOMS

Predicate = Callable[[Mapping[str, Any]], bool]

# Follow-up answers a rule may compare, with the Python types their values may take.
FIELDS: dict[str, tuple[type, ...]] = {
    "no_symptoms": (bool,),
    "same_illness": (str,),
    "sudden_onset": (bool,),
    "fever_sudden": (bool,),
    "temperature_measured": (bool,),
    "highest_temperature": (str,),
    "persistent_cough": (bool,),
    "severe_fatigue": (bool,),
    "skipped_meals": (bool,),
    "tested": (str,),
    "test_result": (str,),
    "sex": (str,),
    "region_code": (int,),
    "municipality_code": (int,),
}


class DefinitionError(ValueError):
    """A rule that cannot be compiled; the message names the offending node."""


def _node_kind(node: Any, path: str) -> str:
    if not isinstance(node, Mapping):
        raise DefinitionError(f"{path}: a rule node must be an object, not {node!r}")
    known = {"all", "any", "not", "symptom", "field", "age_over", "any_symptom", "logistic"}
    kinds = [key for key in node if key in known]
    if len(kinds) != 1:
        raise DefinitionError(f"{path}: expected exactly one of {sorted(known)}, got keys {sorted(node)}")
    kind = kinds[0]
    allowed = {"field": {"field", "is"}}.get(kind, {kind})
    extra = set(node) - allowed
    if extra:
        raise DefinitionError(f"{path}: unexpected keys {sorted(extra)} in a {kind!r} node")
    return kind


def _children(node: Mapping[str, Any], kind: str, path: str) -> Sequence[Any]:
    children = node[kind]
    if not isinstance(children, list):
        raise DefinitionError(f"{path}.{kind}: expected a list of rules, not {children!r}")
    return children


def _symptom(node: Mapping[str, Any], path: str) -> str:
    name = node["symptom"]
    if name not in SYMPTOMS:
        raise DefinitionError(f"{path}: unknown symptom {name!r} (known: {', '.join(SYMPTOMS)})")
    return name


def _field(node: Mapping[str, Any], path: str) -> tuple[str, Any]:
    name = node["field"]
    if name not in FIELDS:
        raise DefinitionError(f"{path}: unknown or unsupported field {name!r} (known: {', '.join(sorted(FIELDS))})")
    if "is" not in node:
        raise DefinitionError(f"{path}: a field node needs 'is'")
    value = node["is"]
    types = FIELDS[name]
    if value is not None and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
        raise DefinitionError(f"{path}: field {name!r} compares with {types[0].__name__} or null, not {value!r}")
    return name, value


def _age(node: Mapping[str, Any], path: str) -> int:
    n = node["age_over"]
    if not isinstance(n, int) or isinstance(n, bool):
        raise DefinitionError(f"{path}: age_over needs an integer, not {n!r}")
    return n


def _any_symptom(node: Mapping[str, Any], path: str) -> None:
    if node["any_symptom"] is not True:
        raise DefinitionError(f"{path}: any_symptom must be true")


NUMERIC_VARIABLES = ("age_years",)


@dataclass(frozen=True)
class Logistic:
    intercept: float
    terms: tuple[tuple[float, str | None, Any], ...]  # (coefficient, numeric variable, rule)
    threshold: float

    @property
    def cut(self) -> float:
        """logit(threshold): the linear predictor must exceed it."""
        return 0.0 if self.threshold == 0.5 else math.log(self.threshold / (1 - self.threshold))


def _number(value: Any, what: str, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DefinitionError(f"{path}: {what} must be a finite number, not {value!r}")
    return float(value)


def _logistic(node: Mapping[str, Any], path: str) -> Logistic:
    spec = node["logistic"]
    if not isinstance(spec, Mapping) or set(spec) != {"intercept", "terms", "threshold"}:
        raise DefinitionError(f"{path}: a logistic node needs exactly intercept, terms and threshold")
    intercept = _number(spec["intercept"], "intercept", path)
    threshold = _number(spec["threshold"], "threshold", path)
    if not 0 < threshold < 1:
        raise DefinitionError(f"{path}: threshold must be strictly between 0 and 1, not {threshold!r}")
    if not isinstance(spec["terms"], list):
        raise DefinitionError(f"{path}.terms: expected a list of terms")
    terms = []
    for i, term in enumerate(spec["terms"]):
        where = f"{path}.terms[{i}]"
        if not isinstance(term, Mapping) or "coefficient" not in term or \
                len(set(term) & {"variable", "rule"}) != 1 or set(term) - {"coefficient", "variable", "rule"}:
            raise DefinitionError(f"{where}: a term is {{coefficient, variable}} or {{coefficient, rule}}")
        coefficient = _number(term["coefficient"], "coefficient", where)
        if "variable" in term:
            if term["variable"] not in NUMERIC_VARIABLES:
                raise DefinitionError(f"{where}: unknown numeric variable {term['variable']!r} "
                                      f"(known: {', '.join(NUMERIC_VARIABLES)})")
            terms.append((coefficient, term["variable"], None))
        else:
            terms.append((coefficient, None, term["rule"]))
    return Logistic(intercept, tuple(terms), threshold)


def linear_predictor(model: Logistic, report: Mapping[str, Any], path: str = "rule") -> float:
    """The model's linear predictor for one report, summed in the order the SQL adds it."""
    return _linear(model, _term_predicates(model, path), report)


def _term_predicates(model: Logistic, path: str) -> list[Predicate | None]:
    return [None if sub is None else to_predicate(sub, f"{path}.terms[{i}].rule")
            for i, (_c, _v, sub) in enumerate(model.terms)]


def _linear(model: Logistic, predicates: Sequence[Predicate | None], report: Mapping[str, Any]) -> float:
    total = model.intercept
    for (coefficient, variable, _sub), predicate in zip(model.terms, predicates):
        if predicate is None:
            total = total + coefficient * report[variable]  # type: ignore[index]
        else:
            total = total + (coefficient if predicate(report) else 0.0)
    return total


def _double(value: float) -> Any:
    """A double-precision constant, also when rendered inline (PostgreSQL reads a bare 1.25 as NUMERIC, and the
    model must add in IEEE doubles as the Python reference does)."""
    return cast(literal(value, Float), Float)


def to_sql(rule: Any, table: FromClause | None = None, path: str = "rule") -> ColumnElement[bool]:
    """Compile ``rule`` to a boolean SQL expression over ``table`` (default: ``weekly_reports``)."""
    table = WeeklyReport.__table__ if table is None else table
    columns = table.c
    kind = _node_kind(rule, path)
    if kind == "all":
        parts = [to_sql(child, table, f"{path}.all[{i}]") for i, child in enumerate(_children(rule, kind, path))]
        return and_(true(), *parts) if parts else true()
    if kind == "any":
        parts = [to_sql(child, table, f"{path}.any[{i}]") for i, child in enumerate(_children(rule, kind, path))]
        return or_(false(), *parts) if parts else false()
    if kind == "not":
        return not_(to_sql(rule["not"], table, f"{path}.not"))
    if kind == "symptom":
        return columns[_symptom(rule, path)].is_(True)
    if kind == "field":
        name, value = _field(rule, path)
        column = columns[name]
        if value is None:
            return column.is_(None)
        if isinstance(value, bool):
            return column.is_(value)
        return column.is_not_distinct_from(value)
    if kind == "age_over":
        return columns["age_years"] > _age(rule, path)
    if kind == "logistic":
        model = _logistic(rule, path)
        total: Any = _double(model.intercept)
        for i, (coefficient, variable, sub) in enumerate(model.terms):
            if variable is not None:
                total = total + _double(coefficient) * columns[variable]
            else:
                total = total + case((to_sql(sub, table, f"{path}.terms[{i}].rule"), _double(coefficient)),
                                     else_=_double(0.0))
        return total > _double(model.cut)
    _any_symptom(rule, path)
    return or_(*[columns[name].is_(True) for name in SYMPTOMS])


def to_predicate(rule: Any, path: str = "rule") -> Predicate:
    """Compile ``rule`` to a plain-Python predicate over a report-like mapping (the reference)."""
    kind = _node_kind(rule, path)
    if kind == "all":
        parts = [to_predicate(child, f"{path}.all[{i}]") for i, child in enumerate(_children(rule, kind, path))]
        return lambda report: all(part(report) for part in parts)
    if kind == "any":
        parts = [to_predicate(child, f"{path}.any[{i}]") for i, child in enumerate(_children(rule, kind, path))]
        return lambda report: any(part(report) for part in parts)
    if kind == "not":
        inner = to_predicate(rule["not"], f"{path}.not")
        return lambda report: not inner(report)
    if kind == "symptom":
        name = _symptom(rule, path)
        return lambda report: report[name] is True
    if kind == "field":
        name, value = _field(rule, path)
        if value is None:
            return lambda report: report[name] is None
        return lambda report: report[name] is not None and report[name] == value
    if kind == "age_over":
        n = _age(rule, path)
        return lambda report: report["age_years"] > n
    if kind == "logistic":
        model = _logistic(rule, path)
        predicates = _term_predicates(model, path)
        cut = model.cut
        return lambda report: _linear(model, predicates, report) > cut
    _any_symptom(rule, path)
    return lambda report: any(report[name] is True for name in SYMPTOMS)


@dataclass(frozen=True)
class CompiledDefinition:
    """A case definition ready to evaluate: its identity, the rule, and the Python reference predicate."""

    key: str
    version: int
    rule: Mapping[str, Any]
    label_en: str = ""
    default_method: str = "w0"
    kind: str = "definition"  # 'definition' (a case definition) or 'model' (a prediction, never a diagnosis)
    predicate: Predicate = field(repr=False, compare=False, default=lambda report: False)

    @classmethod
    def from_rule(cls, key: str, version: int, rule: Mapping[str, Any], label_en: str = "",
                  default_method: str = "w0", kind: str = "definition") -> "CompiledDefinition":
        if kind not in ("definition", "model"):
            raise DefinitionError(f"{key} v{version}: kind must be 'definition' or 'model', not {kind!r}")
        to_sql(rule, path=f"{key} v{version}")  # validate the SQL side too, so errors surface at load time
        return cls(key, version, rule, label_en, default_method, kind,
                   to_predicate(rule, path=f"{key} v{version}"))

    def sql(self, table: FromClause | None = None) -> ColumnElement[bool]:
        return to_sql(self.rule, table, path=f"{self.key} v{self.version}")

    def matches(self, report: Mapping[str, Any]) -> bool:
        return self.predicate(report)


def load_definitions(session: Session, keys: Sequence[str] | None = None,
                     active_only: bool = True) -> list[CompiledDefinition]:
    """The case definitions and model signals of the ``case_definitions`` table (active ones by default),
    compiled. Several active versions of one key are all computed (each estimate names its version)."""
    query = select(CaseDefinition).order_by(CaseDefinition.key, CaseDefinition.version)
    if active_only:
        query = query.where(CaseDefinition.active.is_(True))
    if keys:
        query = query.where(CaseDefinition.key.in_(list(keys)))
    rows = session.scalars(query).all()
    if keys:
        missing = set(keys) - {row.key for row in rows}
        if missing:
            raise DefinitionError(f"no active case definition with key {', '.join(sorted(missing))}")
    return [CompiledDefinition.from_rule(row.key, row.version, row.rule, row.label_en, row.default_method,
                                         row.kind) for row in rows]
