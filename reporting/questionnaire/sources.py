"""Option sources named by ``"options_from"`` in a definition, read from the database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Region
from .definition import OPTION_SOURCES, Option, OptionGroup

# Danish alphabetical order: æ, ø, å come after z, and "aa" sorts as "å" (Aabenraa, Aalborg, Aarhus).
_DANISH = str.maketrans({"æ": "{", "ø": "|", "å": "}", "é": "e", "ü": "y"})


def danish_sort_key(name: str) -> str:
    return name.lower().replace("aa", "å").translate(_DANISH)


def municipalities() -> tuple[OptionGroup, ...]:
    """The 98 municipalities, grouped by region (regions and municipalities in Danish order)."""
    regions = db.session.scalars(select(Region).options(selectinload(Region.municipalities))).all()
    groups = []
    for region in sorted(regions, key=lambda r: danish_sort_key(r.name)):
        label = {"da": region.name, "en": region.name}
        options = tuple(Option(value=m.code, label={"da": m.name, "en": m.name})
                        for m in sorted(region.municipalities, key=lambda m: danish_sort_key(m.name)))
        groups.append(OptionGroup(label, options))
    return tuple(groups)


OPTION_SOURCES["municipalities"] = municipalities
