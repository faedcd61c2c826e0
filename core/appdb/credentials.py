"""Device credentials: MQTT logins, gateway links and Nightscout uploaders.

The device registry itself (``devices``: id, patient, kind, active) lives in
``core/appdb/models.py``; these tables hang off it. Secrets are never stored:
an MQTT account keeps Mosquitto's PBKDF2-SHA512 hash (``$7$`` format, written
to the broker's password file as it is), a Nightscout uploader keeps the
SHA-256 of the SHA-1 hex its app sends (core/provisioning.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base


def _now() -> datetime:
    return datetime.now(UTC)


class MqttAccount(Base):
    """A device, gateway or home display that logs in to the broker as its device id."""

    __tablename__ = "mqtt_accounts"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # "device", "gateway" or "display"
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class GatewayLink(Base):
    """A device without a login of its own whose readings a gateway forwards."""

    __tablename__ = "gateway_links"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    gateway_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)


class NightscoutUploader(Base):
    """A CGM app uploading through the Nightscout API as one registered device."""

    __tablename__ = "nightscout_uploaders"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    # SHA-256 hex of the SHA-1 hex of the secret: looked up by what the app sends.
    secret_digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
