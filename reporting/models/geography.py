"""Danish regions and municipalities (reference data, loaded by a migration)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base


class Region(Base):
    __tablename__ = "regions"

    code: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # DAGI code, 1081..1085
    iso_code: Mapped[str] = mapped_column(String(8), unique=True)  # ISO 3166-2, DK-81..DK-85
    name: Mapped[str] = mapped_column(String(64))
    population: Mapped[int]  # 1 January 2024, Statistics Denmark FOLK1A

    municipalities: Mapped[list["Municipality"]] = relationship(back_populates="region", order_by="Municipality.name")


class Municipality(Base):
    __tablename__ = "municipalities"

    code: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # 3-digit code, 101 = København
    name: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[int] = mapped_column(ForeignKey("regions.code"), index=True)

    region: Mapped[Region] = relationship(back_populates="municipalities")
