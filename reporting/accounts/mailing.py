"""Mail to citizens: rendered in the account's language (not the language of the request that caused
it), with a one-click unsubscribe link in the text and in the ``List-Unsubscribe`` and
``List-Unsubscribe-Post`` headers (RFC 2369, RFC 8058), written to the outbox in the caller's transaction.

The unsubscribe link carries an HMAC-signed account id (itsdangerous, keyed by the secret key), so it
needs no table and keeps working in old mails; rotating the secret key ends old links.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from itsdangerous import BadSignature, URLSafeSerializer

from .. import mail
from ..models import Account, OutboxMessage

UNSUBSCRIBE_SALT = "covidmeter.unsubscribe"


def base_url() -> str:
    return current_app.config["COVIDMETER_BASE_URL"].rstrip("/")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(account_id: int) -> str:
    return _serializer().dumps({"a": account_id})


def account_of_unsubscribe_token(token: str) -> int | None:
    """The account id in a genuine unsubscribe token, else None."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    account_id = data.get("a") if isinstance(data, dict) else None
    return account_id if isinstance(account_id, int) else None


def unsubscribe_url(account_id: int) -> str:
    return f"{base_url()}/unsubscribe/{unsubscribe_token(account_id)}"


def send_to_account(account: Account, template: str, subject: Callable[[], str], category: str,
                    recipient: str | None = None, **context: Any) -> OutboxMessage:
    """Render ``citizen/mail/<template>.txt`` in the account's language and enqueue it (caller commits).

    ``recipient`` overrides the address (a confirmation sent to a new address)."""
    unsubscribe = unsubscribe_url(account.id)
    with force_locale(account.language):
        text = subject()
        body = render_template(f"citizen/mail/{template}.txt", base_url=base_url(),
                               minutes=current_app.config["COVIDMETER_LOGIN_TOKEN_MINUTES"], **context)
        footer = render_template("citizen/mail/_footer.txt", unsubscribe=unsubscribe, base_url=base_url())
    headers = {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return mail.enqueue(recipient or account.email, text, body.rstrip() + "\n\n" + footer.strip() + "\n",
                        category=category, headers=headers)
