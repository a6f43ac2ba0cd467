"""Parallel duplicates of one submission (issue 12, fault 2): when the week already has a report and many
requests carry the same new submission id at once, every one gets the stored answer (201 for the one that
stored it, 200 replayed for the rest) or a 409, never a server error; and the report is revised once.

Real concurrency: threads, each with its own test client and so its own database connection, released
together by a barrier, on both engines (PostgreSQL queues them on the report's row lock; SQLite on its one
writer)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import ReportRevision, ReportSubmission, WeeklyReport

from ..reporting.citizens import log_in, make_profile
from ..reporting.test_citizen_api import ILL, sign_in

PARALLEL = 12
ROUNDS = 3


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:  # noqa: BLE001  (an exception is an outcome the test reports)
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _stored(app: Flask, profile_id: str) -> tuple[int, int, int]:
    with app.app_context():
        reports = db.session.scalars(select(WeeklyReport).where(WeeklyReport.profile_id == profile_id)).all()
        revisions = db.session.scalar(select(func.count()).select_from(ReportRevision))
        submissions = db.session.scalar(select(func.count()).select_from(ReportSubmission))
        return len(reports), reports[0].revision, revisions, submissions  # type: ignore[return-value]


def test_parallel_duplicates_through_the_citizen_api_get_the_stored_answer(app: Flask) -> None:
    _, profile_id = make_profile(app, "dup@example.dk")
    client = app.test_client()
    headers = sign_in(app, client, "dup@example.dk")
    url = f"/api/v1/me/profiles/{profile_id}/reports"
    assert client.post(url, json={"submission_id": "dup-first-report-0000", "answers": {"symptoms": ["none"]}},
                       headers=headers).status_code == 201
    for round_ in range(1, ROUNDS + 1):
        body = {"submission_id": f"dup-round-{round_:02d}-0000000", "answers": ILL}
        answers = _together([lambda: app.test_client().post(url, json=body, headers=headers)
                             for _ in range(PARALLEL)])
        statuses = Counter(a.status_code if not isinstance(a, Exception) else repr(a) for a in answers)
        assert statuses == {201: 1, 200: PARALLEL - 1}, statuses
        assert all(a.json["revision"] == round_ + 1 for a in answers), [a.json for a in answers]
    assert _stored(app, profile_id) == (1, ROUNDS + 1, ROUNDS, ROUNDS + 1)


def test_parallel_duplicates_of_the_web_form_get_the_stored_answer(app: Flask) -> None:
    _, profile_id = make_profile(app, "dupweb@example.dk")
    clients = []
    for _ in range(PARALLEL):
        client = app.test_client()
        log_in(app, client, "dupweb@example.dk")
        clients.append(client)
    url = f"/report/{profile_id}"
    well = {"submission_id": "dupweb-first-0000000", "symptoms": "none"}
    assert clients[0].post(url, data=well).status_code == 302
    ill = {"symptoms": ["fever", "cough"], "persistent_cough": "yes", "same_illness": "no",
           "symptom_start": ILL["symptom_start"], "still_ill": "yes", "sudden_onset": "yes",
           "fever_start": ILL["fever_start"], "fever_sudden": "yes", "temperature_measured": "no",
           "care": ["no"], "tested": "no", "flu_tested": "no", "days_off": "0"}
    for round_ in range(1, ROUNDS + 1):
        data = {**ill, "submission_id": f"dupweb-round-{round_:02d}-000"}
        answers = _together([lambda c=c: c.post(url, data=data) for c in clients])
        statuses = Counter(a.status_code if not isinstance(a, Exception) else repr(a) for a in answers)
        assert statuses == {302: PARALLEL}, (statuses, [a.get_data(as_text=True)[:300] for a in answers
                                                         if getattr(a, "status_code", 0) != 302][:2])
    assert _stored(app, profile_id) == (1, ROUNDS + 1, ROUNDS, ROUNDS + 1)
