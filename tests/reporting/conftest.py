"""Reporting's tests build reporting alone (``reporting.create_app``), so reporting builds and passes its own
tests without the scheduler and the dashboard mounted. A module whose tests go through the whole service
overrides ``app`` with ``service`` (tests/conftest.py) and says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

import reporting
from tests.conftest import serve


@pytest.fixture
def app(config: dict[str, object], database_url: str) -> Iterator[Flask]:
    yield from serve(reporting.create_app(config), database_url)
