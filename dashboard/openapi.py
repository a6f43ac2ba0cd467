"""The OpenAPI 3.1 document of the aggregate export (``/api/v1/openapi.json``), written by hand from the
same parameter and column lists the code uses, so the two cannot drift apart silently (a test runs
schemathesis against it)."""

from __future__ import annotations

from typing import Any

from . import export

PROBLEM = {"$ref": "#/components/responses/Problem"}

PARAMETER_DOCS: dict[str, tuple[dict[str, Any], str]] = {
    "definition": ({"type": "string", "maxLength": 40},
                   "Case definition key, e.g. covid.ecdc (default), ili.ecdc, cli, fever.cough; its newest version."),
    "method": ({"type": "string", "maxLength": 32},
               "The definition's reference incidence method (e.g. w0 or w1_s2_if2_ex), the only one published; "
               "any other answers 422."),
    "geo_type": ({"type": "string", "enum": ["nation", "region"]}, "Geography type; default: both."),
    "geo": ({"type": "string", "maxLength": 200},
            "Comma-separated codes: DK, DAGI 1081..1085 or ISO DK-81..DK-85; default: all."),
    "from": ({"type": "string", "pattern": r"^\d{4}-W\d{2}$"}, "First ISO week, e.g. 2026-W01 (inclusive)."),
    "to": ({"type": "string", "pattern": r"^\d{4}-W\d{2}$"}, "Last ISO week (inclusive)."),
    "age_band": ({"type": "string", "maxLength": 16}, "all, or an age band such as 0-20, 21-64, 65+; default: every band."),
    "sex": ({"type": "string", "enum": ["all", "female", "male", "other"]}, "Default: every value."),
    "as_of": ({"type": "string", "format": "date"},
              "Figures as published on this date: the newest issue on or before it (Delphi 'as_of')."),
}

NUMBER = {"type": ["number", "null"]}
INTEGER = {"type": ["integer", "null"]}
ROW_PROPERTIES: dict[str, Any] = {
    "week": {"type": "string", "pattern": r"^\d{4}-W\d{2}$"},
    "week_start": {"type": "string", "format": "date"},
    "geo_type": {"type": "string", "enum": ["nation", "region"]},
    "geo_code": {"type": "string"},
    "geo_name": {"type": "string"},
    "definition": {"type": "string"},
    "definition_version": {"type": "integer"},
    "method": {"type": "string"},
    "age_band": {"type": "string"},
    "sex": {"type": "string"},
    "active": INTEGER,
    "cases": INTEGER,
    "incidence_per_1000": NUMBER,
    "lower_95": NUMBER,
    "upper_95": NUMBER,
    "wilson_lower_95": NUMBER,
    "wilson_upper_95": NUMBER,
    "standardised_per_1000": NUMBER,
    "standardised_lower_95": NUMBER,
    "standardised_upper_95": NUMBER,
    "display_censored": {"type": "boolean"},
    "missing_reason": {"type": "integer", "minimum": 0, "maximum": 6},
    "issue": {"type": "string", "format": "date"},
    "source": {"type": "string", "const": export.SOURCE},
    "signal": {"type": "string"},
    "geo_value": {"type": "string"},
    "time_type": {"type": "string", "const": "week"},
    "time_value": {"type": "integer"},
    "value": NUMBER,
    "stderr": NUMBER,
    "sample_size": INTEGER,
    "lag": {"type": "integer"},
    "missing_value": {"type": "integer"},
    "missing_stderr": {"type": "integer"},
    "missing_sample_size": {"type": "integer"},
}
assert set(ROW_PROPERTIES) == set(export.COLUMNS), "the OpenAPI row schema must list every export column"


def _parameters(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": False, "schema": PARAMETER_DOCS[name][0],
             "description": PARAMETER_DOCS[name][1]} for name in names]


def _operation(summary: str, description: str, content: dict[str, Any], names: tuple[str, ...],
               secured: bool, operation_id: str) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "The rows", "content": content},
                                 "400": PROBLEM, "422": PROBLEM, "429": PROBLEM}
    operation: dict[str, Any] = {"summary": summary, "description": description, "operationId": operation_id,
                                 "parameters": _parameters(names), "responses": responses}
    if secured:
        responses["401"] = PROBLEM
        responses["403"] = PROBLEM
        operation["security"] = [{"bearer": []}]
        operation["tags"] = ["export"]
    else:
        operation["security"] = []
        operation["tags"] = ["open data"]
    return operation


CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
JSONL_CONTENT = {"application/x-ndjson": {"schema": {"type": "string"}}}
JSON_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/IncidenceDocument"}}}


def document() -> dict[str, Any]:
    p = export.PARAMETERS
    rows = ("Rows: the newest issue (or, with as_of, the issue published then) of every published cell "
            "(week x geography x age band x sex); withheld values are empty/null with the Delphi reason "
            "code in missing_reason (3 privacy, 6 too few active participants). Our columns first, then "
            "Delphi COVIDcast's.")
    open_note = " Only cells that pass the public disclosure rules (open data); no login."
    paths = {
        "/api/v1/incidence.csv": {"get": _operation("Incidence as CSV", rows, CSV_CONTENT, p, True, "incidenceCsv")},
        "/api/v1/incidence.json": {"get": _operation("Incidence as JSON", rows, JSON_CONTENT, p, True,
                                                     "incidenceJson")},
        "/api/v1/incidence.jsonl": {"get": _operation("Incidence as JSON lines", rows, JSONL_CONTENT, p, True,
                                                      "incidenceJsonl")},
        "/api/v1/influenzanet.csv": {"get": _operation(
            "Influenzanet incidence file",
            "yw, country, syndrome, type (crude|adj), method, incidence, upper, lower (proportions 0-1), count, "
            "part (active participants), season (starting year). National, all ages.",
            CSV_CONTENT, export.INFLUENZANET_PARAMETERS, True, "influenzanetCsv")},
        "/api/v1/open/incidence.csv": {"get": _operation("Open data: incidence as CSV", rows + open_note,
                                                         CSV_CONTENT, p, False, "openIncidenceCsv")},
        "/api/v1/open/incidence.json": {"get": _operation("Open data: incidence as JSON", rows + open_note,
                                                          JSON_CONTENT, p, False, "openIncidenceJson")},
        "/api/v1/open/incidence.jsonl": {"get": _operation("Open data: incidence as JSON lines",
                                                           rows + open_note, JSONL_CONTENT, p, False,
                                                           "openIncidenceJsonl")},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "COVIDmeter aggregate export", "version": "1.0.0",
                 "description": "Weekly incidence of COVID-like illness in Denmark from participatory "
                                "surveillance, disclosure-controlled. Errors are RFC 9457 problem documents."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API token (cmt_...) with scope export:read (influenzanet:read for the Influenzanet file)."}},
            "responses": {"Problem": {"description": "A problem document (RFC 9457)", "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"},
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "detail": {"type": "string"}, "parameter": {"type": "string"},
                    "reference": {"type": "string"}}},
                "IncidenceRow": {"type": "object", "required": list(export.COLUMNS),
                                 "properties": ROW_PROPERTIES, "additionalProperties": False},
                "IncidenceDocument": {"type": "object", "required": ["meta", "rows"], "properties": {
                    "meta": {"type": "object", "required": ["query", "generated", "rows", "columns"]},
                    "rows": {"type": "array", "items": {"$ref": "#/components/schemas/IncidenceRow"}}}},
            },
        },
    }


def parameter_table() -> list[tuple[str, str, str]]:
    """(name, type, description) for the docs page."""
    table = []
    for name, (schema, description) in PARAMETER_DOCS.items():
        kind = ", ".join(schema["enum"]) if "enum" in schema else schema.get("pattern") or schema.get("format") \
            or schema["type"]
        table.append((name, str(kind), description))
    return table
