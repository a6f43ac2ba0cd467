"""The citizen pages' blueprint and what its views share: the rate limits of forms and links, the request's
language and the signed-in account. The views are in ``routes`` (front page, sign-up, login, the overview
and the weekly report), ``weekly`` (the pages behind the weekly reminder's links) and ``self_service``
(profiles, history, settings, data rights); each adds its own to ``bp``."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_babel import get_locale

from ..security import current_principal

bp = Blueprint("citizen", __name__)

FORM_LIMIT = "10/minute"
LINK_LIMIT = "20/minute"


def page_language() -> str:
    """The language of this request's page (Flask-Babel's choice)."""
    return str(get_locale() or "da")


def citizen_account() -> int:
    """The signed-in citizen's account (authz lets only citizens into these views; this is a second guard)."""
    account = current_principal().account_id
    if account is None:
        abort(403)
    return account
