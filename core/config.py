"""Settings shared by every service (env prefix HEARTH_).

Each service adds its own Settings class with its own prefix (HEARTH_INGEST_,
...). Settings are never built at import time: the CLI calls get_settings()
and tests construct Settings(...) directly.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "hearth"})


class HearthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEARTH_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("hearth-data")
    # None: `hearth up` runs an embedded broker; services on their own need a URL.
    mqtt_url: str | None = None
    timeseries_url: str | None = None  # default: SQLite under data_dir
    database_url: str | None = None  # default: SQLite under data_dir
    secret_key: str = "dev-only-secret"

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> HearthSettings:
        if self.environment == "production" and (
            self.secret_key in PLACEHOLDER_SECRETS or self.secret_key.startswith("dev-only")
        ):
            raise ValueError("HEARTH_SECRET_KEY must be set to a real secret in production")
        return self

    def resolved_timeseries_url(self) -> str:
        return self.timeseries_url or f"sqlite:///{self.data_dir / 'timeseries.db'}"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hearth.db'}"


@lru_cache(maxsize=1)
def get_settings() -> HearthSettings:
    """Secrets come from the environment or, for HEARTH_SECRETS_DIR=/run/secrets, from one
    file per variable named like it (HEARTH_DATABASE_URL, ...), as Docker secrets mount them."""
    return HearthSettings(_secrets_dir=os.environ.get("HEARTH_SECRETS_DIR"))  # type: ignore[call-arg]
