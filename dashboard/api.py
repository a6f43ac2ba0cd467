"""The aggregate export API for authorities' systems, under /api/v1.

    GET /api/v1/incidence.csv?definition=covid.ecdc&geo_type=region&from=2026-W01&to=2026-W10
    GET /api/v1/incidence.json?...    GET /api/v1/incidence.jsonl?...    GET /api/v1/influenzanet.csv?...
    Authorization: Bearer cmt_...

    GET /api/v1/open/incidence.csv|.json|.jsonl   open data, no login: only cells marked public
    GET /api/v1/openapi.json                      the OpenAPI 3.1 document;  GET /api/v1/docs: browsable

Authentication is an API token (``covidmeter token create --name ...``), never a cookie, so the blueprint
is exempt from CSRF. Every call is rate-limited per token and written to the audit log with the token id and
the query (never the figures). Errors are RFC 9457 problem documents. See ``dashboard.export`` for the
parameters.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from flask_limiter.util import get_remote_address

from reporting.audit import record
from reporting.authz import PUBLIC, InsufficientScope, Rule, Unauthorized, access, authenticates_tokens, token
from reporting.extensions import csrf, db, limiter
from reporting.models import ApiToken, utcnow
from reporting.security import Principal, hash_secret, set_principal
from reporting.staff.service import find_api_token

from . import export, openapi
from .i18n import _

EXPORT_SCOPE = "export:read"
INFLUENZANET_SCOPE = "influenzanet:read"
DEFAULT_RATE_LIMIT = "120/minute"
FAILED_AUTH_LIMIT = "30/minute"
OPEN_DATA_RATE_LIMIT = "60/minute"
JSONL = "application/x-ndjson"

bp = Blueprint("api", __name__, url_prefix="/api/v1", template_folder="templates")
csrf.exempt(bp)


def _presented_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def rate_limit_key() -> str:
    """Per token: the hash of the presented secret (known before the token is looked up), else the client."""
    secret = _presented_secret()
    return f"token:{hash_secret(secret)[:32]}" if secret else f"addr:{get_remote_address()}"


def _export_rate() -> str:
    return current_app.config.get("COVIDMETER_EXPORT_RATE_LIMIT") or DEFAULT_RATE_LIMIT


REALM = "covidmeter"


@authenticates_tokens(bp)
def authenticate(rule: Rule) -> None:
    """Resolve the API token of a ``token(...)`` view and check its scope (called by ``authz.enforce``)."""
    secret = _presented_secret()
    if secret is None:
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.", REALM)
    api_token = find_api_token(secret)
    if api_token is None:
        raise Unauthorized("The API token is unknown, revoked or expired, or its owner has been disabled.", REALM,
                           error="invalid_token")
    scopes = frozenset(api_token.scopes.split())
    if rule.scope not in scopes:
        raise InsufficientScope(rule.scope or "", REALM)
    api_token.last_used_at = utcnow()
    g.api_token = api_token
    set_principal(Principal("token", token_id=api_token.id, scopes=scopes))


def _export(kind: str, model: type[export.InfluenzanetQuery] = export.IncidenceQuery) -> export.ExportQuery:
    query = export.parse_query(request.args, model)
    api_token: ApiToken = g.api_token
    record("export", f"token:{api_token.id}", format=kind, token_id=api_token.id, query=query.echo())
    return query


def _csv(rows: list[dict[str, object]], filename: str, columns: tuple[str, ...] = export.COLUMNS) -> Response:
    return Response(export.write_csv(rows, columns), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Content-Type": "text/csv; charset=utf-8; header=present"})


def _jsonl(rows: list[dict[str, object]]) -> Response:
    body = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
    return Response(body, mimetype=JSONL, headers={"Content-Type": f"{JSONL}; charset=utf-8"})


def _incidence(query: export.ExportQuery, kind: str, filename_prefix: str) -> Response:
    """The incidence rows of ``query`` in the format ``kind`` (csv, json or jsonl); ends the transaction
    (the audit record and the token's last use are committed with it)."""
    rows = export.export_rows(query)
    db.session.commit()
    if kind == "csv":
        return _csv(rows, f"{filename_prefix}-{query.definition.key}.csv")
    if kind == "jsonl":
        return _jsonl(rows)
    return jsonify(meta=export.meta(query, utcnow(), len(rows)), rows=rows)


def _failed_authentication(response: Response) -> bool:
    return response.status_code == 401


def _authenticated(response: Response) -> bool:
    return response.status_code != 401


# Checked before the token is looked up (so a flood of guesses costs no database work): one budget per token
# shared by every export endpoint, spent only by authenticated calls, and one per client address spent only
# by failed authentications.
limiter.shared_limit(_export_rate, scope="api-export", key_func=rate_limit_key, deduct_when=_authenticated)(bp)
limiter.shared_limit(FAILED_AUTH_LIMIT, scope="api-auth-failures", key_func=get_remote_address,
                     deduct_when=_failed_authentication)(bp)


@bp.get("/incidence.csv")
@access(token(EXPORT_SCOPE))
def incidence_csv() -> Response:
    return _incidence(_export("csv"), "csv", "covidmeter-incidence")


@bp.get("/incidence.json")
@access(token(EXPORT_SCOPE))
def incidence_json() -> Response:
    return _incidence(_export("json"), "json", "covidmeter-incidence")


@bp.get("/incidence.jsonl")
@access(token(EXPORT_SCOPE))
def incidence_jsonl() -> Response:
    return _incidence(_export("jsonl"), "jsonl", "covidmeter-incidence")


@bp.get("/influenzanet.csv")
@access(token(INFLUENZANET_SCOPE))
def influenzanet_csv() -> Response:
    query = _export("influenzanet", export.InfluenzanetQuery)
    rows = export.influenzanet_rows(query)
    db.session.commit()
    return _csv(rows, f"covidmeter-influenzanet-{query.definition.key}.csv", export.INFLUENZANET_COLUMNS)


# --- open data: no login, only the cells that pass the public disclosure rules ---------------------------

def _open_query(kind: str) -> export.ExportQuery:
    query = export.parse_query(request.args, public_only=True)
    record("export.open", None, format=kind, query=query.echo())
    return query


@bp.get("/open/incidence.csv")
@limiter.limit(OPEN_DATA_RATE_LIMIT, key_func=get_remote_address)
@access(PUBLIC)
def open_incidence_csv() -> Response:
    return _incidence(_open_query("csv"), "csv", "covidmeter-open-incidence")


@bp.get("/open/incidence.json")
@limiter.limit(OPEN_DATA_RATE_LIMIT, key_func=get_remote_address)
@access(PUBLIC)
def open_incidence_json() -> Response:
    return _incidence(_open_query("json"), "json", "covidmeter-open-incidence")


@bp.get("/open/incidence.jsonl")
@limiter.limit(OPEN_DATA_RATE_LIMIT, key_func=get_remote_address)
@access(PUBLIC)
def open_incidence_jsonl() -> Response:
    return _incidence(_open_query("jsonl"), "jsonl", "covidmeter-open-incidence")


# --- documentation ---------------------------------------------------------------------------------------

@bp.get("/openapi.json")
@access(PUBLIC)
def openapi_document() -> Response:
    response = jsonify(openapi.document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/docs")
@access(PUBLIC)
def docs() -> str:
    return render_template("api_docs.html", _=_, spec=openapi.document(), parameters=openapi.parameter_table())
