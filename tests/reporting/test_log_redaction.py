"""No secret of a URL reaches a log line (issue 11, item 4): the access log of gunicorn (started for real with
the repository's gunicorn.conf.py) and the development server's request log (werkzeug's, served for real)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from reporting.logredact import REDACTED, redact
from reporting.security import new_secret

ROOT = Path(__file__).resolve().parents[2]


def _paths(secret: str, pseudonym: str) -> list[str]:
    return [f"/login/link/{secret}", f"/signup/confirm/{secret}", f"/me/email/confirm/{secret}",
            f"/week/{secret}", f"/week/{secret}/report/{pseudonym}", f"/week/{secret}/nobody-ill",
            f"/unsubscribe/eyJ1IjoiMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYifQ.{secret[:27]}",
            f"/report/{pseudonym}", f"/login?next=%2Freport%2F{pseudonym}"]


def _get(url: str) -> None:
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except urllib.error.HTTPError:
        pass  # 404 or 410 for made-up links: the log line is what matters


def test_redact_replaces_route_secrets_and_long_values_only() -> None:
    secret = new_secret()
    assert redact(f'"GET /login/link/{secret} HTTP/1.1" 410') == f'"GET /login/link/{REDACTED} HTTP/1.1" 410'
    assert redact("/week/short/report/x") == f"/week/{REDACTED}/report/x"
    assert redact("/api/v1/incidence.csv?geo_type=region&from=2026-W01") == (
        "/api/v1/incidence.csv?geo_type=region&from=2026-W01")
    assert redact("/me/settings") == "/me/settings" and redact("") == ""


def test_the_development_server_logs_no_secret(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    secret, pseudonym = new_secret(), "0123456789abcdef0123456789abcdef"
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for path in _paths(secret, pseudonym):
                _get(f"http://127.0.0.1:{server.server_port}{path}")
    finally:
        server.shutdown()
        thread.join(5)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len([line for line in lines if "GET /" in line]) >= len(_paths(secret, pseudonym)), lines
    text = "\n".join(lines)
    assert secret not in text and secret[:27] not in text and pseudonym not in text, text
    assert f"/login/link/{REDACTED}" in text and f"/week/{REDACTED}/report/{REDACTED}" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_access_and_error_logs_hold_no_secret(database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    env = {**os.environ, "COVIDMETER_DATABASE_URL": database_url, "COVIDMETER_ENV": "development",
           "COVIDMETER_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
           "COVIDMETER_BASE_URL": "http://localhost", "COVIDMETER_DEV_OUTBOX": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--access-logfile", str(access), "--error-logfile", str(errors), "wsgi:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secret, pseudonym = new_secret(), "fedcba9876543210fedcba9876543210"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("gunicorn did not start: " + errors.read_text() if errors.exists() else "")
                time.sleep(0.2)
        for path in _paths(secret, pseudonym):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                             headers={"Referer": f"http://localhost/login/link/{secret}"})
            try:
                urllib.request.urlopen(request, timeout=10).read()
            except urllib.error.HTTPError:
                pass
    finally:
        process.terminate()
        process.wait(20)
    logged = access.read_text() + errors.read_text()
    assert logged.count("GET /") >= len(_paths(secret, pseudonym)), logged
    assert secret not in logged and secret[:27] not in logged and pseudonym not in logged, logged
    assert f"/login/link/{REDACTED}" in logged and f"/week/{REDACTED}/report/{REDACTED}" in logged
