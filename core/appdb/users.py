"""Accounts: who signs in, with which role and password (core/appdb/accounts.py User).

The rules of who may see whom are not here: dashboard/security.py decides, from the
relations the care-team, clinic and sharing repositories report.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.appdb.accounts import ROLES, Clinic, LoginSession, User
from core.appdb.models import Patient
from core.passwords import (
    hash_password,
    needs_rehash,
    rehash_password,
    verify_nothing,
    verify_password,
)


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


def account_of(user: User) -> Account:
    return Account(user.id, user.role, user.display_name, user.clinic_id, user.patient_id,
                   user.active)


def existing_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(f"no account {user_id!r}")
    return user


def existing_patient(session: Session, patient_id: str) -> None:
    if session.get(Patient, patient_id) is None:
        raise AccountError(f"no patient {patient_id!r}")


class Users:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, user_id: str, *, role: str, display_name: str, password: str,
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
            if patient_id is not None:
                existing_patient(session, patient_id)
            if clinic_id is not None and session.get(Clinic, clinic_id) is None:
                raise AccountError(f"no clinic {clinic_id!r}")
            if session.get(User, user.id) is not None:
                raise AccountError(f"the account {user.id!r} exists already")
            session.add(user)
            try:
                session.commit()
            except IntegrityError as exc:
                raise AccountError(f"cannot create {user.id!r}: {exc.orig}") from exc
            return account_of(user)

    def set_password(self, user_id: str, password: str) -> None:
        """A new password; every session of the account ends."""
        new_hash = hash_password(password, user_inputs=(user_id,))
        with Session(self._engine) as session:
            user = existing_user(session, user_id)
            user.password_hash = new_hash
            session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
            session.commit()

    def set_active(self, user_id: str, active: bool) -> None:
        """Enable or disable an account; disabling ends its sessions."""
        with Session(self._engine) as session:
            user = existing_user(session, user_id)
            user.active = active
            if not active:
                session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
            session.commit()

    def get(self, user_id: str) -> Account | None:
        with Session(self._engine) as session:
            user = session.get(User, user_id)
            return account_of(user) if user else None

    def of_patient(self, patient_id: str) -> str | None:
        """The id of the patient's own account (None if she has none)."""
        with Session(self._engine) as session:
            return session.scalar(select(User.id).where(User.patient_id == patient_id,
                                                        User.role == "patient"))

    def all(self) -> list[Account]:
        with Session(self._engine) as session:
            return [account_of(u) for u in session.scalars(select(User).order_by(User.id))]

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
            return account_of(user)
