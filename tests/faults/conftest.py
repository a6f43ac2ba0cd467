"""Fault injection: tests that cause the fault for real (a private PostgreSQL cluster stopped under load, a
process killed with SIGKILL, an SMTP server that stalls or refuses) and then check what users and data saw.

They are marked ``faults`` and run in the normal suite. Those on a private PostgreSQL cluster run in the
PostgreSQL pass (COVIDMETER_TEST_DATABASE_URL set to PostgreSQL), once, not again in the SQLite pass; the others
run on both engines. Without root or Debian's postgresql-common the cluster tests skip, unless
``COVIDMETER_REQUIRE_FAULTS=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from . import pgcluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def cluster() -> Iterator[pgcluster.PrivateCluster]:
    """A private, migrated PostgreSQL cluster of this test's own, dropped afterwards."""
    pgcluster.skip_unless_possible()
    from reporting.migrate import upgrade

    with pgcluster.private_cluster(f"faults_{uuid.uuid4().hex[:8]}") as made:
        upgrade(made.url)
        yield made
