"""The token commands: a token made on the command line opens the export until it is revoked."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from reporting.extensions import db
from reporting.models import ApiToken
from reporting.security import hash_secret
from tests.reporting.staff import bearer


def test_token_create_prints_the_secret_once_and_stores_a_hash(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["token", "create", "--name", "ssi-weekly"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("cmt_") and len(secret) > 40
    with app.app_context():
        token = db.session.scalar(select(ApiToken).where(ApiToken.name == "ssi-weekly"))
        assert token.token_hash == hash_secret(secret) and token.scopes == "export:read"
    assert app.test_client().get("/api/v1/incidence.csv", headers=bearer(secret)).status_code == 200
    listing = runner.invoke(args=["token", "list"])
    assert "ssi-weekly" in listing.output and secret not in listing.output
    assert runner.invoke(args=["token", "revoke", "--name", "ssi-weekly"]).exit_code == 0
    assert app.test_client().get("/api/v1/incidence.csv", headers=bearer(secret)).status_code == 401
