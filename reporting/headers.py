"""Security headers on every response, and the CSRF cookie that Dash's renderer sends back.

The content security policy allows no inline script and no third-party origin on citizen pages. The
dashboard (Dash) registers the hashes of its own inline scripts through ``extra_script_hashes``.
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


def content_security_policy(app: Flask, path: str) -> str:
    policy = dict(CSP_BASE)
    for prefix, directives in app.extensions.get("covidmeter.csp_overrides", []):
        if path.startswith(prefix):
            for name, value in directives.items():
                policy[name] = f"{policy.get(name, '')} {value}".strip()
    return "; ".join(f"{k} {v}" for k, v in policy.items())


def add_csp_override(app: Flask, prefix: str, directives: dict[str, str]) -> None:
    app.extensions.setdefault("covidmeter.csp_overrides", []).append((prefix, directives))


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("Content-Security-Policy", content_security_policy(current_app, request.path))
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        # Only the origin, never the path: login links never leak, and Flask-WTF's HTTPS referrer check
        # (which compares origins) still passes. 'no-referrer' would make every HTTPS form POST fail.
        h.setdefault("Referrer-Policy", "strict-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if current_app.config["COVIDMETER_SECURE_COOKIES"]:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith(("/api/", "/me", "/report", "/staff", "/dashboard", "/login", "/signup",
                                "/week/", "/unsubscribe/", "/withdrawn")):
            h.setdefault("Cache-Control", "no-store")
        # Dash's renderer sends the cookie '_csrf_token' back as the X-CSRFToken header on callbacks.
        if request.path.startswith("/dashboard/") and response.mimetype == "text/html":
            response.set_cookie("_csrf_token", generate_csrf(), samesite="Strict", httponly=False,
                                secure=current_app.config["COVIDMETER_SECURE_COOKIES"], path="/dashboard/")
        return response
