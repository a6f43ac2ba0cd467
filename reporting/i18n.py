"""Danish and English. The language is chosen by ``?lang=``, remembered in the session, else taken from
the browser's Accept-Language, else the configured default (Danish)."""

from __future__ import annotations

from flask import Flask, current_app, request, session
from flask_babel import get_locale

from .extensions import babel

LANGUAGES = ("da", "en")


def select_locale() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES) or current_app.config["COVIDMETER_DEFAULT_LANGUAGE"]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def _languages() -> dict[str, object]:
        return {"languages": LANGUAGES, "current_language": str(get_locale())}
