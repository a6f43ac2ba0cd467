"""The OpenAPI 3.1 document of the aggregate export (``/api/v1/openapi.json``), generated from the models
that validate the query and declare the rows (``dashboard.export``), so the two cannot drift apart (a test
runs schemathesis against it)."""

from __future__ import annotations

from typing import Any

from reporting.apischema import document as openapi_document
from reporting.apischema import problems, query_parameters, ref

from . import export

CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
JSONL_CONTENT = {"application/x-ndjson": {"schema": {"type": "string"}}}
JSON_CONTENT = {"application/json": {"schema": ref(export.IncidenceDocument)}}
ROWS = ("Rows: the newest issue (or, with as_of, the issue published then) of every published cell "
        "(week x geography x age band x sex); withheld values are empty/null with the Delphi reason "
        "code in missing_reason (3 privacy, 6 too few active participants). Our columns first, then "
        "Delphi COVIDcast's.")
OPEN_NOTE = " Only cells that pass the public disclosure rules (open data); no login."


def _operation(summary: str, description: str, content: dict[str, Any], query: type[export.InfluenzanetQuery],
               secured: bool, operation_id: str) -> dict[str, Any]:
    return {"summary": summary, "description": description, "operationId": operation_id,
            "parameters": query_parameters(query),
            "responses": {"200": {"description": "The rows", "content": content},
                          **problems(400, 422, 429, *((401, 403) if secured else ()))},
            "security": [{"bearer": []}] if secured else [], "tags": ["export" if secured else "open data"]}


def _incidence(summary: str, content: dict[str, Any], operation_id: str, secured: bool) -> dict[str, Any]:
    description = ROWS if secured else ROWS + OPEN_NOTE
    return {"get": _operation(summary, description, content, export.IncidenceQuery, secured, operation_id)}


def document() -> dict[str, Any]:
    influenzanet = _operation(
        "Influenzanet incidence file",
        "yw, country, syndrome, type (crude|adj), method, incidence, upper, lower (proportions 0-1), count, "
        "part (active participants), season (starting year). National, all ages.",
        CSV_CONTENT, export.InfluenzanetQuery, True, "influenzanetCsv")
    return openapi_document(
        title="COVIDmeter aggregate export", server="/",
        description="Weekly incidence of COVID-like illness in Denmark from participatory surveillance, "
                    "disclosure-controlled. Errors are RFC 9457 problem documents.",
        bearer="An API token (cmt_...) with scope export:read (influenzanet:read for the Influenzanet file).",
        paths={
            "/api/v1/incidence.csv": _incidence("Incidence as CSV", CSV_CONTENT, "incidenceCsv", True),
            "/api/v1/incidence.json": _incidence("Incidence as JSON", JSON_CONTENT, "incidenceJson", True),
            "/api/v1/incidence.jsonl": _incidence("Incidence as JSON lines", JSONL_CONTENT, "incidenceJsonl", True),
            "/api/v1/influenzanet.csv": {"get": influenzanet},
            "/api/v1/open/incidence.csv": _incidence("Open data: incidence as CSV", CSV_CONTENT,
                                                     "openIncidenceCsv", False),
            "/api/v1/open/incidence.json": _incidence("Open data: incidence as JSON", JSON_CONTENT,
                                                      "openIncidenceJson", False),
            "/api/v1/open/incidence.jsonl": _incidence("Open data: incidence as JSON lines", JSONL_CONTENT,
                                                       "openIncidenceJsonl", False),
        },
        responses=[export.IncidenceDocument])


def parameter_table() -> list[tuple[str, str, str]]:
    """(name, values, description) of the incidence query, for the docs page."""
    table = []
    for parameter in query_parameters(export.IncidenceQuery):
        schema = parameter["schema"]
        kind = ", ".join(schema["enum"]) if "enum" in schema else schema.get("pattern") or schema.get("format") \
            or schema["type"]
        table.append((parameter["name"], str(kind), parameter["description"]))
    return table
