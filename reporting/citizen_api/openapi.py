"""The OpenAPI 3.1 document of the citizen API, served at /api/v1/me/openapi.json, generated from the models
that validate its bodies and declare its answers (``schemas.py``). A test checks that it is a valid OpenAPI
3.1 document and that it lists exactly the routes of the blueprint."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..apischema import document as openapi_document
from ..apischema import json_body, json_response, problems
from . import schemas

AUTH = [{"bearer": []}]
PROFILE_ID = {"name": "profile_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _operation(operation_id: str, summary: str, responses: dict[str, Any], *, public: bool = False,
               body: type[BaseModel] | None = None, **more: Any) -> dict[str, Any]:
    operation = {"operationId": operation_id, "security": [] if public else AUTH, "summary": summary, **more,
                 "responses": responses}
    if body is not None:
        operation["requestBody"] = json_body(body)
    return operation


def document(base_url: str) -> dict[str, Any]:
    paths = {
        "/openapi.json": {"get": _operation("openapi", "This document", {"200": json_response("OpenAPI 3.1")},
                                            public=True)},
        "/login": {"post": _operation(
            "login", "Mail a login link", {"202": json_response("Sent if registered", schemas.Sent),
                                           **problems(400, 422, 429)},
            public=True, body=schemas.LoginRequest,
            description="Answers 202 whether or not the address is registered (no enumeration).")},
        "/session": {
            "post": _operation(
                "createSession", "Exchange a login link for a session",
                {"201": json_response("A bearer session", schemas.Session), **problems(400, 429)},
                public=True, body=schemas.SessionRequest,
                description="The token is the last path segment of the mailed link (/login/link/<token> or "
                            "/signup/confirm/<token>). Single-use, 15 minutes."),
            "delete": _operation("deleteSession", "Log out (revoke the token)",
                                 {"204": {"description": "Revoked"}, **problems(401)})},
        "": {
            "get": _operation("getMe", "The account, its profiles and this week's status",
                              {"200": json_response("The account", schemas.Me), **problems(401, 429)}),
            "delete": _operation("withdraw", "Withdraw consent and delete all data now",
                                 {"204": {"description": "Deleted"}, **problems(401)})},
        "/settings": {"patch": _operation(
            "updateSettings", "Language and reminders",
            {"200": json_response("The account", schemas.Me), **problems(400, 401, 422, 429)},
            body=schemas.SettingsChange)},
        "/export": {"get": _operation("export", "Everything held about you",
                                      {"200": json_response("The export document"), **problems(401, 429)})},
        "/questionnaires/{key}": {"get": _operation(
            "getQuestionnaire", "The current questionnaire definition",
            {"200": json_response("The definition", schemas.Questionnaire), **problems(401, 404, 429)},
            parameters=[{"name": "key", "in": "path", "required": True,
                         "schema": {"enum": ["weekly", "intake"]}}])},
        "/profiles": {"post": _operation(
            "addProfile", "Add a person you report for",
            {"201": json_response("Added", schemas.Profile), **problems(400, 401, 409, 422, 429)},
            body=schemas.NewProfile)},
        "/profiles/{profile_id}": {
            "parameters": [PROFILE_ID],
            "put": _operation(
                "updateProfile", "Replace a profile's intake answers",
                {"200": json_response("Updated", schemas.Profile), **problems(400, 401, 404, 422, 429)},
                body=schemas.ProfileChange),
            "delete": _operation("deleteProfile", "Remove a relative and their reports",
                                 {"204": {"description": "Deleted"}, **problems(401, 404, 409)})},
        "/profiles/{profile_id}/reports": {"post": _operation(
            "submitReport", "This week's report for one profile",
            {"201": json_response("Stored", schemas.Report), "200": json_response("Replayed", schemas.Report),
             **problems(400, 401, 404, 409, 422, 429)},
            body=schemas.NewReport, parameters=[PROFILE_ID],
            description="Idempotent by submission_id: the same id with the same answers replays the stored "
                        "result (200, replayed: true); the same id with other answers is 409. A new report in "
                        "the same week replaces the answers and keeps the earlier version.")},
        "/reports": {"get": _operation("history", "Your weeks, per profile",
                                       {"200": json_response("History", schemas.History), **problems(401, 429)})},
    }
    return openapi_document(
        title="COVIDmeter citizen API", server=base_url.rstrip("/") + "/api/v1",
        description="For mobile apps: the same rules as the web pages. Sign in with the e-mail link "
                    "(POST /login, then POST /session with the token from the link), then send "
                    "'Authorization: Bearer <access_token>'. Errors are RFC 9457 problem details. "
                    "Validation messages follow Accept-Language (da, en).",
        bearer="A session token from POST /session (cmm_...).",
        paths={"/me" + path: item for path, item in paths.items()},
        requests=schemas.REQUESTS, responses=schemas.RESPONSES)
