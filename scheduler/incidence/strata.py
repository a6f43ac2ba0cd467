"""The strata of the published tables: the geographies (the nation and its regions), the age bands of the
configured scheme and the sexes, with the 'all' margins; and the standard population that age-standardises
over the bands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from reporting.models import SEXES, AgeBand, Region, StandardPopulation


NATION = "DK"
ALL = "all"  # the margin in age_band and sex


@dataclass(frozen=True)
class Band:
    label: str
    min_age: int
    max_age: int


@dataclass(frozen=True)
class Strata:
    """The full grid of one week: geographies x age bands x sexes (margins included)."""

    regions: tuple[int, ...]
    bands: tuple[Band, ...]
    sexes: tuple[str, ...] = SEXES

    def geographies(self) -> list[tuple[str, str]]:
        return [("nation", NATION)] + [("region", str(code)) for code in self.regions]

    def band_labels(self) -> list[str]:
        return [band.label for band in self.bands] + [ALL]

    def sex_labels(self) -> list[str]:
        return list(self.sexes) + [ALL]


def load_strata(connection: Connection, scheme: str) -> Strata:
    regions = tuple(connection.scalars(select(Region.code).order_by(Region.code)))
    bands = tuple(Band(label, lo, hi) for label, lo, hi in connection.execute(
        select(AgeBand.label, AgeBand.min_age, AgeBand.max_age).where(AgeBand.scheme == scheme)
        .order_by(AgeBand.position)))
    if not bands:
        raise ValueError(f"no age bands for scheme {scheme!r} (COVIDMETER_AGE_BAND_SCHEME)")
    return Strata(regions, bands)


def load_weights(connection: Connection, name: str, scheme: str, bands: Sequence[Band]) -> list[float]:
    """The standard population of ``name`` for the age bands of ``scheme``, in the bands' order."""
    rows = dict(connection.execute(select(StandardPopulation.age_band, StandardPopulation.population).where(
        StandardPopulation.name == name, StandardPopulation.age_band_scheme == scheme)).all())
    missing = [band.label for band in bands if band.label not in rows]
    if missing:
        raise ValueError(f"standard population {name!r} has no figure for age band(s) {', '.join(missing)} of "
                         f"scheme {scheme!r} (COVIDMETER_STANDARD_POPULATION, table standard_populations)")
    return [float(rows[band.label]) for band in bands]
