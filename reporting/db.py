"""The database extension: one engine per app, one session per application context.

Services open and commit their own transactions (``with db.session.begin():`` or an explicit
``db.session.commit()``); views stay thin. The scheduler and CLI use the same session inside
``app.app_context()``.

Dead pooled connections (PostgreSQL restarted, a backend terminated, an idle timeout in the server or a
proxy) are caught without a round trip: when a connection is taken from the pool, its socket is polled,
and an idle connection has nothing to say; one the server has closed is readable (its farewell message or
end of file), so the pool discards it and opens a fresh one (``_usable_at_checkout``). ``pool_recycle``
replaces connections before they get old enough to meet a timeout that closes them silently. This takes
the place of SQLAlchemy's ``pool_pre_ping``, which costs a round trip to the server on every checkout,
that is on every request. If a connection still dies under a statement, SQLAlchemy invalidates the pool
and the error is answered as 503, "try again" (``reporting.problems``).

``unavailable`` says whether an error means "the database cannot serve this now, the same request will do
later": the server is down, starting, shutting down or refusing connections, the connection was lost, the
server is out of connections, a statement or lock timed out, a transaction lost a serialization race, or SQLite's
writer was busy. Every route answers those with 503 and a short ``Retry-After``; any other error is a bug (500).
"""

from __future__ import annotations

import select
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

# The Retry-After of a 503 while the database is away: PostgreSQL is back 1-2 s after a restart
# (docs/reliability.md), so a client told to wait 2 s is rarely told twice.
RETRY_AFTER_SECONDS = 2

# SQLSTATE classes and codes of PostgreSQL errors that pass by themselves (PostgreSQL's errcodes, appendix A):
# 08 connection exception, 53 insufficient resources (too many connections, out of memory, disk full), 57P01-05
# operator intervention (admin or crash shutdown, cannot connect now, idle session timeout), 57014 query
# canceled (statement_timeout), 55P03 lock not available (lock_timeout), 40001 serialization failure,
# 40P01 deadlock detected. None of them says anything is wrong with the request.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P0")
_TRANSIENT_SQLSTATES = frozenset({"57014", "55P03", "40001", "40P01"})
# SQLite's messages for a busy or unreachable database file.
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "unable to open database file",
                     "disk i/o error")


class Busy(Exception):
    """Work refused for a reason that passes (the same request will do shortly): answered 503 with Retry-After."""


# Seconds after which a pooled connection is replaced rather than reused (a connection idle for longer
# may have been closed silently by a firewall, a load balancer or PgBouncer).
POOL_RECYCLE_SECONDS = 1800


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

    def driver_autocommit(self) -> Any:
        """``driver_autocommit`` on this app's engine."""
        return driver_autocommit(self.engine)

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


@contextmanager
def driver_autocommit(engine: Engine) -> Iterator[Any]:
    """A pooled connection's own driver connection (psycopg) in autocommit mode, for a hot path that is one
    statement: it is its own transaction (no BEGIN and COMMIT round trips) and skips SQLAlchemy's execution
    layer. The statement must need nothing else from a request's ORM session. A dead connection is invalidated
    and raised as SQLAlchemy's ``DBAPIError`` with ``connection_invalidated`` (answered 503, as on every other
    path); other driver errors propagate as the driver raised them."""
    fairy = engine.raw_connection()
    driver = fairy.driver_connection
    try:
        driver.autocommit = True
        try:
            yield driver
        finally:
            if not driver.closed:
                driver.autocommit = False
    except engine.dialect.loaded_dbapi.Error as exc:
        if engine.dialect.is_disconnect(exc, driver, None):
            fairy.invalidate(exc)
            raise DBAPIError.instance(None, None, exc, engine.dialect.loaded_dbapi.Error,
                                      connection_invalidated=True) from exc
        raise
    finally:
        fairy.close()


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) means the database cannot serve now but will
    shortly, so the request should be answered 503 "try again" rather than 500 (see the module docstring)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (Busy, DisconnectionError)):
            return True
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            if current.orig is not None and _transient_driver_error(current.orig):
                return True
        elif _transient_driver_error(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient_driver_error(error: BaseException) -> bool:
    module = type(error).__module__.split(".", 1)[0]
    if module == "psycopg":
        import psycopg  # PostgreSQL's driver, loaded already (the error is its own); an SQLite service never loads it

        if not isinstance(error, psycopg.Error):
            return False
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate is None:
            # No SQLSTATE: the server never answered (refused, reset, closed, timed out), or the connection is
            # closed on our side. Only OperationalError means that; a ProgrammingError without one is a bug.
            return isinstance(error, psycopg.OperationalError)
        return sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES) or sqlstate in _TRANSIENT_SQLSTATES
    if module in ("sqlite3", "_sqlite3"):
        return isinstance(error, sqlite3.OperationalError) and str(error).lower().startswith(_SQLITE_TRANSIENT)
    return False


def sqlite_snapshot_busy(error: BaseException) -> bool:
    """SQLite refused a transaction that read and then wrote because another connection committed meanwhile
    ("database is locked" at once, whatever the busy timeout): the same work, started again, will do."""
    orig = getattr(error, "orig", error)
    return isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig)


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
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_recycle", POOL_RECYCLE_SECONDS)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _usable_at_checkout)
    return engine


def _usable_at_checkout(dbapi_connection: Any, _record: ConnectionPoolEntry,
                        _proxy: PoolProxiedConnection) -> None:
    """Refuse a pooled connection that the server has closed; the pool then opens a new one.

    Between two uses a healthy connection is idle: the server sends nothing until it is sent a query. So
    if its socket is readable (or hung up, or in error) now, what waits there is the server's goodbye (e.g.
    "terminating connection due to administrator command") or end of file. Polling with a zero timeout is a
    system call, not a round trip. Raising ``DisconnectionError`` here makes the pool dispose of the
    connection and check out another (SQLAlchemy's documented hook for custom liveness checks)."""
    try:
        fd = dbapi_connection.fileno()
    except Exception as exc:  # noqa: BLE001  (closed on our side: psycopg raises OperationalError)
        raise DisconnectionError("the pooled connection is closed") from exc
    poller = select.poll()
    poller.register(fd, select.POLLIN)  # POLLHUP and POLLERR are always reported
    if poller.poll(0):
        raise DisconnectionError("the server closed the pooled connection while it was idle")
