"""Plotly figures built from published estimates (pure functions: rows in, figure out).

Rates are shown per 1,000 active participants with their 95 % interval as a band (crude: exact Poisson;
age-standardised: Fay-Feuer), as the scheduler wrote them. A withheld cell is a gap in the line with a
marker on the axis whose hover text gives the reason; on the map it is a grey region with the reason; in
the breakdown a marker at zero. Every point's hover gives the value, the interval and the active
participants. Nothing is computed here but the unit conversion.

Figures are plain dicts in Plotly's JSON form, exactly what ``go.Figure(...).to_plotly_json()`` would give
for the same properties, written directly: ``plotly.graph_objects`` validates and deep-copies every
property as it is set, which cost 70 ms for an empty figure with a template and 100-300 ms for the trend,
the largest part of a view change. ``tests/dashboard/test_figures.py`` passes every figure through Plotly's
validation to keep them honest. The region boundaries are not inlined in the map: its traces name the
GeoJSON by URL (``geojson_url``), which Plotly fetches once per page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import plotly.colors
import plotly.io as pio

from reporting.weeks import format_iso_week

from .i18n import _
from .queries import NATION_CODE, Estimate, Geography, Participation, is_provisional

Figure = dict[str, Any]

REGIONS_GEOJSON = Path(__file__).parent / "assets" / "regions.geojson"
ATTRIBUTION = "Made with Natural Earth"
COLOURS = ("#1b1b1b", "#0b5394", "#b45f06", "#38761d", "#741b47", "#0097a7")
SEX_COLOURS = {"all": "#1b1b1b", "female": "#741b47", "male": "#0b5394", "other": "#38761d"}
WITHHELD_GREY = "#bdbdbd"
NO_DATA_GREY = "#eeeeee"
SEQUENTIAL = "YlOrRd"
TEMPLATE = "plotly_white"  # the map keeps Plotly's default template, as before
CRUDE = "crude"
STANDARDISED = "standardised"
MEASURES = (CRUDE, STANDARDISED)


@lru_cache(maxsize=1)
def regions_geojson() -> dict[str, Any]:
    return json.loads(REGIONS_GEOJSON.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def regions_geojson_version() -> str:
    """A short digest of the region file, so the URL changes when the file does."""
    return hashlib.sha256(REGIONS_GEOJSON.read_bytes()).hexdigest()[:12]


@lru_cache(maxsize=None)
def _template(name: str | None) -> dict[str, Any]:
    """A Plotly template as JSON (read from plotly once per process; shared, never modified).
    ``None`` is Plotly's default template, which a figure without one gets."""
    return pio.templates[name if name is not None else pio.templates.default].to_plotly_json()


@lru_cache(maxsize=None)
def _named_colorscale(name: str) -> tuple[tuple[float, str], ...]:
    return tuple((position, colour) for position, colour in plotly.colors.get_colorscale(name))


def _colorscale(name: str) -> list[list[Any]]:
    """A named colour scale as Plotly's Python side expands it (plotly.js has some of them reversed)."""
    return [[position, colour] for position, colour in _named_colorscale(name)]


def _figure(data: list[dict[str, Any]], layout: dict[str, Any], template: str | None) -> Figure:
    return {"data": data, "layout": {**layout, "template": _template(template)}}


def _scatter(**properties: Any) -> dict[str, Any]:
    return {**properties, "type": "scatter"}


def _withheld_marks(name: str, colour: str, size: int, x: list[str], withheld: list[tuple[str, str, Any]],
                    legendgroup: str | None = None) -> dict[str, Any]:
    """Crosses at zero for withheld values, each explaining itself on hover: ``withheld`` holds (what, reason,
    active participants) per cross."""
    return _scatter(
        hoverinfo="text",
        hovertext=[f"{what}: {_('withheld')} – {reason}"
                   f"<br>{_('%(active)s active participants', active=_fmt_int(active))}"
                   for what, reason, active in withheld],
        legendgroup=legendgroup or name,
        marker={"color": colour, "line": {"width": 2}, "size": size, "symbol": "x-thin-open"},
        mode="markers", name=_("%(name)s: withheld", name=name), showlegend=False, x=x, y=[0] * len(x))


def _two_line_title(title: str) -> dict[str, Any]:
    """A long title broken after its first colon: on a phone (360 px) one line ran off the figure."""
    return {"text": title.replace(": ", ":<br>", 1), "x": 0, "xanchor": "left"}


def _no_data(text: str) -> dict[str, Any]:
    return {"showarrow": False, "text": text, "x": 0.5, "xref": "paper", "y": 0.5, "yref": "paper"}


def reason_text(code: int) -> str:
    """The Delphi missing-value code in words, translated."""
    if code == 1:
        return _("not applicable")
    if code == 2:
        return _("region exception")
    if code == 3:
        return _("privacy: fewer than five cases")
    if code == 4:
        return _("deleted")
    if code == 6:
        return _("too few active participants")
    if code == 7:
        return _("not published at this level of detail")
    return _("unknown")  # 5, and any code we do not know


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


def status_text(e: Estimate) -> str:
    """Whether a cell is final, in words (never by colour or line style alone)."""
    if is_provisional(e):
        return _("provisional: reports may still arrive (issue %(issue)s)", issue=e.issue.isoformat())
    return _("final (issue %(issue)s)", issue=e.issue.isoformat())


def hover_line(e: Estimate, measure: str) -> str:
    value, lower, upper = _figures(e, measure)
    text = _("%(rate)s per 1,000 (95 %% interval %(lower)s–%(upper)s)", rate=_fmt(value), lower=_fmt(lower),
             upper=_fmt(upper))
    if e.upper_censored:
        text += " " + _("(upper bound censored)")
    return (text + "<br>" + _("%(cases)s cases among %(active)s active participants", cases=_fmt_int(e.cases),
                              active=_fmt_int(e.active))
            + "<br>" + status_text(e))


@dataclass(frozen=True)
class Series:
    geography: Geography
    estimates: Sequence[Estimate]  # one per week, oldest first


def timeseries_figure(series: Sequence[Series], title: str, selected_week: dt.date | None,
                      measure: str = CRUDE) -> Figure:
    data: list[dict[str, Any]] = []
    for index, one in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        data += _series_traces(one, colour, 0.18 if index == 0 else 0.10, measure)
    layout: dict[str, Any] = {}
    if selected_week is not None:  # what figure.add_vline() adds
        week = selected_week.isoformat()
        layout["shapes"] = [{"line": {"color": "#555", "dash": "dot", "width": 1}, "type": "line", "x0": week,
                             "x1": week, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain"}]
    layout.update(
        title=_two_line_title(title),
        xaxis={"title": {"text": _("Week (Monday)")}, "type": "date"},
        yaxis={"title": {"text": _("Incidence per 1,000 active participants")}, "rangemode": "tozero"},
        hovermode="closest", legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 70, "b": 20},
    )
    if not any(one.estimates for one in series):
        layout["annotations"] = [_no_data(_("No published estimates for this selection."))]
    return _figure(data, layout, TEMPLATE)


def _series_traces(one: Series, colour: str, band_alpha: float, measure: str) -> list[dict[str, Any]]:
    """The interval band, the line (gaps where withheld) and the withheld markers of one geography."""
    name = geo_name(one.geography)
    traces: list[dict[str, Any]] = []
    numbers = {id(e): _figures(e, measure) for e in one.estimates}
    shown = [e for e in one.estimates if withheld_reason(e, measure) is None]
    band_x: list[str | None] = []
    band_y: list[float | None] = []
    for segment in _contiguous([e for e in shown if numbers[id(e)][1] is not None]):
        if band_x:
            band_x.append(None)
            band_y.append(None)
        tops = [numbers[id(e)][2] if numbers[id(e)][2] is not None else numbers[id(e)][0] for e in segment]
        band_x += [e.week.isoformat() for e in segment] + [e.week.isoformat() for e in reversed(segment)]
        band_y += [_per_1000(t) for t in tops] + [_per_1000(numbers[id(e)][1]) for e in reversed(segment)]
    if band_x:
        traces.append(_scatter(
            fill="toself", fillcolor=_rgba(colour, band_alpha), hoverinfo="skip", legendgroup=name,
            line={"width": 0}, mode="lines", name=f"{name} 95 %", showlegend=False, x=band_x, y=band_y))

    shown_ids = {id(e) for e in shown}
    label = measure_label(measure)

    def line(estimates: Sequence[Estimate], **style: Any) -> dict[str, Any]:
        return _scatter(
            connectgaps=False, hoverinfo="text",
            hovertext=[f"<b>{name}</b> {format_iso_week(e.week)} ({label})<br>{hover_line(e, measure)}"
                       for e in estimates],
            legendgroup=name, mode="lines+markers", x=[e.week.isoformat() for e in estimates],
            y=[_per_1000(numbers[id(e)][0]) if id(e) in shown_ids else None for e in estimates], **style)

    final = [e for e in one.estimates if not is_provisional(e)]
    provisional = [e for e in one.estimates if is_provisional(e)]
    traces.append(line(final, line={"color": colour, "width": 2}, marker={"size": 5}, name=name))
    if provisional:
        # Drawn apart, dashed with hollow markers, from the last final week on (so the line does not break), and
        # named in the legend and every hover: its reports may still arrive.
        joined = ([final[-1]] if final and (provisional[0].week - final[-1].week).days == 7 else []) + provisional
        sizes = [0] * (len(joined) - len(provisional)) + [7] * len(provisional)  # the final week keeps its dot
        traces.append(line(joined, line={"color": colour, "width": 2, "dash": "dash"},
                           marker={"color": colour, "line": {"width": 2}, "size": sizes, "symbol": "circle-open"},
                           name=_("%(name)s, provisional", name=name)))

    withheld = [e for e in one.estimates if id(e) not in shown_ids]
    if withheld:
        traces.append(_withheld_marks(
            name, colour, 9, [e.week.isoformat() for e in withheld],
            [(f"{name} {format_iso_week(e.week)}" + (f" ({_('provisional')})" if is_provisional(e) else ""),
              withheld_reason(e, measure), e.active) for e in withheld]))
    return traces


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
               title: str, measure: str = CRUDE, geojson_url: str | None = None) -> Figure:
    """A choropleth of the five regions for one week; withheld regions grey with the reason.

    ``geojson_url`` is where the browser fetches ``regions.geojson`` (the dashboard's assets); without it
    the boundaries are inlined (about 40 kB per trace)."""
    geojson: str | dict[str, Any] = geojson_url if geojson_url is not None else regions_geojson()
    shown = [g for g in regions if g.code in estimates and withheld_reason(estimates[g.code], measure) is None]
    grey = [g for g in regions if g not in shown]
    data: list[dict[str, Any]] = []
    if shown:
        data.append({
            "colorbar": {"thickness": 14, "title": {"text": _("per 1,000")}}, "colorscale": _colorscale(SEQUENTIAL),
            "featureidkey": "properties.code", "geojson": geojson, "hoverinfo": "text",
            "locations": [g.code for g in shown], "marker": {"line": {"color": "#ffffff", "width": 1}}, "name": "",
            "text": [_map_hover(g, estimates[g.code], measure) for g in shown],
            "z": [_per_1000(_figures(estimates[g.code], measure)[0]) for g in shown], "zmin": 0,
            "type": "choropleth"})
    if grey:
        data.append({
            "colorscale": [[0, NO_DATA_GREY], [1, WITHHELD_GREY]], "featureidkey": "properties.code",
            "geojson": geojson, "hoverinfo": "text", "locations": [g.code for g in grey],
            "marker": {"line": {"color": "#ffffff", "width": 1}}, "name": "", "showscale": False,
            "text": [_map_hover(g, estimates.get(g.code), measure) for g in grey],
            "z": [1 if g.code in estimates else 0 for g in grey], "zmax": 1, "zmin": 0, "type": "choropleth"})
    notes = [ATTRIBUTION]
    if grey:
        notes.insert(0, _("Grey: withheld or no estimate (hover for the reason)."))
    layout = {
        "geo": {"fitbounds": "locations", "projection": {"type": "mercator"}, "resolution": 50, "scope": "europe",
                "visible": False},
        "title": {"text": title if week else _("No week selected"), "x": 0, "xanchor": "left"},
        "margin": {"l": 0, "r": 0, "t": 50, "b": 30},
        "annotations": [{"font": {"size": 11}, "showarrow": False, "text": " · ".join(notes), "x": 0,
                         "xanchor": "left", "xref": "paper", "y": -0.02, "yanchor": "top", "yref": "paper"}],
    }
    return _figure(data, layout, None)


def _map_hover(geography: Geography, e: Estimate | None, measure: str) -> str:
    name = geo_name(geography)
    if e is None:
        return f"{name}: {_('no estimate')}"
    reason = withheld_reason(e, measure)
    if reason is not None:
        return (f"{name}: {_('withheld')} – {reason}<br>"
                + _("%(active)s active participants", active=_fmt_int(e.active)) + "<br>" + status_text(e))
    return f"{name}: " + hover_line(e, measure)


def breakdown_figure(estimates: Sequence[Estimate], bands: Sequence[str], title: str) -> Figure:
    """Crude incidence by age band (x) and sex (one bar colour each) for one geography and week."""
    data: list[dict[str, Any]] = []
    order = ["all", *bands]
    by_sex: dict[str, dict[str, Estimate]] = {}
    for e in estimates:
        by_sex.setdefault(e.sex, {})[e.age_band] = e
    for sex in [s for s in ("all", "female", "male", "other") if s in by_sex]:
        cells = by_sex[sex]
        present = [b for b in order if b in cells]
        shown = [b for b in present if withheld_reason(cells[b]) is None]
        colour = SEX_COLOURS.get(sex, "#555555")
        data.append({
            "error_y": {"array": [_per_1000((cells[b].upper_95 or cells[b].incidence or 0) - (cells[b].incidence or 0))
                                  for b in shown],
                        "arrayminus": [_per_1000((cells[b].incidence or 0) - (cells[b].lower_95 or 0)) for b in shown],
                        "color": "#333333", "symmetric": False, "type": "data"},
            "hoverinfo": "text",
            "hovertext": [f"<b>{sex_label(sex)}, {_age_label(b)}</b><br>{hover_line(cells[b], CRUDE)}" for b in shown],
            "legendgroup": sex, "marker": {"color": colour}, "name": sex_label(sex), "offsetgroup": sex,
            "x": [_age_label(b) for b in shown], "y": [_per_1000(cells[b].incidence) for b in shown], "type": "bar"})
        withheld = [b for b in present if b not in shown]
        if withheld:
            data.append(_withheld_marks(
                sex_label(sex), colour, 10, [_age_label(b) for b in withheld],
                [(f"{sex_label(sex)}, {_age_label(b)}", withheld_reason(cells[b]), cells[b].active) for b in withheld],
                legendgroup=sex))
    layout: dict[str, Any] = {
        "title": _two_line_title(title), "barmode": "group",
        "xaxis": {"title": {"text": _("Age band")}, "categoryorder": "array",
                  "categoryarray": [_age_label(b) for b in order]},
        "yaxis": {"title": {"text": _("Incidence per 1,000 active participants")}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.25}, "margin": {"l": 60, "r": 20, "t": 70, "b": 20}}
    if not estimates:
        layout["annotations"] = [_no_data(_("No published estimates for this selection."))]
    return _figure(data, layout, TEMPLATE)


def _age_label(band: str) -> str:
    return _("all ages") if band == "all" else band


def participation_figure(rows: Sequence[Participation], title: str) -> Figure:
    """Active participants (line), new sign-ups (bars) and the response rate (dotted, right axis)."""
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
    data: list[dict[str, Any]] = [
        {"hoverinfo": "text", "hovertext": texts, "marker": {"color": "#9fc5e8"}, "name": _("New sign-ups"),
         "x": weeks, "y": [r.new_profiles for r in rows], "type": "bar"},
        _scatter(connectgaps=False, hoverinfo="text", hovertext=texts, line={"color": "#0b5394", "width": 2},
                 mode="lines+markers", name=_("Active participants"), x=weeks, y=[r.active for r in rows]),
        _scatter(connectgaps=False, hoverinfo="text", hovertext=texts,
                 line={"color": "#b45f06", "dash": "dot", "width": 2}, mode="lines", name=_("Response rate (%)"),
                 x=weeks, y=[None if r.response_rate is None else r.response_rate * 100 for r in rows], yaxis="y2"),
    ]
    withheld = [r for r in rows if r.missing_reason != 0]
    if withheld:
        data.append(_scatter(
            hoverinfo="text", hovertext=[hover(r) for r in withheld],
            marker={"color": "#555", "line": {"width": 2}, "size": 9, "symbol": "x-thin-open"}, mode="markers",
            name=_("withheld"), showlegend=False, x=[r.week.isoformat() for r in withheld], y=[0] * len(withheld)))
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0, "xanchor": "left"}, "hovermode": "closest",
        "xaxis": {"title": {"text": _("Week (Monday)")}, "type": "date"},
        "yaxis": {"title": {"text": _("Participants")}, "rangemode": "tozero"},
        "yaxis2": {"title": {"text": _("Response rate (%)")}, "overlaying": "y", "side": "right",
                   "rangemode": "tozero", "showgrid": False},
        "legend": {"orientation": "h", "y": -0.2}, "margin": {"l": 60, "r": 60, "t": 50, "b": 20}}
    if not rows:
        layout["annotations"] = [_no_data(_("No participation figures for this selection."))]
    return _figure(data, layout, TEMPLATE)
