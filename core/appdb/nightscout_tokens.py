"""Nightscout access tokens: read-only access for a patient's followers (caregiver apps,
watch faces, Nightscout follower modes), one per person, revocable.

Like an uploader's secret (core/appdb/credentials.py) the token is never stored: only
the SHA-256 of the SHA-1 hex an app sends (``api-secret``) or Hearth computes from the
token itself (``?token=``, ``Authorization: Bearer``). The service that issues, finds
and revokes them is dashboard/nightscout_tokens.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base


def _now() -> datetime:
    return datetime.now(UTC)


class NightscoutToken(Base):
    __tablename__ = "nightscout_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the subject's name
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    holder: Mapped[str] = mapped_column(String(200))  # who it was made for
    role: Mapped[str] = mapped_column(String(16))  # "readable"
    digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
