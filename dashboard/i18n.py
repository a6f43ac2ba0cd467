"""The dashboard's own translation domain ("dashboard", in dashboard/translations), so its Danish texts
never touch the site's shared messages catalogue. Same locale selection as the rest of the site.

    pybabel extract -F dashboard/babel.cfg -k _ -k lazy_gettext -o dashboard/translations/dashboard.pot .
    pybabel update -D dashboard -i dashboard/translations/dashboard.pot -d dashboard/translations
    pybabel compile -D dashboard -d dashboard/translations
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_babel import Domain

TRANSLATIONS = Path(__file__).parent / "translations"
domain = Domain(translation_directories=str(TRANSLATIONS), domain="dashboard")


def _(text: str, **variables: Any) -> str:
    return domain.gettext(text, **variables)


def lazy_gettext(text: str, **variables: Any) -> Any:
    return domain.lazy_gettext(text, **variables)
