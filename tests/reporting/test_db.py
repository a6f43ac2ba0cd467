"""The database extension: a pooled connection the server has closed is replaced when it is taken from the
pool (without a round trip per checkout), and one that dies under a statement is answered with a 503."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import psycopg
import pytest
from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from reporting.authz import PUBLIC, access
from reporting.db import POOL_RECYCLE_SECONDS, RETRY_AFTER_SECONDS, _usable_at_checkout, make_engine
from reporting.extensions import db


class _Socket:
    """Stands in for a DBAPI connection: psycopg's connections answer ``fileno()`` with their socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


@pytest.fixture
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_quiet_connection_is_used_and_one_the_server_closed_is_refused(socket_pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = socket_pair
    _usable_at_checkout(_Socket(ours), None, None)  # idle and quiet: fine
    theirs.sendall(b"E")  # the server's goodbye ("terminating connection ...")
    with pytest.raises(DisconnectionError):
        _usable_at_checkout(_Socket(ours), None, None)
    ours.recv(1)
    theirs.close()  # end of file
    with pytest.raises(DisconnectionError):
        _usable_at_checkout(_Socket(ours), None, None)


def test_a_connection_closed_on_our_side_is_refused() -> None:
    class Closed:
        def fileno(self) -> int:
            raise psycopg.OperationalError("the connection is closed")

    with pytest.raises(DisconnectionError):
        _usable_at_checkout(Closed(), None, None)


def postgresql(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (COVIDMETER_TEST_DATABASE_URL)")
    return database_url


def terminate(database_url: str, pid: int) -> None:
    """End a backend from another connection, and wait until it is gone."""
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            if not connection.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} did not end")


def test_a_pooled_connection_the_server_ended_is_replaced_without_an_error(database_url: str) -> None:
    engine = make_engine(postgresql(database_url), pool_size=1, max_overflow=0)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        assert engine.pool._recycle == POOL_RECYCLE_SECONDS
        with engine.connect() as connection:
            first = connection.scalar(text("SELECT pg_backend_pid()"))
        with engine.connect() as connection:  # the same pooled connection, and no ping before the query
            assert connection.scalar(text("SELECT pg_backend_pid()")) == first
        assert statements == ["SELECT pg_backend_pid()"] * 2
        terminate(database_url, first)  # as a restart of PostgreSQL, or an idle timeout, would
        with engine.connect() as connection:
            second = connection.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_that_dies_under_a_statement_is_a_503_and_the_next_request_works(database_url: str,
                                                                                      app: Flask) -> None:
    postgresql(database_url)

    @access(PUBLIC)
    def dies() -> str:
        terminate(database_url, db.session.scalar(text("SELECT pg_backend_pid()")))
        db.session.scalar(text("SELECT 1"))  # on the dead connection
        return "unreachable"

    @access(PUBLIC)
    def works() -> str:
        return str(db.session.scalar(text("SELECT 1")))

    app.add_url_rule("/api/v1/test-dies", view_func=dies)
    app.add_url_rule("/test-dies", "dies_page", view_func=dies)
    app.add_url_rule("/api/v1/test-works", view_func=works)
    client = app.test_client()
    response = client.get("/api/v1/test-dies")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.json["status"] == 503 and response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert client.get("/api/v1/test-works").data == b"1"
    page = client.get("/test-dies")
    assert page.status_code == 503 and page.mimetype == "text/html" and page.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert client.get("/api/v1/test-works").data == b"1"


def test_the_driver_connection_is_autocommit_and_a_dead_one_is_a_503(database_url: str, app: Flask) -> None:
    """``db.driver_autocommit`` (the citizen API's one-statement report): its statement is its own
    transaction, the connection goes back to the pool as it came, and a connection that dies under it is
    answered like any other (503, Retry-After) and replaced."""
    postgresql(database_url)

    @access(PUBLIC)
    def driver_pid() -> str:
        with db.driver_autocommit() as connection:
            assert connection.autocommit
            assert connection.execute("SELECT now() = statement_timestamp()").fetchone() == (True,)  # no BEGIN
            return str(connection.execute("SELECT pg_backend_pid()").fetchone()[0])

    @access(PUBLIC)
    def dies() -> str:
        with db.driver_autocommit() as connection:
            terminate(database_url, connection.execute("SELECT pg_backend_pid()").fetchone()[0])
            connection.execute("SELECT 1")
        return "unreachable"

    app.add_url_rule("/api/v1/test-driver-pid", view_func=driver_pid)
    app.add_url_rule("/api/v1/test-driver-dies", view_func=dies)
    client = app.test_client()
    before = client.get("/api/v1/test-driver-pid").data
    with app.app_context():
        with db.engine.connect() as connection:  # back in the pool, in its usual mode
            assert connection.connection.driver_connection.autocommit is False
    response = client.get("/api/v1/test-driver-dies")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert client.get("/api/v1/test-driver-pid").data.isdigit() and before.isdigit()
