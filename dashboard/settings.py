"""Dashboard settings (env prefix HEARTH_DASHBOARD_). Built by the CLI, never at import."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "hearth"})


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEARTH_DASHBOARD_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        validation_alias=AliasChoices("HEARTH_DASHBOARD_ENVIRONMENT", "HEARTH_ENVIRONMENT",
                                      "environment"),
    )
    # Signs the login form's CSRF cookie (sessions themselves are random server-side tokens).
    # HEARTH_SECRET_KEY, the deployment's one secret (docker-compose.yml), serves too.
    secret_key: str = Field(
        default="dev-only-dashboard-secret",
        validation_alias=AliasChoices("HEARTH_DASHBOARD_SECRET_KEY", "HEARTH_SECRET_KEY",
                                      "secret_key"),
    )
    # None: Secure session and CSRF cookies always, except in development where only
    # requests over https get them; True/False force it (docs/SECURITY.md).
    cookie_secure: bool | None = None
    cookie_samesite: Literal["lax", "strict"] = "lax"
    session_cookie: str = "hearth_session"
    # OWASP Session Management Cheat Sheet: idle 15-30 min for sensitive applications,
    # an absolute limit of a working day. A patient on a phone signs in again after 30 min idle.
    session_idle_minutes: float = 30.0
    session_absolute_hours: float = 12.0
    # Login throttling (dashboard/throttle.py; OWASP Authentication Cheat Sheet, "Login
    # Throttling"; NIST SP 800-63B §5.2.2): failures in the window, past the free ones,
    # make the next try wait 1 s, 2 s, 4 s ... A client (address) is refused until its
    # wait is over, at most login_max_delay_seconds; an account's tries from anywhere are
    # held at most login_account_max_delay_seconds, so that no stranger can lock it.
    login_window_minutes: float = Field(default=15.0, gt=0)
    login_free_failures_per_client: int = Field(default=3, ge=0)  # one address, one account
    login_free_failures_per_address: int = Field(default=10, ge=0)  # one address, any account
    login_free_failures_per_account: int = Field(default=3, ge=0)  # one account, any address
    login_max_delay_seconds: float = Field(default=900.0, ge=0)
    login_account_max_delay_seconds: float = Field(default=10.0, ge=0)
    # Every request body (dashboard/limits.py): larger is 413, JSON nested deeper is 422.
    # A Nightscout upload of MAX_ENTRIES (5,000) entries is about 1.5 MB.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2, le=500)
    # Server processes of `hearth dashboard` on one port: one suits a small clinic; about
    # one per CPU core a busy one (docs/DASHBOARD.md, "More than one process").
    workers: int = Field(default=1, ge=1, le=64)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> DashboardSettings:
        if self.environment != "development" and (
            self.secret_key in PLACEHOLDER_SECRETS or self.secret_key.startswith("dev-only")
        ):
            raise ValueError(
                "HEARTH_SECRET_KEY (or HEARTH_DASHBOARD_SECRET_KEY) must be set to a real secret "
                "outside development"
            )
        return self

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.session_idle_minutes)

    @property
    def absolute(self) -> timedelta:
        return timedelta(hours=self.session_absolute_hours)

    @property
    def login_window(self) -> timedelta:
        return timedelta(minutes=self.login_window_minutes)
