"""The aggregate export: query parameters, rows and a spreadsheet-safe CSV writer. The parameters and the
rows are declared once, as models (``IncidenceQuery``, ``InfluenzanetQuery``, ``IncidenceRow``): the query
is validated by them and the OpenAPI document (``dashboard.openapi``) is generated from them.

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
revised), all published age bands and sexes included (``all`` is the margin); every row says so (``provisional``
false, ``lag`` 8 days or more). The staff dashboard's downloads use the same rows for provisional issues too
(``provisional`` true; ``lag`` 0 for a week still in progress, never negative).
A withheld value is empty, with its Delphi reason code in ``missing_reason``. Each row carries our columns
and, beside them, the Delphi COVIDcast columns (``DELPHI_COLUMNS``). ``influenzanet_rows`` gives the
Influenzanet incidence file (national, crude and age-adjusted).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema

from reporting.apischema import UNSET
from reporting.models import MISSING_REASONS, SEXES
from reporting.problems import ProblemError
from reporting.spreadsheet import safe_cell
from reporting.weeks import format_iso_week, parse_iso_week, season_of, yearweek

from . import queries

DEFAULT_DEFINITION = "covid.ecdc"
SOURCE = "covidmeter"
MAX_PARAMETER_LENGTH = 200
ISO_WEEK = r"^\d{4}-W\d{2}$"


def _plain(value: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"{value!r} holds control characters")
    return value


def _as_of(value: str) -> dt.date:
    if len(value) == 10:
        with suppress(ValueError):
            return dt.date.fromisoformat(value)
    raise ValueError(f"{value!r} is not a date like 2026-03-01")


Text = Annotated[str, Field(max_length=MAX_PARAMETER_LENGTH), AfterValidator(_plain)]
Week = Annotated[dt.date, BeforeValidator(parse_iso_week), WithJsonSchema({"type": "string", "pattern": ISO_WEEK})]


class InfluenzanetQuery(BaseModel):
    """The query parameters of the Influenzanet file (all optional; any other is refused)."""

    model_config = ConfigDict(extra="forbid")

    definition: Annotated[Text, Field(description="Case definition key, e.g. covid.ecdc (default), ili.ecdc, "
                                                  "cli, fever.cough; its newest version.")] = UNSET
    method: Annotated[Text, Field(description="The definition's reference incidence method (e.g. w0 or "
                                              "w1_s2_if2_ex), the only one published; any other answers 422.")] = UNSET
    week_from: Annotated[Week, Field(alias="from", description="First ISO week, e.g. 2026-W01 (inclusive).")] = UNSET
    week_to: Annotated[Week, Field(alias="to", description="Last ISO week (inclusive).")] = UNSET
    as_of: Annotated[dt.date, BeforeValidator(_as_of), Field(
        description="Figures as published on this date: the newest issue on or before it (Delphi 'as_of').")] = UNSET


class IncidenceQuery(InfluenzanetQuery):
    """The query parameters of the incidence rows."""

    geo_type: Annotated[Literal[queries.GEO_TYPES], Field(description="Geography type; default: both.")] = UNSET
    geo: Annotated[Text, Field(description="Comma-separated codes: DK, DAGI 1081..1085 or ISO DK-81..DK-85; "
                                           "default: all.")] = UNSET
    age_band: Annotated[Text, Field(description="all, or an age band such as 0-20, 21-64, 65+; default: every "
                                                "band.")] = UNSET
    sex: Annotated[Text, Field(description="Default: every value.",
                               json_schema_extra={"enum": [queries.ALL, *SEXES]})] = UNSET


class OurColumns(BaseModel):
    """Our columns of an export row."""

    model_config = ConfigDict(extra="forbid")

    week: Annotated[str, Field(pattern=ISO_WEEK)]
    week_start: dt.date
    geo_type: Literal[queries.GEO_TYPES]
    geo_code: str
    geo_name: str
    definition: str
    definition_version: int
    method: str
    age_band: str
    sex: str
    active: int | None
    cases: int | None
    incidence_per_1000: float | None
    lower_95: float | None
    upper_95: float | None
    wilson_lower_95: float | None
    wilson_upper_95: float | None
    standardised_per_1000: float | None
    standardised_lower_95: float | None
    standardised_upper_95: float | None
    display_censored: bool
    missing_reason: Annotated[int, Field(ge=min(MISSING_REASONS), le=max(MISSING_REASONS))]
    issue: dt.date
    provisional: Annotated[bool, Field(description=(
        "True while the week's reports may still arrive: an issue before the Monday two weeks after the week's "
        "own Monday (lag under 8 days). A provisional value may still change; the token and open-data exports "
        "serve final issues only, so there it is always false."))]


class IncidenceRow(OurColumns):
    """An export row: our columns, then Delphi COVIDcast's (../shared/methods.md): geo_value is the lower-case
    ISO code, time_value YYYYWW, value and stderr per 1,000, sample_size the active participants,
    lag = issue - last day of the week, in days, 0 for an issue on or before it (never negative)."""

    source: Literal[SOURCE]
    signal: str
    geo_value: str
    time_type: Literal["week"]
    time_value: int
    value: float | None
    stderr: float | None
    sample_size: int | None
    lag: Annotated[int, Field(ge=0)]
    missing_value: int
    missing_stderr: int
    missing_sample_size: int


OUR_COLUMNS = tuple(OurColumns.model_fields)
COLUMNS = tuple(IncidenceRow.model_fields)
DELPHI_COLUMNS = COLUMNS[len(OUR_COLUMNS):]
INFLUENZANET_COLUMNS = ("yw", "country", "syndrome", "type", "method", "incidence", "upper", "lower", "count",
                        "part", "season")

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


def parse_query(args: Mapping[str, str], model: type[InfluenzanetQuery] = IncidenceQuery,
                public_only: bool = False) -> ExportQuery:
    """Validate the query string by ``model``, then against the data. Raises ProblemError (400 malformed,
    422 well-formed but unknown)."""
    try:
        given = model.model_validate({name: args[name] for name in args}).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise _refused(exc, model) from None
    getlist = getattr(args, "getlist", None)
    for name in args:
        if getlist is not None and len(getlist(name)) > 1:
            raise _invalid(name, f"{name!r} is given more than once")

    key = (given.get("definition") or DEFAULT_DEFINITION).strip()
    definition = queries.case_definition(key)
    if definition is None:
        known = ", ".join(d.key for d in queries.case_definitions())
        raise _invalid("definition", f"unknown case definition {key!r}; known: {known}", 422)

    geo_type = given.get("geo_type")
    geo_codes: tuple[str, ...] | None = None
    raw_geo = given.get("geo")
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

    week_from, week_to = given.get("week_from"), given.get("week_to")
    if week_from and week_to and week_from > week_to:
        raise _invalid("from", f"'from' ({args['from']}) is after 'to' ({args['to']})", 422)

    method = given.get("method")
    if method is not None and method != definition.default_method:
        # The export publishes each definition in its reference method only: every further method would be
        # one more table of the same people for a reader to solve against the others (docs/methods.md).
        raise _invalid("method", f"method {method!r} is not published for {definition.key} (the export carries "
                                 f"each definition in its reference method; the others are on the staff "
                                 f"dashboard); known: {definition.default_method}", 422)
    age_band = given.get("age_band")
    if age_band is not None and age_band not in (bands := [queries.ALL, *queries.age_bands()]):
        raise _invalid("age_band", f"age_band must be one of {', '.join(bands)}", 422)
    sex = given.get("sex")
    if sex is not None and sex not in (sexes := [queries.ALL, *queries.sexes()]):
        raise _invalid("sex", f"sex must be one of {', '.join(sexes)}", 422)
    return ExportQuery(definition, geo_type, geo_codes, week_from, week_to, method, age_band, sex,
                       given.get("as_of"), public_only)


def _refused(exc: ValidationError, model: type[InfluenzanetQuery]) -> ProblemError:
    """The first parameter the model refuses (an unknown one before the others), named in the problem."""
    error = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    name = str(error["loc"][0])[:40]
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(f.alias or n for n, f in model.model_fields.items())
        return _invalid(name, f"unknown parameter {name!r}; allowed: {allowed}")
    if error["type"] == "value_error":
        return _invalid(name, str(error["ctx"]["error"]))
    return _invalid(name, f"{name}: {error['msg']}")


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
            "provisional": queries.is_provisional(e),
            **delphi_columns(e, geography),
        })
    return rows


def lag_days(e: queries.Estimate) -> int:
    """Days from the Sunday ending the week to the issue; 0 for an issue on or before that Sunday (a week still
    in progress, on the staff dashboard only), so a lag is never negative."""
    return max(0, (e.issue - (e.week + dt.timedelta(days=6))).days)


def delphi_columns(e: queries.Estimate, geography: queries.Geography | None) -> dict[str, Any]:
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
        "lag": lag_days(e),
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


class IncidenceMeta(BaseModel):
    """The meta block of the JSON export (``meta``); it carries more (units, definitions, missing reasons)."""

    query: dict[str, Any]
    generated: dt.datetime
    rows: int
    columns: list[str]


class IncidenceDocument(BaseModel):
    meta: IncidenceMeta
    rows: list[IncidenceRow]


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
                  "value": "Delphi column: incidence per 1,000",
                  "lag": "days from the end of the week to the issue (0 if the issue is not after it)",
                  "provisional": "true while the week's reports may still arrive (issue under 14 days after "
                                 "the week's Monday)"},
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
