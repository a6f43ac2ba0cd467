"""The dashboard's own Danish catalogue (domain "dashboard") is complete and its .mo is the compiled .po."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

import dashboard

CATALOG = Path(dashboard.__file__).parent / "translations" / "da" / "LC_MESSAGES"


def _po():  # type: ignore[no-untyped-def]
    with (CATALOG / "dashboard.po").open("rb") as f:
        return read_po(f, locale="da")


def test_every_dashboard_message_is_translated_with_its_placeholders(tmp_path: Path) -> None:
    root = Path(dashboard.__file__).parent.parent
    pot = tmp_path / "dashboard.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "dashboard/babel.cfg",
                    "-k", "_", "-k", "lazy_gettext", "-o", str(pot), "."], cwd=root, check=True,
                   capture_output=True)
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    catalog = _po()
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    assert sorted(wanted - set(translated)) == []
    placeholder = re.compile(r"%\((\w+)\)s")
    for key, value in translated.items():
        assert sorted(placeholder.findall(key)) == sorted(placeholder.findall(value)), key


def test_committed_mo_matches_the_po() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _po())
    compiled.seek(0)
    with (CATALOG / "dashboard.mo").open("rb") as f:
        committed = {m.id: m.string for m in read_mo(f) if m.id}
    assert committed == {m.id: m.string for m in read_mo(compiled) if m.id}
