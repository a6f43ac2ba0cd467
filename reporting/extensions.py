"""Flask extensions, created once here and bound to an app with ``init_app`` in the factory."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from .db import Database

db = Database()
babel = Babel()
csrf = CSRFProtect()
limiter = Limiter(get_remote_address, headers_enabled=True)
