"""Real-browser fixtures: the composed app served on loopback in a thread, and Debian's Chromium driven
by Playwright (never a downloaded browser).

Without /usr/bin/chromium these tests are skipped, except where COVIDMETER_REQUIRE_BROWSER=1 (CI), where
they fail instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


@dataclass
class LiveServer:
    app: Flask
    url: str


@pytest.fixture
def live_server(config: dict[str, Any], database_url: str) -> Iterator[Callable[..., LiveServer]]:
    """``live_server(**overrides)`` serves ``wsgi.create_app`` on 127.0.0.1 on a free port (CSRF on)."""
    from reporting.extensions import db
    from wsgi import create_app

    servers: list[Any] = []
    apps: list[Flask] = []

    def start(**overrides: Any) -> LiveServer:
        app = create_app({**config, "WTF_CSRF_ENABLED": True, **overrides})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        url = f"http://127.0.0.1:{server.server_port}"
        app.config["COVIDMETER_BASE_URL"] = url
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        apps.append(app)
        return LiveServer(app, url)

    yield start
    for server in servers:
        server.shutdown()
    for app in apps:
        with app.app_context():
            db.engine.dispose()
    from tests.conftest import empty_tables

    empty_tables(database_url)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("COVIDMETER_REQUIRE_BROWSER"):
            pytest.fail("Debian's chromium is required (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; console errors are collected on ``page.errors``."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    yield page
    context.close()
