"""Home displays: a kitchen tablet or an old phone paired to ONE patient by a short code.

A display never types a password. The patient makes a one-time pairing code on her
Home display page; the device opens /display/pair and types it; it then holds a
long-lived device token (a cookie) with two powers only: read that patient's display
and acknowledge that patient's safety alerts (dashboard/views/display.py). The patient
sees her displays and revokes one at once.

Neither codes nor tokens are stored: only their SHA-256 (a code is 8 characters from an
alphabet without look-alikes, about 40 bits, valid ``CODE_TTL`` and once; guessing is
throttled per address by the dashboard, dashboard/throttle.py).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, Engine, ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.appdb.models import Base
from core.clock import aware

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read off a screen
CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=10)
SEEN_EVERY = timedelta(minutes=1)  # "last seen" is written at most this often
NAME_MAX = 60


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_code(typed: str) -> str:
    """What a person typed, as the code: case, spaces and dashes do not matter."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


class DisplayPairingCode(Base):
    __tablename__ = "display_pairing_codes"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class HomeDisplay(Base):
    __tablename__ = "home_displays"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    paired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


@dataclass(frozen=True, slots=True)
class Display:
    id: str
    patient_id: str
    name: str
    paired_at: datetime
    last_seen_at: datetime | None


def _display(row: HomeDisplay) -> Display:
    return Display(row.id, row.patient_id, row.name, aware(row.paired_at),
                   aware(row.last_seen_at) if row.last_seen_at else None)


def new_code(session: Session, patient_id: str, created_by: str, now: datetime) -> str:
    """A fresh one-time code for this patient (shown once; stored as its digest)."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    session.add(DisplayPairingCode(digest=_digest(code), patient_id=patient_id,
                                   created_by=created_by, created_at=now,
                                   expires_at=now + CODE_TTL))
    session.flush()
    return code


def pair(session: Session, typed_code: str, name: str, now: datetime) -> tuple[Display, str] | None:
    """Use a code: (the new display, its device token), or None for a wrong, used or
    expired code (the caller does not say which: nothing to learn by guessing)."""
    code = normalise_code(typed_code)
    if len(code) != CODE_LENGTH:
        return None
    row = session.get(DisplayPairingCode, _digest(code), with_for_update=True)
    if row is None or row.used_at is not None or aware(row.expires_at) <= now:
        return None
    row.used_at = now
    token = secrets.token_urlsafe(32)
    display = HomeDisplay(id=secrets.token_hex(8), patient_id=row.patient_id,
                          name=(name.strip() or "Home display")[:NAME_MAX],
                          token_digest=_digest(token), paired_at=now, last_seen_at=now)
    session.add(display)
    session.flush()
    return _display(display), token


def by_token(session: Session, token: str, now: datetime) -> Display | None:
    """The live (not revoked) display holding this token; notes when it was last seen."""
    if not token:
        return None
    row = session.scalars(select(HomeDisplay).where(
        HomeDisplay.token_digest == _digest(token),
        HomeDisplay.revoked_at.is_(None))).first()
    if row is None:
        return None
    if row.last_seen_at is None or now - aware(row.last_seen_at) >= SEEN_EVERY:
        row.last_seen_at = now
        session.flush()
    return _display(row)


def displays_of(session: Session, patient_id: str) -> list[Display]:
    """The patient's paired displays (not revoked), newest first."""
    rows = session.scalars(select(HomeDisplay).where(
        HomeDisplay.patient_id == patient_id, HomeDisplay.revoked_at.is_(None))
        .order_by(HomeDisplay.paired_at.desc()))
    return [_display(r) for r in rows]


def revoke(session: Session, patient_id: str, display_id: str, now: datetime) -> bool:
    """Unpair one of the patient's displays at once; False if it is not hers or gone."""
    done = session.execute(update(HomeDisplay).where(
        HomeDisplay.id == display_id, HomeDisplay.patient_id == patient_id,
        HomeDisplay.revoked_at.is_(None)).values(revoked_at=now))
    return bool(getattr(done, "rowcount", 0))


class HomeDisplays:
    """The functions above over the application database, one transaction each (the
    dashboard's display routes use these)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def new_code(self, patient_id: str, created_by: str, now: datetime) -> str:
        with Session(self._engine) as session:
            code = new_code(session, patient_id, created_by, now)
            session.commit()
            return code

    def pair(self, typed_code: str, name: str, now: datetime) -> tuple[Display, str] | None:
        with Session(self._engine) as session:
            made = pair(session, typed_code, name, now)
            session.commit()
            return made

    def by_token(self, token: str, now: datetime) -> Display | None:
        with Session(self._engine) as session:
            found = by_token(session, token, now)
            session.commit()
            return found

    def of_patient(self, patient_id: str) -> list[Display]:
        with Session(self._engine) as session:
            return displays_of(session, patient_id)

    def revoke(self, patient_id: str, display_id: str, now: datetime) -> bool:
        with Session(self._engine) as session:
            done = revoke(session, patient_id, display_id, now)
            session.commit()
            return done
