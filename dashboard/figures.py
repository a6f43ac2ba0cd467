"""Plotly figures built from published estimates (pure functions: rows in, figure out).

Rates are shown per 1,000 active participants with their 95 % interval as a band. A withheld cell is a gap
in the line with a grey marker on the axis whose hover text gives the reason; on the map it is a grey
region with the reason. Nothing is computed here but the unit conversion.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from flask_babel import gettext as _

from reporting.models import IncidenceEstimate
from reporting.weeks import format_iso_week

from .queries import NATION_CODE, Geography

REGIONS_GEOJSON = Path(__file__).parent / "data" / "regions.geojson"
ATTRIBUTION = "Made with Natural Earth"
COLOURS = ("#1b1b1b", "#0b5394", "#b45f06", "#38761d", "#741b47", "#0097a7")
WITHHELD_GREY = "#bdbdbd"
NO_DATA_GREY = "#eeeeee"
SEQUENTIAL = "YlOrRd"


@lru_cache(maxsize=1)
def regions_geojson() -> dict[str, Any]:
    return json.loads(REGIONS_GEOJSON.read_text(encoding="utf-8"))


def reason_text(code: int) -> str:
    """The Delphi missing-value code in words, translated."""
    reasons = {
        1: _("not applicable"),
        2: _("region exception"),
        3: _("privacy: fewer than five cases"),
        4: _("deleted"),
        5: _("unknown"),
        6: _("too few active participants"),
    }
    return reasons.get(code, _("unknown"))


def geo_name(geography: Geography) -> str:
    return _("Denmark") if geography.code == NATION_CODE else geography.name


def _per_1000(value: float | None) -> float | None:
    return None if value is None else value * 1000


def _shown(e: IncidenceEstimate) -> bool:
    return e.missing_reason == 0 and e.incidence is not None


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


@dataclass(frozen=True)
class Series:
    geography: Geography
    estimates: Sequence[IncidenceEstimate]  # one per week, oldest first


def timeseries_figure(series: Sequence[Series], title: str, selected_week: dt.date | None) -> go.Figure:
    figure = go.Figure()
    for index, one in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        _add_series(figure, one, colour, band_alpha=0.18 if index == 0 else 0.10)
    if selected_week is not None:
        figure.add_vline(x=selected_week.isoformat(), line_width=1, line_dash="dot", line_color="#555")
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        xaxis={"title": {"text": _("Week (Monday)")}, "type": "date"},
        yaxis={"title": {"text": _("Incidence per 1,000 active participants")}, "rangemode": "tozero"},
        hovermode="closest",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 50, "b": 20},
        template="plotly_white",
    )
    if not any(one.estimates for one in series):
        figure.add_annotation(text=_("No published estimates for this selection."), showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
    return figure


def _add_series(figure: go.Figure, one: Series, colour: str, band_alpha: float) -> None:
    name = geo_name(one.geography)
    weeks = [e.week.isoformat() for e in one.estimates]
    rates = [_per_1000(e.incidence) if _shown(e) else None for e in one.estimates]

    band_x: list[str | None] = []
    band_y: list[float | None] = []
    for segment in _contiguous([e for e in one.estimates if _shown(e) and e.lower_95 is not None
                                and e.upper_95 is not None]):
        if band_x:
            band_x.append(None)
            band_y.append(None)
        band_x += [e.week.isoformat() for e in segment] + [e.week.isoformat() for e in reversed(segment)]
        band_y += [_per_1000(e.upper_95) for e in segment] + [_per_1000(e.lower_95) for e in reversed(segment)]
    if band_x:
        figure.add_trace(go.Scatter(
            x=band_x, y=band_y, fill="toself", fillcolor=_rgba(colour, band_alpha), line={"width": 0},
            mode="lines", hoverinfo="skip", showlegend=False, legendgroup=name, name=f"{name} 95 %"))

    customdata = [[format_iso_week(e.week), _fmt(e.lower_95), _fmt(e.upper_95), e.active, e.cases]
                  for e in one.estimates]
    figure.add_trace(go.Scatter(
        x=weeks, y=rates, mode="lines+markers", name=name, legendgroup=name, connectgaps=False,
        line={"color": colour, "width": 2}, marker={"size": 5}, customdata=customdata,
        hovertemplate=(f"<b>{name}</b> %{{customdata[0]}}<br>"
                       + _("%(rate)s per 1,000 (95 %% interval %(lower)s–%(upper)s)",
                           rate="%{y:.1f}", lower="%{customdata[1]}", upper="%{customdata[2]}")
                       + "<br>" + _("%(cases)s cases among %(active)s active participants",
                                    cases="%{customdata[4]}", active="%{customdata[3]}")
                       + "<extra></extra>")))

    withheld = [e for e in one.estimates if not _shown(e)]
    if withheld:
        figure.add_trace(go.Scatter(
            x=[e.week.isoformat() for e in withheld], y=[0] * len(withheld), mode="markers",
            name=_("%(name)s: withheld", name=name), legendgroup=name, showlegend=False,
            marker={"symbol": "x-thin-open", "size": 9, "color": colour, "line": {"width": 2}},
            hovertext=[f"{name} {format_iso_week(e.week)}: {_('withheld')} – {reason_text(e.missing_reason)}"
                       for e in withheld],
            hoverinfo="text"))


def _fmt(proportion: float | None) -> str:
    return "" if proportion is None else f"{proportion * 1000:.1f}"


def _contiguous(estimates: Sequence[IncidenceEstimate]) -> list[list[IncidenceEstimate]]:
    """Runs of consecutive weeks (a missing week or a withheld one breaks the band)."""
    segments: list[list[IncidenceEstimate]] = []
    for e in estimates:
        if segments and (e.week - segments[-1][-1].week).days == 7:
            segments[-1].append(e)
        else:
            segments.append([e])
    return segments


def map_figure(regions: Sequence[Geography], estimates: Mapping[str, IncidenceEstimate],
               week: dt.date | None, title: str) -> go.Figure:
    """A choropleth of the five regions for one week; withheld regions grey with the reason."""
    geojson = regions_geojson()
    shown = [g for g in regions if g.code in estimates and _shown(estimates[g.code])]
    grey = [g for g in regions if g not in shown]
    figure = go.Figure()
    if shown:
        figure.add_trace(go.Choropleth(
            geojson=geojson, featureidkey="properties.code", locations=[g.code for g in shown],
            z=[_per_1000(estimates[g.code].incidence) for g in shown], zmin=0,
            colorscale=SEQUENTIAL, marker={"line": {"color": "#ffffff", "width": 1}},
            colorbar={"title": {"text": _("per 1,000")}, "thickness": 14},
            text=[_map_hover(g, estimates[g.code]) for g in shown], hoverinfo="text", name=""))
    if grey:
        figure.add_trace(go.Choropleth(
            geojson=geojson, featureidkey="properties.code", locations=[g.code for g in grey],
            z=[1 if g.code in estimates else 0 for g in grey], zmin=0, zmax=1,
            colorscale=[[0, NO_DATA_GREY], [1, WITHHELD_GREY]], showscale=False,
            marker={"line": {"color": "#ffffff", "width": 1}},
            text=[_map_hover(g, estimates.get(g.code)) for g in grey], hoverinfo="text", name=""))
    figure.update_geos(fitbounds="locations", visible=False, projection_type="mercator",
                       scope="europe", resolution=50)
    notes = [ATTRIBUTION]
    if grey:
        notes.insert(0, _("Grey: withheld or no estimate (hover for the reason)."))
    figure.update_layout(
        title={"text": title if week else _("No week selected"), "x": 0, "xanchor": "left"},
        margin={"l": 0, "r": 0, "t": 50, "b": 30},
        annotations=[{"text": " · ".join(notes), "showarrow": False, "xref": "paper", "yref": "paper",
                      "x": 0, "y": -0.02, "xanchor": "left", "yanchor": "top", "font": {"size": 11}}],
    )
    return figure


def _map_hover(geography: Geography, e: IncidenceEstimate | None) -> str:
    name = geo_name(geography)
    if e is None:
        return f"{name}: {_('no estimate')}"
    if not _shown(e):
        return f"{name}: {_('withheld')} – {reason_text(e.missing_reason)}"
    return (f"{name}: " + _("%(rate)s per 1,000 (95 %% interval %(lower)s–%(upper)s)",
                            rate=_fmt(e.incidence), lower=_fmt(e.lower_95), upper=_fmt(e.upper_95))
            + "<br>" + _("%(cases)s cases among %(active)s active participants", cases=e.cases, active=e.active))
