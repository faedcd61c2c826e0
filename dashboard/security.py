"""Who is asking, and may they see this patient: the one place the dashboard decides.

Every route declares its access policy as a dependency, and the route-walking
test (tests/dashboard/test_authz_matrix.py) fails for a route that declares none:

- ``Depends(public)``: no sign-in (the login page, health check);
- ``CurrentUser`` / ``Depends(current_user)``: any signed-in user;
- ``Depends(require_role("nurse", ...))``: signed in with one of these roles;
- ``Depends(patient_access("purpose", scope=...))``: the path's ``{patient_id}`` must be
  visible to the user (``require_patient``); reads by anyone but the patient are audited.

Who may ACT (every POST/PUT/PATCH/DELETE): ``STATE_CHANGES`` below declares, for each
unsafe route, the action and who may take it (roles, the patient herself only, or per
alert kind through ``ALERT_ACTIONS``); ``verify_action`` (app-wide, like the CSRF check)
enforces it before the route runs and refuses a route that declares nothing. The route
walker fails for an unsafe route missing from the table.

docs/DESIGN.md §4: a patient sees only themselves; a caregiver what the patient shared
with them (per scope); a coach the patients of their care teams; a nurse the
patients of their clinic; an admin accounts and devices, never health data.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, NoReturn
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.appdb.account_store import AccountStore
from core.appdb.accounts import ROLES, SHARE_SCOPES
from core.appdb.audit_log import REFUSED, AuditEntry
from core.appdb.coaching import CoachAlert
from core.appdb.directory import PatientDirectory, PatientInfo
from core.appdb.sessions import SessionInfo
from dashboard.audit_writer import AuditWriter
from dashboard.csrf import SAFE_METHODS, csrf_field, csrf_token, verify_csrf
from dashboard.settings import DashboardSettings

__all__ = [
    "ALERT_ACTIONS", "DISPLAY_COOKIE", "ROLES", "SHARE_SCOPES", "STATE_CHANGES",
    "AccessPolicy", "ActsOn", "CurrentUser", "LoginRequired", "PatientAccess", "User",
    "audit_reads", "audit_shared", "csrf_field", "csrf_token", "current_user",
    "display_device", "may_act_on_alert", "patient_access", "policies_of", "public",
    "readable_question", "readable_story",
    "require_patient", "require_question", "require_role", "require_story",
    "shared_reader", "verify_action", "verify_csrf", "visible_patient_ids",
    "visible_patients",
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

    kind: Literal["public", "signed_in", "roles", "patient", "display"]
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
        found = accounts_of(request).sessions.get(token, now=now_of(request),
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
                accounts_of(request).audit_log.record([AuditEntry(
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
    """THE rule of docs/DESIGN.md §4 for one patient."""
    if user.role == "patient":
        return user.patient_id == patient_id
    if user.role == "caregiver":
        return any(s.patient_id == patient_id and scope in s.scopes
                   for s in accounts.sharing.with_caregiver(user.id))
    if user.role == "coach":
        return patient_id in accounts.care_teams.patients_of_member(user.id)
    if user.role == "nurse":
        return user.clinic_id is not None and patient_id in accounts.clinics.patient_ids(
            user.clinic_id)
    return False  # admin: accounts and devices, never health data


def visible_patient_ids(request: Request, user: User) -> set[str]:
    """Every patient whose data this user may open (some scope, for caregivers)."""
    accounts = accounts_of(request)
    if user.role == "patient":
        return {user.patient_id} if user.patient_id else set()
    if user.role == "caregiver":
        return {s.patient_id for s in accounts.sharing.with_caregiver(user.id) if s.scopes}
    if user.role == "coach":
        return accounts.care_teams.patients_of_member(user.id)
    if user.role == "nurse" and user.clinic_id:
        return accounts.clinics.patient_ids(user.clinic_id)
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
    accounts_of(request).audit_log.record([AuditEntry(
        now_of(request), user.id, user.role, patient_id, f"{REFUSED}{purpose}",
        request.url.path)])
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
            writer = AuditWriter(accounts_of(request).audit_log.record)
            state.audit_writer = writer
        return writer


def login_redirect(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


# -- who may act ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ActsOn:
    """A declared state change: what it does and who may do it.

    ``roles``: the roles that may (empty: any signed-in user, on what the route lets
    them see); ``self_only``: the patient herself, on her own record (the path's
    ``{patient_id}``); ``public``: no sign-in (signing in and out); ``alert``: the
    action on the alert of the path's ``{alert_id}``, decided per alert kind by
    ``ALERT_ACTIONS`` ("{action}": the action is the path's ``{action}``)."""

    action: str
    roles: tuple[str, ...] = ()
    self_only: bool = False
    public: bool = False
    alert: str = ""
    display: bool = False  # a paired home display (its device cookie), no account


CARE_TEAM = ("coach", "nurse")
# Who may take each action on an alert, per alert kind (core/appdb/coaching.py CoachAlert
# kinds). "escalation": the urgent safety alerts of coach/escalation.py, whose ladder
# starts with the patient herself, then the caregivers she opted in to urgent alerts
# (caregiver_shares.urgent_alerts), then the care team: each of them may say "seen"
# (acknowledge); only the care team snoozes or closes one. "clinical_alert": the care
# team's (coach and nurse queues). "alert": the coach's own queue (e.g. a distress alert
# from a check-in): never the patient's or a caregiver's to clear.
ALERT_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "acknowledge": {"escalation": ("patient", "caregiver", *CARE_TEAM),
                    "clinical_alert": CARE_TEAM, "alert": ("coach",)},
    "snooze": {"escalation": CARE_TEAM, "clinical_alert": CARE_TEAM, "alert": ("coach",)},
    "resolve": {"escalation": CARE_TEAM, "clinical_alert": CARE_TEAM, "alert": ("coach",)},
}

_PATIENT_SELF = ("patient",)
# Every unsafe route of the dashboard, "METHOD path" as declared: a new one must be
# added here (tests/dashboard/test_authz_matrix.py fails until it is, and the request is
# refused meanwhile). The route's own dependencies still decide whose data it may read.
STATE_CHANGES: dict[str, ActsOn] = {
    "POST /login": ActsOn("sign in", public=True),
    "POST /logout": ActsOn("sign out", public=True),
    "POST /settings": ActsOn("change own preferences"),
    "PUT /api/me/preferences": ActsOn("change own preferences"),
    "POST /settings/alarm": ActsOn("change own alarm sound", roles=_PATIENT_SELF),
    "PUT /api/me/alarm": ActsOn("change own alarm sound", roles=_PATIENT_SELF),
    # alerts
    "POST /patients/{patient_id}/alerts/{alert_id}/{action}": ActsOn(
        "acknowledge, snooze or resolve an alert", alert="{action}"),
    "POST /patients/{patient_id}/safety-alerts/{alert_id}/acknowledge": ActsOn(
        "acknowledge a safety alert", roles=("patient", "caregiver"), alert="acknowledge"),
    # the patient's own care
    "POST /patients/{patient_id}/nudges/{nudge_id}/feedback": ActsOn(
        "rate a nudge", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/plan/{plan_id}/pick": ActsOn(
        "pick a goal option", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/plan/{plan_id}/agree": ActsOn(
        "agree to a plan", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/goals/{goal_id}/report": ActsOn(
        "tick off the days of a goal", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/achievements": ActsOn(
        "record an achievement", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/achievements/{achievement_id}/confirm": ActsOn(
        "confirm", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/messages": ActsOn(
        "message the coach", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/self-assessment": ActsOn(
        "answer the self-assessment", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/group/{group_id}/posts": ActsOn(
        "post in a peer group", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/group/{group_id}/consent": ActsOn(
        "consent to a peer group", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/sharing/{caregiver_id}": ActsOn(
        "change what a caregiver sees", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/nightscout-tokens": ActsOn(
        "make a Nightscout token for a follower app", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/nightscout-tokens/{token_id}/revoke": ActsOn(
        "revoke a Nightscout token", roles=_PATIENT_SELF, self_only=True),
    # the coach
    "POST /coach/patients/{patient_id}/messages": ActsOn("message a patient", roles=("coach",)),
    "POST /coach/patients/{patient_id}/plan": ActsOn("propose a plan", roles=("coach",)),
    "POST /coach/patients/{patient_id}/plan/{plan_id}/agree": ActsOn(
        "agree to a plan", roles=("coach",)),
    "POST /coach/patients/{patient_id}/plan/{plan_id}/goals": ActsOn(
        "add goals", roles=("coach",)),
    "POST /coach/patients/{patient_id}/goals/{goal_id}": ActsOn("edit a goal", roles=("coach",)),
    "POST /coach/patients/{patient_id}/goals/{goal_id}/{action}": ActsOn(
        "pause, resume or retire a goal", roles=("coach",)),
    "POST /coach/patients/{patient_id}/evaluate": ActsOn(
        "evaluate the week", roles=("coach",)),
    "POST /coach/patients/{patient_id}/achievements": ActsOn(
        "record an achievement", roles=("coach",)),
    "POST /coach/patients/{patient_id}/achievements/{achievement_id}/confirm": ActsOn(
        "confirm", roles=("coach",)),
    "POST /care/groups": ActsOn("form a peer group", roles=("coach",)),
    "POST /care/groups/{group_id}/prompts": ActsOn("prompt a peer group", roles=("coach",)),
    "POST /care/groups/{group_id}/posts/{post_id}/moderate": ActsOn(
        "moderate", roles=("coach",)),
    "POST /care/groups/{group_id}/members/{member_id}/remove": ActsOn(
        "remove a group member", roles=("coach",)),
    # the nurse
    "POST /nurse/patients/{patient_id}/reviews": ActsOn("record a review", roles=("nurse",)),
    "POST /api/patients/{patient_id}/reviews": ActsOn("record a review", roles=("nurse",)),
    # outreach and advocates (issue 20, dashboard/views/outreach.py)
    "POST /patients/{patient_id}/outreach": ActsOn("record an outreach contact",
                                                   roles=CARE_TEAM),
    "POST /patients/{patient_id}/advocate": ActsOn("name an advocate", roles=CARE_TEAM),
    "POST /caring/messages/{message_id}/seen": ActsOn(
        "acknowledge a safety message sent to oneself", roles=("caregiver",)),
    # lived-experience stories and questions to peers (dashboard/views/stories.py): what
    # each may read is decided per item by require_story / require_question below
    "POST /stories": ActsOn("write a story", roles=("patient", "caregiver")),
    "POST /stories/{story_id}/consent": ActsOn(
        "change a story's consent", roles=("patient", "caregiver")),
    "POST /stories/{story_id}/revoke": ActsOn("withdraw a story", roles=("patient", "caregiver")),
    "POST /stories/{story_id}/helped": ActsOn(
        "mark a story as helpful", roles=("patient", "caregiver")),
    "POST /coach/stories/{story_id}/moderate": ActsOn("moderate a story", roles=("coach",)),
    "POST /questions": ActsOn("ask peers a question", roles=_PATIENT_SELF),
    "POST /caring/questions": ActsOn(
        "ask peers a question for the person one cares for, with their consent",
        roles=("caregiver",)),
    "POST /questions/{question_id}/answers": ActsOn("answer a peer", roles=_PATIENT_SELF),
    "POST /questions/{question_id}/answers/{answer_id}/unsafe": ActsOn(
        "mark an answer clinically unsafe", roles=("coach",)),
    # home displays (dashboard/views/display.py): the patient pairs and unpairs them; a
    # paired display acknowledges its patient's safety alerts (the route checks whose)
    "POST /display/pair": ActsOn("pair a home display with a one-time code", public=True),
    "POST /display/alerts/{alert_id}/ok": ActsOn(
        "acknowledge a safety alert on a home display", display=True),
    "POST /patients/{patient_id}/displays/code": ActsOn(
        "make a home display pairing code", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/displays/{display_id}/revoke": ActsOn(
        "unpair a home display", roles=_PATIENT_SELF, self_only=True),
    # outcomes that matter to the patient (dashboard/views/outcomes.py): hers alone to
    # name, rate and retire; her coach and nurse read them (audited)
    "POST /patients/{patient_id}/outcomes": ActsOn(
        "name an outcome that matters to me", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/outcomes/{outcome_id}/rate": ActsOn(
        "rate an outcome that matters to me", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/outcomes/{outcome_id}/retire": ActsOn(
        "retire an outcome that matters to me", roles=_PATIENT_SELF, self_only=True),
    # the joint record of achievements (dashboard/views/record.py): hers to share with her
    # care team (a message in the thread with her coach)
    "POST /patients/{patient_id}/joint-record/share": ActsOn(
        "share my joint record with my care team", roles=_PATIENT_SELF, self_only=True),
    # a say over the service (dashboard/views/agreements.py): the patient's formal
    # requests and one-tap ratings are hers alone; the clinic's nurses work its queue
    "POST /patients/{patient_id}/service/requests": ActsOn(
        "ask the clinic for a change", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/service/ratings": ActsOn(
        "rate a contact with the care team", roles=_PATIENT_SELF, self_only=True),
    "POST /patients/{patient_id}/service/agreement": ActsOn(
        "record the service limits agreed with a patient", roles=("coach",)),
    "POST /clinic/service/breaches/{measure_id}/seen": ActsOn(
        "mark a service breach seen", roles=("nurse",)),
    "POST /clinic/service/requests/{request_id}/answer": ActsOn(
        "answer a formal request", roles=("nurse",)),
    "POST /clinic/service/ratings/{rating_id}/moderate": ActsOn(
        "publish or decline a rating's comment", roles=("nurse",)),
    "POST /clinic/service/agreement": ActsOn("publish the clinic's agreement",
                                             roles=("nurse",)),
    # clinic staff (dashboard/views/staff.py)
    "POST /staff/patients": ActsOn("add a patient", roles=("nurse",)),
    # a clinic's engagement thresholds (dashboard/views/engagement_settings.py): a nurse of
    # the clinic, or an admin; no patient's data
    "POST /staff/engagement": ActsOn("change a clinic's engagement thresholds",
                                     roles=("nurse", "admin")),
}


def declared_action(method: str, path: str) -> ActsOn | None:
    return STATE_CHANGES.get(f"{method} {path}")


def alert_subject(engine: Engine, alert_id: str) -> tuple[str, str] | None:
    """(patient id, kind) of an alert, or None."""
    with Session(engine) as session:
        row = session.execute(select(CoachAlert.patient_id, CoachAlert.kind)
                              .where(CoachAlert.id == alert_id)).first()
        return (row[0], row[1]) if row else None


def may_act_on_alert(accounts: AccountStore, user: User, patient_id: str, action: str,
                     kind: str) -> bool:
    """THE rule for acting on an alert of ``kind`` about ``patient_id`` (ALERT_ACTIONS);
    an unknown action or kind is refused."""
    if user.role not in ALERT_ACTIONS.get(action, {}).get(kind, ()):
        return False
    if user.role == "patient":
        return user.patient_id == patient_id  # her own: she is the ladder's first step
    if user.role == "caregiver":  # opted in to this person's urgent alerts
        return user.id in accounts.sharing.urgent_alert_caregivers(patient_id)
    return may_see(accounts, user, patient_id, "alerts")


def verify_action(request: Request) -> None:
    """App-wide dependency: an unsafe request runs only if its route declared who may
    act (STATE_CHANGES) and the signed-in user is one of them. 403 otherwise (refusals
    on a patient's record are audited)."""
    if request.method in SAFE_METHODS:
        return
    path = getattr(request.scope.get("route"), "path", None)
    declared = declared_action(request.method, path) if path else None
    if declared is None:
        log.warning("refused: %s %s declares no permission to act", request.method, path)
        raise HTTPException(403, f"{request.method} {path} declares no permission to act "
                                 "(dashboard/security.py STATE_CHANGES)")
    if declared.public:
        return
    if declared.display:
        display_device(request)  # 401 unless a paired display; the route checks the rest
        return
    user = current_user(request)
    patient_id = request.path_params.get("patient_id")
    if declared.roles and user.role not in declared.roles:
        if patient_id is not None and patient_id != user.patient_id:
            _refuse(request, user, str(patient_id), declared.action,
                    f"only {' and '.join(declared.roles)} accounts may {declared.action}")
        raise HTTPException(403, f"only {' and '.join(declared.roles)} accounts may "
                                 f"{declared.action}")
    if declared.self_only and (patient_id is None or patient_id != user.patient_id):
        _refuse(request, user, str(patient_id), declared.action,
                "only the patient themselves may do this")
    if declared.alert:
        action = (str(request.path_params.get("action", "")) if declared.alert == "{action}"
                  else declared.alert)
        subject = alert_subject(_engine_of(request), str(request.path_params.get("alert_id")))
        if subject is None or subject[0] != patient_id or action not in ALERT_ACTIONS:
            return  # no such alert for this patient, or no such action: the route says so
        if not may_act_on_alert(accounts_of(request), user, subject[0], action, subject[1]):
            _refuse(request, user, subject[0], f"{action} alert",
                    f"you may not {action} this alert")


def _engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine  # the application database (create_app)
    return engine


# -- shared content: stories and questions to peers (issue 21) ---------------------------
# Another person's story or question is read by consent, not by care relationship: the
# audience rule is care/stories.py ``readable`` (care/questions.py for questions), and
# these are the only way a view reaches it. Every read of someone else's content is
# audited under the author's patient id; a refusal looks like "no such item" (404, so
# ids cannot be probed) and is audited as refused.

def shared_reader(request: Request, user: User) -> Any:
    """The signed-in user as a reader of shared content (care.stories.Reader), once per
    request."""
    from care.stories import reader_of

    found = getattr(request.state, "shared_reader", None)
    if found is None:
        with Session(_engine_of(request)) as session:
            found = reader_of(session, user_id=user.id, role=user.role,
                              patient_id=user.patient_id, clinic_id=user.clinic_id)
        request.state.shared_reader = found
    return found


def require_story(request: Request, user: User, session: Session, story_id: str,
                  purpose: str) -> Any:
    """The story if ``user`` may read it under its author's consent, else 404 (audited)."""
    from care.stories import find_readable
    from core.appdb.stories import Story

    story = find_readable(session, shared_reader(request, user), story_id)
    if story is None:
        existing = session.get(Story, story_id)
        _refuse_shared(request, user, existing.author_patient_id if existing else None,
                       purpose, "no such story")
    audit_shared(request, user, [(story.author_patient_id, story.author_id)], purpose)
    return story


def require_question(request: Request, user: User, session: Session, question_id: str,
                     purpose: str) -> Any:
    """The question if ``user`` may read it (care/questions.py ``readable``), else 404."""
    from care.questions import find_readable
    from core.appdb.stories import PeerQuestion

    question = find_readable(session, shared_reader(request, user), question_id)
    if question is None:
        existing = session.get(PeerQuestion, question_id)
        _refuse_shared(request, user, existing.asker_patient_id if existing else None,
                       purpose, "no such question")
    audit_shared(request, user, [(question.asker_patient_id, question.asker_id)], purpose)
    return question


def readable_story(request: Request, user: User, story_id: str, purpose: str) -> Any:
    """``require_story`` in a session of its own: the story (detached, to read) or 404."""
    with Session(_engine_of(request)) as session:
        story = require_story(request, user, session, story_id, purpose)
        session.expunge(story)
        return story


def readable_question(request: Request, user: User, question_id: str, purpose: str) -> Any:
    """``require_question`` in a session of its own: the question (detached) or 404."""
    with Session(_engine_of(request)) as session:
        question = require_question(request, user, session, question_id, purpose)
        session.expunge(question)
        return question


def audit_shared(request: Request, user: User, authors: Iterable[tuple[str | None, str]],
                 purpose: str) -> None:
    """Audit the reading of others' shared content: ``authors`` holds (patient id,
    account id) of each item read; the reader's own items are not audited."""
    audit_reads(request, user, [pid for pid, account in authors
                                if pid and account != user.id], purpose)


def _refuse_shared(request: Request, user: User, patient_id: str | None, purpose: str,
                   reason: str) -> NoReturn:
    log.info("denied: user %s (%s) -> shared content for %s", user.id, user.role, purpose)
    if patient_id:
        accounts_of(request).audit_log.record([AuditEntry(
            now_of(request), user.id, user.role, patient_id, f"{REFUSED}{purpose}",
            request.url.path)])
    raise HTTPException(404, reason)


# -- home displays (dashboard/views/display.py) ---------------------------------------------
# A paired display is not a person's account: its device cookie (core/appdb/displays.py)
# may read ONE patient's display and acknowledge that patient's safety alerts, nothing
# else. No account session passes this check, and a display's cookie passes no other.

DISPLAY_COOKIE = "hearth_display"


def display_device(request: Request) -> Any:
    """The paired display of this request's device cookie (core.appdb.displays.Display),
    else 401 (403 to a signed-in account). Looked up once a request."""
    from core.appdb.displays import by_token

    found = getattr(request.state, "display", None)
    if found is not None:
        return found
    token = request.cookies.get(DISPLAY_COOKIE, "")
    with Session(_engine_of(request)) as session:
        found = by_token(session, token, now_of(request))
        session.commit()
    if found is None:
        if session_of(request) is not None:  # a person signed in: not what this is for
            raise HTTPException(403, "this is for a paired home display, not an account")
        raise HTTPException(401, "this display is not paired (or was unpaired): pair it with "
                                 "a code from the patient's Home display page")
    request.state.display = found
    return found


_mark(display_device, AccessPolicy("display"))

