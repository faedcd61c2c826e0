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

A success clears the account's failures (core/appdb/sign_ins.py, where the attempts are
kept and counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.appdb.sign_ins import SignInAttempts
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


def decide(attempts: SignInAttempts, settings: DashboardSettings, name: str, address: str,
           now: datetime) -> Decision:
    """What to do with a sign-in attempt for ``name`` from ``address`` at ``now``."""
    since = now - timedelta(minutes=settings.login_window_minutes)
    cap = settings.login_max_delay_seconds
    pair = attempts.failures(since, user_id=name, address=address)
    by_address = attempts.failures(since, address=address)
    by_account = attempts.failures(since, user_id=name)
    checks = (
        (pair, settings.login_free_failures_per_client, "this account from this network address"),
        (by_address, settings.login_free_failures_per_address, "this network address"),
    )
    for failures, free, what in checks:
        wait = backoff(failures.count, free, cap)
        if wait and failures.last is not None:
            left = (failures.last + timedelta(seconds=wait) - now).total_seconds()
            if left > 0:
                return Decision(refuse_for=left, refused_because=what)
    hold = backoff(by_account.count, settings.login_free_failures_per_account,
                   settings.login_account_max_delay_seconds)
    return Decision(hold_for=hold)
