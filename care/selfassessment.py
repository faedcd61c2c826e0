"""Self-assessment: a short card deck over the seven self-care behaviours, the two-item
diabetes-distress screen, where the plan starts, and change over time (issue 5, item 5).

Sources:
- The seven self-care behaviours: AADE7 Self-Care Behaviors (American Association of
  Diabetes Educators, The Diabetes Educator 2008;34(3):445-449; now ADCES7).
- Confidence and importance on 0-10 "rulers" (Rollnick S, Miller WR, Butler CC.
  Motivational Interviewing in Health Care. Guilford, 2008).
- DDS2: Fisher L, Glasgow RE, Mullan JT, Skaff MM, Polonsky WH. Development of a brief
  diabetes distress screening instrument. Ann Fam Med 2008;6(3):246-252. Two items,
  each 1 ("not a problem") to 6 ("a very serious problem"); a mean of 3 or more screens
  positive for at least moderate distress, to be followed up (by a person, with the
  full 17-item scale) - here: the coach is asked to follow up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.goals import Behaviour, GoalKind
from care.messages import Outbound
from care.plans import GoalDraft, current_plan, new_id
from core.appdb.models import Device, Patient
from core.appdb.plans import Achievement, CoachPrompt, SelfAssessment, SelfAssessmentItem
from core.i18n import N_, say

logger = logging.getLogger(__name__)

DDS2_CUTOFF = 3.0  # Fisher et al. 2008: mean item score >= 3 = moderate or greater distress
REASSESS_DAYS = 28  # issue 5: "monthly self-assessment reminders": due after four weeks
REMIND_GAP_DAYS = 27  # below the shortest month, so a monthly job reminds every month
RATING_SCALE = (1, 5)
RULER = (0, 10)


@dataclass(frozen=True, slots=True)
class Card:
    behaviour: Behaviour
    title: str
    prompt: str  # how is it going? (rated 1-5)
    examples: str


# Every text a patient reads is marked for translation (N_ here; the page shows it with
# _(), docs/I18N.md) and written for a reading age of about 9, except the two DDS2 items,
# which keep the validated wording of Fisher 2008 (a screening item reworded is no longer
# the validated item; their Polish and Urdu are translations, not validated versions).
CARDS: tuple[Card, ...] = (
    Card(Behaviour.HEALTHY_EATING, N_("Healthy eating"),
         N_("How is eating well going for you at the moment?"),
         N_("meals at set times, vegetables, fewer sweet drinks, how much you eat")),
    Card(Behaviour.BEING_ACTIVE, N_("Being active"),
         N_("How is being active going for you?"),
         N_("walking, gardening, stairs, moving more in the day")),
    Card(Behaviour.MONITORING, N_("Monitoring"),
         N_("How is checking your numbers going?"),
         N_("glucose checks or sensor, blood pressure, weight, knowing what the numbers mean")),
    Card(Behaviour.TAKING_MEDICATION, N_("Taking medication"),
         N_("How is taking your medicines going?"),
         N_("taking them as agreed, at the right times, running out, side effects")),
    Card(Behaviour.PROBLEM_SOLVING, N_("Problem solving"),
         N_("How is it going when things do not go to plan?"),
         N_("a low or a high, being ill, travelling, a change of routine")),
    Card(Behaviour.HEALTHY_COPING, N_("Healthy coping"),
         N_("How are you coping with living with your condition?"),
         N_("stress, worry, mood, support from family and friends")),
    Card(Behaviour.REDUCING_RISKS, N_("Reducing risks"),
         N_("How is looking after your longer-term health going?"),
         N_("eye and foot checks, not smoking, vaccinations, dental care")),
)
RATING_LABELS = {1: N_("Not well at all"), 2: N_("Not so well"), 3: N_("OK"), 4: N_("Well"),
                 5: N_("Very well")}
CONFIDENCE_QUESTION = N_("How sure are you that you could do a little more of this?"
                         " (0 = not at all, 10 = completely)")
IMPORTANCE_QUESTION = N_("How much does this matter to you right now? (0 = not at all, "
                         "10 = very much)")
DDS2_INTRO = N_("How much is each of these a problem for you at the moment?")

DDS2_ITEMS = (
    ("overwhelmed", N_("Feeling overwhelmed by the demands of living with diabetes.")),
    ("failing", N_("Feeling that I am often failing with my diabetes regimen.")),
)
DDS2_LABELS = {1: N_("Not a problem"), 2: N_("A slight problem"), 3: N_("A moderate problem"),
               4: N_("Somewhat serious problem"), 5: N_("A serious problem"),
               6: N_("A very serious problem")}
DIABETES = ("type1_diabetes", "type2_diabetes", "diabetes", "gestational_diabetes")


def deck() -> dict[str, Any]:
    """The card deck as the dashboard shows it (JSON-able; English, each text a catalogue
    id the page translates)."""
    return {
        "cards": [{"behaviour": str(c.behaviour), "title": c.title, "prompt": c.prompt,
                   "examples": c.examples} for c in CARDS],
        "rating": {"min": RATING_SCALE[0], "max": RATING_SCALE[1], "labels": RATING_LABELS},
        "confidence": {"question": CONFIDENCE_QUESTION, "min": RULER[0], "max": RULER[1]},
        "importance": {"question": IMPORTANCE_QUESTION, "min": RULER[0], "max": RULER[1],
                       "optional": True},
        "dds2": {"intro": DDS2_INTRO,
                 "items": [{"key": k, "text": t} for k, t in DDS2_ITEMS], "labels": DDS2_LABELS,
                 "source": "Fisher et al., Ann Fam Med 2008;6:246-252"},
    }


class AssessmentError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CardAnswer:
    behaviour: Behaviour
    rating: int  # 1-5
    confidence: int  # 0-10
    importance: int | None = None  # 0-10

    def __post_init__(self) -> None:
        object.__setattr__(self, "behaviour", Behaviour(self.behaviour))
        _check("rating", self.rating, RATING_SCALE)
        _check("confidence", self.confidence, RULER)
        if self.importance is not None:
            _check("importance", self.importance, RULER)


def _check(name: str, value: int, bounds: tuple[int, int]) -> None:
    if not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise AssessmentError(f"{name} must be a whole number {bounds[0]}-{bounds[1]}")


@dataclass(frozen=True, slots=True)
class Dds2:
    overwhelmed: int
    failing: int
    mean: float
    positive: bool
    explanation: str


def dds2_score(overwhelmed: int, failing: int) -> Dds2:
    """Mean of the two items; positive at >= 3 (Fisher et al. 2008)."""
    _check("DDS2 item", overwhelmed, (1, 6))
    _check("DDS2 item", failing, (1, 6))
    mean = (overwhelmed + failing) / 2
    positive = mean >= DDS2_CUTOFF
    if positive:
        text = say("Your two answers about how you feel add up to {mean} out of 6. That is a lot "
                   "to carry, so your coach will get in touch to talk.", mean=f"{mean:g}")
    else:
        text = say("Your two answers about how you feel add up to {mean} out of 6. Your coach "
                   "does not need to call about it.", mean=f"{mean:g}")
    return Dds2(overwhelmed, failing, mean, positive, text)


@dataclass(frozen=True, slots=True)
class StartingPoint:
    behaviour: Behaviour
    reason: str  # plain words
    coach_follow_up: bool
    follow_up_reason: str
    ranking: tuple[str, ...]  # every behaviour, first = where to start


def choose_start(answers: Sequence[CardAnswer], dds2: Dds2 | None = None) -> StartingPoint:
    """Start where the behaviour matters most and confidence is lowest.

    Score = importance - confidence (importance 5, the middle of the ruler, when the
    card's importance was skipped); ties go to the lower rating, then the deck order.
    Distress does not change where the plan starts; it asks the coach to follow up.
    """
    if {a.behaviour for a in answers} != set(Behaviour) or len(answers) != len(CARDS):
        raise AssessmentError("answer every card once")
    order = {c.behaviour: i for i, c in enumerate(CARDS)}
    ranked = sorted(answers, key=lambda a: (-(_importance(a) - a.confidence), a.rating,
                                            order[a.behaviour]))
    first = ranked[0]
    title = CARDS[order[first.behaviour]].title
    if first.importance is not None:
        reason = say("{title}: it matters to you ({importance} out of 10). You feel least "
                     "sure about it ({confidence} out of 10). So your plan starts here, with "
                     "one small step.", title=title, importance=str(first.importance),
                     confidence=str(first.confidence))
    else:
        reason = say("{title}: you said it is going \"{rating}\". You feel least sure about "
                     "it ({confidence} out of 10). So your plan starts here, with one small "
                     "step.", title=title, rating=RATING_LABELS[first.rating],
                     confidence=str(first.confidence))
    follow_up = dds2 is not None and dds2.positive
    return StartingPoint(first.behaviour, reason, follow_up,
                         dds2.explanation if follow_up and dds2 else "",
                         tuple(str(a.behaviour) for a in ranked))


def _importance(a: CardAnswer) -> int:
    return a.importance if a.importance is not None else 5


# --- Goal options for the starting behaviour (a mix, framed positively) -------------------

SELF_REPORT_OPTIONS: dict[Behaviour, tuple[str, ...]] = {
    Behaviour.HEALTHY_EATING: (N_("Have vegetables with dinner"),
                               N_("Swap a sugary drink for water")),
    Behaviour.BEING_ACTIVE: (N_("Take a 10-minute walk after a meal"),),
    Behaviour.MONITORING: (N_("Write down what I notice about my numbers"),),
    Behaviour.TAKING_MEDICATION: (N_("Take my medicines at the agreed times"),),
    Behaviour.PROBLEM_SOLVING: (N_("Carry something sweet for a low when I go out"),
                                N_("Plan ahead for a change in routine")),
    Behaviour.HEALTHY_COPING: (N_("Take 10 minutes for something I enjoy"),
                               N_("Talk to someone about how I feel")),
    Behaviour.REDUCING_RISKS: (N_("Check my feet"), N_("Brush and floss before bed")),
}


def goal_options(behaviour: Behaviour, *, device_kinds: Sequence[str],
                 conditions: Sequence[str]) -> list[GoalDraft]:
    """Goals to choose from for a behaviour: measured ones the person's devices can show,
    then self-reported ones. The patient chooses with the coach."""
    kinds = set(device_kinds)
    measured: list[GoalDraft] = []
    if behaviour is Behaviour.BEING_ACTIVE and "pedometer" in kinds:
        measured.append(GoalDraft(GoalKind.STEPS))
    if behaviour is Behaviour.MONITORING:
        if "glucose_meter" in kinds and any("diabetes" in c for c in conditions):
            measured.append(GoalDraft(GoalKind.FASTING_CHECKS, target=3))
        if "cgm" in kinds:
            measured.append(GoalDraft(GoalKind.TIME_IN_RANGE, target=50))
        if "bp_cuff" in kinds:
            measured.append(GoalDraft(GoalKind.BP_PAIRS, target=1, days_required=5))
        if "scale" in kinds:
            measured.append(GoalDraft(GoalKind.WEIGH_INS, target=5))
    if behaviour is Behaviour.TAKING_MEDICATION and "pill_box" in kinds:
        measured.append(GoalDraft(GoalKind.MEDICATION, target=1, days_required=5))
    own = [GoalDraft(GoalKind.SELF_REPORT, target=3, behaviour=behaviour, what=what)
           for what in SELF_REPORT_OPTIONS[behaviour]]
    return measured + own


# --- Recording and tracking over time -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    behaviour: str
    rating: int
    confidence: int
    rating_change: int | None  # since the previous assessment (None: the first one)
    confidence_change: int | None


@dataclass(frozen=True, slots=True)
class AssessmentResult:
    assessment_id: str
    patient_id: str
    taken_at: datetime
    start: StartingPoint
    dds2: Dds2 | None
    dds2_change: float | None
    changes: tuple[Change, ...]
    options: tuple[GoalDraft, ...]  # goals to choose from for the starting behaviour
    follow_up: Outbound | None  # to the coach when the distress screen is positive


def record_self_assessment(
    session: Session,
    *,
    patient_id: str,
    answers: Sequence[CardAnswer],
    dds2: tuple[int, int] | None,
    by: str,
    now: datetime,
    coach_id: str | None = None,
) -> AssessmentResult:
    """Store one sitting, choose where the plan starts, compare with the last sitting.

    ``coach_id`` defaults to the coach of the patient's current plan. The caller hands
    ``follow_up`` (if any) to the dispatcher and commits.
    """
    score = dds2_score(*dds2) if dds2 is not None else None
    start = choose_start(answers, score)
    previous = _latest(session, patient_id)
    row = SelfAssessment(
        id=new_id(), patient_id=patient_id, taken_at=now, recorded_by=by,
        dds2_overwhelmed=score.overwhelmed if score else None,
        dds2_failing=score.failing if score else None, dds2_mean=score.mean if score else None,
        distress=bool(score and score.positive), focus=str(start.behaviour),
        focus_reason=start.reason)
    session.add(row)
    session.flush()
    session.add_all(SelfAssessmentItem(assessment_id=row.id, behaviour=str(a.behaviour),
                                       rating=a.rating, confidence=a.confidence,
                                       importance=a.importance) for a in answers)
    # The check-in enters the joint record by itself, confirmed by the patient who gave it.
    title = CARDS[[c.behaviour for c in CARDS].index(start.behaviour)].title
    session.add(Achievement(
        id=new_id(), patient_id=patient_id, kind="check_in", title="Check-in done",
        detail=f"Where to start: {title.lower()}", achieved_at=now, recorded_by=by,
        evidence={"assessment_id": row.id},
        patient_confirmed_at=now))
    session.flush()
    logger.info("self-assessment %s recorded for patient %s", row.id, patient_id)
    plan = current_plan(session, patient_id)
    coach = coach_id or (plan.coach_id if plan else None)
    return AssessmentResult(
        row.id, patient_id, now, start, score,
        (score.mean - previous.dds2_mean) if score and previous and previous.dds2_mean is not None
        else None,
        _changes(session, answers, previous),
        tuple(goal_options(start.behaviour, device_kinds=device_kinds(session, patient_id),
                           conditions=conditions(session, patient_id))),
        _follow_up(row, start, score, coach, now) if start.coach_follow_up else None,
    )


def _latest(session: Session, patient_id: str,
            before: datetime | None = None) -> SelfAssessment | None:
    query = select(SelfAssessment).where(SelfAssessment.patient_id == patient_id)
    if before is not None:
        query = query.where(SelfAssessment.taken_at < before)
    return session.scalars(query.order_by(SelfAssessment.taken_at.desc()).limit(1)).first()


def _items(session: Session, assessment_id: str) -> dict[str, SelfAssessmentItem]:
    rows = session.scalars(select(SelfAssessmentItem)
                           .where(SelfAssessmentItem.assessment_id == assessment_id))
    return {r.behaviour: r for r in rows}


def _changes(session: Session, answers: Sequence[CardAnswer],
             previous: SelfAssessment | None) -> tuple[Change, ...]:
    before = _items(session, previous.id) if previous else {}
    out = []
    for a in sorted(answers, key=lambda a: list(Behaviour).index(a.behaviour)):
        old = before.get(str(a.behaviour))
        out.append(Change(str(a.behaviour), a.rating, a.confidence,
                          a.rating - old.rating if old else None,
                          a.confidence - old.confidence if old else None))
    return tuple(out)


def _follow_up(row: SelfAssessment, start: StartingPoint, score: Dds2 | None,
               coach_id: str | None, now: datetime) -> Outbound:
    assert score is not None
    return Outbound(
        kind="alert", patient_id=row.patient_id, recipient_role="coach", recipient_id=coach_id,
        flag_type="diabetes_distress", priority="high",
        title="Diabetes distress screen positive: please get in touch",
        body=(f"In today's self-assessment the two distress questions averaged {score.mean:g}/6 "
              f"(overwhelmed {score.overwhelmed}, failing {score.failing}). Please talk it through "
              "and consider the full Diabetes Distress Scale."),
        why=(f"A DDS2 mean of {DDS2_CUTOFF:g} or more screens positive for moderate or greater "
             "distress (Fisher et al., Ann Fam Med 2008)."),
        evidence={"assessment_id": row.id, "dds2_overwhelmed": score.overwhelmed,
                  "dds2_failing": score.failing, "dds2_mean": score.mean,
                  "cutoff": DDS2_CUTOFF, "plan_starts_with": str(start.behaviour)},
        created_at=now, ref=row.id)


def device_kinds(session: Session, patient_id: str) -> list[str]:
    return list(session.scalars(select(Device.kind).where(Device.patient_id == patient_id,
                                                           Device.active.is_(True))))


def conditions(session: Session, patient_id: str) -> list[str]:
    patient = session.get(Patient, patient_id)
    return list(patient.conditions or []) if patient else []


@dataclass(frozen=True, slots=True)
class AssessmentSummary:
    assessment_id: str
    taken_at: datetime
    focus: str
    focus_reason: str
    dds2_mean: float | None
    distress: bool
    ratings: dict[str, int]
    confidence: dict[str, int]


@dataclass(frozen=True, slots=True)
class AssessmentDetail:
    """The latest sitting in full: what the patient answered (to pre-fill the form) and
    what the coach sees (the seven areas with confidence, the distress result)."""

    assessment_id: str
    taken_at: datetime
    focus: str
    focus_title: str
    focus_reason: str
    answers: dict[str, dict[str, int | None]]  # behaviour -> rating, confidence, importance
    dds2: Dds2 | None
    rows: tuple[dict[str, Any], ...]  # deck order: title, rating, rating label, confidence, ...


def latest_assessment(session: Session, patient_id: str) -> AssessmentDetail | None:
    """The patient's latest check-in, or None before the first."""
    row = _latest(session, patient_id)
    if row is None:
        return None
    items = _items(session, row.id)
    answers = {b: {"rating": i.rating, "confidence": i.confidence, "importance": i.importance}
               for b, i in items.items()}
    dds2 = (dds2_score(row.dds2_overwhelmed, row.dds2_failing)
            if row.dds2_overwhelmed is not None and row.dds2_failing is not None else None)
    rows = tuple({"behaviour": str(c.behaviour), "title": c.title,
                  "rating": answers[c.behaviour]["rating"],
                  "rating_label": RATING_LABELS[int(answers[c.behaviour]["rating"] or 0)],
                  "confidence": answers[c.behaviour]["confidence"],
                  "importance": answers[c.behaviour]["importance"],
                  "start": str(c.behaviour) == row.focus}
                 for c in CARDS if str(c.behaviour) in answers)
    title = next((c.title for c in CARDS if str(c.behaviour) == row.focus), row.focus)
    return AssessmentDetail(row.id, _aware(row.taken_at), row.focus, title, row.focus_reason,
                            answers, dds2, rows)


def assessment_history(session: Session, patient_id: str) -> list[AssessmentSummary]:
    """Every sitting, oldest first: what the dashboard charts over time."""
    rows = session.scalars(select(SelfAssessment).where(SelfAssessment.patient_id == patient_id)
                           .order_by(SelfAssessment.taken_at)).all()
    out = []
    for row in rows:
        items = _items(session, row.id)
        out.append(AssessmentSummary(row.id, row.taken_at, row.focus, row.focus_reason,
                                     row.dds2_mean, row.distress,
                                     {b: i.rating for b, i in items.items()},
                                     {b: i.confidence for b, i in items.items()}))
    return out


# --- Monthly reminders (called by the scheduler) ------------------------------------------


def self_assessment_reminders(session: Session, now: datetime) -> list[Outbound]:
    """A reminder to each patient whose last self-assessment (or none) is 28+ days old and
    who has not been reminded in the last 27 days (so a job on a fixed day of each month
    reminds monthly, and a daily job no more than that). Records each reminder, so
    running the job twice sends nothing new; the caller commits after dispatching."""
    due_before = now - timedelta(days=REASSESS_DAYS)
    reminded_after = now - timedelta(days=REMIND_GAP_DAYS)
    out = []
    for patient_id in session.scalars(select(Patient.id).order_by(Patient.id)):
        last = _latest(session, patient_id)
        last_at = _aware(last.taken_at) if last else None
        if last_at is not None and last_at > due_before:
            continue
        reminded = session.scalars(select(CoachPrompt.created_at).where(
            CoachPrompt.patient_id == patient_id, CoachPrompt.kind == "self_assessment_reminder",
            CoachPrompt.created_at > reminded_after)).first()
        if reminded is not None:
            continue
        prompt = CoachPrompt(id=new_id(), key=f"self_assessment:{patient_id}:{now.date()}",
                             kind="self_assessment_reminder", patient_id=patient_id, created_at=now)
        session.add(prompt)
        out.append(_reminder(prompt, last_at, now))
    session.flush()
    logger.info("self-assessment reminders: %d", len(out))
    return out


def _reminder(prompt: CoachPrompt, last_at: datetime | None, now: datetime) -> Outbound:
    if last_at is None:
        why = N_("You have not done a self-assessment yet; it helps you and your coach choose "
                 "where to start.")
        days = None
    else:
        days = (now - last_at).days
        why = say("Your last check-in was {days} days ago. A check-in each month shows what "
                  "has changed and helps you choose the next step.", days=days)
    return Outbound(
        kind="nudge", patient_id=str(prompt.patient_id), recipient_role="patient",
        recipient_id=prompt.patient_id, flag_type="self_assessment_due", priority="low",
        title=N_("Time for your monthly check-in"),
        body=N_("Seven short cards about how things are going - about five minutes."),
        why=why, evidence={"last_taken_at": last_at.isoformat() if last_at else None,
                           "days_since": days, "every_days": REASSESS_DAYS},
        created_at=now, ref=prompt.id)


def _aware(when: datetime) -> datetime:
    """SQLite hands timestamps back naive (in UTC)."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)
