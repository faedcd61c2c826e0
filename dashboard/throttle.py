"""Login throttling by account and by client address with growing delays; no lockout.

OWASP Authentication Cheat Sheet ("Login Throttling": exponential back-off, not an
account lockout an attacker can trigger) and NIST SP 800-63B §5.2.2 (rate limiting).
Failures in the last ``login_window`` are counted three ways:

- this address against this account, and this address against any account: past a
  few free failures each further try must wait 1 s, 2 s, 4 s ... after the last
  failure (at most ``login_max_delay_seconds``); until then it is refused at once
  (429 with Retry-After) and the refusal counts for nothing. Only the guessing client
  is slowed this way (and whoever shares its address);
- this account from every address: past a few free failures every try at the account,
  from anywhere, is held for 1 s, 2 s, 4 s ... but never longer than
  ``login_account_max_delay_seconds`` before its password is checked. A stranger who
  knows a login name slows its owner down by that much at most: the right password
  from another client always gets in after that short, bounded wait.

A success clears the account's failures (core/appdb/account_store.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.appdb.accounts import LoginAttempt
from dashboard.settings import DashboardSettings

BASE_DELAY_S = 1.0  # the first wait past the free failures; doubles with each failure


def backoff(failures: int, free: int, cap: float) -> float:
    """Seconds to wait after ``failures`` recent failures: none within the free ones,
    then 1, 2, 4 ... seconds, at most ``cap``."""
    if failures < free:
        return 0.0
    return float(min(cap, BASE_DELAY_S * 2.0 ** min(failures - free, 40)))


@dataclass(frozen=True, slots=True)
class Decision:
    refuse_for: float = 0.0  # > 0: refuse now, the client may try again in this many s
    refused_because: str = ""  # "this network address" ...
    hold_for: float = 0.0  # hold the attempt this long before checking the password


def _aware(at: datetime | None, like: datetime) -> datetime | None:
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=like.tzinfo)  # SQLite gives back naive UTC times


def _failures(session: Session, since: datetime, now: datetime, *, user_id: str | None = None,
              address: str | None = None) -> tuple[int, datetime | None]:
    query = select(func.count(), func.max(LoginAttempt.at)).where(
        LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False))
    if user_id is not None:
        query = query.where(LoginAttempt.user_id == user_id[:128])
    if address is not None:
        query = query.where(LoginAttempt.address == address[:64])
    count, last = session.execute(query).one()
    return int(count), _aware(last, now)


def decide(engine: Engine, settings: DashboardSettings, name: str, address: str,
           now: datetime) -> Decision:
    """What to do with a sign-in attempt for ``name`` from ``address`` at ``now``."""
    since = now - timedelta(minutes=settings.login_window_minutes)
    cap = settings.login_max_delay_seconds
    with Session(engine) as session:
        pair = _failures(session, since, now, user_id=name, address=address)
        by_address = _failures(session, since, now, address=address)
        by_account = _failures(session, since, now, user_id=name)
    checks = (
        (pair, settings.login_free_failures_per_client, "this account from this network address"),
        (by_address, settings.login_free_failures_per_address, "this network address"),
    )
    for (count, last), free, what in checks:
        wait = backoff(count, free, cap)
        if wait and last is not None:
            left = (last + timedelta(seconds=wait) - now).total_seconds()
            if left > 0:
                return Decision(refuse_for=left, refused_because=what)
    hold = backoff(by_account[0], settings.login_free_failures_per_account,
                   settings.login_account_max_delay_seconds)
    return Decision(hold_for=hold)
