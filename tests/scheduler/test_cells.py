"""A published cell's fields are declared once (scheduler.incidence.cells: ``CellKey`` and ``PublishedValues``);
every other declaration of them is held to that one here, so none can drift (issue 13, item 4)."""

from __future__ import annotations

from dataclasses import fields

from dashboard.queries import Estimate
from reporting.models import IncidenceEstimate
from scheduler.incidence.cells import KEY_FIELDS, VALUE_FIELDS, PublishedValues
from scheduler.incidence.counting import CellCount

# What a row of incidence_estimates carries beside the cell: its id and its issue (the revision record).
RECORD_FIELDS = ("id", "issue", "final", "computed_at")


def test_the_estimates_table_records_every_field_of_a_cell() -> None:
    """The model is the database's record: a column per key and value field, and nothing else but the issue's."""
    columns = [column.name for column in IncidenceEstimate.__table__.columns]
    assert set(columns) == {*KEY_FIELDS, *VALUE_FIELDS, *RECORD_FIELDS}
    assert len(columns) == len(KEY_FIELDS) + len(VALUE_FIELDS) + len(RECORD_FIELDS)


def test_a_withheld_value_is_null_in_the_table_and_none_in_the_values() -> None:
    table = IncidenceEstimate.__table__
    assert not any(table.c[name].nullable for name in KEY_FIELDS)
    assert {f.name: table.c[f.name].nullable for f in fields(PublishedValues)} == {
        f.name: "None" in str(f.type) for f in fields(PublishedValues)}


def test_the_dashboard_reads_a_cell_with_its_issue() -> None:
    names = [f.name for f in fields(Estimate)]
    assert names[:len(KEY_FIELDS)] == list(KEY_FIELDS)
    assert sorted(names[len(KEY_FIELDS):]) == sorted((*VALUE_FIELDS, "issue"))


def test_a_count_is_a_cell_of_one_week_and_method() -> None:
    """``CellCount``: the key without the week and the method (one week and method are counted at a time), and
    the two counts."""
    names = [f.name for f in fields(CellCount)]
    assert names == [name for name in KEY_FIELDS if name not in ("week", "method")] + ["active", "cases"]
