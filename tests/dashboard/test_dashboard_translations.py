"""The dashboard's own Danish catalogue (domain "dashboard") is complete and its .mo is the compiled .po."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

import dashboard
from tests.catalogues import catalogue_ids, extracted_ids

CATALOG = Path(dashboard.__file__).parent / "translations" / "da" / "LC_MESSAGES"


def _po():  # type: ignore[no-untyped-def]
    with (CATALOG / "dashboard.po").open("rb") as f:
        return read_po(f, locale="da")


def test_every_dashboard_message_is_translated_with_its_placeholders(tmp_path: Path) -> None:
    wanted = extracted_ids("dashboard/babel.cfg", ("_", "lazy_gettext"), tmp_path)
    catalog = _po()
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    assert sorted(wanted - set(translated)) == []
    placeholder = re.compile(r"%\((\w+)\)s")
    for key, value in translated.items():
        assert sorted(placeholder.findall(key)) == sorted(placeholder.findall(value)), key


def test_the_catalog_holds_only_what_the_dashboard_asks_for(tmp_path: Path) -> None:
    wanted = extracted_ids("dashboard/babel.cfg", ("_", "lazy_gettext"), tmp_path)
    assert sorted(catalogue_ids(CATALOG / "dashboard.po") - wanted) == []


def test_committed_mo_matches_the_po() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _po())
    compiled.seek(0)
    with (CATALOG / "dashboard.mo").open("rb") as f:
        committed = {m.id: m.string for m in read_mo(f) if m.id}
    assert committed == {m.id: m.string for m in read_mo(compiled) if m.id}


def test_the_api_page_speaks_danish_from_the_dashboards_own_catalog(client: object) -> None:
    page = client.get("/api/v1/docs?lang=da").get_data(as_text=True)  # type: ignore[attr-defined]
    assert "Maskinlæsbar beskrivelse:" in page and "Forespørgselsparametre" in page


def test_the_api_page_says_what_each_endpoint_is_and_which_need_a_token(client: object) -> None:
    """Each endpoint's row carries its summary and whether it needs a token (a Jinja ``item.get`` is the
    dict's method, not the operation: the table once showed empty summaries and 'no' everywhere)."""
    document = client.get("/api/v1/openapi.json").get_json()  # type: ignore[attr-defined]
    page = html.unescape(client.get("/api/v1/docs?lang=en").get_data(as_text=True))  # type: ignore[attr-defined]
    rows = re.findall(r"<tr>\s*<td><code>GET (\S+)</code></td>\s*<td>(.*?)</td>\s*<td>(\w+)</td>", page)
    assert {path for path, _, _ in rows} == set(document["paths"])
    for path, summary, needs_token in rows:
        operation = document["paths"][path]["get"]
        assert summary == operation["summary"] and summary
        assert needs_token == ("yes" if operation.get("security") else "no")
        assert (needs_token == "no") == path.startswith("/api/v1/open/")
    assert document["paths"]["/api/v1/incidence.csv"]["get"]["description"] in page
