"""The staff dashboard: one Dash app per Flask app, mounted at /dashboard/.

- Created inside the factory (``init_dash``), callbacks registered on that instance, no pages registry.
- The whole prefix is staff-only (``authz.protect_prefix``): pages, layout, callbacks, assets. Every
  callback also checks the role itself (``_require_role``), so a callback stays closed even if the prefix
  rule changed.
- Callbacks are POSTs checked by Flask-WTF: Dash's renderer sends the ``_csrf_token`` cookie (set by
  ``reporting.headers`` on the dashboard page) back as the ``X-CSRFToken`` header.
- The content security policy allows Dash's own inline scripts (renderer, clientside callbacks) by hash;
  Plotly writes ``<style>`` elements, so ``style-src 'unsafe-inline'`` is allowed under /dashboard/ only, and
  images for download are drawn through ``blob:`` URLs (``img-src blob:``).
- Plotly's geo subplot loads a TopoJSON base map from ``topojsonURL``; we serve a Denmark-only one from
  the assets, so nothing is fetched from the internet.
- The state of the controls lives in the URL's query string (``sync_state``), so a view is a link.
- Figures come through the figure cache (``dashboard.cache``), keyed by the aggregates version.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import dash
from dash import Input, Output, State, ctx, dcc, html
from flask import Flask, abort, has_request_context, request, url_for
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf

from reporting.audit import record
from reporting.authz import protect_prefix, staff
from reporting.extensions import db
from reporting.headers import add_csp_override, mount_spa
from reporting.problems import answer_json_under
from reporting.security import current_principal
from reporting.staff.routes import register_staff_link
from reporting.weeks import format_iso_week, parse_iso_week

from . import export, figures, queries
from .cache import figure_cache, init_cache
from .i18n import _, lazy_gettext

PREFIX = "/dashboard/"
ASSETS = Path(__file__).parent / "assets"
ROLES = ("epidemiologist", "authority", "admin")
DEFAULT_DEFINITION = "covid.ecdc"
DEFAULT_SPAN_WEEKS = 26
FIGURES = ("timeseries", "map", "breakdown", "participation")
CONTROLS = ("definition", "method", "measure", "week_from", "week_to", "week", "regions", "area")
PARTICIPATION_COLUMNS = ("week", "week_start", "geo_type", "geo_code", "geo_name", "registered", "active",
                         "new_profiles", "response_rate", "missing_reason", "issue")

INDEX = """<!DOCTYPE html>
<html lang="{lang}">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
    </head>
    <body>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""

DOWNLOAD_IMAGE = """
function(clicks, figureId) {
    if (!clicks) { return window.dash_clientside.no_update; }
    var plot = document.querySelector('#' + figureId + ' .js-plotly-plot');
    if (plot && window.Plotly) {
        window.Plotly.downloadImage(plot, {format: 'png', filename: 'covidmeter-' + figureId,
                                           width: 1200, height: 700});
    }
    return '';
}
"""


class StaffDash(dash.Dash):
    """Dash with the page language set per request (Danish or English, as on the rest of the site)."""

    def interpolate_index(self, **kwargs: Any) -> str:
        return super().interpolate_index(**kwargs).replace("{lang}", _language(), 1)


def init_dash(app: Flask) -> dash.Dash:
    dash_app = StaffDash(
        __name__, server=app, url_base_pathname=PREFIX, assets_folder=str(ASSETS), serve_locally=True,
        title="COVIDmeter dashboard", update_title=None, compress=False, index_string=INDEX,
    )
    # A full skeleton for callback validation, built without a request or a database.
    dash_app.validation_layout = build_layout(language="en", csrf_token="")
    dash_app.layout = serve_layout
    register_callbacks(dash_app)

    protect_prefix(app, PREFIX, staff(*ROLES))
    mount_spa(app, PREFIX)  # no-store answers; the CSRF cookie Dash's renderer sends back on callbacks
    answer_json_under(app, f"{PREFIX}_")  # Dash's own routes (_dash-update-component, ...): problem documents
    # Plotly renders an image download through a blob: URL (modebar camera and our image buttons).
    add_csp_override(app, PREFIX, {"script-src": " ".join(dash_app.csp_hashes()),
                                   "style-src": "'unsafe-inline'", "img-src": "blob:"})
    register_staff_link(app, lazy_gettext("Dashboard"), PREFIX)
    init_cache(app)
    app.extensions["covidmeter.dash"] = dash_app
    return dash_app


def _language() -> str:
    return str(get_locale()) if has_request_context() else "en"


def _require_role() -> None:
    """Callbacks check the role themselves too (defence in depth beside the prefix rule)."""
    principal = current_principal()
    if not principal.is_staff or principal.role not in ROLES:
        abort(403)


def serve_layout() -> html.Div:
    """The layout of one page view (per request: language, CSRF token for sign-out).

    Dash also calls this once, to validate, on the first request the process serves, whatever its path:
    outside /dashboard/ (a health check, say) it answers with the skeleton and touches no database."""
    if not request.path.startswith(PREFIX):
        return build_layout(language="en", csrf_token="")
    return build_layout(language=_language(), csrf_token=generate_csrf())


def _control(label: str, component: Any, control_id: str, wide: bool = False) -> html.Div:
    return html.Div(className="control control-wide" if wide else "control", children=[
        html.Label(label, htmlFor=control_id, id=f"{control_id}-label"), component])


def _figure_section(name: str, heading: str, graph_config: dict[str, Any], wide: bool = False) -> html.Section:
    config = {**graph_config, "toImageButtonOptions": {"format": "png", "filename": f"covidmeter-{name}"}}
    return html.Section(className="figure-section" + (" figure-wide" if wide else ""),
                         **{"aria-labelledby": f"{name}-heading"}, children=[
        html.H2(heading, id=f"{name}-heading"),
        dcc.Loading(dcc.Graph(id=name, className="figure", config=config), type="dot", delay_show=400),
        html.Div(className="figure-actions", children=[
            html.Button(_("Download CSV"), id=f"csv-{name}", n_clicks=0, className="secondary",
                        **{"aria-describedby": f"{name}-heading"}),
            html.Button(_("Download image (PNG)"), id=f"image-{name}", n_clicks=0, className="secondary",
                        **{"aria-describedby": f"{name}-heading"}),
            html.Span(id=f"image-done-{name}", className="visually-hidden"),
        ]),
    ])


def build_layout(language: str, csrf_token: str) -> html.Div:
    sign_out = url_for("staff.logout") if has_request_context() else "/staff/logout"
    staff_home = url_for("staff.home") if has_request_context() else "/staff/"
    graph_config = {"topojsonURL": f"{PREFIX}assets/", "displaylogo": False, "responsive": True,
                    "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
    dropdown = {"clearable": False, "searchable": False}
    return html.Div(className="dashboard", lang=language, children=[
        dcc.Location(id="url", refresh=False),
        html.Header(className="dashboard-header", children=[
            html.H1(_("COVIDmeter dashboard")),
            html.Nav(className="dashboard-nav", **{"aria-label": _("Staff")}, children=[
                html.A(_("Staff page"), href=staff_home),
                html.A("Dansk" if language == "en" else "English", href="?lang=da" if language == "en" else "?lang=en",
                       lang="da" if language == "en" else "en"),
                html.Form(method="POST", action=sign_out, className="inline-form", children=[
                    dcc.Input(type="hidden", name="csrf_token", value=csrf_token),
                    html.Button(_("Sign out"), type="submit", className="secondary"),
                ]),
            ]),
        ]),
        html.Main(id="main", children=[
            html.Section(className="controls", **{"aria-label": _("Choose what to show")}, children=[
                _control(_("Case definition"), dcc.Dropdown(id="definition", options=[], **dropdown), "definition"),
                _control(_("Method"), dcc.Dropdown(id="method", options=[], **dropdown), "method"),
                _control(_("Incidence"), dcc.Dropdown(id="measure", value=figures.CRUDE, options=[
                    {"label": _("crude"), "value": figures.CRUDE},
                    {"label": _("age-standardised"), "value": figures.STANDARDISED}], **dropdown), "measure"),
                _control(_("From week"), dcc.Dropdown(id="week_from", options=[], **dropdown), "week_from"),
                _control(_("To week"), dcc.Dropdown(id="week_to", options=[], **dropdown), "week_to"),
                _control(_("Week for map and breakdown"), dcc.Dropdown(id="week", options=[], **dropdown), "week"),
                _control(_("Regions in the trend"),
                         dcc.Dropdown(id="regions", options=[], value=[], multi=True,
                                      placeholder=_("Denmark only")), "regions", wide=True),
                _control(_("Geography for breakdown and participation"),
                         dcc.Dropdown(id="area", options=[], **dropdown), "area"),
            ]),
            html.P(id="definition-description", className="hint"),
            html.P(className="hint", children=_(
                "The address of this page holds your choices: copy it to share this view.")),
            html.Div(className="figures", children=[
                _figure_section("timeseries", _("Trend"), graph_config, wide=True),
                _figure_section("map", _("Map"), graph_config),
                _figure_section("breakdown", _("By age band and sex"), graph_config),
                _figure_section("participation", _("Participation"), graph_config, wide=True),
            ]),
            dcc.Download(id="download"),
            html.P(className="hint", children=_(
                "Estimates as published by the weekly aggregation (newest issue). Counts of 1–4 cases and "
                "estimates from too few active participants are withheld; hover a figure for the reason.")),
            html.P(className="hint", children=_(
                "A week is provisional (dashed line, hollow markers) until the week after it is over: reports made "
                "then may still add cases to it. The map and the breakdown open on the newest final week.")),
        ]),
    ])


# --- the view state -------------------------------------------------------------------------------------

def _definitions() -> list[queries.DefinitionInfo]:
    return figure_cache().get_or_compute(("definitions",), queries.case_definitions)


def _definition(key: str | None) -> queries.DefinitionInfo | None:
    return next((d for d in _definitions() if d.key == key), None) if key else None


def _weeks(definition: queries.DefinitionInfo, method: str) -> list[dt.date]:
    return figure_cache().get_or_compute(("weeks", definition.key, definition.version, method),
                                         lambda: queries.available_weeks(definition, method))


def _final_weeks(definition: queries.DefinitionInfo, method: str) -> list[dt.date]:
    return figure_cache().get_or_compute(("final_weeks", definition.key, definition.version, method),
                                         lambda: queries.final_weeks(definition, method))


def _week_label(week: dt.date, final: set[dt.date]) -> str:
    label = format_iso_week(week)
    return label if week in final else _("%(week)s (provisional)", week=label)


def _methods(definition: queries.DefinitionInfo) -> list[str]:
    return figure_cache().get_or_compute(("methods", definition.key, definition.version),
                                         lambda: queries.available_methods(definition))


def _geographies() -> list[queries.Geography]:
    return figure_cache().get_or_compute(("geographies",), queries.geographies)


def _age_bands() -> list[str]:
    return figure_cache().get_or_compute(("age_bands",), queries.age_bands)


def normalise_state(raw: dict[str, Any]) -> dict[str, Any]:
    """A complete, valid view state from what the URL or the controls say (unknown values fall back)."""
    definitions = _definitions()
    keys = [d.key for d in definitions]
    key = raw.get("definition") if raw.get("definition") in keys else (
        DEFAULT_DEFINITION if DEFAULT_DEFINITION in keys else (keys[0] if keys else None))
    state: dict[str, Any] = {name: None for name in CONTROLS}
    state["regions"] = []
    state["definition"] = key
    codes = [g.code for g in _geographies()]
    state["area"] = raw.get("area") if raw.get("area") in codes else queries.NATION_CODE
    regions = raw.get("regions") or []
    state["regions"] = [c for c in dict.fromkeys(regions) if c in codes and c != queries.NATION_CODE]
    state["measure"] = raw.get("measure") if raw.get("measure") in figures.MEASURES else figures.CRUDE
    definition = _definition(key)
    if definition is None:
        return state
    methods = _methods(definition)
    state["method"] = raw.get("method") if raw.get("method") in methods else definition.default_method
    weeks = [w.isoformat() for w in _weeks(definition, state["method"])]
    if not weeks:
        return state
    state["week_to"] = raw.get("week_to") if raw.get("week_to") in weeks else weeks[-1]
    last = weeks.index(state["week_to"])
    wanted_from = raw.get("week_from")
    state["week_from"] = wanted_from if wanted_from in weeks[:last + 1] else weeks[max(0, last - DEFAULT_SPAN_WEEKS + 1)]
    # The map and the breakdown open on the newest final week (the trend still runs to the newest week, its
    # provisional weeks drawn apart): a week in progress is not the picture of the epidemic.
    final = [w.isoformat() for w in _final_weeks(definition, state["method"])]
    settled = [w for w in weeks[:last + 1] if w in final]
    state["week"] = raw.get("week") if raw.get("week") in weeks else (settled[-1] if settled else state["week_to"])
    return state


URL_NAMES = {"definition": "definition", "method": "method", "measure": "measure", "week_from": "from",
             "week_to": "to", "week": "week", "regions": "regions", "area": "area"}


def state_from_search(search: str | None) -> dict[str, Any]:
    params = parse_qs((search or "").lstrip("?"))
    raw: dict[str, Any] = {}
    for name, param in URL_NAMES.items():
        values = params.get(param)
        if not values:
            continue
        value = values[0]
        if name == "regions":
            raw[name] = [v for v in value.split(",") if v]
        elif name.startswith("week"):
            raw[name] = _monday_from_param(value)
        else:
            raw[name] = value
    return raw


def _monday_from_param(value: str) -> str | None:
    try:
        return parse_iso_week(value).isoformat()
    except ValueError:
        return None


def search_from_state(state: dict[str, Any], language: str | None = None) -> str:
    params: dict[str, str] = {}
    for name, param in URL_NAMES.items():
        value = state.get(name)
        if not value:
            continue
        if name == "regions":
            params[param] = ",".join(value)
        elif name.startswith("week"):
            params[param] = format_iso_week(dt.date.fromisoformat(value))
        else:
            params[param] = value
    return "?" + urlencode(params, safe=",")


def register_callbacks(dash_app: dash.Dash) -> None:
    @dash_app.callback(
        Output("url", "search"),
        Output("definition", "options"), Output("definition", "value"),
        Output("method", "options"), Output("method", "value"),
        Output("measure", "value"),
        Output("week_from", "options"), Output("week_from", "value"),
        Output("week_to", "options"), Output("week_to", "value"),
        Output("week", "options"), Output("week", "value"),
        Output("regions", "options"), Output("regions", "value"),
        Output("area", "options"), Output("area", "value"),
        Output("definition-description", "children"),
        Input("url", "search"),
        *[Input(name, "value") for name in CONTROLS])
    def sync_state(search: str | None, *values: Any) -> tuple[Any, ...]:
        """The one owner of the controls and the URL: a link sets the controls, a control sets the link."""
        _require_role()
        from_url = ctx.triggered_id in (None, "url")
        raw = state_from_search(search) if from_url else dict(zip(CONTROLS, values))
        state = normalise_state(raw)
        language = _language()
        definition = _definition(state["definition"])
        definition_options = [{"label": d.label(language), "value": d.key} for d in _definitions()]
        method_options = [{"label": m, "value": m} for m in _methods(definition)] if definition else []
        weeks = list(reversed(_weeks(definition, state["method"]))) if definition and state["method"] else []
        final = set(_final_weeks(definition, state["method"])) if definition and state["method"] else set()
        week_options = [{"label": _week_label(w, final), "value": w.isoformat()} for w in weeks]
        geographies = _geographies()
        region_options = [{"label": g.name, "value": g.code} for g in geographies if g.geo_type == queries.REGION]
        area_options = [{"label": figures.geo_name(g), "value": g.code} for g in geographies]
        return (search_from_state(state), definition_options, state["definition"], method_options,
                state["method"], state["measure"], week_options, state["week_from"], week_options,
                state["week_to"], week_options, state["week"], region_options, state["regions"], area_options,
                state["area"], definition.description if definition else "")

    @dash_app.callback(
        Output("timeseries", "figure"),
        Input("definition", "value"), Input("method", "value"), Input("measure", "value"),
        Input("regions", "value"), Input("week_from", "value"), Input("week_to", "value"), Input("week", "value"))
    def show_timeseries(key: str | None, method: str | None, measure: str | None, region_codes: list[str] | None,
                        week_from: str | None, week_to: str | None, week: str | None) -> Any:
        _require_role()
        language = _language()
        codes = tuple(region_codes or [])
        return figure_cache().get_or_compute(
            ("timeseries", language, key, method, measure, codes, week_from, week_to, week),
            lambda: _timeseries(key, method, measure or figures.CRUDE, codes, week_from, week_to, week, language))

    @dash_app.callback(
        Output("map", "figure"),
        Input("definition", "value"), Input("method", "value"), Input("measure", "value"), Input("week", "value"))
    def show_map(key: str | None, method: str | None, measure: str | None, week: str | None) -> Any:
        _require_role()
        language = _language()
        return figure_cache().get_or_compute(
            ("map", language, key, method, measure, week),
            lambda: _map(key, method, measure or figures.CRUDE, week))

    @dash_app.callback(
        Output("breakdown", "figure"),
        Input("definition", "value"), Input("method", "value"), Input("week", "value"), Input("area", "value"))
    def show_breakdown(key: str | None, method: str | None, week: str | None, area: str | None) -> Any:
        _require_role()
        language = _language()
        return figure_cache().get_or_compute(("breakdown", language, key, method, week, area),
                                             lambda: _breakdown(key, method, week, area))

    @dash_app.callback(
        Output("participation", "figure"),
        Input("area", "value"), Input("week_from", "value"), Input("week_to", "value"))
    def show_participation(area: str | None, week_from: str | None, week_to: str | None) -> Any:
        _require_role()
        language = _language()
        return figure_cache().get_or_compute(("participation", language, area, week_from, week_to),
                                             lambda: _participation(area, week_from, week_to))

    @dash_app.callback(
        Output("download", "data"),
        *[Input(f"csv-{name}", "n_clicks") for name in FIGURES],
        *[State(name, "value") for name in CONTROLS],
        prevent_initial_call=True)
    def download_csv(*args: Any) -> Any:
        _require_role()
        if ctx.triggered_id is None or not any(args[:len(FIGURES)]):
            return dash.no_update
        which = str(ctx.triggered_id).removeprefix("csv-")
        state = normalise_state(dict(zip(CONTROLS, args[len(FIGURES):])))
        content, columns_query = _csv_for(which, state)
        record("dashboard.download", None, figure=which, format="csv", query=columns_query)
        db.session.commit()
        week = state.get("week") or "none"
        return {"content": content, "filename": f"covidmeter-{which}-{state.get('definition')}-{week}.csv",
                "type": "text/csv"}

    for name in FIGURES:
        dash_app.clientside_callback(DOWNLOAD_IMAGE, Output(f"image-done-{name}", "children"),
                                     Input(f"image-{name}", "n_clicks"), State(name, "id"),
                                     prevent_initial_call=True)


# --- figures --------------------------------------------------------------------------------------------

def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _title_definition(definition: queries.DefinitionInfo) -> str:
    return definition.label(_language())


def _timeseries(key: str | None, method: str | None, measure: str, codes: tuple[str, ...], week_from: str | None,
                week_to: str | None, week: str | None, language: str) -> Any:
    definition = _definition(key)
    selected = _date(week)
    if definition is None:
        return figures.timeseries_figure([], _("Choose a case definition"), selected)
    wanted = [queries.NATION_CODE, *[c for c in codes if c != queries.NATION_CODE]]
    estimates = queries.latest_estimates(queries.EstimateFilter(
        definition=definition, method=method, geo_codes=wanted, age_band=queries.ALL, sex=queries.ALL,
        week_from=_date(week_from), week_to=_date(week_to), include_provisional=True))
    by_code = {g.code: g for g in _geographies()}
    series = [figures.Series(by_code[code], [e for e in estimates if e.geo_code == code])
              for code in wanted if code in by_code]
    title = _("%(definition)s: weekly incidence, %(measure)s", definition=_title_definition(definition),
              measure=figures.measure_label(measure))
    return figures.timeseries_figure(series, title, selected, measure)


def _map(key: str | None, method: str | None, measure: str, week: str | None) -> Any:
    definition = _definition(key)
    selected = _date(week)
    regions = [g for g in _geographies() if g.geo_type == queries.REGION]
    if definition is None or selected is None:
        return figures.map_figure(regions, {}, None, "", geojson_url=_regions_url())
    estimates = queries.latest_estimates(queries.EstimateFilter(
        definition=definition, method=method, geo_type=queries.REGION, week_from=selected, week_to=selected,
        age_band=queries.ALL, sex=queries.ALL, include_provisional=True))
    title = _("By region, week %(week)s (%(measure)s)", week=format_iso_week(selected),
              measure=figures.measure_label(measure)) + _provisional_note(estimates)
    return figures.map_figure(regions, {e.geo_code: e for e in estimates}, selected, title, measure,
                              geojson_url=_regions_url())


def _provisional_note(estimates: list[queries.Estimate]) -> str:
    """Said in the title of a one-week figure when its week is provisional (the pickers let a user choose it)."""
    return " – " + _("provisional") if any(queries.is_provisional(e) for e in estimates) else ""


def _regions_url() -> str:
    """The region boundaries for the map's traces: an asset the browser fetches once (Plotly keeps it)."""
    return f"{PREFIX}assets/{figures.REGIONS_GEOJSON.name}?v={figures.regions_geojson_version()}"


def _area(area: str | None) -> queries.Geography:
    geographies = _geographies()
    return next((g for g in geographies if g.code == area), geographies[0])


def _breakdown(key: str | None, method: str | None, week: str | None, area: str | None) -> Any:
    definition = _definition(key)
    selected = _date(week)
    geography = _area(area)
    if definition is None or selected is None:
        return figures.breakdown_figure([], [], _("No week selected"))
    estimates = queries.latest_estimates(queries.EstimateFilter(
        definition=definition, method=method, geo_codes=[geography.code], week_from=selected, week_to=selected,
        include_provisional=True))
    title = _("%(place)s, week %(week)s: crude incidence by age band and sex", place=figures.geo_name(geography),
              week=format_iso_week(selected)) + _provisional_note(estimates)
    return figures.breakdown_figure(estimates, _age_bands(), title)


def _participation(area: str | None, week_from: str | None, week_to: str | None) -> Any:
    geography = _area(area)
    rows = queries.latest_participation([geography.code], _date(week_from), _date(week_to))
    title = _("%(place)s: participation per week", place=figures.geo_name(geography))
    return figures.participation_figure(rows, title)


def _csv_for(which: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The rows behind one figure as CSV (the export's columns), and the query for the audit log."""
    definition = _definition(state.get("definition"))
    query = {k: v for k, v in state.items() if v}
    if which == "participation":
        geography = _area(state.get("area"))
        rows = queries.latest_participation([geography.code], _date(state.get("week_from")),
                                            _date(state.get("week_to")))
        return export.write_csv(({
            "week": format_iso_week(r.week), "week_start": r.week.isoformat(), "geo_type": r.geo_type,
            "geo_code": r.geo_code, "geo_name": geography.name, "registered": r.registered, "active": r.active,
            "new_profiles": r.new_profiles, "response_rate": r.response_rate, "missing_reason": r.missing_reason,
            "issue": r.issue.isoformat()} for r in rows), PARTICIPATION_COLUMNS), query
    if definition is None:
        return export.write_csv([]), query
    selected = _date(state.get("week"))
    base = {"definition": definition, "method": state.get("method"), "include_provisional": True}
    if which == "timeseries":
        codes = [queries.NATION_CODE, *state.get("regions", [])]
        where = queries.EstimateFilter(**base, geo_codes=codes, age_band=queries.ALL, sex=queries.ALL,
                                       week_from=_date(state.get("week_from")), week_to=_date(state.get("week_to")))
    elif which == "map":
        where = queries.EstimateFilter(**base, geo_type=queries.REGION, week_from=selected, week_to=selected,
                                       age_band=queries.ALL, sex=queries.ALL)
    else:
        where = queries.EstimateFilter(**base, geo_codes=[_area(state.get("area")).code], week_from=selected,
                                       week_to=selected)
    return export.write_csv(export.estimate_rows(queries.latest_estimates(where))), query
