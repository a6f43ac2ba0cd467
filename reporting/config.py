"""Configuration in one place.

Every setting comes from an environment variable with the ``COVIDMETER_`` prefix, read when an app is
created (never at import time). ``create_app(config)`` may override any key, which is how tests configure
the app. The embedded default is a development instance on SQLite in the instance folder; production mode
refuses to start without a real secret key and says why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PREFIX = "COVIDMETER_"


class ConfigurationError(RuntimeError):
    """The configuration cannot run safely; the message says what to change."""


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


# name -> (parser, default). A default of None means "not set".
SETTINGS: dict[str, tuple[Any, Any]] = {
    "ENV": (str, "development"),  # development | production
    "DATABASE_URL": (str, None),  # default: SQLite in the instance folder
    "SECRET_KEY": (str, None),
    "BASE_URL": (str, "http://127.0.0.1:5000"),
    "DEFAULT_LANGUAGE": (str, "da"),
    # Mail. With no SMTP host, mail waits in the outbox (shown on /dev/outbox in development).
    "SMTP_HOST": (str, None),
    "SMTP_PORT": (int, 25),
    "SMTP_USERNAME": (str, None),
    "SMTP_PASSWORD": (str, None),
    "SMTP_STARTTLS": (_bool, False),
    "SMTP_SSL": (_bool, False),
    "SMTP_TIMEOUT": (float, 10.0),
    "MAIL_FROM": (str, "COVIDmeter <noreply@covidmeter.local>"),
    "MAIL_MAX_ATTEMPTS": (int, 8),
    # Rate limits and caches move to Redis when this is set.
    "REDIS_URL": (str, None),
    "RATELIMIT_ENABLED": (_bool, True),
    "EXPORT_RATE_LIMIT": (str, "120/minute"),  # per API token, across the export endpoints
    "DASHBOARD_CACHE_SIZE": (int, 512),  # figures kept by each web process (unless Redis is configured)
    # Weekly reports from the citizen API that arrive together share one statement and commit (PostgreSQL;
    # reporting/reports/group_commit.py); at most this many per statement, 1 writes each on its own.
    "REPORT_BATCH_MAX": (int, 32),
    # Security.
    "LOGIN_TOKEN_MINUTES": (int, 15),
    "SESSION_HOURS": (int, 12),
    "SECURE_COOKIES": (_bool, None),  # default: on in production
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host/-Port (a TLS-terminating
    # load balancer: 1). 0 trusts none: the headers are ignored, so nobody can forge a client address.
    "TRUSTED_PROXIES": (int, 0),
    # Epidemiology and disclosure control.
    "SUPPRESS_BELOW": (int, 5),  # counts 1..SUPPRESS_BELOW-1 are suppressed
    "MIN_ACTIVE": (int, 100),  # estimates from fewer active participants are withheld
    "AGE_BAND_SCHEME": (str, "influenzanet"),
    "STANDARD_POPULATION": (str, "dk-2024"),  # standard_populations.name for age standardisation
    "PUBLIC_MIN_ACTIVE": (int, 200),  # open data: at least this many active participants ...
    "PUBLIC_MIN_CASES": (int, 10),  # ... and 0 or at least this many cases
    # Retention (days): raw reports (whole seasons past this age), unconfirmed accounts, spent or expired
    # login tokens and ended sessions, sent or failed mail.
    "RETENTION_REPORT_DAYS": (int, 730),
    "RETENTION_UNCONFIRMED_DAYS": (int, 30),
    "RETENTION_TOKEN_DAYS": (int, 7),
    "RETENTION_MAIL_DAYS": (int, 90),
    # The scheduler's clock (`covidmeter scheduler`; `covidmeter run` and `demo` run it in-process).
    "TIMEZONE": (str, "Europe/Copenhagen"),
    # Job claims (scheduler/claims.py): a running job refreshes its claim every HEARTBEAT seconds; a claim not
    # refreshed for LEASE seconds is re-run by the scheduler (checked at start and every TICK seconds); a period
    # is started at most MAX_ATTEMPTS times automatically; on SIGTERM a running job gets STOP_GRACE seconds to
    # finish before its claim is handed back (keep it below the platform's kill timeout).
    "JOB_LEASE_SECONDS": (float, 90.0),
    "JOB_HEARTBEAT_SECONDS": (float, 10.0),
    "JOB_MAX_ATTEMPTS": (int, 5),
    "SCHEDULER_TICK_SECONDS": (float, 30.0),
    "SCHEDULER_STOP_GRACE_SECONDS": (float, 25.0),
    # Citizen pages: advice rules after a report (default: reporting/advice/advice-1.json).
    "ADVICE_FILE": (str, None),
    # Development helpers (never on in production).
    "DEV_OUTBOX": (_bool, None),  # default: on in development
}


def load_config(instance_path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config dict from the environment and explicit overrides.

    Keys in ``overrides`` may be given with or without the prefix; both win over the environment.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    config: dict[str, Any] = {}
    for name, (parse, default) in SETTINGS.items():
        key = PREFIX + name
        if key in overrides:
            config[key] = overrides.pop(key)
        elif name in overrides:
            config[key] = overrides.pop(name)
        elif key in environ and environ[key] != "":
            try:
                config[key] = parse(environ[key])
            except ValueError as exc:
                raise ConfigurationError(f"{key}={environ[key]!r} is not a valid {parse.__name__}: {exc}") from exc
        else:
            config[key] = default
    config.update(overrides)  # anything else (TESTING, WTF_CSRF_ENABLED, ...) passes through

    env = config[PREFIX + "ENV"]
    if env not in {"development", "production"}:
        raise ConfigurationError(f"COVIDMETER_ENV must be 'development' or 'production', not {env!r}")
    production = env == "production"

    instance = Path(instance_path)
    if not config[PREFIX + "DATABASE_URL"]:
        instance.mkdir(parents=True, exist_ok=True)
        config[PREFIX + "DATABASE_URL"] = f"sqlite:///{instance / 'covidmeter.sqlite'}"

    secret = config[PREFIX + "SECRET_KEY"]
    if production:
        if not secret or len(secret) < 32 or secret.lower() in {"dev", "secret", "changeme", "change-me"}:
            raise ConfigurationError(
                "COVIDMETER_SECRET_KEY must be set to a random value of at least 32 characters in production "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))'). It signs sessions "
                "and CSRF tokens; a guessable key lets anyone forge them."
            )
        if config[PREFIX + "DATABASE_URL"].startswith("sqlite"):
            # Allowed, but worth saying: a single file is not the production shape.
            config.setdefault("COVIDMETER_WARNINGS", []).append(
                "production mode on SQLite: use PostgreSQL (COVIDMETER_DATABASE_URL=postgresql+psycopg://...)"
            )
    elif not secret:
        secret = _development_secret(instance)
    config["SECRET_KEY"] = secret

    if config[PREFIX + "SECURE_COOKIES"] is None:
        config[PREFIX + "SECURE_COOKIES"] = production
    if config[PREFIX + "TRUSTED_PROXIES"] < 0:
        raise ConfigurationError("COVIDMETER_TRUSTED_PROXIES must be 0 (no proxy) or the number of proxies in front")
    if production and not config[PREFIX + "BASE_URL"].startswith("https://"):
        config.setdefault("COVIDMETER_WARNINGS", []).append(
            "production mode with COVIDMETER_BASE_URL not on https://: login links would travel in the clear")
    if config[PREFIX + "BASE_URL"].startswith("https://"):
        config.setdefault("PREFERRED_URL_SCHEME", "https")
    if production:
        config[PREFIX + "DEV_OUTBOX"] = False
    elif config[PREFIX + "DEV_OUTBOX"] is None:
        config[PREFIX + "DEV_OUTBOX"] = True

    config.setdefault("SESSION_COOKIE_NAME", "covidmeter_session")
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    config.setdefault("SESSION_COOKIE_SECURE", config[PREFIX + "SECURE_COOKIES"])
    config.setdefault("MAX_CONTENT_LENGTH", 256 * 1024)
    config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session instead
    config.setdefault("BABEL_DEFAULT_LOCALE", config[PREFIX + "DEFAULT_LANGUAGE"])
    config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations"))
    config.setdefault("RATELIMIT_STORAGE_URI", config[PREFIX + "REDIS_URL"] or "memory://")
    config.setdefault("RATELIMIT_ENABLED", config[PREFIX + "RATELIMIT_ENABLED"])
    config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    return config


def _development_secret(instance: Path) -> str:
    """A random key kept in the instance folder, so development sessions survive restarts."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
