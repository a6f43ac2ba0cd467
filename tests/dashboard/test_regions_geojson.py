"""The committed region boundaries and the base map Plotly loads."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask

from dashboard import queries
from dashboard.figures import regions_geojson

ASSETS = Path(__file__).parents[2] / "dashboard" / "assets"


def _signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:]))


def test_five_regions_keyed_by_code_matching_the_database(app: Flask) -> None:
    geojson = regions_geojson()
    assert geojson["attribution"] == "Made with Natural Earth"
    with app.app_context():
        expected = {g.code: (g.iso_code, g.name) for g in queries.geographies() if g.geo_type == "region"}
    found = {f["properties"]["code"]: (f["properties"]["iso_code"], f["properties"]["name"])
             for f in geojson["features"]}
    assert found == expected  # 'Sjaælland' from Natural Earth is Region Sjælland here
    points = 0
    for feature in geojson["features"]:
        for polygon in feature["geometry"]["coordinates"]:
            exterior = polygon[0]
            assert exterior[0] == exterior[-1]
            assert _signed_area(exterior) < 0  # clockwise, as d3-geo wants exterior rings
            for ring in polygon:
                points += len(ring)
                for lon, lat in ring:
                    assert 7.5 < lon < 15.5 and 54.4 < lat < 57.9
    assert 1500 < points < 4000


def test_topojson_base_map_is_a_topology() -> None:
    topology = json.loads((ASSETS / "europe_50m.json").read_text())
    assert topology["type"] == "Topology"
    assert {"land", "countries", "coastlines", "ocean", "lakes", "rivers", "subunits"} <= set(topology["objects"])
    assert len(topology["objects"]["land"]["geometries"]) == 5
