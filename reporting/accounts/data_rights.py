"""Data rights: a copy of everything held about a person (JSON, and the reports as CSV), and withdrawal
of consent, which deletes the person's data at once.

What withdrawal deletes (in one transaction): the account and its e-mail address, consents, every
profile with its intake answers, every weekly report with its earlier versions and submission ids, login
links (and sign-up links to any of its addresses), sessions, pending and finished e-mail changes, reminder
deliveries, the person's own event log (``citizen_events``), and every mail in the outbox, pending or sent,
that is the account's or goes to any address the account ever had (its address now, the addresses of its
e-mail changes, the addresses its mails went to). What remains: a ``withdrawals`` row saying that a
withdrawal happened, when, under which consent version and how much was deleted (no identifier, no
address, no answers). Nothing is written to the append-only audit log: it never holds citizens' events.
Ids are never given again (AUTOINCREMENT on SQLite, sequences on PostgreSQL), and unsubscribe links name
the account's random key, which is deleted with it, so nothing that pointed at the person can come to
point at someone else.

Aggregates already published are not recomputed by this (they hold no personal data); the next
aggregation runs without the deleted reports.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import delete, func, select

from .. import audit
from ..extensions import db
from ..models import (
    Account,
    CitizenEvent,
    Consent,
    EmailChange,
    LoginToken,
    Municipality,
    OutboxMessage,
    Profile,
    ReminderDelivery,
    ReportRevision,
    UserSession,
    WeeklyReport,
    Withdrawal,
    utcnow,
)
from ..questionnaire import load
from ..spreadsheet import safe_cell
from ..weeks import format_iso_week



def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def export_data(account_id: int) -> dict[str, Any]:
    """Everything held about the account, as one JSON-ready document."""
    account = db.session.get(Account, account_id)
    if account is None:
        raise LookupError(account_id)
    municipalities = {code: name for code, name in db.session.execute(select(Municipality.code, Municipality.name))}
    profiles = db.session.scalars(select(Profile).where(Profile.account_id == account_id)
                                  .order_by(Profile.created_at, Profile.id)).all()
    profile_ids = [p.id for p in profiles]
    reports = db.session.scalars(select(WeeklyReport).where(WeeklyReport.profile_id.in_(profile_ids))
                                 .order_by(WeeklyReport.week, WeeklyReport.id)).all() if profile_ids else []
    revisions: dict[int, list[ReportRevision]] = {}
    if reports:
        for revision in db.session.scalars(select(ReportRevision).where(
                ReportRevision.report_id.in_([r.id for r in reports])).order_by(ReportRevision.revision)):
            revisions.setdefault(revision.report_id, []).append(revision)
    by_profile: dict[str, list[dict[str, Any]]] = {p: [] for p in profile_ids}
    for report in reports:
        by_profile[report.profile_id].append({
            "week": format_iso_week(report.week), "week_monday": _iso(report.week),
            "submitted_at": _iso(report.submitted_at), "revision": report.revision,
            "questionnaire_version": report.questionnaire_version, "answers": report.answers,
            "municipality_code": report.municipality_code, "region_code": report.region_code,
            "age_years": report.age_years, "onset_date": _iso(report.onset_date),
            "earlier_versions": [{"revision": r.revision, "submitted_at": _iso(r.submitted_at),
                                  "questionnaire_version": r.questionnaire_version, "answers": r.answers}
                                 for r in revisions.get(report.id, [])],
        })
    sessions = db.session.scalars(select(UserSession).where(UserSession.account_id == account_id)
                                  .order_by(UserSession.created_at)).all()
    links = db.session.scalars(select(LoginToken).where(LoginToken.account_id == account_id)
                               .order_by(LoginToken.created_at)).all()
    deliveries = db.session.scalars(select(ReminderDelivery).where(ReminderDelivery.account_id == account_id)
                                    .order_by(ReminderDelivery.week)).all()
    events = db.session.scalars(select(CitizenEvent).where(CitizenEvent.account_id == account_id)
                                .order_by(CitizenEvent.occurred_at, CitizenEvent.id)).all()
    document = {
        "exported_at": _iso(utcnow()),
        "account": {
            "email": account.email, "language": account.language, "status": account.status,
            "created_at": _iso(account.created_at), "confirmed_at": _iso(account.confirmed_at),
            "reminder_weekday": account.reminder_weekday,
            "reminders_paused_until": _iso(account.reminders_paused_until),
            "unsubscribed_at": _iso(account.unsubscribed_at),
        },
        "consents": [{"version": c.version, "given_at": _iso(c.given_at), "withdrawn_at": _iso(c.withdrawn_at)}
                     for c in account.consents],
        "profiles": [{
            "id": p.id, "relation": p.relation, "display_name": p.display_name, "birth_year": p.birth_year,
            "sex": p.sex, "municipality_code": p.municipality_code,
            "municipality": municipalities.get(p.municipality_code), "intake_version": p.intake_version,
            "intake_answers": p.intake_answers, "created_at": _iso(p.created_at), "updated_at": _iso(p.updated_at),
            "reports": by_profile[p.id],
        } for p in profiles],
        "reminder_mails": [{"week": format_iso_week(d.week), "created_at": _iso(d.created_at)} for d in deliveries],
        "sessions": [{"created_at": _iso(s.created_at), "last_seen_at": _iso(s.last_seen_at),
                      "expires_at": _iso(s.expires_at), "revoked_at": _iso(s.revoked_at)} for s in sessions],
        "links": [{"purpose": t.purpose, "created_at": _iso(t.created_at), "expires_at": _iso(t.expires_at),
                   "used_at": _iso(t.used_at)} for t in links],
        "events": [{"occurred_at": _iso(e.occurred_at), "action": e.action} for e in events],
    }
    audit.citizen(account_id, "account.exported")
    db.session.commit()
    return document


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    return safe_cell(value)


def export_csv(document: dict[str, Any]) -> str:
    """The reports of an export document as CSV: one row per report (and per earlier version), one column
    per question, in the questionnaires' order. Cells that a spreadsheet would run as a formula are
    neutralised with a leading apostrophe."""
    keys: list[str] = []
    seen_versions: list[str] = []
    rows: list[tuple[dict[str, Any], dict[str, Any], bool]] = []
    for profile in document["profiles"]:
        for report in profile["reports"]:
            for version, current in [(report, True)] + [(v, False) for v in report["earlier_versions"]]:
                rows.append((profile, {**report, **version}, current))
                if version["questionnaire_version"] not in seen_versions:
                    seen_versions.append(version["questionnaire_version"])
    for identity in seen_versions:
        try:
            questions = [q.key for q in load(identity).questions]
        except LookupError:
            questions = []
        keys += [k for k in questions if k not in keys]
    for _profile, report, _current in rows:
        keys += [k for k in report["answers"] if k not in keys]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["profile", "relation", "display_name", "week", "submitted_at", "revision", "current",
                     "questionnaire_version", *keys])
    for profile, report, current in rows:
        writer.writerow([_cell(v) for v in (
            profile["id"], profile["relation"], profile["display_name"], report["week"], report["submitted_at"],
            report["revision"], "yes" if current else "no", report["questionnaire_version"],
            *(report["answers"].get(k) for k in keys))])
    return out.getvalue()


def addresses_of(account: Account) -> set[str]:
    """Every address the account has had that no other account has now: its address, those of its e-mail
    changes (pending or done) and those its mails went to (an old address keeps its mails' recipient)."""
    addresses = {account.email}
    addresses.update(db.session.scalars(select(EmailChange.new_email).where(EmailChange.account_id == account.id)))
    addresses.update(db.session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.account_id == account.id)))
    others = set(db.session.scalars(select(Account.email).where(Account.email.in_(addresses),
                                                                Account.id != account.id)))
    return addresses - others


def withdraw(account_id: int, *, channel: str) -> Withdrawal:
    """Delete the person's data now (see the module docstring); returns the record that remains."""
    account = db.session.get(Account, account_id)
    if account is None:
        raise LookupError(account_id)
    profile_ids = list(db.session.scalars(select(Profile.id).where(Profile.account_id == account_id)))
    reports = db.session.scalar(select(func.count()).select_from(WeeklyReport)
                                .where(WeeklyReport.profile_id.in_(profile_ids))) if profile_ids else 0
    consent = db.session.scalar(select(Consent.version).where(Consent.account_id == account_id)
                                .order_by(Consent.given_at.desc()).limit(1))
    addresses = addresses_of(account)
    record = Withdrawal(consent_version=consent, channel=channel, profiles_deleted=len(profile_ids),
                        reports_deleted=reports or 0)
    db.session.add(record)
    db.session.expunge(account)
    # The database cascades (ON DELETE CASCADE) would remove all of these with the account; they are deleted
    # by name so that what goes is written down here.
    if profile_ids:
        db.session.execute(delete(WeeklyReport).where(WeeklyReport.profile_id.in_(profile_ids)))
    for table in (EmailChange, ReminderDelivery, LoginToken, UserSession, Consent, CitizenEvent, OutboxMessage):
        db.session.execute(delete(table).where(table.account_id == account_id))
    # What went to its addresses before it was tied to the account (a sign-up's confirmation), and sign-up
    # links to them that were never opened.
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.account_id.is_(None),
                                                   OutboxMessage.recipient.in_(addresses)))
    db.session.execute(delete(LoginToken).where(LoginToken.account_id.is_(None), LoginToken.email.in_(addresses)))
    db.session.execute(delete(Profile).where(Profile.account_id == account_id))
    db.session.execute(delete(Account).where(Account.id == account_id))
    db.session.commit()
    return record
