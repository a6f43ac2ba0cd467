"""Helpers for the citizen browser tests: axe-core, the 360 px check, and signing up through the pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = (Path(__file__).parent / "axe.min.js").read_text(encoding="utf-8")  # axe-core 4.14.1, MPL-2.0


def axe_violations(page: Any) -> list[str]:
    """Serious and critical axe-core violations on the current page (WCAG 2.x A and AA rules)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)  # evaluated through the DevTools protocol, so the page's CSP does not block it
    results = page.evaluate("""async () => await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
        resultTypes: ['violations']})""")
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def fits_width(page: Any, width: int = 360) -> bool:
    """No horizontal scrolling at ``width`` CSS pixels (a small phone)."""
    page.set_viewport_size({"width": width, "height": 800})
    fits = page.evaluate("() => document.scrollingElement.scrollWidth") <= width
    page.set_viewport_size({"width": 1280, "height": 900})
    return bool(fits)


def check_page(page: Any, name: str, problems: list[str]) -> None:
    """Collect axe violations and overflow at 360 px for the page shown now."""
    problems += [f"{name}: {v}" for v in axe_violations(page)]
    if not fits_width(page):
        problems.append(f"{name}: wider than 360 px")


def sign_up(page: Any, url: str, email: str, *, birth_year: str = "1975", municipality: str = "Aarhus") -> None:
    """Sign up in English and confirm with the link from the development outbox; ends on /me."""
    page.goto(f"{url}/signup?lang=en")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("What year were you born?").fill(birth_year)
    page.get_by_label("Female").check()
    page.get_by_label("Which municipality do you live in?").select_option(label=municipality)
    page.get_by_label("How many people live in the household").fill("3")
    page.get_by_label("I agree and want to take part").check()
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/signup/sent")
    page.goto(f"{url}/dev/outbox")
    page.locator("a[href*='/signup/confirm/']").first.click()
    page.get_by_role("button", name="Confirm and log in").click()
    page.wait_for_url("**/me")
