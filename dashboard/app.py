"""The staff dashboard: one Dash app per Flask app, mounted at /dashboard/.

- Created inside the factory (``init_dash``), callbacks registered on that instance, no pages registry.
- The whole prefix is staff-only (``authz.protect_prefix``): pages, layout, callbacks, assets.
- Callbacks are POSTs checked by Flask-WTF: Dash's renderer sends the ``_csrf_token`` cookie (set by
  ``reporting.headers`` on the dashboard page) back as the ``X-CSRFToken`` header.
- The content security policy allows Dash's own inline script by hash; Plotly writes ``<style>`` elements,
  so ``style-src 'unsafe-inline'`` is allowed under /dashboard/ only.
- Plotly's geo subplot loads a TopoJSON base map from ``topojsonURL``; we serve a Denmark-only one from
  the assets, so nothing is fetched from the internet.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, State, dcc, html
from flask import Flask, has_request_context, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf.csrf import generate_csrf

from reporting.authz import protect_prefix, staff
from reporting.headers import add_csp_override
from reporting.staff.routes import register_staff_link
from reporting.weeks import format_iso_week

from . import figures, queries

PREFIX = "/dashboard/"
ASSETS = Path(__file__).parent / "assets"
ROLES = ("epidemiologist", "authority", "admin")
DEFAULT_DEFINITION = "covid.ecdc"


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
    dash_app.validation_layout = build_layout(definitions=[], language="en", csrf_token="")
    dash_app.layout = serve_layout
    register_callbacks(dash_app)

    protect_prefix(app, PREFIX, staff(*ROLES))
    add_csp_override(app, PREFIX, {"script-src": " ".join(dash_app.csp_hashes()),
                                   "style-src": "'unsafe-inline'"})
    register_staff_link(app, lazy_gettext("Dashboard"), PREFIX)
    app.extensions["covidmeter.dash"] = dash_app
    return dash_app


def _language() -> str:
    return str(get_locale()) if has_request_context() else "en"


def serve_layout() -> html.Div:
    """The layout of one page view (per request: language, definitions, CSRF token for sign-out).

    Dash also calls this once, to validate, on the first request the process serves, whatever its path:
    outside /dashboard/ (a health check, say) it answers with the skeleton and touches no database."""
    from flask import request

    if not request.path.startswith(PREFIX):
        return build_layout(definitions=[], language="en", csrf_token="")
    return build_layout(definitions=queries.case_definitions(), language=_language(), csrf_token=generate_csrf())


def build_layout(definitions: list[queries.DefinitionInfo], language: str, csrf_token: str) -> html.Div:
    keys = [d.key for d in definitions]
    default = DEFAULT_DEFINITION if DEFAULT_DEFINITION in keys else (keys[0] if keys else None)
    regions = [g for g in queries.geographies() if g.geo_type == queries.REGION] if definitions else []
    sign_out = url_for("staff.logout") if has_request_context() else "/staff/logout"
    staff_home = url_for("staff.home") if has_request_context() else "/staff/"
    graph_config = {"topojsonURL": f"{PREFIX}assets/", "displaylogo": False, "responsive": True,
                    "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
    return html.Div(className="dashboard", lang=language, children=[
        html.Header(className="dashboard-header", children=[
            html.H1(_("COVIDmeter dashboard")),
            html.Nav(className="dashboard-nav", children=[
                html.A(_("Staff page"), href=staff_home),
                html.Form(method="POST", action=sign_out, className="inline-form", children=[
                    dcc.Input(type="hidden", name="csrf_token", value=csrf_token),
                    html.Button(_("Sign out"), type="submit", className="secondary"),
                ]),
            ]),
        ]),
        html.Section(className="controls", children=[
            html.Div(className="control", children=[
                html.Label(_("Case definition"), htmlFor="definition"),
                dcc.Dropdown(id="definition", options=[{"label": d.label(language), "value": d.key}
                                                       for d in definitions],
                             value=default, clearable=False, searchable=False),
            ]),
            html.Div(className="control", children=[
                html.Label(_("Week"), htmlFor="week"),
                dcc.Dropdown(id="week", options=[], value=None, clearable=False),
            ]),
            html.Div(className="control control-wide", children=[
                html.Label(_("Regions in the time series"), htmlFor="regions"),
                dcc.Dropdown(id="regions", options=[{"label": g.name, "value": g.code} for g in regions],
                             value=[], multi=True, placeholder=_("Denmark only")),
            ]),
        ]),
        html.P(id="definition-description", className="hint"),
        html.Section(className="figures", children=[
            dcc.Graph(id="timeseries", className="figure figure-wide", config=graph_config),
            dcc.Graph(id="map", className="figure figure-map", config=graph_config),
        ]),
        html.P(className="hint", children=_(
            "Estimates as published by the weekly aggregation (newest issue). Counts of 1–4 cases and estimates "
            "from too few active participants are withheld.")),
    ])


def register_callbacks(dash_app: dash.Dash) -> None:
    @dash_app.callback(
        Output("week", "options"), Output("week", "value"), Output("definition-description", "children"),
        Input("definition", "value"), State("week", "value"))
    def choose_definition(key: str | None, current_week: str | None) -> tuple[list[dict[str, str]], Any, str]:
        definition = queries.case_definition(key) if key else None
        if definition is None:
            return [], None, ""
        weeks = list(reversed(queries.available_weeks(definition)))
        options = [{"label": format_iso_week(w), "value": w.isoformat()} for w in weeks]
        values = {o["value"] for o in options}
        week = current_week if current_week in values else (options[0]["value"] if options else None)
        return options, week, definition.description

    @dash_app.callback(
        Output("timeseries", "figure"),
        Input("definition", "value"), Input("regions", "value"), Input("week", "value"))
    def show_timeseries(key: str | None, region_codes: list[str] | None, week: str | None) -> Any:
        definition = queries.case_definition(key) if key else None
        selected = _week(week)
        if definition is None:
            return figures.timeseries_figure([], _("Choose a case definition"), selected)
        wanted = [queries.NATION_CODE, *[c for c in (region_codes or []) if c != queries.NATION_CODE]]
        estimates = queries.latest_estimates(queries.EstimateFilter(
            definition=definition, geo_codes=wanted, age_band=queries.ALL, sex=queries.ALL))
        by_code = {g.code: g for g in queries.geographies()}
        series = [figures.Series(by_code[code], [e for e in estimates if e.geo_code == code])
                  for code in wanted if code in by_code]
        title = _("%(definition)s: weekly incidence", definition=definition.label(_language()))
        return figures.timeseries_figure(series, title, selected)

    @dash_app.callback(Output("map", "figure"), Input("definition", "value"), Input("week", "value"))
    def show_map(key: str | None, week: str | None) -> Any:
        definition = queries.case_definition(key) if key else None
        selected = _week(week)
        regions = [g for g in queries.geographies() if g.geo_type == queries.REGION]
        if definition is None or selected is None:
            return figures.map_figure(regions, {}, None, "")
        estimates = queries.latest_estimates(queries.EstimateFilter(
            definition=definition, geo_type=queries.REGION, week_from=selected, week_to=selected,
            age_band=queries.ALL, sex=queries.ALL))
        title = _("By region, week %(week)s", week=format_iso_week(selected))
        return figures.map_figure(regions, {e.geo_code: e for e in estimates}, selected, title)


def _week(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
