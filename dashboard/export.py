"""The aggregate export: query parameters, rows and a spreadsheet-safe CSV writer.

Query parameters (all optional):

- ``definition``: a case definition key (default ``covid.ecdc``, the COVIDmeter headline). Its newest
  version and its default method are used.
- ``geo_type``: ``nation`` or ``region`` (default: both).
- ``geo``: comma-separated codes: ``DK``, DAGI region codes ``1081``..``1085`` or ISO codes ``DK-81``..``DK-85``.
  Without ``geo_type``, the codes decide which geography types are returned.
- ``from`` / ``to``: ISO weeks ``YYYY-Www`` (inclusive).

Rows are the newest issue of every published cell, all age bands and sexes included (``all`` is the margin).
A withheld value is empty, with its Delphi reason code in ``missing_reason``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reporting.models import MISSING_REASONS
from reporting.problems import ProblemError
from reporting.weeks import format_iso_week, parse_iso_week

from . import queries

DEFAULT_DEFINITION = "covid.ecdc"
PARAMETERS = ("definition", "geo_type", "geo", "from", "to")

COLUMNS = ("week", "week_start", "geo_type", "geo_code", "geo_name", "definition", "definition_version",
           "method", "age_band", "sex", "active", "cases", "incidence_per_1000", "lower_95", "upper_95",
           "missing_reason", "issue")

# Spreadsheets treat a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportQuery:
    definition: queries.DefinitionInfo
    geo_type: str | None
    geo_codes: tuple[str, ...] | None
    week_from: dt.date | None
    week_to: dt.date | None

    def echo(self) -> dict[str, Any]:
        """The query as understood, for the JSON meta block and the audit log (no health data)."""
        return {
            "definition": self.definition.key,
            "definition_version": self.definition.version,
            "method": self.definition.default_method,
            "geo_type": self.geo_type,
            "geo": list(self.geo_codes) if self.geo_codes is not None else None,
            "from": format_iso_week(self.week_from) if self.week_from else None,
            "to": format_iso_week(self.week_to) if self.week_to else None,
        }

    def estimate_filter(self) -> queries.EstimateFilter:
        return queries.EstimateFilter(definition=self.definition, geo_type=self.geo_type,
                                      geo_codes=self.geo_codes, week_from=self.week_from,
                                      week_to=self.week_to)


def _invalid(parameter: str, detail: str, status: int = 400) -> ProblemError:
    return ProblemError(status, "Invalid query parameter", detail, parameter=parameter)


def parse_query(args: Mapping[str, str]) -> ExportQuery:
    """Validate the query string. Raises ProblemError (400 malformed, 422 well-formed but unknown)."""
    unknown = sorted(set(args) - set(PARAMETERS))
    if unknown:
        raise _invalid(unknown[0], f"unknown parameter {unknown[0]!r}; allowed: {', '.join(PARAMETERS)}")

    key = (args.get("definition") or DEFAULT_DEFINITION).strip()
    definition = queries.case_definition(key)
    if definition is None:
        known = ", ".join(d.key for d in queries.case_definitions())
        raise _invalid("definition", f"unknown case definition {key!r}; known: {known}", 422)

    geo_type = args.get("geo_type")
    if geo_type is not None and geo_type not in queries.GEO_TYPES:
        raise _invalid("geo_type", f"geo_type must be one of {', '.join(queries.GEO_TYPES)}")

    geo_codes: tuple[str, ...] | None = None
    raw_geo = args.get("geo")
    if raw_geo is not None:
        by_alias = _geo_aliases()
        codes = []
        for part in (p.strip() for p in raw_geo.split(",")):
            if part.upper() not in by_alias:
                raise _invalid("geo", f"unknown geography {part!r}; use DK, 1081..1085 or DK-81..DK-85", 422)
            geography = by_alias[part.upper()]
            if geo_type is not None and geography.geo_type != geo_type:
                raise _invalid("geo", f"{part!r} is not of geo_type {geo_type!r}", 422)
            codes.append(geography.code)
        geo_codes = tuple(dict.fromkeys(codes))

    week_from = _week(args, "from")
    week_to = _week(args, "to")
    if week_from and week_to and week_from > week_to:
        raise _invalid("from", f"'from' ({args['from']}) is after 'to' ({args['to']})", 422)
    return ExportQuery(definition, geo_type, geo_codes, week_from, week_to)


def _week(args: Mapping[str, str], name: str) -> dt.date | None:
    value = args.get(name)
    if value is None:
        return None
    try:
        return parse_iso_week(value)
    except ValueError as exc:
        raise _invalid(name, str(exc)) from exc


def _geo_aliases() -> dict[str, queries.Geography]:
    aliases: dict[str, queries.Geography] = {}
    for geography in queries.geographies():
        aliases[geography.code.upper()] = geography
        aliases[geography.iso_code.upper()] = geography
    return aliases


def export_rows(query: ExportQuery) -> list[dict[str, Any]]:
    names = {g.code: g.name for g in queries.geographies()}
    rows = []
    for e in queries.latest_estimates(query.estimate_filter()):
        rows.append({
            "week": format_iso_week(e.week),
            "week_start": e.week.isoformat(),
            "geo_type": e.geo_type,
            "geo_code": e.geo_code,
            "geo_name": names.get(e.geo_code, e.geo_code),
            "definition": e.definition_key,
            "definition_version": e.definition_version,
            "method": e.method,
            "age_band": e.age_band,
            "sex": e.sex,
            "active": e.active,
            "cases": e.cases,
            "incidence_per_1000": _per_1000(e.incidence),
            "lower_95": _per_1000(e.lower_95),
            "upper_95": _per_1000(e.upper_95),
            "missing_reason": e.missing_reason,
            "issue": e.issue.isoformat(),
        })
    return rows


def _per_1000(proportion: float | None) -> float | None:
    return None if proportion is None else round(proportion * 1000, 4)


def meta(query: ExportQuery, generated: dt.datetime, row_count: int) -> dict[str, Any]:
    definition = query.definition
    return {
        "query": query.echo(),
        "generated": generated.isoformat(timespec="seconds"),
        "rows": row_count,
        "columns": list(COLUMNS),
        "units": {"incidence_per_1000": "cases per 1,000 active participants",
                  "lower_95": "95 % interval, per 1,000", "upper_95": "95 % interval, per 1,000"},
        "definitions": [{"key": definition.key, "version": definition.version, "label": definition.label_en,
                         "description": definition.description, "source": definition.source,
                         "kind": definition.kind, "method": definition.default_method}],
        "missing_reasons": {str(code): text for code, text in MISSING_REASONS.items()},
    }


def neutralise(value: Any) -> str:
    """A cell as text that no spreadsheet will run as a formula: a leading = + - @ tab or CR gets a quote."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] = COLUMNS) -> str:
    """UTF-8 CSV text with a header row; every cell (header included) passes through ``neutralise``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(c) for c in columns])
    for row in rows:
        writer.writerow([neutralise(row.get(c)) for c in columns])
    return buffer.getvalue()
