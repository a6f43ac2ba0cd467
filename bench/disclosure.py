"""Benchmark: what the disclosure control costs the published figures, and what its audit costs in time.

    pip install -e '.[bench]'
    python bench/disclosure.py                       # the README's default demo, built into bench/results/
    python bench/disclosure.py --url sqlite:///path/to/demo.sqlite     # an existing demo database
    python bench/disclosure.py --participants 3000 --weeks 12 --seed 7 # a smaller one (more small counts)

For every week of the demo and every definition in its reference method (what the export and the open data
publish), it reads the final rows the aggregation wrote and the true counts (``count_weeks``), and prints:

- the share of published-detail cells whose cases are withheld, by level (nation / regions) and stratum (all
  ages and sexes; age bands; sexes), split by reason (3 privacy, 6 too few active);
- for the headline cells (nation and regions, all ages and sexes) the share withheld and the largest
  difference of a published incidence from the unprotected one (suppression withholds, it never alters: any
  difference is a bug);
- the time of the joint audit per week (``scheduler.incidence.protection.protect_week``) against the table-by-table
  suppression it starts from (``scheduler.incidence.disclosure.disclose_table``), measured in the same run.

Results go to ``bench/results/disclosure.json`` and, with matplotlib (the bench extra), a plot
``bench/results/disclosure.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def build(url: str, participants: int, weeks: int, seed: int) -> None:
    print(f"building the demo ({participants} participants, {weeks} weeks, seed {seed}) into {url} ...", flush=True)
    env = {**os.environ, "COVIDMETER_DATABASE_URL": url}
    subprocess.run([sys.executable, "-c", "import wsgi; wsgi.main()", "demo", "--no-serve", "--participants",
                    str(participants), "--weeks", str(weeks), "--seed", str(seed)], check=True, env=env, cwd=ROOT)


def level(cell: tuple[str, str, str, str]) -> tuple[str, str]:
    geo_type, _code, band, sex = cell
    stratum = "all ages, all sexes" if band == "all" and sex == "all" else ("age band" if sex == "all" else "sex")
    return geo_type, stratum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url")
    parser.add_argument("--participants", type=int, default=20_000)
    parser.add_argument("--weeks", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    url = args.url or f"sqlite:///{RESULTS / f'disclosure-{args.participants}-{args.weeks}-{args.seed}.sqlite'}"

    from reporting.db import make_engine
    from reporting.models import MISSING_NONE, MISSING_NOT_PUBLISHED, IncidenceEstimate
    from reporting.weeks import weeks_between
    from scheduler.incidence import report_weeks
    from scheduler.incidence.counting import count_weeks
    from scheduler.incidence.definitions import load_definitions
    from scheduler.incidence.disclosure import DisclosurePolicy, disclose_table, table_relations
    from scheduler.incidence.methods import get_method
    from scheduler.incidence.protection import AuditReport, WeekTables, protect_week, published_cell
    from scheduler.incidence.strata import load_strata

    engine = make_engine(url)
    with engine.connect() as connection:
        try:
            built = report_weeks(connection) is not None
        except Exception:  # noqa: BLE001 - no schema yet
            built = False
    if not built:
        engine.dispose()
        build(url, args.participants, args.weeks, args.seed)
        engine = make_engine(url)

    with Session(engine) as session:
        definitions = load_definitions(session)
    policy = DisclosurePolicy()
    groups: dict[str, list] = {}
    for d in definitions:
        groups.setdefault(d.default_method, []).append(d)
    withheld: Counter[tuple[str, str, str]] = Counter()
    cells: Counter[tuple[str, str]] = Counter()
    headline_withheld = headline = 0
    largest_difference = 0.0
    audit_seconds = table_seconds = 0.0
    audits = AuditReport()
    with engine.connect() as connection:
        strata = load_strata(connection, "influenzanet")
        first, last = report_weeks(connection)
        weeks = weeks_between(first, last)
        relations = table_relations(strata.geographies(), [b.label for b in strata.bands], list(strata.sexes))
        e = IncidenceEstimate.__table__.c
        for method_key, group in groups.items():
            method = get_method(method_key)
            counts = count_weeks(connection, weeks, group, method, strata)
            rows = connection.execute(select(e.week, e.geo_type, e.geo_code, e.age_band, e.sex, e.definition_key,
                                             e.incidence, e.missing_reason)
                                      .where(e.final.is_(True), e.method == method_key)).all()
            published = {(r.week, r.definition_key, (r.geo_type, r.geo_code, r.age_band, r.sex)): r for r in rows}
            for week in weeks:
                tables = WeekTables({method_key: counts[week].active}, {method_key: counts[week].cases[:]},
                                    [d.key for d in group])
                started = time.perf_counter()
                disclose_table(counts[week].active, counts[week].cases, relations, policy)
                table_seconds += time.perf_counter() - started
                started = time.perf_counter()
                protect_week(tables, relations, policy, report=audits)
                audit_seconds += time.perf_counter() - started
                for i, d in enumerate(group):
                    for cell, active in counts[week].active.items():
                        if not published_cell(cell):
                            continue
                        row = published.get((week, d.key, cell))
                        if row is None:
                            continue
                        cells[level(cell)] += 1
                        if row.missing_reason not in (MISSING_NONE, MISSING_NOT_PUBLISHED):
                            withheld[(*level(cell), str(row.missing_reason))] += 1
                        if cell[2] == "all" and cell[3] == "all":
                            headline += 1
                            if row.missing_reason != MISSING_NONE:
                                headline_withheld += 1
                            elif active:
                                truth = counts[week].cases[i][cell] / active
                                largest_difference = max(largest_difference, abs(row.incidence - truth))

    print(f"\n{url}: {len(weeks)} weeks, reference methods {', '.join(groups)}\n")
    print(f"{'level':<8} {'stratum':<20} {'cells':>7} {'privacy (3)':>12} {'few active (6)':>15}")
    summary = []
    for (geo_type, stratum), n in sorted(cells.items()):
        privacy = withheld[(geo_type, stratum, "3")] / n
        low = withheld[(geo_type, stratum, "6")] / n
        summary.append({"level": geo_type, "stratum": stratum, "cells": n, "privacy": privacy, "few_active": low})
        print(f"{geo_type:<8} {stratum:<20} {n:>7} {privacy:>11.1%} {low:>14.1%}")
    print(f"\nheadline cells (nation and regions, all ages and sexes): {headline}, withheld "
          f"{headline_withheld / max(headline, 1):.1%}; largest |published - unprotected| incidence "
          f"{largest_difference:.2e}")
    ratio = audit_seconds / table_seconds if table_seconds else float("nan")
    print(f"joint audit {audit_seconds:.2f} s for {len(weeks) * len(groups)} week-tables "
          f"({audits.sensitive} sensitive counts, {audits.complements} complements, {audits.solves} solves) vs "
          f"table by table {table_seconds:.2f} s: {ratio:.1f}x")
    document = {"url": url, "weeks": len(weeks), "cells": summary, "headline": headline,
                "headline_withheld": headline_withheld, "largest_difference": largest_difference,
                "audit_seconds": audit_seconds, "table_seconds": table_seconds, "sensitive": audits.sensitive,
                "complements": audits.complements, "solves": audits.solves}
    (RESULTS / "disclosure.json").write_text(json.dumps(document, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    labels = [f"{s['level']}\n{s['stratum']}" for s in summary]
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.bar(labels, [s["privacy"] * 100 for s in summary], label="privacy (3)")
    axis.bar(labels, [s["few_active"] * 100 for s in summary], bottom=[s["privacy"] * 100 for s in summary],
             label="too few active (6)")
    axis.set_ylabel("% of published cells' cases withheld")
    axis.set_title("Withheld case counts by level (reference methods, final issues)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "disclosure.png", dpi=120)
    print(f"plot: {RESULTS / 'disclosure.png'}")


if __name__ == "__main__":
    main()
