"""The headers of every response, set in one ``after_request`` hook (``init_app``); what a view set itself wins.

- A content security policy that allows no inline script or style and no third-party origin (``CSP_BASE``);
  an app mounted under a prefix adds what it needs there with ``add_csp_override`` (the dashboard: the hashes
  of Dash's own inline scripts).
- ``X-Content-Type-Options``, ``X-Frame-Options``, ``Referrer-Policy`` (the origin only, so no login link
  leaks), ``Permissions-Policy`` and ``Cross-Origin-Opener-Policy`` on every response; HSTS when the cookies
  are secure (COVIDMETER_SECURE_COOKIES).
- ``Cache-Control: no-store`` on the API and on every page that shows or takes personal data (sign-in, the
  account's pages, reports, the weekly and unsubscribe links, staff pages), and under a single-page app's
  prefix declared with ``mount_spa``, whose HTML pages also set the CSRF cookie its renderer sends back as a
  header.

This package names no prefix of a mounted app itself: the dashboard declares its own when it is mounted.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_wtf.csrf import generate_csrf

CSP_BASE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


_CSP_BASE_HEADER = "; ".join(f"{k} {v}" for k, v in CSP_BASE.items())


def content_security_policy(app: Flask, path: str) -> str:
    overrides = [directives for prefix, directives in app.extensions.get("covidmeter.csp_overrides", [])
                 if path.startswith(prefix)]
    if not overrides:
        return _CSP_BASE_HEADER  # most responses: built once
    policy = dict(CSP_BASE)
    for directives in overrides:
        for name, value in directives.items():
            policy[name] = f"{policy.get(name, '')} {value}".strip()
    return "; ".join(f"{k} {v}" for k, v in policy.items())


def add_csp_override(app: Flask, prefix: str, directives: dict[str, str]) -> None:
    app.extensions.setdefault("covidmeter.csp_overrides", []).append((prefix, directives))


_EVERY_RESPONSE = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    # Only the origin, never the path: login links never leak, and Flask-WTF's HTTPS referrer check (which
    # compares origins) still passes. 'no-referrer' would make every HTTPS form POST fail.
    ("Referrer-Policy", "strict-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]
_NO_STORE_PREFIXES = ("/api/", "/me", "/report", "/staff", "/login", "/signup", "/week/", "/unsubscribe/",
                      "/withdrawn")
_SPA_MOUNTS = "covidmeter.spa_mounts"
CSRF_COOKIE = "_csrf_token"


def mount_spa(app: Flask, prefix: str) -> None:
    """A single-page app under ``prefix`` (Dash): its answers are never stored by caches, and its HTML pages set
    the cookie ``_csrf_token`` (SameSite=Strict, path ``prefix``) that its renderer sends back as the
    ``X-CSRFToken`` header of its callbacks, where CSRFProtect checks it."""
    app.extensions.setdefault(_SPA_MOUNTS, []).append(prefix)


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        path = request.path
        mounts = current_app.extensions.get(_SPA_MOUNTS, ())
        mount = next((prefix for prefix in mounts if path.startswith(prefix)), None)
        defaults = [("Content-Security-Policy", content_security_policy(current_app, path)), *_EVERY_RESPONSE]
        if current_app.config["COVIDMETER_SECURE_COOKIES"]:
            defaults.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
        if path.startswith(_NO_STORE_PREFIXES) or mount is not None:
            defaults.append(("Cache-Control", "no-store"))
        # What a view set itself wins (setdefault), checked in one pass over the headers.
        present = {name.lower() for name in response.headers.keys()}
        response.headers.extend([(name, value) for name, value in defaults if name.lower() not in present])
        if mount is not None and response.mimetype == "text/html":
            response.set_cookie(CSRF_COOKIE, generate_csrf(), samesite="Strict", httponly=False,
                                secure=current_app.config["COVIDMETER_SECURE_COOKIES"], path=mount)
        return response
