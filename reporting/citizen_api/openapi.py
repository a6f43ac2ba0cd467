"""The OpenAPI 3.1 document of the citizen API, served at /api/v1/me/openapi.json. A test checks that it
is a valid OpenAPI 3.1 document and that it lists exactly the routes of the blueprint."""

from __future__ import annotations

from typing import Any

PROBLEM = {"$ref": "#/components/responses/Problem"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): PROBLEM for code in codes}


AUTH = [{"bearer": []}]
PROFILE_ID = {"name": "profile_id", "in": "path", "required": True, "schema": {"type": "string"}}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object", "description": "RFC 9457 problem details",
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"},
                       "errors": {"type": "object", "additionalProperties": {"type": "string"},
                                  "description": "question key (or field) -> message, in the request's language"}},
        "required": ["type", "title", "status"]},
    "Answers": {
        "type": "object", "description": "question key -> answer, as the questionnaire definition says: a list of "
        "option values for 'multi', one value for 'single'/'select', 'YYYY-MM-DD' for 'date', a whole number for "
        "'year'/'number'. Answers to questions whose condition is false are ignored.",
        "additionalProperties": True},
    "Profile": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "relation": {"enum": ["self", "child", "parent", "partner", "other"]},
                       "display_name": {"type": ["string", "null"]}, "birth_year": {"type": "integer"},
                       "sex": {"enum": ["female", "male", "other"]}, "municipality_code": {"type": "integer"},
                       "intake_version": {"type": "string"}, "intake_answers": {"$ref": "#/components/schemas/Answers"},
                       "reported_this_week": {"type": "boolean"}},
        "required": ["id", "relation", "birth_year", "sex", "municipality_code", "reported_this_week"]},
    "Me": {
        "type": "object",
        "properties": {"email": {"type": "string", "format": "email"}, "language": {"enum": ["da", "en"]},
                       "week": {"type": "string", "examples": ["2026-W48"]},
                       "reminders": {"type": "object", "properties": {
                           "weekday": {"type": "integer", "minimum": 0, "maximum": 6},
                           "paused_until": {"type": ["string", "null"], "format": "date"},
                           "stopped": {"type": "boolean"}}},
                       "profiles": {"type": "array", "items": {"$ref": "#/components/schemas/Profile"}}},
        "required": ["email", "language", "week", "reminders", "profiles"]},
    "Report": {
        "type": "object",
        "properties": {"profile_id": {"type": "string"}, "week": {"type": "string"}, "revision": {"type": "integer"},
                       "replayed": {"type": "boolean", "description": "true when the submission_id was seen before "
                                    "with the same answers: nothing new was stored"},
                       "questionnaire_version": {"type": "string"}, "answers": {"$ref": "#/components/schemas/Answers"},
                       "advice": {"type": "array", "items": {"type": "object", "properties": {
                           "key": {"type": "string"}, "level": {"enum": ["urgent", "important", "info"]},
                           "text": {"type": "string"}}}}},
        "required": ["profile_id", "week", "revision", "replayed", "questionnaire_version", "answers", "advice"]},
    "Questionnaire": {
        "type": "object", "description": "A questionnaire definition (reporting/questionnaires/*.json) with option "
        "sources expanded. Conditions use the grammar in docs/citizen-and-questionnaires.md.",
        "properties": {"id": {"type": "string"}, "key": {"type": "string"}, "version": {"type": "integer"},
                       "title": {"type": "object"}, "questions": {"type": "array", "items": {"type": "object"}}},
        "required": ["id", "key", "version", "questions"]},
}


def document(base_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "COVIDmeter citizen API", "version": "1.0.0",
            "description": "For mobile apps: the same rules as the web pages. Sign in with the e-mail link "
                           "(POST /login, then POST /session with the token from the link), then send "
                           "'Authorization: Bearer <access_token>'. Errors are RFC 9457 problem details. "
                           "Validation messages follow Accept-Language (da, en).",
        },
        "servers": [{"url": base_url.rstrip("/") + "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A session token from POST /session (cmm_...)."}},
            "schemas": SCHEMAS,
            "responses": {"Problem": {"description": "An error (RFC 9457)", "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
        },
        "paths": {"/me" + path: item for path, item in {
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": [],
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
            "/login": {"post": {
                "operationId": "login", "security": [], "summary": "Mail a login link",
                "description": "Answers 202 whether or not the address is registered (no enumeration).",
                "requestBody": _body({"type": "object", "properties": {"email": {"type": "string"}},
                                      "required": ["email"]}),
                "responses": {"202": _json({"type": "object"}, "Sent if registered"), **_errors(400, 422, 429)}}},
            "/session": {
                "post": {"operationId": "createSession", "security": [], "summary": "Exchange a login link for a session",
                         "description": "The token is the last path segment of the mailed link "
                                        "(/login/link/<token> or /signup/confirm/<token>). Single-use, 15 minutes.",
                         "requestBody": _body({"type": "object", "properties": {"token": {"type": "string"}},
                                               "required": ["token"]}),
                         "responses": {"201": _json({"type": "object", "properties": {
                             "access_token": {"type": "string"}, "token_type": {"const": "Bearer"},
                             "expires_at": {"type": "string", "format": "date-time"}},
                             "required": ["access_token", "token_type", "expires_at"]}, "A bearer session"),
                             **_errors(400, 429)}},
                "delete": {"operationId": "deleteSession", "security": AUTH, "summary": "Log out (revoke the token)",
                           "responses": {"204": {"description": "Revoked"}, **_errors(401)}}},
            "": {
                "get": {"operationId": "getMe", "security": AUTH, "summary": "The account, its profiles and this week's status",
                        "responses": {"200": _json({"$ref": "#/components/schemas/Me"}, "The account"), **_errors(401, 429)}},
                "delete": {"operationId": "withdraw", "security": AUTH,
                           "summary": "Withdraw consent and delete all data now",
                           "responses": {"204": {"description": "Deleted"}, **_errors(401)}}},
            "/settings": {"patch": {
                "operationId": "updateSettings", "security": AUTH, "summary": "Language and reminders",
                "requestBody": _body({"type": "object", "properties": {
                    "language": {"enum": ["da", "en"]}, "reminder_weekday": {"type": "integer", "minimum": 0, "maximum": 6},
                    "reminders_paused_until": {"type": ["string", "null"], "format": "date"},
                    "reminders": {"enum": ["on", "off"]}}}),
                "responses": {"200": _json({"$ref": "#/components/schemas/Me"}, "The account"), **_errors(400, 401, 422, 429)}}},
            "/export": {"get": {"operationId": "export", "security": AUTH, "summary": "Everything held about you",
                                "responses": {"200": _json({"type": "object"}, "The export document"), **_errors(401, 429)}}},
            "/questionnaires/{key}": {"get": {
                "operationId": "getQuestionnaire", "security": AUTH, "summary": "The current questionnaire definition",
                "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"enum": ["weekly", "intake"]}}],
                "responses": {"200": _json({"$ref": "#/components/schemas/Questionnaire"}, "The definition"),
                              **_errors(401, 404, 429)}}},
            "/profiles": {"post": {
                "operationId": "addProfile", "security": AUTH, "summary": "Add a person you report for",
                "requestBody": _body({"type": "object", "properties": {
                    "relation": {"enum": ["child", "parent", "partner", "other"]},
                    "display_name": {"type": "string", "maxLength": 40},
                    "answers": {"$ref": "#/components/schemas/Answers"}}, "required": ["relation", "answers"]}),
                "responses": {"201": _json({"$ref": "#/components/schemas/Profile"}, "Added"),
                              **_errors(400, 401, 409, 422, 429)}}},
            "/profiles/{profile_id}": {
                "parameters": [PROFILE_ID],
                "put": {"operationId": "updateProfile", "security": AUTH, "summary": "Replace a profile's intake answers",
                        "requestBody": _body({"type": "object", "properties": {
                            "display_name": {"type": "string"}, "answers": {"$ref": "#/components/schemas/Answers"}},
                            "required": ["answers"]}),
                        "responses": {"200": _json({"$ref": "#/components/schemas/Profile"}, "Updated"),
                                      **_errors(400, 401, 404, 422, 429)}},
                "delete": {"operationId": "deleteProfile", "security": AUTH,
                           "summary": "Remove a relative and their reports",
                           "responses": {"204": {"description": "Deleted"}, **_errors(401, 404, 409)}}},
            "/profiles/{profile_id}/reports": {"post": {
                "operationId": "submitReport", "security": AUTH, "summary": "This week's report for one profile",
                "description": "Idempotent by submission_id: the same id with the same answers replays the stored "
                               "result (200, replayed: true); the same id with other answers is 409. A new report "
                               "in the same week replaces the answers and keeps the earlier version.",
                "parameters": [PROFILE_ID],
                "requestBody": _body({"type": "object", "properties": {
                    "submission_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"},
                    "answers": {"$ref": "#/components/schemas/Answers"}}, "required": ["submission_id", "answers"]}),
                "responses": {"201": _json({"$ref": "#/components/schemas/Report"}, "Stored"),
                              "200": _json({"$ref": "#/components/schemas/Report"}, "Replayed"),
                              **_errors(400, 401, 404, 409, 422, 429)}}},
            "/reports": {"get": {"operationId": "history", "security": AUTH, "summary": "Your weeks, per profile",
                                 "responses": {"200": _json({"type": "object"}, "History"), **_errors(401, 429)}}},
        }.items()},
    }
