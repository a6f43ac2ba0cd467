"""The case definitions' rule compiler to SQL as migration 0006 used it, frozen (scheduler/definitions.py, whose
``to_sql`` had not changed since then when this copy was made), with the symptom list (reporting/symptoms.py)
and the columns of ``weekly_reports`` and ``case_definitions`` the rules and the loader read at that revision.

Only the SQL side: the migrations need the expression PostgreSQL evaluates, not the Python reference. A rule
that the application of 0006 refused is refused here with the same message, so a migration stops where it
stopped then.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

# reporting.symptoms.SYMPTOMS at revision 0006 (order matters: "any symptom" ORs them in this order).
SYMPTOMS: tuple[str, ...] = (
    "fever", "chills", "runny_nose", "sneezing", "sore_throat", "cough", "shortness_of_breath", "headache",
    "muscle_pain", "chest_pain", "tiredness", "loss_of_appetite", "coloured_sputum", "watery_eyes", "nausea",
    "vomiting", "diarrhoea", "stomach_ache", "loss_of_smell", "loss_of_taste", "nose_bleed", "rash",
    "other_symptom",
)

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

NUMERIC_VARIABLES = ("age_years",)

# The columns of weekly_reports a rule may name, with their types at revision 0006 (the types decide how a
# constant is written into the SQL).
WEEKLY_REPORTS = sa.table(
    "weekly_reports",
    *[sa.column(name, sa.Boolean()) for name in SYMPTOMS],
    sa.column("no_symptoms", sa.Boolean()),
    sa.column("same_illness", sa.String(12)),
    sa.column("sudden_onset", sa.Boolean()),
    sa.column("fever_sudden", sa.Boolean()),
    sa.column("temperature_measured", sa.Boolean()),
    sa.column("highest_temperature", sa.String(12)),
    sa.column("persistent_cough", sa.Boolean()),
    sa.column("severe_fatigue", sa.Boolean()),
    sa.column("skipped_meals", sa.Boolean()),
    sa.column("tested", sa.String(16)),
    sa.column("test_result", sa.String(16)),
    sa.column("sex", sa.String(8)),
    sa.column("region_code", sa.Integer()),
    sa.column("municipality_code", sa.Integer()),
    sa.column("age_years", sa.SmallInteger()),
)

# case_definitions at revision 0006: the columns the flags are built from.
CASE_DEFINITIONS = sa.table(
    "case_definitions",
    sa.column("key", sa.String(40)),
    sa.column("version", sa.SmallInteger()),
    sa.column("kind", sa.String(16)),
    sa.column("rule", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")),
    sa.column("active", sa.Boolean()),
)


class DefinitionError(ValueError):
    """A rule that cannot be compiled; the message names the offending node."""


@dataclass(frozen=True)
class Definition:
    key: str
    version: int
    rule: Mapping[str, Any]

    def sql(self) -> sa.ColumnElement[bool]:
        return to_sql(self.rule, WEEKLY_REPORTS, path=f"{self.key} v{self.version}")


def active_definitions(connection: Connection) -> list[Definition]:
    """The active case definitions and model signals, ordered by key and version, each rule compiled once so
    that a rule the compiler refuses stops the migration (as loading them did at this revision)."""
    rows = connection.execute(
        sa.select(CASE_DEFINITIONS.c.key, CASE_DEFINITIONS.c.version, CASE_DEFINITIONS.c.kind,
                  CASE_DEFINITIONS.c.rule)
        .where(CASE_DEFINITIONS.c.active.is_(True))
        .order_by(CASE_DEFINITIONS.c.key, CASE_DEFINITIONS.c.version)).all()
    definitions = []
    for key, version, kind, rule in rows:
        if kind not in ("definition", "model"):
            raise DefinitionError(f"{key} v{version}: kind must be 'definition' or 'model', not {kind!r}")
        definition = Definition(key, version, rule)
        definition.sql()
        definitions.append(definition)
    return definitions


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


def _double(value: float) -> Any:
    """A double-precision constant, also when rendered inline (PostgreSQL reads a bare 1.25 as NUMERIC)."""
    return sa.cast(sa.literal(value, sa.Float), sa.Float)


def to_sql(rule: Any, table: sa.FromClause = WEEKLY_REPORTS, path: str = "rule") -> sa.ColumnElement[bool]:
    """Compile ``rule`` to a boolean SQL expression over ``table`` (two-valued: NULL compares false)."""
    columns = table.c
    kind = _node_kind(rule, path)
    if kind == "all":
        parts = [to_sql(child, table, f"{path}.all[{i}]") for i, child in enumerate(_children(rule, kind, path))]
        return sa.and_(sa.true(), *parts) if parts else sa.true()
    if kind == "any":
        parts = [to_sql(child, table, f"{path}.any[{i}]") for i, child in enumerate(_children(rule, kind, path))]
        return sa.or_(sa.false(), *parts) if parts else sa.false()
    if kind == "not":
        return sa.not_(to_sql(rule["not"], table, f"{path}.not"))
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
                total = total + sa.case((to_sql(sub, table, f"{path}.terms[{i}].rule"), _double(coefficient)),
                                        else_=_double(0.0))
        return total > _double(model.cut)
    _any_symptom(rule, path)
    return sa.or_(*[columns[name].is_(True) for name in SYMPTOMS])
