"""Mail to citizens: rendered in the account's language (not the language of the request that caused
it), with a one-click unsubscribe link in the text and in the ``List-Unsubscribe`` and
``List-Unsubscribe-Post`` headers (RFC 2369, RFC 8058), written to the outbox in the caller's transaction.

The unsubscribe link carries the account's random ``unsubscribe_key``, HMAC-signed (itsdangerous, keyed by
the secret key): it names nothing another account could ever have (no id), keeps working in old mails while
the account exists, and stops when the account is deleted with its key. Rotating the secret key ends old
links too.

Every mail about an account is tied to it (``outbox_messages.account_id``), whichever address it goes to,
so it is deleted with the account. Mail to an address that has no account (a sign-up's confirmation, the
answer to a login request for an unknown address) is made for a stand-in account (``stand_in``) by the same
code, without an unsubscribe link: there is nothing to unsubscribe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from .. import mail
from ..extensions import db
from ..models import Account, OutboxMessage, new_unsubscribe_key

UNSUBSCRIBE_SALT = "covidmeter.unsubscribe.key"


def base_url() -> str:
    return current_app.config["COVIDMETER_BASE_URL"].rstrip("/")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(account: Account) -> str:
    return _serializer().dumps({"u": account.unsubscribe_key})


def account_of_unsubscribe_token(token: str) -> int | None:
    """The id of the account whose key a genuine unsubscribe token carries, else None (forged, an old
    id-based link, or the account is gone)."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    key = data.get("u") if isinstance(data, dict) else None
    if not isinstance(key, str):
        return None
    account_id = db.session.scalar(select(Account.id).where(Account.unsubscribe_key == key))
    db.session.rollback()
    return account_id


def unsubscribe_url(account: Account) -> str:
    return f"{base_url()}/unsubscribe/{unsubscribe_token(account)}"


def _render(language: str, template: str, subject: Callable[[], str], unsubscribe: str | None,
            context: dict[str, Any]) -> tuple[str, str]:
    with force_locale(language):
        text = subject()
        body = render_template(f"citizen/mail/{template}.txt", base_url=base_url(),
                               minutes=current_app.config["COVIDMETER_LOGIN_TOKEN_MINUTES"], **context)
        footer = render_template("citizen/mail/_footer.txt", unsubscribe=unsubscribe, base_url=base_url())
    return text, body.rstrip() + "\n\n" + footer.strip() + "\n"


def send_to_account(account: Account, template: str, subject: Callable[[], str], category: str,
                    recipient: str | None = None, *, member: bool = True, **context: Any) -> OutboxMessage:
    """Render ``citizen/mail/<template>.txt`` in the account's language and enqueue it (caller commits).
    ``recipient`` overrides the address (a confirmation sent to a new address).

    ``member=False``: ``account`` is a stand-in (``stand_in``) for an address without an account: the mail has
    no unsubscribe link and is tied to no account, and the work is otherwise the same (the link is signed all
    the same and thrown away), so that how long it takes does not tell whether the address has an account."""
    unsubscribe = unsubscribe_url(account)
    if not member:
        unsubscribe = None
    text, body = _render(account.language, template, subject, unsubscribe, context)
    headers = ({"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
               if unsubscribe else {})
    message = mail.enqueue(recipient or account.email, text, body, category=category, headers=headers)
    message.account_id = account.id if member else None
    return message


def stand_in(email: str, language: str) -> Account:
    """A transient account for an address that has none (never added to the session): mail to the address
    is made by the same code as mail to an account."""
    return Account(email=email, language=language, status="active", unsubscribe_key=new_unsubscribe_key())
