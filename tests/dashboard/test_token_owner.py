"""API tokens and their owners (issue 11, item 5): a disabled owner's tokens stop at once, and no token
holder learns what another authority called its token."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import ApiToken, StaffUser
from tests.reporting.staff import bearer

Client = Callable[..., FlaskClient]
EXPORT = "/api/v1/incidence.csv"


def _user_id(app: Flask, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(StaffUser.id).where(StaffUser.email == email))


def _create(client: FlaskClient, name: str) -> tuple[int, str]:
    response = client.post("/staff/tokens/", data={"name": name, "days": "90", "scope-export:read": "1"})
    html = response.get_data(as_text=True)
    secret = html.split('id="issued-secret">')[1].split("<")[0] if 'id="issued-secret"' in html else ""
    return response.status_code, secret


def test_disabling_the_owner_stops_their_tokens_at_once(app: Flask, staff_client: Client, published: None) -> None:
    admin = staff_client("admin", "boss@example.org")
    authority = staff_client("authority", "region-h@example.org")
    status, secret = _create(authority, "region-h-import")
    assert status == 200
    api = app.test_client()
    assert api.get(EXPORT, headers=bearer(secret)).status_code == 200
    owner = _user_id(app, "region-h@example.org")
    assert admin.post(f"/admin/staff/{owner}/disable").status_code == 302
    refused = api.get(EXPORT, headers=bearer(secret))  # the very next call
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert "disabled" in refused.get_json()["detail"] and "region-h" not in refused.get_data(as_text=True)
    assert api.get("/api/v1/incidence.json", headers=bearer(secret)).status_code == 401
    # The token itself is not revoked: enabling the owner again lets it work again.
    with app.app_context():
        assert db.session.scalar(select(ApiToken.revoked_at).where(ApiToken.name == "region-h-import")) is None
    assert admin.post(f"/admin/staff/{owner}/enable").status_code == 302
    assert api.get(EXPORT, headers=bearer(secret)).status_code == 200


def test_a_token_made_on_the_command_line_has_no_owner_to_disable(app: Flask, api_token: Callable[..., str],
                                                                   published: None) -> None:
    secret = api_token("cli-import")
    assert app.test_client().get(EXPORT, headers=bearer(secret)).status_code == 200


def test_a_taken_name_tells_nothing_about_other_authorities(app: Flask, staff_client: Client,
                                                            published: None) -> None:
    first = staff_client("authority", "a1@example.org")
    second = staff_client("authority", "a2@example.org")
    assert _create(first, "ssi-weekly-import")[0] == 200
    # The other authority may use the same name: creating it neither fails nor says that it exists.
    status, secret = _create(second, "ssi-weekly-import")
    assert status == 200 and secret.startswith("cmt_")
    listing = second.get("/staff/tokens/").get_data(as_text=True)
    assert listing.count("ssi-weekly-import") >= 1
    with app.app_context():
        tokens = db.session.scalars(select(ApiToken).where(ApiToken.name == "ssi-weekly-import")).all()
        assert len(tokens) == 2 and len({t.staff_user_id for t in tokens}) == 2
    # Its own second token of that name is refused, naming only its own token.
    again = second.post("/staff/tokens/", data={"name": "ssi-weekly-import", "days": "90",
                                                "scope-export:read": "1"})
    assert again.status_code == 422 and "you already have a token named" in again.get_data(as_text=True)
    # A token holder's own listing shows its tokens only; the API answers never carry a token name.
    other = staff_client("authority", "a3@example.org")
    assert _create(other, "municipality-aarhus-feed")[0] == 200
    assert "municipality-aarhus-feed" not in first.get("/staff/tokens/").get_data(as_text=True)
    assert "municipality-aarhus-feed" not in second.get("/staff/tokens/").get_data(as_text=True)
    for path in ("/api/v1/incidence.csv", "/api/v1/incidence.json", "/api/v1/influenzanet.csv?definition=ili.ecdc"):
        body = app.test_client().get(path, headers=bearer(secret)).get_data(as_text=True)
        assert "ssi-weekly-import" not in body and "municipality-aarhus-feed" not in body


def test_the_command_line_revokes_by_id_when_a_name_is_shared(app: Flask, staff_client: Client, runner) -> None:
    first = staff_client("authority", "a1@example.org")
    second = staff_client("authority", "a2@example.org")
    _create(first, "shared-name")
    _create(second, "shared-name")
    ambiguous = runner.invoke(args=["token", "revoke", "--name", "shared-name"])
    assert ambiguous.exit_code == 1 and "2 tokens are named 'shared-name'" in ambiguous.output
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "shared-name").order_by(ApiToken.id))
    assert runner.invoke(args=["token", "revoke", "--id", str(token_id)]).exit_code == 0
    with app.app_context():
        revoked = db.session.scalars(select(ApiToken.revoked_at).where(ApiToken.name == "shared-name")
                                     .order_by(ApiToken.id)).all()
        assert revoked[0] is not None and revoked[1] is None
    listing = runner.invoke(args=["token", "list"]).output
    assert f"id {token_id}" in listing and "owner a1@example.org" in listing
