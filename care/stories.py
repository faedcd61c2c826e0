"""The lived-experience library (issue 21): short first-person stories and tips from
patients, shared by consent, moderated by their coach, found by full-text search, marked
"this helped me", and offered as role models to people like their author.

Consent is per story and the author's to change or withdraw at any time:
- ``naming``: "full" (their name), "first" (first name only) or "anonymous";
- ``audience``: "group" (people in a peer group with them, and its coach), "clinic"
  (patients and staff of their clinic) or "everyone" (every patient, caregiver and
  professional signed in to Hearth; never an admin account).
Withdrawing (``revoke``) takes the story out of search, the library and every offer at
once (the search index row goes in the same transaction; every read re-checks).

Who may read what is ONE rule, ``readable(reader)`` (a SQL condition, so lists and
search filter in the database), used for single stories too (``find_readable``); the
dashboard reaches it only through dashboard/security.py, which audits every read of
another person's story. Functions take the session and never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from care.goals import Behaviour
from care.plans import new_id
from core.appdb.accounts import CaregiverShare, CareTeamMember, CareTeamPatient, ClinicPatient
from core.appdb.accounts import User as Account
from core.appdb.coaching import CoachNudge
from core.appdb.models import Patient
from core.appdb.plans import Goal, PeerGroup, PeerMembership
from core.appdb.stories import Story, StoryMark, StoryModeration, StorySearch

logger = logging.getLogger(__name__)

Naming = Literal["full", "first", "anonymous"]
Audience = Literal["group", "clinic", "everyone"]
NAMINGS: tuple[str, ...] = ("full", "first", "anonymous")
AUDIENCES: tuple[str, ...] = ("group", "clinic", "everyone")
AUDIENCE_LABELS = {"group": "my group", "clinic": "my clinic", "everyone": "everyone in Hearth"}
NAMING_LABELS = {"full": "my name", "first": "my first name only", "anonymous": "anonymous"}
SITUATIONS: tuple[str, ...] = ("at_work", "at_night", "travelling", "eating_out", "exercise",
                               "new_diagnosis", "low_mood", "family", "sick_days")
GOALS: tuple[str, ...] = tuple(b.value for b in Behaviour)
TITLE_MAX = 120
BODY_MAX = 2000  # "short": about a page; a product choice, not a clinical one
FLAG_TYPE = "story_offer"  # the coach's nudge that offers a story (coach/safety.py)
OFFER_DAYS = 7  # a story offered by the coach stays on Today for a week
READER_ROLES = ("patient", "caregiver", "coach", "nurse")


class StoryError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Reader:
    """Who is reading, with the circles the audience rule looks at."""

    user_id: str
    role: str
    patient_id: str | None = None
    clinics: frozenset[str] = frozenset()  # their clinic (patient) or workplace (staff)
    groups: frozenset[str] = frozenset()  # active peer groups they are in or coach
    caseload: frozenset[str] = frozenset()  # patients whose stories they moderate (coach)
    conditions: frozenset[str] = frozenset()  # a patient's own; a caregiver's people's
    caregivers: frozenset[str] = frozenset()  # caregivers of the caseload (coach)


def reader_of(session: Session, *, user_id: str, role: str, patient_id: str | None,
              clinic_id: str | None) -> Reader:
    """The reader's circles, read from the database (dashboard/security.py builds it)."""
    if role not in READER_ROLES:
        return Reader(user_id, role)  # an admin reads no one's stories
    clinics: set[str] = set()
    groups: set[str] = set()
    caseload: frozenset[str] = frozenset()
    conditions: frozenset[str] = frozenset()
    caregivers: frozenset[str] = frozenset()
    if role == "caregiver":  # the conditions of the people they care for (story tags)
        cared = session.scalars(select(CaregiverShare.patient_id).where(
            CaregiverShare.caregiver_id == user_id))
        conditions = frozenset(c for pid in cared for p in [session.get(Patient, pid)]
                               if p is not None for c in (p.conditions or ()))
    if role == "patient" and patient_id:
        patient = session.get(Patient, patient_id)
        conditions = frozenset(patient.conditions or ()) if patient else frozenset()
        clinics.update(session.scalars(select(ClinicPatient.clinic_id).where(
            ClinicPatient.patient_id == patient_id)))
        groups.update(session.scalars(select(PeerMembership.group_id).join(
            PeerGroup, PeerGroup.id == PeerMembership.group_id).where(
            PeerMembership.member_id == patient_id, PeerMembership.left_at.is_(None),
            PeerGroup.status == "active")))
    if role in ("coach", "nurse") and clinic_id:
        clinics.add(clinic_id)
    if role == "coach":
        groups.update(session.scalars(select(PeerGroup.id).where(
            PeerGroup.coach_id == user_id, PeerGroup.status == "active")))
        caseload = frozenset(session.scalars(select(CareTeamPatient.patient_id).join(
            CareTeamMember, CareTeamMember.team_id == CareTeamPatient.team_id).where(
            CareTeamMember.user_id == user_id)))
        caregivers = frozenset(session.scalars(select(CaregiverShare.caregiver_id).where(
            CaregiverShare.patient_id.in_(caseload)))) if caseload else frozenset()
    return Reader(user_id, role, patient_id if role == "patient" else None,
                  frozenset(clinics), frozenset(groups), caseload, conditions, caregivers)


def patient_reader(session: Session, patient_id: str) -> Reader:
    """A patient as a reader, for the coach's offers (their account, when they have one)."""
    user_id = session.scalars(select(Account.id).where(Account.patient_id == patient_id,
                                                       Account.role == "patient")).first()
    return reader_of(session, user_id=user_id or f"patient:{patient_id}", role="patient",
                     patient_id=patient_id, clinic_id=None)


def readable(reader: Reader) -> ColumnElement[bool]:
    """THE rule: which stories this reader may open (a SQL condition on ``Story``).

    Their own, always; the ones of their caseload (patients, and the caregivers of those
    patients) a coach moderates, while not withdrawn; and approved, unwithdrawn stories
    whose audience includes them."""
    if reader.role not in READER_ROLES:
        return false()
    own = Story.author_id == reader.user_id
    live = and_(Story.state == "approved", Story.revoked_at.is_(None))
    clinic = and_(Story.audience == "clinic", Story.author_patient_id.in_(
        select(ClinicPatient.patient_id).where(ClinicPatient.clinic_id.in_(reader.clinics))))
    group = and_(Story.audience == "group", Story.author_patient_id.in_(
        select(PeerMembership.member_id).where(PeerMembership.group_id.in_(reader.groups),
                                               PeerMembership.left_at.is_(None))))
    shared = and_(live, or_(Story.audience == "everyone", clinic if reader.clinics else false(),
                            group if reader.groups else false()))
    moderated = (and_(_moderated_by(reader), Story.revoked_at.is_(None))
                 if reader.caseload else false())
    return or_(own, shared, moderated)


def _moderated_by(reader: Reader) -> ColumnElement[bool]:
    """Stories of the coach's patients, and of their caregivers (who have no record)."""
    own_patients = Story.author_patient_id.in_(reader.caseload)
    if not reader.caregivers:
        return own_patients
    return or_(own_patients, and_(Story.author_patient_id.is_(None),
                                  Story.author_id.in_(reader.caregivers)))


def find_readable(session: Session, reader: Reader, story_id: str) -> Story | None:
    """The story if this reader may open it, else None (the same for one that does not
    exist, so ids cannot be probed)."""
    return session.scalars(select(Story).where(Story.id == story_id, readable(reader))).first()


def may_moderate(reader: Reader, story: Story) -> bool:
    if reader.role != "coach":
        return False
    if story.author_patient_id is None:  # a caregiver's: the coaches of their people
        return story.author_id in reader.caregivers
    return story.author_patient_id in reader.caseload


# --- writing, consent, moderation ----------------------------------------------------------


def _tags(values: Iterable[str], allowed: Sequence[str] | None, what: str) -> list[str]:
    out = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if allowed is not None and not set(out) <= set(allowed):
        raise StoryError(f"unknown {what}: {sorted(set(out) - set(allowed))}")
    return out


def _consent(naming: str, audience: str) -> None:
    if naming not in NAMINGS:
        raise StoryError(f"naming is one of {NAMINGS}")
    if audience not in AUDIENCES:
        raise StoryError(f"audience is one of {AUDIENCES}")


def write_story(session: Session, *, author_id: str, author_patient_id: str | None,
                title: str, body: str, naming: str, audience: str, now: datetime,
                conditions: Iterable[str] = (), situations: Iterable[str] = (),
                goals: Iterable[str] = (), caregiver_of: Iterable[str] = ()) -> Story:
    """A patient (``author_patient_id``) or a caregiver (None; ``caregiver_of``: the
    conditions of the people they care for) writes a story; it waits for a coach's
    approval before anyone else reads it. Conditions default to the ones they can tag.
    A caregiver has no group or clinic of their own: their stories are for everyone."""
    title, body = title.strip(), body.strip()
    if not 0 < len(title) <= TITLE_MAX:
        raise StoryError(f"a title is 1-{TITLE_MAX} characters")
    if not 0 < len(body) <= BODY_MAX:
        raise StoryError(f"a story is 1-{BODY_MAX} characters")
    _consent(naming, audience)
    if author_patient_id is None and audience != "everyone":
        raise StoryError("a caregiver's story is shared with everyone in Hearth")
    patient = session.get(Patient, author_patient_id) if author_patient_id else None
    own = list(patient.conditions or ()) if patient else sorted(set(caregiver_of))
    tagged = _tags(conditions, own, "condition") or own
    story = Story(id=new_id(), author_id=author_id, author_patient_id=author_patient_id,
                  title=title, body=body, conditions=tagged,
                  situations=_tags(situations, SITUATIONS, "situation"),
                  goals=_tags(goals, GOALS, "goal"), naming=naming, audience=audience,
                  state="pending", created_at=now, updated_at=now)
    session.add(story)
    session.flush()
    logger.info("story %s written, waiting for moderation", story.id)
    return story


def _own(session: Session, story_id: str, author_id: str) -> Story:
    story = session.get(Story, story_id)
    if story is None or story.author_id != author_id:
        raise StoryError("only the author changes the consent of a story")
    return story


def set_consent(session: Session, story_id: str, *, author_id: str, naming: str,
                audience: str, now: datetime) -> Story:
    """The author changes how they are named and who may read (effective at once)."""
    _consent(naming, audience)
    story = _own(session, story_id, author_id)
    if story.author_patient_id is None and audience != "everyone":
        raise StoryError("a caregiver's story is shared with everyone in Hearth")
    story.naming, story.audience, story.updated_at = naming, audience, now
    session.flush()
    return story


def revoke(session: Session, search: StorySearch, story_id: str, *, author_id: str,
           now: datetime) -> Story:
    """The author withdraws consent: out of search, the library and offers at once."""
    story = _own(session, story_id, author_id)
    story.revoked_at = story.revoked_at or now
    story.updated_at = now
    search.remove(session, story.id)
    session.flush()
    logger.info("story %s withdrawn by its author", story.id)
    return story


def moderate(session: Session, search: StorySearch, story_id: str, *, moderator: Reader,
             action: Literal["approve", "reject"], reason: str, now: datetime) -> Story:
    """The author's coach approves or rejects a story, always with a reason (logged)."""
    story = session.get(Story, story_id)
    if story is None or not may_moderate(moderator, story):
        raise StoryError("only the author's coach moderates a story")
    if story.revoked_at is not None:
        raise StoryError("the author has withdrawn this story")
    if action not in ("approve", "reject"):
        raise StoryError(f"unknown moderation action {action!r}")
    why = reason.strip()
    if not why:
        raise StoryError("moderation needs a reason")
    story.state = "approved" if action == "approve" else "rejected"
    story.moderated_by, story.moderated_at, story.moderation_reason = moderator.user_id, now, why
    session.add(StoryModeration(story_id=story.id, action=action, moderator_id=moderator.user_id,
                                reason=why, at=now))
    if story.state == "approved":
        search.index(session, story)
    else:
        search.remove(session, story.id)
    session.flush()
    logger.info("story %s %sd by %s", story.id, action, moderator.user_id)
    return story


def mark_helped(session: Session, reader: Reader, story_id: str, *, helped: bool,
                now: datetime) -> bool:
    """"This helped me" (or taken back); False if the reader may not read the story."""
    story = find_readable(session, reader, story_id)
    if story is None or story.state != "approved" or story.revoked_at is not None:
        return False
    mark = session.get(StoryMark, (story_id, reader.user_id))
    if helped and mark is None:
        session.add(StoryMark(story_id=story_id, user_id=reader.user_id, at=now))
    elif not helped and mark is not None:
        session.delete(mark)
    session.flush()
    return True


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoryView:
    story: Story
    author: str  # as the author chose to be named, or "You"
    mine: bool
    helped: int  # "this helped me" marks
    helped_me: bool


def shown_author(session: Session, story: Story, viewer_id: str) -> str:
    if story.author_id == viewer_id:
        return "You"
    nobody = "Someone who lives with it" if story.author_patient_id else "A caregiver"
    if story.naming == "anonymous":
        return nobody
    if story.author_patient_id is None:
        account = session.get(Account, story.author_id)
        name = (account.display_name if account else "").strip()
    else:
        patient = session.get(Patient, story.author_patient_id)
        name = (patient.display_name if patient else "").strip()
    if not name:
        return nobody
    return name if story.naming == "full" else name.split()[0]


def views(session: Session, reader: Reader, stories: Sequence[Story]) -> list[StoryView]:
    ids = [s.id for s in stories]
    counts = dict(session.execute(select(StoryMark.story_id, func.count()).where(
        StoryMark.story_id.in_(ids)).group_by(StoryMark.story_id)).all()) if ids else {}
    mine = set(session.scalars(select(StoryMark.story_id).where(
        StoryMark.story_id.in_(ids), StoryMark.user_id == reader.user_id))) if ids else set()
    return [StoryView(s, shown_author(session, s, reader.user_id), s.author_id == reader.user_id,
                      int(counts.get(s.id, 0)), s.id in mine) for s in stories]


def library(session: Session, reader: Reader, *, limit: int = 50) -> list[Story]:
    """The approved stories this reader may read, newest first (the feed)."""
    return list(session.scalars(select(Story).where(
        readable(reader), Story.state == "approved", Story.revoked_at.is_(None))
        .order_by(Story.created_at.desc(), Story.id).limit(limit)))


def search(session: Session, engine_search: StorySearch, reader: Reader, query: str, *,
           limit: int = 50) -> list[Story]:
    """Full-text search (the database's own, core/appdb/stories.py), then the reader's
    rule in the same query: a story they may not read is never among the results."""
    ranked = engine_search.matching(session, query)
    if not ranked:
        return []
    found = {s.id: s for s in session.scalars(select(Story).where(
        Story.id.in_(ranked), readable(reader), Story.state == "approved",
        Story.revoked_at.is_(None)))}
    return [found[i] for i in ranked if i in found][:limit]


def mine(session: Session, author_id: str) -> list[Story]:
    return list(session.scalars(select(Story).where(Story.author_id == author_id)
                                .order_by(Story.created_at.desc())))


def moderation_queue(session: Session, reader: Reader) -> list[Story]:
    """Stories of the coach's caseload waiting for a decision, oldest first."""
    if reader.role != "coach" or not reader.caseload:
        return []
    return list(session.scalars(select(Story).where(
        _moderated_by(reader), Story.state == "pending",
        Story.revoked_at.is_(None)).order_by(Story.created_at, Story.id)))


def moderation_log(session: Session, story_id: str) -> list[StoryModeration]:
    return list(session.scalars(select(StoryModeration).where(
        StoryModeration.story_id == story_id).order_by(StoryModeration.at, StoryModeration.id)))


# --- role models: a story for people like its author ---------------------------------------


@dataclass(frozen=True, slots=True)
class Offer:
    """An approved story matched to a patient, and the reason in plain words."""

    story_id: str
    title: str
    author: str
    reason: str
    conditions: tuple[str, ...]
    goals: tuple[str, ...]


def _words(tags: Iterable[str]) -> str:
    items = [t.replace("_", " ") for t in tags]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def offer_for(session: Session, patient_id: str, reader: Reader, *,
              exclude: Iterable[str] = ()) -> Offer | None:
    """The best story for this patient: approved, readable by them under its consent, not
    their own, sharing a condition with them; more shared current goals (their active plan
    goals' behaviours) first, then more "this helped me" marks, then the newest. Stories
    whose offer they answered "not useful" are left out, and ``exclude``."""
    patient = session.get(Patient, patient_id)
    conditions = set(patient.conditions or ()) if patient else set()
    if not conditions:
        return None
    goals = set(session.scalars(select(Goal.behaviour).where(Goal.patient_id == patient_id,
                                                             Goal.status == "active")))
    skip = set(exclude) | not_useful_stories(session, patient_id)
    marks = func.count(StoryMark.user_id)
    rows = session.execute(select(Story, marks).outerjoin(StoryMark, StoryMark.story_id == Story.id)
                           .where(readable(reader), Story.state == "approved",
                                  Story.revoked_at.is_(None), Story.author_id != reader.user_id)
                           .group_by(Story.id).order_by(Story.created_at.desc()).limit(500))
    best: tuple[tuple[int, int, int], Story] | None = None
    for n, (story, helped) in enumerate(rows):
        shared = conditions & set(story.conditions or ())
        if not shared or story.id in skip:
            continue
        score = (len(goals & set(story.goals or ())), int(helped), -n)
        if best is None or score > best[0]:
            best = (score, story)
    if best is None:
        return None
    story = best[1]
    shared_c = sorted(conditions & set(story.conditions or ()))
    shared_g = sorted(goals & set(story.goals or ()))
    reason = f"People like you who live with {_words(shared_c)}"
    reason += f" and are working on {_words(shared_g)}" if shared_g else ""
    reason += ": a story from someone who has been there."
    return Offer(story.id, story.title, shown_author(session, story, reader.user_id), reason,
                 tuple(shared_c), tuple(shared_g))


def not_useful_stories(session: Session, patient_id: str) -> set[str]:
    """Stories whose offer the patient answered "not useful" (the nudge feedback)."""
    rows = session.scalars(select(CoachNudge.evidence).where(
        CoachNudge.patient_id == patient_id, CoachNudge.flag_type == FLAG_TYPE,
        CoachNudge.feedback == "not_useful"))
    return {str(e.get("story_id")) for e in rows if isinstance(e, dict)}


def offered_stories(session: Session, patient_id: str) -> set[str]:
    """Every story the coach has offered this patient (each is offered once)."""
    rows = session.scalars(select(CoachNudge.evidence).where(
        CoachNudge.patient_id == patient_id, CoachNudge.flag_type == FLAG_TYPE))
    return {str(e.get("story_id")) for e in rows if isinstance(e, dict)}


@dataclass(frozen=True, slots=True)
class OfferCard:
    """What Today shows: the coach's story nudge, re-checked against today's consent."""

    nudge_id: str
    story: Story
    author: str
    why: str
    feedback: str | None


def current_offer(session: Session, reader: Reader, now: datetime) -> OfferCard | None:
    """The newest story the coach offered this patient in the last OFFER_DAYS that they may
    still read (a withdrawn story or a narrowed audience removes it at once)."""
    if reader.role != "patient" or not reader.patient_id:
        return None
    nudges = session.scalars(select(CoachNudge).where(
        CoachNudge.patient_id == reader.patient_id, CoachNudge.flag_type == FLAG_TYPE,
        CoachNudge.created_at >= now - timedelta(days=OFFER_DAYS))
        .order_by(CoachNudge.created_at.desc()))
    for nudge in nudges:
        story_id = str((nudge.evidence or {}).get("story_id", ""))
        story = find_readable(session, reader, story_id)
        if story is None or story.state != "approved" or story.revoked_at is not None:
            continue
        return OfferCard(nudge.id, story, shown_author(session, story, reader.user_id),
                         nudge.why, nudge.feedback)
    return None


__all__ = [
    "AUDIENCES", "AUDIENCE_LABELS", "BODY_MAX", "FLAG_TYPE", "GOALS", "NAMINGS", "NAMING_LABELS",
    "OFFER_DAYS", "SITUATIONS", "TITLE_MAX", "Audience", "Naming", "Offer", "OfferCard",
    "Reader", "StoryError", "StoryView", "current_offer", "find_readable", "library",
    "mark_helped", "may_moderate", "mine", "moderate", "moderation_log", "moderation_queue",
    "not_useful_stories", "offer_for", "offered_stories", "patient_reader", "readable",
    "reader_of", "revoke", "search", "set_consent", "shown_author", "views", "write_story",
]
