"""The demo household in the application database."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.appdb.account_store import AccountStore
from core.appdb.directory import PatientInfo, bind_devices, upsert_patient
from devices.profiles import PatientProfile


def register_household(engine: Engine, profiles: Sequence[PatientProfile]) -> None:
    """Create or update each profile's patient and bind its devices (idempotent)."""
    with Session(engine) as session:
        for p in profiles:
            info = PatientInfo(p.id, p.name, p.timezone, p.conditions, _targets(p))
            upsert_patient(session, info, birth_year=p.birth_year)
        session.flush()
        for p in profiles:
            bind_devices(session, p.id, [(d.id, d.kind) for d in p.devices])
        session.commit()


def _targets(profile: PatientProfile) -> dict[str, object]:
    """The profile's targets, plus its dose times for the coach's missed-medication rule."""
    targets = dict(profile.targets)
    times = profile.params.get("medication", {}).get("times")
    if times and "medication_times" not in targets:
        targets["medication_times"] = list(times)
    return targets


@dataclass(frozen=True, slots=True)
class DemoAccount:
    user_id: str
    role: str
    display_name: str
    password: str


DEMO_CLINIC = ("riverside", "Riverside Health Centre")
DEMO_TEAM = ("riverside-care", "Riverside care team")
# (login, role, display name); the patient account is the household's first patient.
DEMO_STAFF = (
    ("sam", "caregiver", "Sam (caregiver)"),
    ("cora", "coach", "Cora (coach)"),
    ("nina", "nurse", "Nina (nurse)"),
    ("admin", "admin", "Site administrator"),
)
DEMO_SHARE = ("readings", "trends", "nudges", "goals", "alerts")


def create_demo_accounts(engine: Engine, profiles: Sequence[PatientProfile],
                         *, password: str | None = None) -> list[DemoAccount]:
    """One account of each role, with fresh passwords on every start (idempotent).

    The clinic and care team hold the whole household; the caregiver sees what the
    first patient shares with them. Returns the credentials for the banner."""
    if not profiles:
        return []
    store = AccountStore(engine)
    store.clinics.add(*DEMO_CLINIC)
    store.care_teams.add(*DEMO_TEAM, clinic_id=DEMO_CLINIC[0])
    first = profiles[0]
    wanted = [(first.id, "patient", first.name), *DEMO_STAFF]
    made = []
    for user_id, role, name in wanted:
        secret = password or secrets.token_urlsafe(12)
        if store.users.get(user_id) is None:
            store.users.add(user_id, role=role, display_name=name, password=secret,
                           patient_id=first.id if role == "patient" else None,
                           clinic_id=DEMO_CLINIC[0] if role in ("coach", "nurse") else None)
        else:
            store.users.set_password(user_id, secret)
        made.append(DemoAccount(user_id, role, name, secret))
    for user_id in ("cora", "nina"):
        store.care_teams.add_member(DEMO_TEAM[0], user_id)
    store.clinics.register_many([p.id for p in profiles], DEMO_CLINIC[0])
    store.care_teams.assign_many(DEMO_TEAM[0], [p.id for p in profiles])
    store.sharing.share(first.id, "sam", DEMO_SHARE, urgent_alerts=True)
    return made


ACCOUNTS_FILE = "demo-accounts.txt"


def accounts_path(data_dir: Path) -> Path:
    return data_dir / ACCOUNTS_FILE


def accounts_text(accounts: Sequence[DemoAccount]) -> str:
    """The sign-ins as the banner prints them: role, name and password, one a line."""
    return "".join(f"    {a.role:<10} {a.user_id:<10} {a.password}\n" for a in accounts)


def save_accounts(path: Path, accounts: Sequence[DemoAccount]) -> None:
    """Keep this start's demo sign-ins for `hearth demo --accounts`, readable by the
    owner only (0600, also when the file was there before). Demo passwords only: the
    accounts `hearth admin` makes are never written anywhere."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, accounts_text(accounts).encode())
    finally:
        os.close(fd)


def load_accounts(path: Path) -> str:
    """The sign-ins saved by the last start; refuses a file others may read."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no demo accounts in {path}: start the demo first (make demo)") from None
    if mode & 0o077:
        raise PermissionError(
            f"{path} is readable by others (mode {mode:o}); the passwords in it are not "
            "shown: remove it and restart the demo for new ones")
    return path.read_text()
