"""Reading and writing accounts, relations, sessions, login attempts and the audit log.

The rules of who may see whom are not here: dashboard/security.py decides, from
the relations this store reports. Times are passed in (the caller's clock).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.appdb.accounts import (
    CARE_TEAM_ROLES,
    ROLES,
    SHARE_SCOPES,
    AuditEvent,
    CaregiverShare,
    CareTeam,
    CareTeamMember,
    CareTeamPatient,
    Clinic,
    ClinicPatient,
    LoginAttempt,
    LoginSession,
    User,
)
from core.appdb.models import Patient
from core.passwords import (
    hash_password,
    needs_rehash,
    rehash_password,
    verify_nothing,
    verify_password,
)

TOUCH_EVERY = timedelta(seconds=60)  # write last_seen_at at most this often per session
KEEP_ATTEMPTS = timedelta(days=1)  # longer than any throttling window


class AccountError(ValueError):
    """A provisioning request that cannot be carried out (message says why)."""


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    role: str
    display_name: str
    clinic_id: str | None = None
    patient_id: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class Share:
    patient_id: str
    caregiver_id: str
    scopes: tuple[str, ...]
    urgent_alerts: bool


@dataclass(frozen=True, slots=True)
class SessionInfo:
    account: Account
    csrf_token: str
    created_at: datetime
    expires_at: datetime


REFUSED = "denied:"  # purpose prefix of a refused attempt


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor_id: str
    actor_role: str
    patient_id: str
    purpose: str  # what was read, or REFUSED + what was asked for
    path: str = ""

    @property
    def refused(self) -> bool:
        return self.purpose.startswith(REFUSED)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_SESSION_WITH_USER = (
    select(LoginSession.csrf_token, LoginSession.created_at, LoginSession.last_seen_at,
           LoginSession.expires_at, User.id.label("user_id"), User.role, User.display_name,
           User.clinic_id, User.patient_id, User.active)
    .outerjoin(User, User.id == LoginSession.user_id)
    .where(LoginSession.token_hash == bindparam("token_hash"))
)


def _account(user: User) -> Account:
    return Account(user.id, user.role, user.display_name, user.clinic_id, user.patient_id,
                   user.active)


class AccountStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- provisioning ------------------------------------------------------------------

    def add_clinic(self, clinic_id: str, name: str) -> None:
        with Session(self._engine) as session:
            clinic = session.get(Clinic, clinic_id) or Clinic(id=clinic_id)
            clinic.name = name
            session.add(clinic)
            session.commit()

    def add_user(self, user_id: str, *, role: str, display_name: str, password: str,
                 patient_id: str | None = None, clinic_id: str | None = None) -> Account:
        """Create an account (AccountError if the name is taken or the links are wrong)."""
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if (role == "patient") != (patient_id is not None):
            raise AccountError("a patient account needs --patient, and only a patient's does")
        user = User(id=user_id.strip().lower(), role=role, display_name=display_name,
                    password_hash=hash_password(password, user_inputs=(user_id, display_name)),
                    patient_id=patient_id,
                    clinic_id=clinic_id, active=True)
        with Session(self._engine) as session:
            if patient_id is not None and session.get(Patient, patient_id) is None:
                raise AccountError(f"no patient {patient_id!r}")
            if clinic_id is not None and session.get(Clinic, clinic_id) is None:
                raise AccountError(f"no clinic {clinic_id!r}")
            if session.get(User, user.id) is not None:
                raise AccountError(f"the account {user.id!r} exists already")
            session.add(user)
            try:
                session.commit()
            except IntegrityError as exc:
                raise AccountError(f"cannot create {user.id!r}: {exc.orig}") from exc
            return _account(user)

    def set_password(self, user_id: str, password: str) -> None:
        new_hash = hash_password(password, user_inputs=(user_id,))
        with Session(self._engine) as session:
            user = self._get(session, user_id)
            user.password_hash = new_hash
            session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
            session.commit()

    def set_active(self, user_id: str, active: bool) -> None:
        with Session(self._engine) as session:
            user = self._get(session, user_id)
            user.active = active
            if not active:
                session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
            session.commit()

    def add_care_team(self, team_id: str, name: str, clinic_id: str | None = None) -> None:
        with Session(self._engine) as session:
            team = session.get(CareTeam, team_id) or CareTeam(id=team_id)
            team.name, team.clinic_id = name, clinic_id
            session.add(team)
            session.commit()

    def add_team_member(self, team_id: str, user_id: str) -> None:
        with Session(self._engine) as session:
            user = self._get(session, user_id)
            if user.role not in CARE_TEAM_ROLES:
                raise AccountError(f"only a {' or '.join(CARE_TEAM_ROLES)} joins a care team")
            self._team(session, team_id)
            session.merge(CareTeamMember(team_id=team_id, user_id=user.id))
            session.commit()

    def assign_patient(self, team_id: str, patient_id: str) -> None:
        self.assign_patients(team_id, [patient_id])

    def assign_patients(self, team_id: str, patient_ids: Iterable[str]) -> None:
        """Assign patients to a care team, in one transaction."""
        with Session(self._engine) as session:
            self._team(session, team_id)
            for patient_id in dict.fromkeys(patient_ids):
                self._patient(session, patient_id)
                session.merge(CareTeamPatient(team_id=team_id, patient_id=patient_id))
            session.commit()

    def unassign_patient(self, team_id: str, patient_id: str) -> None:
        with Session(self._engine) as session:
            session.execute(delete(CareTeamPatient).where(
                CareTeamPatient.team_id == team_id, CareTeamPatient.patient_id == patient_id))
            session.commit()

    def register_at_clinic(self, patient_id: str, clinic_id: str) -> None:
        self.register_many_at_clinic([patient_id], clinic_id)

    def register_many_at_clinic(self, patient_ids: Iterable[str], clinic_id: str) -> None:
        """Register patients with a clinic (moving them from another), in one transaction."""
        with Session(self._engine) as session:
            if session.get(Clinic, clinic_id) is None:
                raise AccountError(f"no clinic {clinic_id!r}")
            for patient_id in dict.fromkeys(patient_ids):
                self._patient(session, patient_id)
                session.merge(ClinicPatient(patient_id=patient_id, clinic_id=clinic_id))
            session.commit()

    def share(self, patient_id: str, caregiver_id: str, scopes: Iterable[str], *,
              urgent_alerts: bool = False) -> Share:
        """Set what a patient shares with a caregiver (replaces the previous share)."""
        wanted = tuple(dict.fromkeys(scopes))
        unknown = [s for s in wanted if s not in SHARE_SCOPES]
        if unknown:
            raise AccountError(f"unknown scopes {unknown}; known: {', '.join(SHARE_SCOPES)}")
        with Session(self._engine) as session:
            if self._get(session, caregiver_id).role != "caregiver":
                raise AccountError(f"{caregiver_id!r} is not a caregiver account")
            self._patient(session, patient_id)
            session.merge(CaregiverShare(patient_id=patient_id, caregiver_id=caregiver_id,
                                         scopes=list(wanted), urgent_alerts=urgent_alerts))
            session.commit()
        return Share(patient_id, caregiver_id, wanted, urgent_alerts)

    def unshare(self, patient_id: str, caregiver_id: str) -> None:
        with Session(self._engine) as session:
            session.execute(delete(CaregiverShare).where(
                CaregiverShare.patient_id == patient_id,
                CaregiverShare.caregiver_id == caregiver_id))
            session.commit()

    # -- reading -----------------------------------------------------------------------

    def account(self, user_id: str) -> Account | None:
        with Session(self._engine) as session:
            user = session.get(User, user_id)
            return _account(user) if user else None

    def accounts(self) -> list[Account]:
        with Session(self._engine) as session:
            return [_account(u) for u in session.scalars(select(User).order_by(User.id))]

    def check_password(self, user_id: str, password: str) -> Account | None:
        """The active account if the password is right; None otherwise (same cost)."""
        with Session(self._engine) as session:
            user = session.get(User, user_id)
            if user is None or not user.active:
                verify_nothing(password)
                return None
            if not verify_password(user.password_hash, password):
                return None
            if needs_rehash(user.password_hash):  # stored under older, weaker parameters
                user.password_hash = rehash_password(password)
                session.commit()
            return _account(user)

    def team_patient_ids(self, user_id: str) -> set[str]:
        """Patients assigned to any care team the user belongs to."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(CareTeamPatient.patient_id)
                .join(CareTeamMember, CareTeamMember.team_id == CareTeamPatient.team_id)
                .where(CareTeamMember.user_id == user_id))
            return set(rows)

    def clinic_patient_ids(self, clinic_id: str) -> set[str]:
        with Session(self._engine) as session:
            return set(session.scalars(
                select(ClinicPatient.patient_id).where(ClinicPatient.clinic_id == clinic_id)))

    def shares_with(self, caregiver_id: str) -> list[Share]:
        return self._shares(CaregiverShare.caregiver_id == caregiver_id)

    def shares_of(self, patient_id: str) -> list[Share]:
        return self._shares(CaregiverShare.patient_id == patient_id)

    def urgent_alert_caregivers(self, patient_id: str) -> list[str]:
        """Caregivers the patient opted into urgent alerts."""
        return [s.caregiver_id for s in self.shares_of(patient_id) if s.urgent_alerts]

    def care_team_members(self, patient_id: str) -> list[str]:
        with Session(self._engine) as session:
            return sorted(set(session.scalars(
                select(CareTeamMember.user_id)
                .join(CareTeamPatient, CareTeamMember.team_id == CareTeamPatient.team_id)
                .where(CareTeamPatient.patient_id == patient_id))))

    def _shares(self, condition: ColumnElement[bool]) -> list[Share]:
        with Session(self._engine) as session:
            rows = session.scalars(select(CaregiverShare).where(condition)
                                   .order_by(CaregiverShare.patient_id))
            return [Share(r.patient_id, r.caregiver_id, tuple(r.scopes), r.urgent_alerts)
                    for r in rows]

    # -- sessions ----------------------------------------------------------------------

    def open_session(self, user_id: str, *, now: datetime, lifetime: timedelta) -> str:
        """A new session; returns the token for the cookie (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        with Session(self._engine) as session:
            session.execute(delete(LoginSession).where(LoginSession.expires_at <= now))
            session.add(LoginSession(token_hash=token_hash(token), user_id=user_id,
                                     csrf_token=secrets.token_urlsafe(32), created_at=now,
                                     last_seen_at=now, expires_at=now + lifetime))
            session.commit()
        return token

    def session(self, token: str, *, now: datetime, idle: timedelta) -> SessionInfo | None:
        """The live session of this token, or None (expired ones are deleted).

        Every request of a signed-in user asks this: one SELECT of the session joined
        to its user (through the ORM's unit of work, two look-ups cost 1.25 ms a
        request); writes only when the session ends or is touched (once a minute)."""
        hashed = token_hash(token)
        with self._engine.connect() as conn:
            row = conn.execute(_SESSION_WITH_USER, {"token_hash": hashed}).first()
        if row is None:
            return None
        expired = _aware(row.expires_at) <= now or _aware(row.last_seen_at) + idle <= now
        if expired or row.user_id is None or not row.active:
            with self._engine.begin() as conn:
                conn.execute(delete(LoginSession).where(LoginSession.token_hash == hashed))
            return None
        if now - _aware(row.last_seen_at) >= TOUCH_EVERY:
            with self._engine.begin() as conn:
                conn.execute(update(LoginSession).where(LoginSession.token_hash == hashed)
                             .values(last_seen_at=now))
        account = Account(row.user_id, row.role, row.display_name, row.clinic_id, row.patient_id,
                          row.active)
        return SessionInfo(account, row.csrf_token, _aware(row.created_at),
                           _aware(row.expires_at))

    def close_session(self, token: str) -> None:
        with Session(self._engine) as session:
            session.execute(delete(LoginSession).where(
                LoginSession.token_hash == token_hash(token)))
            session.commit()

    # -- login attempts ----------------------------------------------------------------

    def record_attempt(self, user_id: str, address: str, *, at: datetime,
                       succeeded: bool) -> None:
        with Session(self._engine) as session:
            session.add(LoginAttempt(user_id=user_id[:128], address=address[:64], at=at,
                                     succeeded=succeeded))
            session.execute(delete(LoginAttempt).where(LoginAttempt.at < at - KEEP_ATTEMPTS))
            if succeeded:  # a success clears the account's failures
                session.execute(delete(LoginAttempt).where(
                    LoginAttempt.user_id == user_id[:128], LoginAttempt.succeeded.is_(False)))
            session.commit()

    def failures_since(self, since: datetime, *, user_id: str | None = None,
                       address: str | None = None) -> tuple[int, datetime | None]:
        """Failed attempts since ``since`` for the account or address, and the oldest."""
        query = select(func.count(), func.min(LoginAttempt.at)).where(
            LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False))
        if user_id is not None:
            query = query.where(LoginAttempt.user_id == user_id[:128])
        if address is not None:
            query = query.where(LoginAttempt.address == address[:64])
        with Session(self._engine) as session:
            count, oldest = session.execute(query).one()
            return int(count), _aware(oldest) if oldest else None

    # -- audit -------------------------------------------------------------------------

    def audit(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        with Session(self._engine) as session:
            session.add_all(AuditEvent(at=e.at, actor_id=e.actor_id, actor_role=e.actor_role,
                                       patient_id=e.patient_id, purpose=e.purpose[:64],
                                       path=e.path[:300]) for e in entries)
            session.commit()

    def audit_log(self, *, patient_id: str | None = None, limit: int = 200,
                  offset: int = 0, refused: bool = True) -> list[AuditEntry]:
        """Newest first; one patient's or everyone's; ``refused=False``: reads only."""
        query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        if patient_id is not None:
            query = query.where(AuditEvent.patient_id == patient_id)
        if not refused:
            query = query.where(AuditEvent.purpose.not_like(f"{REFUSED}%"))
        with Session(self._engine) as session:
            rows = session.scalars(query.limit(limit).offset(offset))
            return [AuditEntry(_aware(r.at), r.actor_id, r.actor_role, r.patient_id, r.purpose,
                               r.path) for r in rows]

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _get(session: Session, user_id: str) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise AccountError(f"no account {user_id!r}")
        return user

    @staticmethod
    def _team(session: Session, team_id: str) -> CareTeam:
        team = session.get(CareTeam, team_id)
        if team is None:
            raise AccountError(f"no care team {team_id!r}")
        return team

    @staticmethod
    def _patient(session: Session, patient_id: str) -> None:
        if session.get(Patient, patient_id) is None:
            raise AccountError(f"no patient {patient_id!r}")


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes for DateTime(timezone=True): they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
