"""``covidmeter`` commands owned by reporting: the database, staff users and API tokens."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from . import migrate
from .audit import record
from .extensions import db
from .models import ApiToken, StaffUser
from .models import STAFF_ROLES
from .security import Principal
from .staff.service import (StaffError, create_api_token, create_staff_user, current_totp_code, find_staff_user,
                            reset_totp, revoke_api_token, revoke_api_token_by_id, revoke_sessions, totp_uri)


def register(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(staff_group)
    app.cli.add_command(token_group)


def _url() -> str:
    return current_app.config["COVIDMETER_DATABASE_URL"]


@click.group("db", cls=AppGroup, help="The database schema (Alembic migrations).")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply migrations up to REVISION (default: every head).")
@click.argument("revision", default="heads")
def db_upgrade(revision: str) -> None:
    migrate.upgrade(_url(), revision)
    click.echo(f"database at {migrate.current_revision(db.engine)}")


@db_group.command("downgrade", help="Revert migrations down to REVISION.")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    migrate.downgrade(_url(), revision)
    click.echo(f"database at {migrate.current_revision(db.engine)}")


@db_group.command("current", help="Show the schema revision of the database and the newest one.")
def db_current() -> None:
    click.echo(f"database: {migrate.current_revision(db.engine) or 'empty'}; head: {migrate.head_revision()}")


@click.group("staff", cls=AppGroup, help="Staff accounts (epidemiologists, authorities, admins).")
def staff_group() -> None:
    pass


@staff_group.command("create", help="Create a staff user. A password is generated and printed once.")
@click.argument("email")
@click.option("--role", type=click.Choice(STAFF_ROLES), required=True)
@click.option("--password", envvar="COVIDMETER_STAFF_PASSWORD", default=None,
              help="Use this password instead of a generated one (or set COVIDMETER_STAFF_PASSWORD).")
def staff_create(email: str, role: str, password: str | None) -> None:
    try:
        user, password = create_staff_user(email, role, password)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {user.role} {user.email}")
    click.echo(f"password: {password}")
    click.echo("at the first sign-in the user sets up an authenticator app (TOTP); it is required from then on")


@staff_group.command("totp", help="Development only: print the current sign-in code of a staff user "
                                  "(after the first sign-in has shown the setup page).")
@click.argument("email")
@click.option("--uri", is_flag=True, help="Print the otpauth:// setup link instead (to add it to an app).")
def staff_totp(email: str, uri: bool) -> None:
    if current_app.config["COVIDMETER_ENV"] != "development":
        raise click.ClickException("codes are printed only in development (COVIDMETER_ENV=development); "
                                   "in production use the authenticator app, or 'staff reset-totp'")
    try:
        user = find_staff_user(email)
        click.echo(totp_uri(user) if uri else current_totp_code(user))
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc


@staff_group.command("reset-totp", help="Forget a staff user's second factor (lost phone); the next sign-in "
                                        "sets it up again. Ends the user's sessions.")
@click.argument("email")
def staff_reset_totp(email: str) -> None:
    try:
        reset_totp(find_staff_user(email))
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"second factor of {email} reset; it is set up again at the next sign-in")


@staff_group.command("revoke-sessions", help="End every active session of a staff user.")
@click.argument("email")
def staff_revoke_sessions(email: str) -> None:
    try:
        user = find_staff_user(email)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    count = revoke_sessions(user)
    record("staff.sessions.revoke", f"staff:{user.id}", Principal("system"), sessions=count)
    db.session.commit()
    click.echo(f"{count} session(s) of {user.email} revoked")


@staff_group.command("list", help="List staff users.")
def staff_list() -> None:
    for user in db.session.scalars(select(StaffUser).order_by(StaffUser.email)):
        state = "disabled" if user.disabled_at else "active"
        click.echo(f"{user.email}\t{user.role}\t{state}\tmfa={'on' if user.totp_confirmed_at else 'pending'}")


@click.group("token", cls=AppGroup, help="API tokens for authorities' systems.")
def token_group() -> None:
    pass


@token_group.command("create", help="Create an API token. It is printed once and stored hashed.")
@click.option("--name", required=True, help="Who or what uses the token, e.g. 'ssi-weekly-import'.")
@click.option("--scope", "scopes", default="export:read", show_default=True)
@click.option("--days", default=365, show_default=True, help="Days until it expires (0: never).")
def token_create(name: str, scopes: str, days: int) -> None:
    try:
        issued = create_api_token(name, scopes, days or None)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token {issued.token.name!r} (scopes: {issued.token.scopes}); copy it now, it is not shown again:")
    click.echo(issued.secret)


@token_group.command("list", help="List API tokens (never their secrets), with id and owner.")
def token_list() -> None:
    owners = {row.id: row.email for row in db.session.execute(select(StaffUser.id, StaffUser.email))}
    for token in db.session.scalars(select(ApiToken).order_by(ApiToken.name, ApiToken.id)):
        state = "revoked" if token.revoked_at else "active"
        expires = token.expires_at.date().isoformat() if token.expires_at else "never"
        owner = owners.get(token.staff_user_id, "-") if token.staff_user_id else "-"
        click.echo(f"{token.name}\t{token.prefix}…\t{token.scopes}\t{state}\texpires {expires}\tid {token.id}"
                   f"\towner {owner}")


@token_group.command("revoke", help="Revoke an API token by name (or by id, when several owners use a name).")
@click.option("--name", default=None)
@click.option("--id", "token_id", type=int, default=None)
def token_revoke(name: str | None, token_id: int | None) -> None:
    if (name is None) == (token_id is None):
        raise click.UsageError("give --name or --id")
    try:
        if token_id is not None:
            token = db.session.get(ApiToken, token_id)
            if token is None:
                raise StaffError(f"no token with id {token_id}")
            revoke_api_token_by_id(token)
            name = token.name
        else:
            revoke_api_token(name or "")
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {name!r}")
