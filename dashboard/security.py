"""Who is asking, and may they see this patient: the one place the dashboard decides.

Every route declares its access policy as a dependency, and the route-walking
test (tests/dashboard/test_authz_matrix.py) fails for a route that declares none:

- ``Depends(public)``: no sign-in (the login page, health check);
- ``CurrentUser`` / ``Depends(current_user)``: any signed-in user;
- ``Depends(require_role("nurse", ...))``: signed in with one of these roles;
- ``Depends(patient_access("purpose", scope=...))``: the path's ``{patient_id}`` must be
  visible to the user (``require_patient``); reads by anyone but the patient are audited.

DESIGN.md §4: a patient sees only themselves; a caregiver what the patient shared
with them (per scope); a coach the patients of their care teams; a nurse the
patients of their clinic; an admin accounts and devices, never health data.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, NoReturn
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request

from core.appdb.account_store import REFUSED, AccountStore, AuditEntry, SessionInfo
from core.appdb.accounts import ROLES, SHARE_SCOPES
from core.appdb.directory import PatientDirectory, PatientInfo
from dashboard.audit_writer import AuditWriter, insert_rows
from dashboard.csrf import csrf_field, csrf_token, verify_csrf
from dashboard.settings import DashboardSettings

__all__ = [
    "ROLES", "SHARE_SCOPES", "AccessPolicy", "CurrentUser", "LoginRequired", "PatientAccess",
    "User", "audit_reads", "csrf_field", "csrf_token", "current_user", "patient_access",
    "policies_of", "public", "require_patient", "require_role", "verify_csrf",
    "visible_patient_ids", "visible_patients",
]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
FORBIDDEN = "you may not see this patient's data"


@dataclass(frozen=True, slots=True)
class User:
    """The signed-in person. ``patient_id`` links a patient's account to their record."""

    id: str
    role: str
    display_name: str
    clinic_id: str | None = None
    patient_id: str | None = None


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """What a route declared; the route walker reads it from the dependency tree."""

    kind: Literal["public", "signed_in", "roles", "patient"]
    roles: tuple[str, ...] = ()
    purpose: str = ""
    scope: str = ""
    self_only: bool = False  # only the patient themselves (their own settings, answers)


@dataclass(frozen=True, slots=True)
class PatientAccess:
    user: User
    patient: PatientInfo


class LoginRequired(Exception):
    """Not signed in: 401 for the API, a redirect to /login for pages (create_app)."""


def _mark(fn: Callable[..., Any], policy: AccessPolicy) -> Callable[..., Any]:
    fn.__access_policy__ = policy  # type: ignore[attr-defined]
    return fn


def policies_of(call: Any) -> AccessPolicy | None:
    return getattr(call, "__access_policy__", None)


# -- the request's collaborators (set by create_app) -----------------------------------

def accounts_of(request: Request) -> AccountStore:
    accounts: AccountStore = request.app.state.accounts
    return accounts


def settings_of(request: Request) -> DashboardSettings:
    settings: DashboardSettings = request.app.state.dashboard_settings
    return settings


def now_of(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock()


def cookie_secure(request: Request) -> bool:
    """``Secure`` on the session and CSRF cookies: always, unless explicitly in
    development (then only over https); ``HEARTH_DASHBOARD_COOKIE_SECURE`` forces it."""
    settings = settings_of(request)
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return settings.environment != "development" or request.url.scheme == "https"


def session_of(request: Request) -> SessionInfo | None:
    """The live server-side session of this request's cookie (looked up once)."""
    if "session" in request.state._state:
        found: SessionInfo | None = request.state.session
        return found
    token = request.cookies.get(settings_of(request).session_cookie)
    found = None
    if token:
        found = accounts_of(request).session(token, now=now_of(request),
                                            idle=settings_of(request).idle)
    request.state.session = found
    return found


# -- policies --------------------------------------------------------------------------

def public() -> None:
    """Declares a route open to everyone (it must show no personal data)."""


_mark(public, AccessPolicy("public"))


def current_user(request: Request) -> User:
    session = session_of(request)
    if session is None:
        raise LoginRequired()
    a = session.account
    user = User(a.id, a.role, a.display_name, a.clinic_id, a.patient_id)
    request.state.user = user
    return user


_mark(current_user, AccessPolicy("signed_in"))
CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: str) -> Callable[..., User]:
    """A dependency: the signed-in user if their role is one of ``roles``, else 403."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"require_role needs roles from {ROLES}, not {sorted(unknown)}")

    def dependency(request: Request, user: CurrentUser) -> User:
        if user.role not in roles:
            log.info("denied: user %s (%s) -> %s for roles %s", user.id, user.role,
                     request.url.path, ",".join(roles))
            patient_id = request.path_params.get("patient_id")
            if patient_id is not None and patient_id != user.patient_id:  # audited too
                accounts_of(request).audit([AuditEntry(
                    now_of(request), user.id, user.role, str(patient_id),
                    f"{REFUSED}{' and '.join(roles)} page", request.url.path)])
            raise HTTPException(403, f"this page is for {' and '.join(roles)} accounts")
        return user

    return _mark(dependency, AccessPolicy("roles", roles=tuple(roles)))


def patient_access(purpose: str, *, scope: str = "readings",
                   self_only: bool = False) -> Callable[..., PatientAccess]:
    """A dependency for routes with ``{patient_id}``: require_patient for that patient.

    ``self_only``: only the patient themselves (what they alone decide or answer:
    agreeing to a plan, a self-assessment, sharing settings); 403 for everyone else."""
    if scope not in SHARE_SCOPES:
        raise ValueError(f"scope must be one of {SHARE_SCOPES}")

    def dependency(request: Request, patient_id: str, user: CurrentUser) -> PatientAccess:
        if self_only and user.patient_id != patient_id:
            _refuse(request, user, patient_id, purpose, "only the patient themselves may do this")
        patient = require_patient(request, patient_id, user, purpose, scope=scope)
        return PatientAccess(user, patient)

    return _mark(dependency, AccessPolicy("patient", purpose=purpose, scope=scope,
                                          self_only=self_only))


# -- the one decision ------------------------------------------------------------------

def may_see(accounts: AccountStore, user: User, patient_id: str, scope: str) -> bool:
    """THE rule of DESIGN.md §4 for one patient."""
    if user.role == "patient":
        return user.patient_id == patient_id
    if user.role == "caregiver":
        return any(s.patient_id == patient_id and scope in s.scopes
                   for s in accounts.shares_with(user.id))
    if user.role == "coach":
        return patient_id in accounts.team_patient_ids(user.id)
    if user.role == "nurse":
        return user.clinic_id is not None and patient_id in accounts.clinic_patient_ids(
            user.clinic_id)
    return False  # admin: accounts and devices, never health data


def visible_patient_ids(request: Request, user: User) -> set[str]:
    """Every patient whose data this user may open (some scope, for caregivers)."""
    accounts = accounts_of(request)
    if user.role == "patient":
        return {user.patient_id} if user.patient_id else set()
    if user.role == "caregiver":
        return {s.patient_id for s in accounts.shares_with(user.id) if s.scopes}
    if user.role == "coach":
        return accounts.team_patient_ids(user.id)
    if user.role == "nurse" and user.clinic_id:
        return accounts.clinic_patient_ids(user.clinic_id)
    return set()


def visible_patients(request: Request, user: User) -> list[PatientInfo]:
    directory: PatientDirectory = request.app.state.directory
    ids = visible_patient_ids(request, user)
    return [p for p in directory.patients() if p.id in ids]


def require_patient(request: Request, patient_id: str, user: User, purpose: str, *,
                    scope: str = "readings") -> PatientInfo:
    """The patient if ``user`` may read their ``scope`` data, else 403 (the same for a
    patient who does not exist, so ids cannot be probed). Audits others' reads."""
    directory: PatientDirectory = request.app.state.directory
    patient = directory.patient(patient_id)
    if patient is None or not may_see(accounts_of(request), user, patient_id, scope):
        _refuse(request, user, patient_id, purpose, FORBIDDEN)
    audit_reads(request, user, [patient_id], purpose)
    return patient


def _refuse(request: Request, user: User, patient_id: str, purpose: str,
            reason: str) -> NoReturn:
    """403, logged (ids only) and written to the audit log as a refused attempt."""
    log.info("denied: user %s (%s) -> patient %s for %s", user.id, user.role, patient_id,
             purpose)
    accounts_of(request).audit([AuditEntry(now_of(request), user.id, user.role, patient_id,
                                           f"{REFUSED}{purpose}", request.url.path)])
    raise HTTPException(403, reason)


def audit_reads(request: Request, user: User, patient_ids: Iterable[str], purpose: str) -> None:
    """Write an audit row for each patient read by someone who is not that patient.

    List views that read many patients' data (triage) call this once with them all."""
    at = now_of(request)
    path = request.url.path
    entries = [AuditEntry(at, user.id, user.role, pid, purpose, path)
               for pid in dict.fromkeys(patient_ids) if pid != user.patient_id]
    audit_writer_of(request).write(entries)


_WRITER_LOCK = threading.Lock()


def audit_writer_of(request: Request) -> AuditWriter:
    """The app's audit writer: one bulk INSERT per group of waiting requests
    (dashboard/audit_writer.py), into the account store's database."""
    state = request.app.state
    with _WRITER_LOCK:
        writer: AuditWriter | None = getattr(state, "audit_writer", None)
        if writer is None:
            accounts = accounts_of(request)
            engine = getattr(accounts, "_engine", None)  # the same database
            writer = AuditWriter(partial(insert_rows, engine) if engine is not None
                                 else lambda entries: accounts.audit(entries))
            state.audit_writer = writer
        return writer


def login_redirect(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"
