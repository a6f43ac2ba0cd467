"""The baseline for bench/submit.py: the least a submission endpoint can do. A bare WSGI app that reads
a JSON body and INSERTs one row with psycopg (one connection per thread, autocommit), answering 201. No
Flask, no ORM, no authentication, no validation: the cost of HTTP + gunicorn + one write.

    gunicorn -w 3 -k gthread --threads 8 'bench.bare_app:app'   (BENCH_DATABASE_URL=postgresql://...)
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import psycopg

_local = threading.local()

SCHEMA = "CREATE TABLE IF NOT EXISTS bench_bare (id bigserial PRIMARY KEY, body jsonb NOT NULL, " \
         "created_at timestamptz NOT NULL DEFAULT now())"


def _connection() -> psycopg.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        dsn = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/covidmeter_bench_submit")
        connection = _local.connection = psycopg.connect(dsn, autocommit=True)
    return connection


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] == "GET":  # the benchmark's "is the queue drained?" probe
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b"{}"
    json.loads(body)  # the same parse a real endpoint does
    row_id = _connection().execute("INSERT INTO bench_bare (body) VALUES (%s) RETURNING id",
                                   (body.decode("utf-8"),)).fetchone()[0]
    out = json.dumps({"id": row_id}).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
