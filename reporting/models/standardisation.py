"""The standard population for direct age standardisation (issue 4): counts by age band, replaceable data.

Each row is one age band of one named standard population (``COVIDMETER_STANDARD_POPULATION`` picks the name)
for one age-band scheme (``age_bands.scheme``), with the source of the figure. Replacing the figures (or adding
another population) is a data change by migration, never new code.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class StandardPopulation(Base):
    __tablename__ = "standard_populations"
    __table_args__ = (
        UniqueConstraint("name", "age_band_scheme", "age_band"),
        CheckConstraint("population >= 0", name="population"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32))  # e.g. 'dk-2024'
    age_band_scheme: Mapped[str] = mapped_column(String(32))  # age_bands.scheme
    age_band: Mapped[str] = mapped_column(String(16))  # age_bands.label
    population: Mapped[int]
    source: Mapped[str] = mapped_column(Text)
