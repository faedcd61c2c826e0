"""Sign-in attempts, kept a day: what login throttling counts (dashboard/throttle.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from core.appdb.accounts import LoginAttempt
from core.clock import aware

KEEP_ATTEMPTS = timedelta(days=1)  # longer than any throttling window


@dataclass(frozen=True, slots=True)
class Failures:
    count: int
    first: datetime | None  # the oldest failure counted
    last: datetime | None  # the newest


class SignInAttempts:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, user_id: str, address: str, *, at: datetime, succeeded: bool) -> None:
        """One attempt; attempts older than KEEP_ATTEMPTS go, and a success clears the
        account's failures."""
        with Session(self._engine) as session:
            session.add(LoginAttempt(user_id=user_id[:128], address=address[:64], at=at,
                                     succeeded=succeeded))
            session.execute(delete(LoginAttempt).where(LoginAttempt.at < at - KEEP_ATTEMPTS))
            if succeeded:
                session.execute(delete(LoginAttempt).where(
                    LoginAttempt.user_id == user_id[:128], LoginAttempt.succeeded.is_(False)))
            session.commit()

    def failures(self, since: datetime, *, user_id: str | None = None,
                 address: str | None = None) -> Failures:
        """Failed attempts since ``since`` for the account, the address, or the pair."""
        query = select(func.count(), func.min(LoginAttempt.at), func.max(LoginAttempt.at)).where(
            LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False))
        if user_id is not None:
            query = query.where(LoginAttempt.user_id == user_id[:128])
        if address is not None:
            query = query.where(LoginAttempt.address == address[:64])
        with Session(self._engine) as session:
            count, first, last = session.execute(query).one()
        return Failures(int(count), aware(first) if first else None,
                        aware(last) if last else None)
