"""Helpers for the staff browser tests: axe-core and signing in with password and TOTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyotp

AXE = (Path(__file__).parent / "axe.min.js").read_text(encoding="utf-8")  # axe-core, MPL-2.0


def axe_violations(page: Any, context: str = "document") -> list[str]:
    """Serious and critical axe-core violations (WCAG 2.x A and AA rules) on the current page."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)  # through the DevTools protocol, so the page's CSP does not block it
    results = page.evaluate(f"""async () => await axe.run({context}, {{
        runOnly: {{type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}},
        resultTypes: ['violations']}})""")
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def sign_in(page: Any, email: str, password: str, secret: str) -> None:
    """The staff sign-in page (already open): password, then the code an authenticator app would show."""
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/login/code**")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
