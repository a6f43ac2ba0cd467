"""Plotly figures built from published estimates (pure functions: rows in, figure out).

Rates are shown per 1,000 active participants with their 95 % interval as a band (crude: exact Poisson;
age-standardised: Fay-Feuer), as the scheduler wrote them. A withheld cell is a gap in the line with a
marker on the axis whose hover text gives the reason; on the map it is a grey region with the reason; in
the breakdown a marker at zero. Every point's hover gives the value, the interval and the active
participants. Nothing is computed here but the unit conversion.
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

from reporting.weeks import format_iso_week

from .i18n import _
from .queries import NATION_CODE, Estimate, Geography, Participation

REGIONS_GEOJSON = Path(__file__).parent / "data" / "regions.geojson"
ATTRIBUTION = "Made with Natural Earth"
COLOURS = ("#1b1b1b", "#0b5394", "#b45f06", "#38761d", "#741b47", "#0097a7")
SEX_COLOURS = {"all": "#1b1b1b", "female": "#741b47", "male": "#0b5394", "other": "#38761d"}
WITHHELD_GREY = "#bdbdbd"
NO_DATA_GREY = "#eeeeee"
SEQUENTIAL = "YlOrRd"
CRUDE = "crude"
STANDARDISED = "standardised"
MEASURES = (CRUDE, STANDARDISED)


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


def measure_label(measure: str) -> str:
    return _("age-standardised") if measure == STANDARDISED else _("crude")


def sex_label(sex: str) -> str:
    return {"all": _("both sexes"), "female": _("women"), "male": _("men"), "other": _("other")}.get(sex, sex)


def geo_name(geography: Geography) -> str:
    return _("Denmark") if geography.code == NATION_CODE else geography.name


def _per_1000(value: float | None) -> float | None:
    return None if value is None else value * 1000


def _figures(e: Estimate, measure: str) -> tuple[float | None, float | None, float | None]:
    """(value, lower, upper) as proportions for the measure; the upper bound is dropped when censored."""
    if measure == STANDARDISED:
        value, lower, upper = e.standardised_incidence, e.standardised_lower_95, e.standardised_upper_95
    else:
        value, lower, upper = e.incidence, e.lower_95, e.upper_95
    return value, lower, None if e.upper_censored else upper


def withheld_reason(e: Estimate, measure: str = CRUDE) -> str | None:
    """Why a cell is not shown, or None when it is."""
    if e.missing_reason != 0:
        return reason_text(e.missing_reason)
    if e.display_censored:
        return _("too few active participants for this season (display censoring)")
    if _figures(e, measure)[0] is None:
        return _("no age-standardised estimate") if measure == STANDARDISED else reason_text(5)
    return None


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _fmt(proportion: float | None) -> str:
    return "–" if proportion is None else f"{proportion * 1000:.1f}"


def _fmt_int(value: int | None) -> str:
    return "–" if value is None else f"{value:,}".replace(",", "\u202f")


def hover_line(e: Estimate, measure: str) -> str:
    value, lower, upper = _figures(e, measure)
    text = _("%(rate)s per 1,000 (95 %% interval %(lower)s–%(upper)s)", rate=_fmt(value), lower=_fmt(lower),
             upper=_fmt(upper))
    if e.upper_censored:
        text += " " + _("(upper bound censored)")
    return text + "<br>" + _("%(cases)s cases among %(active)s active participants", cases=_fmt_int(e.cases),
                             active=_fmt_int(e.active))


@dataclass(frozen=True)
class Series:
    geography: Geography
    estimates: Sequence[Estimate]  # one per week, oldest first


def timeseries_figure(series: Sequence[Series], title: str, selected_week: dt.date | None,
                      measure: str = CRUDE) -> go.Figure:
    figure = go.Figure()
    for index, one in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        _add_series(figure, one, colour, 0.18 if index == 0 else 0.10, measure)
    if selected_week is not None:
        figure.add_vline(x=selected_week.isoformat(), line_width=1, line_dash="dot", line_color="#555")
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        xaxis={"title": {"text": _("Week (Monday)")}, "type": "date"},
        yaxis={"title": {"text": _("Incidence per 1,000 active participants")}, "rangemode": "tozero"},
        hovermode="closest", legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 50, "b": 20}, template="plotly_white",
    )
    if not any(one.estimates for one in series):
        figure.add_annotation(text=_("No published estimates for this selection."), showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
    return figure


def _add_series(figure: go.Figure, one: Series, colour: str, band_alpha: float, measure: str) -> None:
    name = geo_name(one.geography)
    shown = [e for e in one.estimates if withheld_reason(e, measure) is None]
    band_x: list[str | None] = []
    band_y: list[float | None] = []
    for segment in _contiguous([e for e in shown if _figures(e, measure)[1] is not None]):
        if band_x:
            band_x.append(None)
            band_y.append(None)
        tops = [_figures(e, measure)[2] if _figures(e, measure)[2] is not None else _figures(e, measure)[0]
                for e in segment]
        band_x += [e.week.isoformat() for e in segment] + [e.week.isoformat() for e in reversed(segment)]
        band_y += [_per_1000(t) for t in tops] + [_per_1000(_figures(e, measure)[1]) for e in reversed(segment)]
    if band_x:
        figure.add_trace(go.Scatter(
            x=band_x, y=band_y, fill="toself", fillcolor=_rgba(colour, band_alpha), line={"width": 0},
            mode="lines", hoverinfo="skip", showlegend=False, legendgroup=name, name=f"{name} 95 %"))

    shown_ids = {id(e) for e in shown}
    figure.add_trace(go.Scatter(
        x=[e.week.isoformat() for e in one.estimates],
        y=[_per_1000(_figures(e, measure)[0]) if id(e) in shown_ids else None for e in one.estimates],
        mode="lines+markers", name=name, legendgroup=name, connectgaps=False,
        line={"color": colour, "width": 2}, marker={"size": 5},
        hovertext=[f"<b>{name}</b> {format_iso_week(e.week)} ({measure_label(measure)})<br>{hover_line(e, measure)}"
                   for e in one.estimates],
        hoverinfo="text"))

    withheld = [e for e in one.estimates if id(e) not in shown_ids]
    if withheld:
        figure.add_trace(go.Scatter(
            x=[e.week.isoformat() for e in withheld], y=[0] * len(withheld), mode="markers",
            name=_("%(name)s: withheld", name=name), legendgroup=name, showlegend=False,
            marker={"symbol": "x-thin-open", "size": 9, "color": colour, "line": {"width": 2}},
            hovertext=[f"{name} {format_iso_week(e.week)}: {_('withheld')} – {withheld_reason(e, measure)}"
                       f"<br>{_('%(active)s active participants', active=_fmt_int(e.active))}"
                       for e in withheld],
            hoverinfo="text"))


def _contiguous(estimates: Sequence[Estimate]) -> list[list[Estimate]]:
    """Runs of consecutive weeks (a missing week or a withheld one breaks the band)."""
    segments: list[list[Estimate]] = []
    for e in estimates:
        if segments and (e.week - segments[-1][-1].week).days == 7:
            segments[-1].append(e)
        else:
            segments.append([e])
    return segments


def map_figure(regions: Sequence[Geography], estimates: Mapping[str, Estimate], week: dt.date | None,
               title: str, measure: str = CRUDE) -> go.Figure:
    """A choropleth of the five regions for one week; withheld regions grey with the reason."""
    geojson = regions_geojson()
    shown = [g for g in regions if g.code in estimates and withheld_reason(estimates[g.code], measure) is None]
    grey = [g for g in regions if g not in shown]
    figure = go.Figure()
    if shown:
        figure.add_trace(go.Choropleth(
            geojson=geojson, featureidkey="properties.code", locations=[g.code for g in shown],
            z=[_per_1000(_figures(estimates[g.code], measure)[0]) for g in shown], zmin=0,
            colorscale=SEQUENTIAL, marker={"line": {"color": "#ffffff", "width": 1}},
            colorbar={"title": {"text": _("per 1,000")}, "thickness": 14},
            text=[_map_hover(g, estimates[g.code], measure) for g in shown], hoverinfo="text", name=""))
    if grey:
        figure.add_trace(go.Choropleth(
            geojson=geojson, featureidkey="properties.code", locations=[g.code for g in grey],
            z=[1 if g.code in estimates else 0 for g in grey], zmin=0, zmax=1,
            colorscale=[[0, NO_DATA_GREY], [1, WITHHELD_GREY]], showscale=False,
            marker={"line": {"color": "#ffffff", "width": 1}},
            text=[_map_hover(g, estimates.get(g.code), measure) for g in grey], hoverinfo="text", name=""))
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


def _map_hover(geography: Geography, e: Estimate | None, measure: str) -> str:
    name = geo_name(geography)
    if e is None:
        return f"{name}: {_('no estimate')}"
    reason = withheld_reason(e, measure)
    if reason is not None:
        return (f"{name}: {_('withheld')} – {reason}<br>"
                + _("%(active)s active participants", active=_fmt_int(e.active)))
    return f"{name}: " + hover_line(e, measure)


def breakdown_figure(estimates: Sequence[Estimate], bands: Sequence[str], title: str) -> go.Figure:
    """Crude incidence by age band (x) and sex (one bar colour each) for one geography and week."""
    figure = go.Figure()
    order = ["all", *bands]
    by_sex: dict[str, dict[str, Estimate]] = {}
    for e in estimates:
        by_sex.setdefault(e.sex, {})[e.age_band] = e
    for sex in [s for s in ("all", "female", "male", "other") if s in by_sex]:
        cells = by_sex[sex]
        present = [b for b in order if b in cells]
        shown = [b for b in present if withheld_reason(cells[b]) is None]
        colour = SEX_COLOURS.get(sex, "#555555")
        labels = [_age_label(b) for b in shown]
        figure.add_trace(go.Bar(
            x=labels, y=[_per_1000(cells[b].incidence) for b in shown], name=sex_label(sex),
            marker={"color": colour}, offsetgroup=sex, legendgroup=sex,
            error_y={"type": "data", "symmetric": False,
                     "array": [_per_1000((cells[b].upper_95 or cells[b].incidence or 0) - (cells[b].incidence or 0))
                               for b in shown],
                     "arrayminus": [_per_1000((cells[b].incidence or 0) - (cells[b].lower_95 or 0)) for b in shown],
                     "color": "#333333"},
            hovertext=[f"<b>{sex_label(sex)}, {_age_label(b)}</b><br>{hover_line(cells[b], CRUDE)}" for b in shown],
            hoverinfo="text"))
        withheld = [b for b in present if b not in shown]
        if withheld:
            figure.add_trace(go.Scatter(
                x=[_age_label(b) for b in withheld], y=[0] * len(withheld), mode="markers",
                name=_("%(name)s: withheld", name=sex_label(sex)), legendgroup=sex, showlegend=False,
                marker={"symbol": "x-thin-open", "size": 10, "color": colour, "line": {"width": 2}},
                hovertext=[f"{sex_label(sex)}, {_age_label(b)}: {_('withheld')} – {withheld_reason(cells[b])}"
                           f"<br>{_('%(active)s active participants', active=_fmt_int(cells[b].active))}"
                           for b in withheld], hoverinfo="text"))
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"}, barmode="group", template="plotly_white",
        xaxis={"title": {"text": _("Age band")}, "categoryorder": "array",
               "categoryarray": [_age_label(b) for b in order]},
        yaxis={"title": {"text": _("Incidence per 1,000 active participants")}, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.25}, margin={"l": 60, "r": 20, "t": 50, "b": 20})
    if not estimates:
        figure.add_annotation(text=_("No published estimates for this selection."), showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
    return figure


def _age_label(band: str) -> str:
    return _("all ages") if band == "all" else band


def participation_figure(rows: Sequence[Participation], title: str) -> go.Figure:
    """Active participants (line), new sign-ups (bars) and the response rate (dotted, right axis)."""
    figure = go.Figure()
    weeks = [r.week.isoformat() for r in rows]

    def hover(r: Participation) -> str:
        head = f"<b>{format_iso_week(r.week)}</b><br>"
        if r.missing_reason != 0:
            return head + f"{_('withheld')} – {reason_text(r.missing_reason)}"
        rate = "–" if r.response_rate is None else f"{r.response_rate * 100:.1f} %"
        return head + "<br>".join([
            _("%(active)s active participants", active=_fmt_int(r.active)),
            _("%(new)s new sign-ups", new=_fmt_int(r.new_profiles)),
            _("%(registered)s registered", registered=_fmt_int(r.registered)),
            _("response rate %(rate)s", rate=rate)])

    texts = [hover(r) for r in rows]
    figure.add_trace(go.Bar(x=weeks, y=[r.new_profiles for r in rows], name=_("New sign-ups"),
                            marker={"color": "#9fc5e8"}, hovertext=texts, hoverinfo="text"))
    figure.add_trace(go.Scatter(x=weeks, y=[r.active for r in rows], name=_("Active participants"),
                                mode="lines+markers", line={"color": "#0b5394", "width": 2}, hovertext=texts,
                                hoverinfo="text", connectgaps=False))
    figure.add_trace(go.Scatter(x=weeks, y=[None if r.response_rate is None else r.response_rate * 100 for r in rows],
                                name=_("Response rate (%)"), yaxis="y2", mode="lines",
                                line={"color": "#b45f06", "dash": "dot", "width": 2}, hovertext=texts,
                                hoverinfo="text", connectgaps=False))
    withheld = [r for r in rows if r.missing_reason != 0]
    if withheld:
        figure.add_trace(go.Scatter(
            x=[r.week.isoformat() for r in withheld], y=[0] * len(withheld), mode="markers", showlegend=False,
            name=_("withheld"), marker={"symbol": "x-thin-open", "size": 9, "color": "#555", "line": {"width": 2}},
            hovertext=[hover(r) for r in withheld], hoverinfo="text"))
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"}, template="plotly_white", hovermode="closest",
        xaxis={"title": {"text": _("Week (Monday)")}, "type": "date"},
        yaxis={"title": {"text": _("Participants")}, "rangemode": "tozero"},
        yaxis2={"title": {"text": _("Response rate (%)")}, "overlaying": "y", "side": "right",
                "rangemode": "tozero", "showgrid": False},
        legend={"orientation": "h", "y": -0.2}, margin={"l": 60, "r": 60, "t": 50, "b": 20})
    if not rows:
        figure.add_annotation(text=_("No participation figures for this selection."), showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
    return figure
