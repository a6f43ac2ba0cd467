"""The database extension: one engine per app, one session per application context.

Services open and commit their own transactions (``with db.session.begin():`` or an explicit
``db.session.commit()``); views stay thin. The scheduler and CLI use the same session inside
``app.app_context()``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


class Database:
    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        url = app.config["COVIDMETER_DATABASE_URL"]
        engine = make_engine(url)
        app.extensions["covidmeter.db"] = _State(engine, sessionmaker(engine, expire_on_commit=False))
        app.teardown_appcontext(self._close_session)

    @staticmethod
    def _state(app: Flask | None = None) -> "_State":
        return (app or current_app).extensions["covidmeter.db"]

    @property
    def engine(self) -> Engine:
        return self._state().engine

    @property
    def session(self) -> Session:
        session = g.get("_covidmeter_session")
        if session is None:
            session = g._covidmeter_session = self._state().sessionmaker()
        return session

    def new_session(self) -> Session:
        """A session outside the per-context one (for work in another thread)."""
        return self._state().sessionmaker()

    @staticmethod
    def _close_session(exc: BaseException | None) -> None:
        session = g.pop("_covidmeter_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


class _State:
    def __init__(self, engine: Engine, maker: sessionmaker[Session]) -> None:
        self.engine = engine
        self.sessionmaker = maker


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)
