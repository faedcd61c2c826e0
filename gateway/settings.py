"""Gateway settings (env prefix HEARTH_GATEWAY_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEARTH_GATEWAY_", extra="ignore")

    gateway_id: str = "hearth-gateway"  # MQTT client id and hearth/v1/status/{gateway_id}
    outbox_path: Path = Path("hearth-data/gateway-outbox.db")
    reader: str = "simulator"  # "simulator" or "bleak" (pip install 'hearth[ble]')
    # Reader options as key=value pairs separated by commas, e.g.
    # "devices=4,interval_s=1,count=5000" for the simulator, or
    # "devices=AA:BB:CC:DD:EE:FF=ann-cuff;11:22:33:44:55:66=ann-meter" for bleak.
    reader_options: str = ""
    # Unconfirmed messages are sent again after this long (ingest is idempotent).
    resend_after_s: float = Field(default=30.0, gt=0)
    # ...then after twice as long each time, up to this: a long ingest outage must not
    # fill the broker's queue with copies.
    resend_max_s: float = Field(default=1800.0, gt=0)
    # The bound on disk use: readings held at once. At ~200 bytes a reading on
    # disk, the default is about 100 MB. When full, new readings are refused
    # (the reader is held back, the devices keep their records) and an alert
    # is raised; nothing is dropped.
    max_outbox_readings: int = Field(default=500_000, ge=1)
    # Warn (retained status + log) when the outbox is this full.
    warn_fraction: float = Field(default=0.8, gt=0, le=1)
    max_readings_per_message: int = Field(default=500, ge=1, le=5000)
    max_inflight_messages: int = Field(default=20, ge=1)
    # A device whose ack subscription the broker refuses (not linked to this gateway in the
    # ACL) is asked for again this often; its readings wait in the outbox meanwhile.
    subscribe_retry_s: float = Field(default=60.0, gt=0)
    reconnect_max_s: int = Field(default=30, ge=1)  # capped exponential backoff from 1 s
    session_expiry_s: int = Field(default=7 * 86_400, ge=0)
    # "3.1.1" for a broker without MQTT 5 (the clustered RabbitMQ of docs/DEPLOY.md): a
    # persistent session (clean_session false) instead of a session expiry.
    protocol: Literal["5", "3.1.1"] = "5"
    home_timezone: str = "UTC"  # device wall clocks without a reference are read in this zone

    def options(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in self.reader_options.split(","):
            if "=" in part:
                key, value = part.split("=", 1)
                out[key.strip()] = value.strip()
        return out
