"""The spreadsheet-safe CSV writer."""

from __future__ import annotations

import csv
import io

import pytest

from dashboard.export import neutralise, write_csv


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"), ("\tcmd", "'\tcmd"), ("\r=1", "'\r=1"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"), ("+1+1", "'+1+1"), ("-1-", "'-1-"), ("-", "'-"),
    ("Region Sjælland", "Region Sjælland"), ("a=b", "a=b"), ("", ""), (None, ""),
    # Numbers stay numbers for numeric readers (issue 14: a lag of -2 was written as the text '-2).
    (12.5, "12.5"), (0, "0"), (-3, "-3"), (-0.5, "-0.5"), ("-2", "-2"), ("+1", "+1"), ("-0.5", "-0.5"),
    ("-1e-3", "-1e-3"), ("-.5", "-.5"), (True, "True"),
])
def test_neutralise(value: object, expected: str) -> None:
    assert neutralise(value) == expected


def test_write_csv_round_trips_and_quotes() -> None:
    rows = [{"a": "x,y", "b": 'say "hi"', "c": None}, {"a": "=cmd|' /C calc'!A0", "b": "æøå", "c": 3}]
    text = write_csv(rows, ("a", "b", "c"))
    assert text.splitlines()[0] == "a,b,c"
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [["a", "b", "c"], ["x,y", 'say "hi"', ""], ["'=cmd|' /C calc'!A0", "æøå", "3"]]
    assert text.encode("utf-8").decode("utf-8") == text


def test_header_cells_are_neutralised_too() -> None:
    assert write_csv([], ("=a", "b")).splitlines() == ["'=a,b"]
