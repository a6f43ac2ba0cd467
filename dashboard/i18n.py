"""The dashboard's own translation domain ("dashboard", in dashboard/translations), so its Danish texts
never touch the site's shared messages catalogue. Same locale selection as the rest of the site.

    pybabel extract -F dashboard/babel.cfg -k _ -k lazy_gettext -o dashboard/translations/dashboard.pot .
    pybabel update -D dashboard -i dashboard/translations/dashboard.pot -d dashboard/translations
    pybabel compile -D dashboard -d dashboard/translations
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import g, has_request_context
from flask_babel import Domain, get_locale

TRANSLATIONS = Path(__file__).parent / "translations"
domain = Domain(translation_directories=str(TRANSLATIONS), domain="dashboard")
_CATALOGUE = "dashboard_catalogue"


def _(text: str, **variables: Any) -> str:
    """``domain.gettext``, with the request's catalogue looked up once per request and language.

    The figures translate the same few texts for every point they draw (hundreds per figure);
    flask_babel finds the catalogue again on every call through several context-local look-ups."""
    if not has_request_context():
        return domain.gettext(text, **variables)
    locale = get_locale()  # cached by flask_babel for the request; honours force_locale
    cached = g.get(_CATALOGUE)
    if cached is None or cached[0] is not locale:
        cached = (locale, domain.get_translations())
        setattr(g, _CATALOGUE, cached)
    string = cached[1].gettext(text)
    return string % variables if variables else string


def lazy_gettext(text: str, **variables: Any) -> Any:
    return domain.lazy_gettext(text, **variables)
