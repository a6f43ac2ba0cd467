"""The Danish catalog is complete, holds reporting's strings only, and the committed .mo is the compiled .po."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

import reporting
from tests.catalogues import catalogue_ids, extracted_ids

CATALOG = Path(reporting.__file__).parent / "translations" / "da" / "LC_MESSAGES"


def _po():  # type: ignore[no-untyped-def]
    with (CATALOG / "messages.po").open("rb") as f:
        return read_po(f, locale="da")


def test_every_message_has_a_danish_translation() -> None:
    catalog = _po()
    assert len(catalog) > 100
    untranslated = [m.id for m in catalog if m.id and not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []


def test_the_catalog_holds_exactly_what_reporting_asks_for(tmp_path: Path) -> None:
    """Every string reporting's code and templates translate is in the catalog, and nothing else is: the
    dashboard's strings live in its own domain (dashboard/translations), not in the base package's."""
    wanted = extracted_ids("reporting/babel.cfg", ("_l", "lazy_gettext"), tmp_path)
    held = catalogue_ids(CATALOG / "messages.po")
    assert (sorted(wanted - held), sorted(held - wanted)) == ([], [])


def test_placeholders_survive_translation() -> None:
    import re

    placeholder = re.compile(r"%\((\w+)\)s")
    for message in _po():
        if message.id and isinstance(message.id, str):
            assert sorted(placeholder.findall(message.id)) == sorted(placeholder.findall(message.string)), message.id
        elif message.id:  # a plural: every form keeps the placeholders of the plural msgid
            for form in message.string:
                assert sorted(placeholder.findall(message.id[1])) == sorted(placeholder.findall(form)), message.id


def test_committed_mo_matches_the_po() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _po())
    compiled.seek(0)
    with (CATALOG / "messages.mo").open("rb") as f:
        committed = read_mo(f)
    fresh = read_mo(compiled)
    flat = lambda value: tuple(value) if isinstance(value, (list, tuple)) else value  # noqa: E731  (plurals)
    as_dict = lambda catalog: {flat(m.id): flat(m.string) for m in catalog if m.id}  # noqa: E731
    assert as_dict(committed) == as_dict(fresh)
