"""Cells that no spreadsheet will run as a formula (CSV injection, OWASP): the one guard for every CSV the
service writes (the citizen's own export here, the authorities' export in ``dashboard.export``).

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe,
unless it is a number: a number is data a spreadsheet reads as a number (``-2``, ``-0.5``, ``1e-3``), never a
formula, and quoting it would turn it into text for every numeric reader (R, pandas, Excel's sums)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> str:
    """``value`` as the text of a CSV cell: None is empty, numbers as they are, formula-like text quoted."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
