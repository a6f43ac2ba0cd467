"""The aggregate export: query parameters, rows and a spreadsheet-safe CSV writer.

Query parameters (all optional):

- ``definition``: a case definition key (default ``covid.ecdc``, the COVIDmeter headline). Its newest
  version and its default method are used.
- ``geo_type``: ``nation`` or ``region`` (default: both).
- ``geo``: comma-separated codes: ``DK``, DAGI region codes ``1081``..``1085`` or ISO codes ``DK-81``..``DK-85``.
  Without ``geo_type``, the codes decide which geography types are returned.
- ``from`` / ``to``: ISO weeks ``YYYY-Www`` (inclusive).
- ``method``: the definition's reference (default) method, the only one published outside the service.
- ``age_band``: ``all`` or a band of the configured scheme (``0-20``, ``21-64``, ``65+``); default: every band.
- ``sex``: ``all``, ``female``, ``male``, ``other``; default: every value.
- ``as_of``: a date ``YYYY-MM-DD``: the figures as published on that date (the weeks final by then).

Rows are each week's one final issue (scheduler.incidence.estimates: written once the week and the next are over, never
revised), all published age bands and sexes included (``all`` is the margin).
A withheld value is empty, with its Delphi reason code in ``missing_reason``. Each row carries our columns
and, beside them, the Delphi COVIDcast columns (``DELPHI_COLUMNS``). ``influenzanet_rows`` gives the
Influenzanet incidence file (national, crude and age-adjusted).
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
from reporting.spreadsheet import safe_cell
from reporting.weeks import format_iso_week, parse_iso_week, season_of, yearweek

from . import queries

DEFAULT_DEFINITION = "covid.ecdc"
PARAMETERS = ("definition", "method", "geo_type", "geo", "from", "to", "age_band", "sex", "as_of")
INFLUENZANET_PARAMETERS = ("definition", "method", "from", "to", "as_of")

OUR_COLUMNS = ("week", "week_start", "geo_type", "geo_code", "geo_name", "definition", "definition_version",
               "method", "age_band", "sex", "active", "cases", "incidence_per_1000", "lower_95", "upper_95",
               "wilson_lower_95", "wilson_upper_95", "standardised_per_1000", "standardised_lower_95",
               "standardised_upper_95", "display_censored", "missing_reason", "issue")
# Delphi COVIDcast (../shared/methods.md): geo_value is the lower-case ISO code, time_value YYYYWW, value and
# stderr per 1,000, sample_size the active participants, lag = issue - last day of the week, in days.
DELPHI_COLUMNS = ("source", "signal", "geo_value", "time_type", "time_value", "value", "stderr", "sample_size",
                  "lag", "missing_value", "missing_stderr", "missing_sample_size")
COLUMNS = OUR_COLUMNS + DELPHI_COLUMNS
INFLUENZANET_COLUMNS = ("yw", "country", "syndrome", "type", "method", "incidence", "upper", "lower", "count",
                        "part", "season")
SOURCE = "covidmeter"
MAX_PARAMETER_LENGTH = 200

# Spreadsheets treat a cell starting with one of these as a formula (OWASP "CSV injection").


@dataclass(frozen=True)
class ExportQuery:
    definition: queries.DefinitionInfo
    geo_type: str | None
    geo_codes: tuple[str, ...] | None
    week_from: dt.date | None
    week_to: dt.date | None
    method: str | None = None
    age_band: str | None = None
    sex: str | None = None
    as_of: dt.date | None = None
    public_only: bool = False

    def echo(self) -> dict[str, Any]:
        """The query as understood, for the JSON meta block and the audit log (no health data)."""
        return {
            "definition": self.definition.key,
            "definition_version": self.definition.version,
            "method": self.method or self.definition.default_method,
            "geo_type": self.geo_type,
            "geo": list(self.geo_codes) if self.geo_codes is not None else None,
            "from": format_iso_week(self.week_from) if self.week_from else None,
            "to": format_iso_week(self.week_to) if self.week_to else None,
            "age_band": self.age_band,
            "sex": self.sex,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "public_only": self.public_only,
        }

    def estimate_filter(self) -> queries.EstimateFilter:
        return queries.EstimateFilter(definition=self.definition, method=self.method, geo_type=self.geo_type,
                                      geo_codes=self.geo_codes, week_from=self.week_from,
                                      week_to=self.week_to, age_band=self.age_band, sex=self.sex,
                                      as_of=self.as_of, public_only=self.public_only)


def _invalid(parameter: str, detail: str, status: int = 400) -> ProblemError:
    return ProblemError(status, "Invalid query parameter", detail, parameter=parameter)


def parse_query(args: Mapping[str, str], allowed: Sequence[str] = PARAMETERS,
                public_only: bool = False) -> ExportQuery:
    """Validate the query string. Raises ProblemError (400 malformed, 422 well-formed but unknown)."""
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        shown = unknown[0][:40]
        raise _invalid(shown, f"unknown parameter {shown!r}; allowed: {', '.join(allowed)}")
    getlist = getattr(args, "getlist", None)
    for name in args:
        if getlist is not None and len(getlist(name)) > 1:
            raise _invalid(name, f"{name!r} is given more than once")
        value = args[name]
        if len(value) > MAX_PARAMETER_LENGTH or any(ord(c) < 32 for c in value):
            raise _invalid(name, f"{name!r} is too long or holds control characters")

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

    method = args.get("method")
    if method is not None and method != definition.default_method:
        # The export publishes each definition in its reference method only: every further method would be
        # one more table of the same people for a reader to solve against the others (docs/methods.md).
        raise _invalid("method", f"method {method!r} is not published for {definition.key} (the export carries "
                                 f"each definition in its reference method; the others are on the staff "
                                 f"dashboard); known: {definition.default_method}", 422)
    age_band = args.get("age_band")
    if age_band is not None and age_band not in (bands := [queries.ALL, *queries.age_bands()]):
        raise _invalid("age_band", f"age_band must be one of {', '.join(bands)}", 422)
    sex = args.get("sex")
    if sex is not None and sex not in (sexes := [queries.ALL, *queries.sexes()]):
        raise _invalid("sex", f"sex must be one of {', '.join(sexes)}", 422)
    as_of = None
    if args.get("as_of") is not None:
        try:
            as_of = dt.date.fromisoformat(args["as_of"])
        except ValueError as exc:
            raise _invalid("as_of", f"{args['as_of']!r} is not a date like 2026-03-01") from exc
        if len(args["as_of"]) != 10:
            raise _invalid("as_of", f"{args['as_of']!r} is not a date like 2026-03-01")
    return ExportQuery(definition, geo_type, geo_codes, week_from, week_to, method, age_band, sex, as_of,
                       public_only)


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
    return estimate_rows(queries.latest_estimates(query.estimate_filter()))


def estimate_rows(estimates: Iterable[queries.Estimate]) -> list[dict[str, Any]]:
    """Export rows (our columns, then Delphi's) for published cells."""
    geographies = {g.code: g for g in queries.geographies()}
    rows = []
    for e in estimates:
        geography = geographies.get(e.geo_code)
        rows.append({
            "week": format_iso_week(e.week),
            "week_start": e.week.isoformat(),
            "geo_type": e.geo_type,
            "geo_code": e.geo_code,
            "geo_name": geography.name if geography else e.geo_code,
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
            "wilson_lower_95": _per_1000(e.wilson_lower_95),
            "wilson_upper_95": _per_1000(e.wilson_upper_95),
            "standardised_per_1000": _per_1000(e.standardised_incidence),
            "standardised_lower_95": _per_1000(e.standardised_lower_95),
            "standardised_upper_95": _per_1000(e.standardised_upper_95),
            "display_censored": e.display_censored,
            "missing_reason": e.missing_reason,
            "issue": e.issue.isoformat(),
            **delphi_columns(e, geography),
        })
    return rows


def delphi_columns(e: queries.Estimate, geography: queries.Geography | None) -> dict[str, Any]:
    week_end = e.week + dt.timedelta(days=6)
    value = _per_1000(e.incidence)
    stderr = _per_1000(e.stderr)
    return {
        "source": SOURCE,
        "signal": f"{e.definition_key}_v{e.definition_version}_{e.method}_incidence_per_1000",
        "geo_value": (geography.iso_code if geography else e.geo_code).lower(),
        "time_type": "week",
        "time_value": yearweek(e.week),
        "value": value,
        "stderr": stderr,
        "sample_size": e.active,
        "lag": (e.issue - week_end).days,
        "missing_value": 0 if value is not None else (e.missing_reason or 5),
        "missing_stderr": 0 if stderr is not None else (e.missing_reason or 5),
        "missing_sample_size": 0 if e.active is not None else (e.missing_reason or 5),
    }


def influenzanet_rows(query: ExportQuery) -> list[dict[str, Any]]:
    """The Influenzanet incidence file: national, all ages, both sexes; a crude and (when published) an
    age-adjusted row per week; incidence and bounds as proportions (0-1); withheld values empty."""
    estimates = queries.latest_estimates(queries.EstimateFilter(
        definition=query.definition, method=query.method, geo_codes=[queries.NATION_CODE],
        week_from=query.week_from, week_to=query.week_to, age_band=queries.ALL, sex=queries.ALL,
        as_of=query.as_of, public_only=query.public_only))
    rows = []
    for e in estimates:
        common = {"yw": yearweek(e.week), "country": "DK", "syndrome": e.definition_key, "method": e.method,
                  "count": e.cases, "part": e.active, "season": season_of(e.week)}
        rows.append({**common, "type": "crude", "incidence": e.incidence, "upper": e.upper_95,
                     "lower": e.lower_95})
        if e.standardised_incidence is not None or e.missing_reason != 0:
            rows.append({**common, "type": "adj", "incidence": e.standardised_incidence,
                         "upper": e.standardised_upper_95, "lower": e.standardised_lower_95})
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
                  "lower_95": "95 % interval (exact Poisson), per 1,000",
                  "upper_95": "95 % interval (exact Poisson), per 1,000",
                  "wilson_lower_95": "95 % Wilson interval of the share, per 1,000",
                  "standardised_per_1000": "directly age-standardised, per 1,000 (age_band 'all' only)",
                  "value": "Delphi column: incidence per 1,000", "lag": "days from the end of the week to the issue"},
        "definitions": [{"key": definition.key, "version": definition.version, "label": definition.label_en,
                         "description": definition.description, "source": definition.source,
                         "kind": definition.kind, "method": query.method or definition.default_method}],
        "missing_reasons": {str(code): text for code, text in MISSING_REASONS.items()},
    }


def neutralise(value: Any) -> str:
    """A cell as text that no spreadsheet will run as a formula, numbers left numbers (``reporting.spreadsheet``)."""
    return safe_cell(value)


def write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] = COLUMNS) -> str:
    """UTF-8 CSV text with a header row; every cell (header included) passes through ``neutralise``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(c) for c in columns])
    for row in rows:
        writer.writerow([neutralise(row.get(c)) for c in columns])
    return buffer.getvalue()
