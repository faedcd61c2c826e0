"""One-tap ratings and the clinic's page (issue 21, Care Opinion style).

After an interaction (a reply from the coach, an outreach contact, a check-in, her plan)
the patient rates it in one tap: helped, neutral or did not help, with a comment if she
wants. A comment is published on the clinic's page only if she says so AND a member of
the clinic's staff approved it (moderation: no names, no identifying detail), with the
clinic's public answer beside it.

The clinic's page (``clinic_report``) is for everyone signed in to Hearth and is
anonymised: counts per month only, never a name, a date finer than the month or a count
below ``MIN_COUNT`` (a month with fewer cases says so instead of the figure, so that one
person's experience cannot be picked out). Functions take the session and never commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.agreements import ASKS, BY_KEY, STANDARDS, agreement, clinic_of, promises
from core.appdb.agreements import (
    RATINGS,
    InteractionRating,
    ServiceComplaint,
    ServiceMeasure,
)
from core.appdb.delivery import InboxMessage
from core.appdb.outreach import OutreachContact
from core.appdb.plans import Plan, SelfAssessment
from core.clock import aware
from core.i18n import N_

MIN_COUNT = 5  # fewer cases than this in a month are not shown (docs/SERVICE.md)
RECENT = timedelta(days=30)  # what the patient is offered to rate
MONTHS = 6
COMMENT_MAX = 500
KINDS: dict[str, str] = {
    "reply": N_("A reply from your coach"),
    "outreach": N_("A call or visit from your care team"),
    "check_in": N_("Your check-in"),
    "plan": N_("Your plan"),
}
RATING_LABELS: dict[str, str] = {
    "helped": N_("Helped"), "neutral": N_("Neutral"), "not_helped": N_("Did not help")}


class RatingError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rateable:
    kind: str
    ref: str
    at: datetime
    label: str  # English (KINDS); templates translate it
    rating: str | None  # hers, once rated


def rateable(session: Session, patient_id: str, now: datetime) -> list[Rateable]:
    """Her interactions of the last ``RECENT`` days, newest first, with her rating."""
    since = now - RECENT
    found: list[tuple[str, str, datetime]] = []
    found += [("reply", str(i), aware(at)) for i, at in session.execute(
        select(InboxMessage.id, InboxMessage.created_at).where(
            InboxMessage.patient_id == patient_id, InboxMessage.kind == "message",
            InboxMessage.recipient_role == "patient", InboxMessage.created_at >= since))]
    found += [("outreach", str(i), aware(at)) for i, at in session.execute(
        select(OutreachContact.id, OutreachContact.at).where(
            OutreachContact.patient_id == patient_id, OutreachContact.outcome == "reached",
            OutreachContact.at >= since))]
    found += [("check_in", str(i), aware(at)) for i, at in session.execute(
        select(SelfAssessment.id, SelfAssessment.taken_at).where(
            SelfAssessment.patient_id == patient_id, SelfAssessment.taken_at >= since))]
    found += [("plan", str(i), aware(at)) for i, at in session.execute(  # agreed: not None
        select(Plan.id, Plan.patient_agreed_at).where(
            Plan.patient_id == patient_id, Plan.patient_agreed_at.is_not(None),
            Plan.closed_at.is_(None))) if at is not None]
    rated = {(r.kind, r.ref): r.rating for r in session.scalars(select(InteractionRating)
             .where(InteractionRating.patient_id == patient_id))}
    found.sort(key=lambda f: f[2], reverse=True)
    return [Rateable(kind, ref, at, KINDS[kind], rated.get((kind, ref)))
            for kind, ref, at in found]


def rate(session: Session, patient_id: str, *, kind: str, ref: str, rating: str,
         comment: str = "", publish: bool = False, now: datetime) -> InteractionRating:
    """Her rating of one of her own interactions (a second tap changes it)."""
    if rating not in RATINGS:
        raise RatingError(f"rating is one of {RATINGS}")
    words = comment.strip()
    if len(words) > COMMENT_MAX:
        raise RatingError(f"a comment is at most {COMMENT_MAX} characters")
    if not any(r.kind == kind and r.ref == ref for r in rateable(session, patient_id, now)):
        raise LookupError("no such interaction of yours to rate")
    row = session.scalars(select(InteractionRating).where(
        InteractionRating.patient_id == patient_id, InteractionRating.kind == kind,
        InteractionRating.ref == ref)).first() or InteractionRating(
        patient_id=patient_id, kind=kind, ref=ref, response=None, responded_at=None)
    row.clinic_id = clinic_of(session, patient_id)
    row.rating, row.rated_at = rating, now
    if words or row.comment_state == "none":
        row.comment, row.publish = words, bool(words) and publish
        row.comment_state = "pending" if row.publish else "none"
    session.add(row)
    session.flush()
    return row


def comments_to_moderate(session: Session, clinic_id: str) -> list[InteractionRating]:
    return list(session.scalars(select(InteractionRating).where(
        InteractionRating.clinic_id == clinic_id,
        InteractionRating.comment_state == "pending").order_by(InteractionRating.rated_at)))


def moderate(session: Session, rating_id: int, clinic_id: str, *, publish: bool,
             response: str, now: datetime) -> InteractionRating:
    """Staff publish a comment the patient agreed to publish (with the clinic's public
    answer, if any), or decline it (it stays with the clinic, unpublished)."""
    row = session.get(InteractionRating, rating_id)
    if row is None or row.clinic_id != clinic_id or row.comment_state != "pending":
        raise LookupError("no such comment waiting in this clinic")
    row.comment_state = "published" if publish else "declined"
    if publish and response.strip():
        row.response, row.responded_at = response.strip()[:COMMENT_MAX], now
    return row


# -- the clinic's page -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Count:
    """A figure of the page: ``shown`` False when fewer than MIN_COUNT cases."""

    total: int
    parts: dict[str, int] = field(default_factory=dict)

    @property
    def shown(self) -> bool:
        return self.total >= MIN_COUNT


@dataclass(frozen=True, slots=True)
class Month:
    label: str  # "2026-12"
    standards: dict[str, Count]  # measured; parts: met, missed
    ratings: Count  # parts: helped, neutral, not_helped
    requests: Count  # formal requests raised; parts: answered in time

    @property
    def empty(self) -> bool:
        """Nothing measured, rated or asked this month (a zero names no one)."""
        return not (self.ratings.total or self.requests.total
                    or any(c.total for c in self.standards.values()))


@dataclass(frozen=True, slots=True)
class Published:
    month: str
    kind: str  # "comment" or "request"
    label: str  # English: the interaction (comment) or the ask (request)
    text: str  # the patient's approved comment ("" for a request: not published)
    rating: str  # comment only
    response: str | None  # the clinic's


@dataclass(frozen=True, slots=True)
class ClinicReport:
    clinic_id: str
    promises: list[tuple[str, str]]
    months: list[Month]
    published: list[Published]


def _months(now: datetime) -> list[str]:
    year, month = now.year, now.month
    out = []
    for _ in range(MONTHS):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def _month(at: datetime) -> str:
    utc = aware(at).astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def clinic_report(session: Session, clinic_id: str, now: datetime) -> ClinicReport:
    labels = _months(now)
    since = datetime(int(labels[-1][:4]), int(labels[-1][5:]), 1, tzinfo=UTC)
    standards: dict[tuple[str, str], Counter[str]] = {}
    for started, standard, done, breached in session.execute(select(
            ServiceMeasure.started_at, ServiceMeasure.standard, ServiceMeasure.done_at,
            ServiceMeasure.breached_at).where(ServiceMeasure.clinic_id == clinic_id,
                                             ServiceMeasure.started_at >= since)):
        if breached is None and done is None:
            continue  # still within its time: not yet met or missed
        key = (_month(started), standard)
        standards.setdefault(key, Counter())["missed" if breached else "met"] += 1
    ratings: dict[str, Counter[str]] = {}
    published: list[Published] = []
    for r in session.scalars(select(InteractionRating).where(
            InteractionRating.clinic_id == clinic_id, InteractionRating.rated_at >= since)
            .order_by(InteractionRating.rated_at.desc())):
        ratings.setdefault(_month(r.rated_at), Counter())[r.rating] += 1
        if r.comment_state == "published":
            published.append(Published(_month(r.rated_at), "comment", KINDS[r.kind],
                                       r.comment, r.rating, r.response))
    requests: dict[str, Counter[str]] = {}
    for c in session.scalars(select(ServiceComplaint).where(
            ServiceComplaint.clinic_id == clinic_id, ServiceComplaint.created_at >= since)
            .order_by(ServiceComplaint.created_at.desc())):
        counter = requests.setdefault(_month(c.created_at), Counter())
        counter["raised"] += 1
        if c.responded_at is not None and aware(c.responded_at) <= aware(c.respond_by):
            counter["answered in time"] += 1
        if c.publish and c.response:
            published.append(Published(_month(c.created_at), "request", ASKS[c.ask], "", "",
                                       c.response))
    months = [Month(
        label,
        {s.key: _count(standards.get((label, s.key), Counter()), ("met", "missed"))
         for s in STANDARDS},
        _count(ratings.get(label, Counter()), RATINGS),
        Count(requests.get(label, Counter())["raised"],
              {"answered in time": requests.get(label, Counter())["answered in time"]}))
        for label in labels]
    return ClinicReport(clinic_id, promises(agreement(session, clinic_id)), months,
                        sorted(published, key=lambda p: p.month, reverse=True))


def _count(counter: Counter[str], keys: tuple[str, ...]) -> Count:
    return Count(sum(counter[k] for k in keys), {k: counter[k] for k in keys})


def published_authors(session: Session, clinic_id: str) -> list[str]:
    """The patients whose words (approved comments) the clinic's page shows: their reads
    are audited (dashboard/security.py ``audit_shared``)."""
    return sorted(set(session.scalars(select(InteractionRating.patient_id).where(
        InteractionRating.clinic_id == clinic_id,
        InteractionRating.comment_state == "published"))))


STANDARD_LABELS = {key: BY_KEY[key].promise for key in BY_KEY}
