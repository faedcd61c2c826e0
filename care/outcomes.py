"""Outcomes that matter to me (issue 21): beside the clinical targets, the person names
her own outcomes in her own words ("walk to the shops without stopping", "no night-time
lows this month", "sleep through") and rates each one, 0-10, "how well is it going".

This is her own measure of success, not a clinical instrument: a rating is never compared
with a threshold, never raises an alert and never changes a plan by itself. The trend is
only the direction of her last ``TREND_OF`` ratings (the newest against the oldest of
them), shown to her and her coach as a conversation starter.

Rules: at most ``MAX_ACTIVE`` active outcomes (a short list she can keep in mind;
retiring one frees a place), the text is 3 to ``TEXT_MAX`` characters, a rating is a
whole number 0 to 10. Retiring keeps the outcome and its ratings in the record.
Functions take the session and never commit; who may call them is decided by
dashboard/security.py (the patient herself writes; her care team reads, audited).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.appdb.outcomes import TEXT_MAX, OutcomeRating, PersonalOutcome
from core.clock import aware

MAX_ACTIVE = 5
TEXT_MIN = 3
SCORE_MIN, SCORE_MAX = 0, 10
TREND_OF = 3  # the trend is read from the last three ratings

Trend = Literal["up", "down", "steady"]


class OutcomeError(ValueError):
    """A request the rules refuse, with a reason fit to show the person."""


@dataclass(frozen=True, slots=True)
class Outcome:
    id: str
    text: str
    created_at: datetime
    latest: int | None  # the newest rating, None before the first
    latest_at: datetime | None
    recent: tuple[int, ...]  # the last TREND_OF ratings, oldest first
    trend: Trend | None  # None with fewer than two ratings


def clean_text(text: str) -> str:
    """The outcome's words, one line, trimmed; refused when too short or too long."""
    cleaned = " ".join(text.split())
    if len(cleaned) < TEXT_MIN:
        raise OutcomeError(f"say what matters to you in at least {TEXT_MIN} characters")
    if len(cleaned) > TEXT_MAX:
        raise OutcomeError(f"keep it short: at most {TEXT_MAX} characters")
    return cleaned


def trend_of(recent: tuple[int, ...]) -> Trend | None:
    """The direction of the last ratings (oldest first): newest against the oldest."""
    if len(recent) < 2:
        return None
    change = recent[-1] - recent[0]
    return "up" if change > 0 else "down" if change < 0 else "steady"


def _active_rows(session: Session, patient_id: str) -> list[PersonalOutcome]:
    return list(session.scalars(
        select(PersonalOutcome)
        .where(PersonalOutcome.patient_id == patient_id, PersonalOutcome.retired_at.is_(None))
        .order_by(PersonalOutcome.created_at, PersonalOutcome.id)))


def add(session: Session, patient_id: str, text: str, created_by: str,
        now: datetime) -> str:
    """A new active outcome in her words; its id. Refused past ``MAX_ACTIVE`` active
    ones or when she already has the same words on her list."""
    cleaned = clean_text(text)
    active = _active_rows(session, patient_id)
    if len(active) >= MAX_ACTIVE:
        raise OutcomeError(f"you have {MAX_ACTIVE} outcomes already: retire one to add another")
    if any(row.text.casefold() == cleaned.casefold() for row in active):
        raise OutcomeError("that outcome is on your list already")
    outcome_id = secrets.token_hex(8)
    session.add(PersonalOutcome(id=outcome_id, patient_id=patient_id, text=cleaned,
                                created_by=created_by, created_at=now))
    session.flush()
    return outcome_id


def _own_active(session: Session, patient_id: str, outcome_id: str) -> PersonalOutcome:
    row = session.get(PersonalOutcome, outcome_id)
    if row is None or row.patient_id != patient_id or row.retired_at is not None:
        raise LookupError("no such outcome on this person's list")
    return row


def rate(session: Session, patient_id: str, outcome_id: str, score: int,
         now: datetime) -> None:
    """Her rating, 0 (not well at all) to 10 (as well as it could go), of one of her
    active outcomes. LookupError for an outcome not hers or retired."""
    if isinstance(score, bool) or not SCORE_MIN <= score <= SCORE_MAX:
        raise OutcomeError(f"a rating is a whole number from {SCORE_MIN} to {SCORE_MAX}")
    row = _own_active(session, patient_id, outcome_id)
    session.add(OutcomeRating(outcome_id=row.id, score=score, rated_at=now))
    session.flush()


def retire(session: Session, patient_id: str, outcome_id: str, now: datetime) -> None:
    """Take an outcome off her list (it and its ratings stay in the record)."""
    _own_active(session, patient_id, outcome_id).retired_at = now
    session.flush()


def active(session: Session, patient_id: str) -> list[Outcome]:
    """Her active outcomes, oldest first, each with its latest rating and trend."""
    rows = _active_rows(session, patient_id)
    if not rows:
        return []
    ranked = (select(OutcomeRating.outcome_id, OutcomeRating.score, OutcomeRating.rated_at,
                     func.row_number().over(
                         partition_by=OutcomeRating.outcome_id,
                         order_by=(OutcomeRating.rated_at.desc(), OutcomeRating.id.desc()))
                     .label("n"))
              .where(OutcomeRating.outcome_id.in_([r.id for r in rows])).subquery())
    recent: dict[str, list[tuple[int, datetime]]] = {}
    for outcome_id, score, rated_at, _n in session.execute(
            select(ranked).where(ranked.c.n <= TREND_OF).order_by(ranked.c.n.desc())):
        recent.setdefault(outcome_id, []).append((score, aware(rated_at)))
    result = []
    for row in rows:
        ratings = recent.get(row.id, [])  # oldest first
        scores = tuple(score for score, _ in ratings)
        result.append(Outcome(
            id=row.id, text=row.text, created_at=aware(row.created_at),
            latest=scores[-1] if scores else None,
            latest_at=ratings[-1][1] if ratings else None,
            recent=scores, trend=trend_of(scores)))
    return result


# --- at a check-in, and in the joint record ---------------------------------------------------

CHECKIN_FIELD = "outcome-"  # the check-in form's field of an outcome: outcome-<id>


def parse_checkin(form: dict[str, str], outcome_ids: list[str]) -> dict[str, int]:
    """The ratings a check-in form gives her active outcomes (``outcome-<id>``, 0-10); an
    outcome left empty is not rated this time."""
    scores: dict[str, int] = {}
    for outcome_id in outcome_ids:
        raw = str(form.get(f"{CHECKIN_FIELD}{outcome_id}") or "").strip()
        if not raw:
            continue
        if not raw.isdigit() or not SCORE_MIN <= int(raw) <= SCORE_MAX:
            raise OutcomeError(f"a rating is a whole number from {SCORE_MIN} to {SCORE_MAX}")
        scores[outcome_id] = int(raw)
    return scores


def rate_at_checkin(session: Session, patient_id: str, scores: dict[str, int],
                    now: datetime) -> int:
    """Her ratings of several active outcomes at one check-in; how many were rated."""
    for outcome_id, score in scores.items():
        rate(session, patient_id, outcome_id, score, now)
    return len(scores)


@dataclass(frozen=True, slots=True)
class RatedOutcome:
    """One outcome with every rating she gave it, for the joint record."""

    id: str
    text: str
    created_at: datetime
    retired_at: datetime | None
    ratings: tuple[tuple[datetime, int], ...]  # oldest first


def history(session: Session, patient_id: str) -> list[RatedOutcome]:
    """Every outcome she named (active first, then retired; oldest first within each),
    with all their ratings over time."""
    rows = list(session.scalars(select(PersonalOutcome)
                                .where(PersonalOutcome.patient_id == patient_id)
                                .order_by(PersonalOutcome.created_at, PersonalOutcome.id)))
    if not rows:
        return []
    ratings: dict[str, list[tuple[datetime, int]]] = {}
    for outcome_id, score, rated_at in session.execute(
            select(OutcomeRating.outcome_id, OutcomeRating.score, OutcomeRating.rated_at)
            .where(OutcomeRating.outcome_id.in_([r.id for r in rows]))
            .order_by(OutcomeRating.rated_at, OutcomeRating.id)):
        ratings.setdefault(outcome_id, []).append((aware(rated_at), score))
    out = [RatedOutcome(r.id, r.text, aware(r.created_at),
                        aware(r.retired_at) if r.retired_at else None,
                        tuple(ratings.get(r.id, ()))) for r in rows]
    return sorted(out, key=lambda o: o.retired_at is not None)
