"""Staff pages in Debian's Chromium: the first sign-in sets up TOTP from the page, then an admin creates a
user, ends a session and reads the audit log. axe-core on every page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest

from reporting.staff.service import create_staff_user

from .staff_pages import axe_violations

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


def test_first_sign_in_with_totp_setup_then_administration(live_server: Callable[..., Any], page: Any) -> None:
    server = live_server()
    with server.app.app_context():
        create_staff_user("boss@example.org", "admin", PASSWORD)
    problems: list[str] = []

    page.goto(f"{server.url}/staff/login?lang=en")
    problems += [f"login: {v}" for v in axe_violations(page)]
    page.fill("#email", "boss@example.org")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/totp/setup**")
    assert page.locator("svg.qr").count() == 1
    problems += [f"setup: {v}" for v in axe_violations(page)]
    secret = page.locator("#totp-secret").text_content().replace(" ", "")  # what a person types into the app
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/staff/")
    problems += [f"home: {v}" for v in axe_violations(page)]

    page.click("text=Staff users and sessions")
    page.fill("#email", "new.epi@example.org")
    page.select_option("#role", "epidemiologist")
    page.click("button:has-text('Create')")
    password = page.locator("#created-password").text_content()
    assert len(password) >= 12
    problems += [f"staff: {v}" for v in axe_violations(page)]

    page.click("text=boss@example.org")
    assert page.locator("text=End session").count() == 1  # this very browser's session
    problems += [f"detail: {v}" for v in axe_violations(page)]

    page.goto(f"{server.url}/admin/audit")
    table = page.locator("#audit").text_content()
    assert "staff.totp.enrol" in table and "staff.create" in table and "staff.login" in table
    problems += [f"audit: {v}" for v in axe_violations(page)]

    page.goto(f"{server.url}/staff/tokens/")
    page.fill("#name", "ssi-weekly")
    page.click("button:has-text('Create token')")
    assert re.fullmatch(r"cmt_[\w-]{40,}", page.locator("#issued-secret").text_content())
    problems += [f"tokens: {v}" for v in axe_violations(page)]

    page.goto(f"{server.url}/api/v1/docs")
    problems += [f"api docs: {v}" for v in axe_violations(page)]

    # The admin ends their own session from the list: the next page asks to sign in again.
    page.goto(f"{server.url}/admin/staff")
    page.click("text=boss@example.org")
    page.click("text=End all sessions")
    page.goto(f"{server.url}/admin/staff")
    assert "/staff/login" in page.url
    assert problems == []
