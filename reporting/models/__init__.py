"""All SQLAlchemy models. One database, one migration history (see migrations/)."""

from .auth import STAFF_ROLES, ApiToken, LoginToken, StaffUser, UserSession
from .base import Base, utcnow
from .citizen import CitizenEvent, EmailChange, ReminderDelivery, Withdrawal
from .epidemiology import (
    MISSING_LOW_PRECISION,
    MISSING_NOT_PUBLISHED,
    MISSING_NONE,
    MISSING_PRIVACY,
    MISSING_REASONS,
    AgeBand,
    CaseDefinition,
    CaseFlagBit,
    IncidenceEstimate,
    ParticipationEstimate,
    SeasonMaximum,
)
from .geography import Municipality, Region
from .operations import AuditEvent, InstanceFact, JobRun, OutboxMessage
from .people import RELATIONS, SEXES, Account, Consent, Profile, new_unsubscribe_key
from .reports import ReportRevision, ReportSubmission, WeeklyReport
from .standardisation import StandardPopulation

__all__ = [
    "STAFF_ROLES", "ApiToken", "LoginToken", "StaffUser", "UserSession", "Base", "utcnow",
    "MISSING_LOW_PRECISION", "MISSING_NONE", "MISSING_NOT_PUBLISHED", "MISSING_PRIVACY", "MISSING_REASONS", "AgeBand",
    "CaseDefinition", "CaseFlagBit", "IncidenceEstimate", "ParticipationEstimate", "SeasonMaximum", "Municipality", "Region", "AuditEvent", "InstanceFact", "JobRun",
    "OutboxMessage", "RELATIONS", "SEXES", "Account", "Consent", "Profile",
    "ReportRevision", "ReportSubmission", "WeeklyReport",
    "CitizenEvent", "EmailChange", "ReminderDelivery", "Withdrawal", "new_unsubscribe_key",
]
