"""The account repositories of one application database, together.

Each concept has its repository module (core/appdb/): users.py (accounts and
passwords), clinics.py, care_teams.py, sharing.py (what a patient shares with a
caregiver), sessions.py (sign-in sessions), sign_ins.py (the attempts login throttling
counts) and audit_log.py. This bundle is what the dashboard and the admin commands are
given: ``accounts.users.add(...)``, ``accounts.sharing.with_caregiver(...)``; its
``engine`` is the same database, for the care modules and repositories a view uses.

The rules of who may see whom are not here: dashboard/security.py decides, from the
relations these repositories report. Times are passed in (the caller's clock).
"""

from __future__ import annotations

from sqlalchemy import Engine

from core.appdb.audit_log import AuditLog
from core.appdb.care_teams import CareTeams
from core.appdb.clinics import Clinics
from core.appdb.sessions import LoginSessions
from core.appdb.sharing import Sharing
from core.appdb.sign_ins import SignInAttempts
from core.appdb.users import Users


class AccountStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.users = Users(engine)
        self.clinics = Clinics(engine)
        self.care_teams = CareTeams(engine)
        self.sharing = Sharing(engine)
        self.sessions = LoginSessions(engine)
        self.sign_ins = SignInAttempts(engine)
        self.audit_log = AuditLog(engine)
