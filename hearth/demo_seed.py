"""A few weeks of coaching for the demo household, so that every role's first screen has
something real on it: a check-in (self-assessment) per patient, a plan agreed by the
patient and the coach with goals measured on the backfilled readings, coach-patient
messages (some unread), a peer group with a coach's prompts and members' posts, and
alerts (older ones acknowledged, newer ones open) for the coach and the nurse.

Everything goes through the public functions the app itself uses (care/, coach.dispatch,
the dashboard's message sender), at past times; nothing is written to the tables by hand.
Run after the backfill is stored (goals are measured on it) and before the coach starts.
Seeded once: a data directory that already has the first patient's check-in keeps its
history as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care import alerts, conversation, groups, plans
from care.goals import GOAL_KINDS, Behaviour, GoalKind
from care.plans import GoalDraft
from care.selfassessment import CardAnswer, latest_assessment, record_self_assessment
from coach.dispatch import dispatch
from coach.rules.base import FlagRequest, Severity
from core.timeseries import TimeSeriesStore
from dashboard.views import care as care_messages
from devices.profiles import PatientProfile

log = logging.getLogger(__name__)

COACH = ("cora", "Cora (coach)")  # hearth/demo.py DEMO_STAFF
NURSE = "nina"
SEEDED_PATIENTS = 12  # a large simulated household seeds its first dozen: start-up stays quick
GROUP_NAME = "Riverside: moving more together"

# (device kind, goal kind), in the order a plan picks its goals from the patient's devices.
GOALS_BY_DEVICE: tuple[tuple[str, GoalKind], ...] = (
    ("scale", GoalKind.WEIGH_INS),
    ("cgm", GoalKind.TIME_IN_RANGE),
    ("pill_box", GoalKind.MEDICATION),
    ("bp_cuff", GoalKind.BP_PAIRS),
    ("glucose_meter", GoalKind.FASTING_CHECKS),
    ("pedometer", GoalKind.STEPS),
)
GOALS_PER_PLAN = 2

# A patient's alerts by condition: (flag type, title, words to the patient, clinical,
# days before now, the note of whoever acknowledged it, None: still open). Each is what the
# coach's rules raise for that condition (coach/safety.py FLAG_CLASSES); the older ones were
# dealt with (each alert by the person it went to: the coach's by the coach, the nurse's
# clinical alert by the nurse), the newest are open.
ALERTS: dict[str, tuple[tuple[str, str, str, bool, float, str | None], ...]] = {
    "heart_failure": (
        ("hf_weight_gain", "Weight going up",
         "Your weight has gone up over the last few days. Please check for swollen ankles "
         "or breathlessness and call your heart failure nurse today.", True, 4.0,
         "Phoned: ankles a little swollen; GP reviewing the diuretic dose today."),),
    "copd": (
        ("spo2_below_target", "Oxygen level below your target",
         "Your oxygen level has been below your target. Rest, use your inhaler as your "
         "plan says, and measure again in 15 minutes.", True, 0.25, None),),
    "hypertension": (
        ("bp_above_target", "Blood pressure above your target",
         "Your blood pressure has been above your target on most days this week.", False,
         5.0, "Talked it through: readings taken straight after the walk to the "
         "shop. Agreed to sit for 5 minutes first."),),
    "type1_diabetes": (
        ("nocturnal_lows", "Lows at night",
         "Your glucose went low during the night on more than one night this week.", False,
         1.5, None),),
    "type2_diabetes": (
        ("missed_medication", "Doses missed",
         "Some doses were not taken at their usual times this week.", False, 1.0, None),),
}


@dataclass(frozen=True, slots=True)
class Seeded:
    patients: int = 0
    plans: int = 0
    goals: int = 0
    messages: int = 0
    posts: int = 0
    alerts_open: int = 0
    alerts_acknowledged: int = 0
    kept: bool = False  # an earlier start's history, left as it was

    def summary(self) -> str:
        if self.kept:
            return "kept from an earlier start"
        return (f"{self.plans} plans with {self.goals} goals, {self.messages} messages, "
                f"a peer group with {self.posts} posts, {self.alerts_open} open and "
                f"{self.alerts_acknowledged} acknowledged alerts")


def seed_history(engine: Engine, store: TimeSeriesStore, profiles: Sequence[PatientProfile],
                 *, now: datetime) -> Seeded:
    """Seed the coaching history of the household's first patients (see the module)."""
    people = list(profiles[:SEEDED_PATIENTS])
    if not people:
        return Seeded()
    with Session(engine) as session:
        if latest_assessment(session, people[0].id) is not None:
            return Seeded(kept=True)
    counts = {"plans": 0, "goals": 0, "messages": 0, "posts": 0, "open": 0, "ack": 0}
    for person in people:
        with Session(engine) as session:
            counts["goals"] += _plan(session, store, person, now)
            counts["plans"] += 1
            session.commit()
        counts["messages"] += _messages(engine, person, now, first=person is people[0])
        with Session(engine) as session:
            opened, acknowledged = _alerts(session, person, now)
            session.commit()
        counts["open"] += opened
        counts["ack"] += acknowledged
    if len(people) >= groups.SMALLEST_GROUP:
        with Session(engine) as session:
            counts["posts"] = _group(session, people, now)
            session.commit()
    with Session(engine) as session:  # a few approved stories from peers (issue 21)
        shared = _stories(session, engine, people, now)
        session.commit()
    log.info("demo stories seeded: %d approved", shared)
    with Session(engine) as session:  # engagement, day by day, and one person drifting
        drifting = _engagement(session, store, people, now)
        session.commit()
    log.info("demo engagement seeded: %s drifting away, with an outreach task", drifting)
    seeded = Seeded(len(people), counts["plans"], counts["goals"], counts["messages"],
                    counts["posts"], counts["open"], counts["ack"])
    log.info("demo history seeded for %d patients: %s", seeded.patients, seeded.summary())
    return seeded


def _plan(session: Session, store: TimeSeriesStore, person: PatientProfile,
          now: datetime) -> int:
    """A check-in 16 days ago, a plan from it agreed 13 days ago, its goals measured on the
    backfilled readings since; a self-reported goal ticked off for its first week."""
    drafts = _goal_drafts(person)
    result = record_self_assessment(
        session, patient_id=person.id, answers=_answers(_behaviour(drafts[0])), dds2=(2, 3),
        by=person.id, now=now - timedelta(days=16), coach_id=COACH[0])
    plan = plans.create_plan(
        session, store, patient_id=person.id, coach_id=COACH[0], focus=result.start.behaviour,
        goals=drafts, now=now - timedelta(days=15), assessment_id=result.assessment_id,
        note="Agreed at our first call: small steps, reviewed weekly.")
    plans.agree_plan(session, plan.id, role="patient", now=now - timedelta(days=13, hours=2))
    plans.agree_plan(session, plan.id, role="coach", now=now - timedelta(days=13))
    plans.evaluate_goals(session, store, now, patient_id=person.id)
    view = plans.plan_view(session, store, person.id, now)
    for goal in view.goals if view else ():
        if goal.report_period is not None and goal.report_days:
            # ticked off the morning after the week ended: most days, not all
            done = {d for k, d in enumerate(goal.report_days) if k not in (3, 6)}
            reported = datetime.combine(goal.report_days[-1] + timedelta(days=1),
                                        datetime.min.time(), ZoneInfo(person.timezone))
            plans.record_self_report(session, goal.goal_id, days_done=done,
                                     period_index=goal.report_period,
                                     now=min(now, reported + timedelta(hours=9)))
    return len(drafts)


def _behaviour(draft: GoalDraft) -> Behaviour:
    return draft.behaviour or GOAL_KINDS[draft.kind].behaviour


def _goal_drafts(person: PatientProfile) -> list[GoalDraft]:
    kinds = {d.kind for d in person.devices}
    drafts = [GoalDraft(kind=goal) for device, goal in GOALS_BY_DEVICE if device in kinds]
    drafts = drafts[:GOALS_PER_PLAN]
    if "copd" in person.conditions:
        drafts.append(GoalDraft(kind=GoalKind.SELF_REPORT, target=5,
                                behaviour=Behaviour.TAKING_MEDICATION,
                                what="Use my inhaler as my COPD plan says"))
    if not drafts:
        drafts.append(GoalDraft(kind=GoalKind.SELF_REPORT, target=4,
                                behaviour=Behaviour.BEING_ACTIVE,
                                what="Take a 10-minute walk after a meal"))
    return drafts


def _answers(focus: Behaviour) -> list[CardAnswer]:
    """A check-in whose starting point is ``focus``: it matters most, confidence lowest."""
    return [CardAnswer(b, rating=2, confidence=3, importance=9) if b is focus
            else CardAnswer(b, rating=3 + i % 2, confidence=6 + i % 3, importance=6)
            for i, b in enumerate(Behaviour)]


def _messages(engine: Engine, person: PatientProfile, now: datetime, *, first: bool) -> int:
    """Coach and patient write to each other; the newest message is unread: by the demo's
    patient account (the first patient), or by the coach for everyone else."""
    first_name = person.name.split()[0]
    thread = [
        ("coach", 13, f"Hello {first_name}, welcome to the programme. Your plan starts today: "
                      "I'll look at how the first week went with you next Monday."),
        ("patient", 12.5, "Thanks Cora. I'm a bit nervous about the numbers but I'll try."),
        ("coach", 6, "Good first week. Shall we keep the same goals for week two?"),
        ("patient", 5.8, "Yes please, same again."),
    ]
    thread.append(("coach", 0.5, "I've seen this week's readings: well done on keeping at it. "
                                 "Anything you'd like to change?") if first else
                  ("patient", 0.7, "Quick question for our next call: can we talk about "
                                   "my evening readings?"))
    for k, (side, days_ago, body) in enumerate(thread):
        at = now - timedelta(days=days_ago)
        if side == "coach":
            care_messages.send(engine, patient_id=person.id, author_id=COACH[0],
                               author_name=COACH[1], author_role="coach",
                               recipient_key=person.id, body=body, now=at)
        else:
            care_messages.send(engine, patient_id=person.id, author_id=person.id,
                               author_name=person.name, author_role="patient",
                               recipient_key=COACH[0], body=body, now=at)
        if k < len(thread) - 1:  # each side read the others' messages, all but the newest
            with Session(engine) as session:
                conversation.mark_read(session, person.id,
                                       reader="patient" if side == "coach" else "coach",
                                       now=at + timedelta(hours=3))
                session.commit()
    return len(thread)


def _alerts(session: Session, person: PatientProfile, now: datetime) -> tuple[int, int]:
    opened = acknowledged = 0
    for condition in person.conditions:
        for flag_type, title, words, clinical, days_ago, note in ALERTS.get(condition, ()):
            at = now - timedelta(days=days_ago)
            flag = FlagRequest(flag_type=flag_type, severity=Severity.HIGH, explanation=words,
                               evidence={"history": "seeded with the demo"}, path="scheduled",
                               title=title, key=f"demo:{flag_type}:{at.date().isoformat()}",
                               clinical=clinical)
            for sent in dispatch(session, person.id, [flag], at):
                if sent.kind not in ("alert", "clinical_alert") or sent.ref is None:
                    continue
                by = NURSE if sent.recipient_role == "nurse" else COACH[0]
                if note is not None and alerts.acknowledge(
                        session, sent.ref, by, at + timedelta(minutes=40),
                        role=sent.recipient_role, note=note):
                    acknowledged += 1
                else:
                    opened += 1
    return opened, acknowledged


def _group(session: Session, people: Sequence[PatientProfile], now: datetime) -> int:
    """A peer group of the household with the coach's prompts and a few posts."""
    members = [p.id for p in people[:groups.MAX_GROUP]]
    formed = now - timedelta(days=10)
    for member in members:
        groups.set_peer_preference(session, member, language="en", open_to_groups=True,
                                   now=formed - timedelta(days=1))
    group = groups.form_group(
        session, name=GROUP_NAME, coach_id=COACH[0], member_ids=members, now=formed,
        reason="Neighbours in the Riverside programme who want to move a little more.")
    for member in members:
        groups.set_consent(session, group.id, member, scope="name", granted=True, now=formed)
    first = groups.post_prompt(
        session, group.id, COACH[0], "Welcome, everyone! To start: what is one small thing "
        "that helped you feel better this week?", now=formed + timedelta(hours=1))
    posts = [first]
    replies = (
        "A short walk after lunch. Ten minutes, but I noticed the difference.",
        "Weighing myself first thing, before the kettle. It's become a habit.",
        "Sitting down for five minutes before my blood pressure check.",
        "Pacing the stairs: half, rest, then the rest.",
    )
    for k, (member, body) in enumerate(zip(members, replies, strict=False)):
        posts.append(groups.post(session, group.id, member, body,
                                 now=formed + timedelta(days=1 + k, hours=3),
                                 reply_to=first.id))
    posts.append(groups.post_prompt(
        session, group.id, COACH[0], "This week's idea: add one more short walk. Tell us "
        "where you went!", now=now - timedelta(days=2)))
    if members:
        posts.append(groups.post(session, group.id, members[0],
                                 "Down to the river and back. Lovely morning for it.",
                                 now=now - timedelta(days=1)))
    return len(posts)


# (conditions, title, story, situations, goals): first-person tips for the library, by the
# first patient living with the first condition, approved by the coach and shared with
# everyone in Hearth by first name.
STORIES: tuple[tuple[tuple[str, ...], str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (("type1_diabetes",), "Lows at night: what changed for me",
     "I kept waking up shaky. With my coach I looked at what I ate in the evening and when I "
     "walked the dog. A small snack before bed on walking days, and the alarm on my phone, "
     "and the nights have been calm for weeks.", ("at_night",), ("monitoring",)),
    (("type2_diabetes", "hypertension"), "Eating out without worrying",
     "I look at the menu online before we go and pick two dishes I would enjoy. Then I am "
     "not deciding when I am hungry. Sharing a dessert works too!", ("eating_out",),
     ("healthy_eating",)),
    (("heart_failure",), "Weighing every morning",
     "The scale lives next to the kettle. I weigh before I make tea, every day, and write it "
     "on the calendar. When it went up two days running I rang the nurse early.", (),
     ("monitoring",)),
    (("heart_failure", "hypertension"), "Sitting quietly before the cuff",
     "I used to measure my blood pressure straight after walking back from the shop, and it "
     "was always high. Now I sit for five minutes with a cup of tea first, both arms the same "
     "way every time, and the readings make sense.", (), ("monitoring",)),
    (("copd",), "Pacing the stairs",
     "Half the stairs, a rest on the landing, then the rest. Breathing out on the effort. "
     "It is slower but I do it without stopping for breath at the top.", (),
     ("being_active",)),
)


def _stories(session: Session, engine: Engine, people: Sequence[PatientProfile],
             now: datetime) -> int:
    """The STORIES, each by the first patient living with its first condition, approved."""
    from care import stories
    from core.appdb.stories import story_search

    coach = stories.reader_of(session, user_id=COACH[0], role="coach", patient_id=None,
                              clinic_id=None)
    search = story_search(engine)
    made = 0
    for k, (conditions, title, body, situations, goals) in enumerate(STORIES):
        author = next((p for p in people if conditions[0] in p.conditions), None)
        if author is None or author.id not in coach.caseload:
            continue
        reader = stories.patient_reader(session, author.id)
        written = now - timedelta(days=6 - k)
        story = stories.write_story(
            session, author_id=reader.user_id, author_patient_id=author.id, title=title,
            body=body, naming="first", audience="everyone", now=written,
            conditions=[c for c in conditions if c in author.conditions],
            situations=situations, goals=goals)
        stories.moderate(session, search, story.id, moderator=coach, action="approve",
                         reason="A practical tip, kind and safe to share.",
                         now=written + timedelta(hours=3))
        made += 1
    return made


def _engagement(session: Session, store: TimeSeriesStore, people: Sequence[PatientProfile],
                now: datetime) -> str:
    """Issue 20: two weeks of daily engagement states evaluated on the backfill (what the
    coach's daily job records), then the last seeded person drifting away over the last
    week (slipping, then disengaged, with the evidence in words), the outreach task the
    held nudges opened, and a first call that did not reach them."""
    from care import engagement, outreach
    from core.appdb import engagement as states

    for days_ago in range(13, 0, -1):
        engagement.record_all(session, store, now - timedelta(days=days_ago),
                              [p.id for p in people])
    person = people[-1]
    zone = ZoneInfo(person.timezone)
    evidence = {
        "slipping": ["Opened 1 of 6 messages sent.", "Last signed in 16 days ago."],
        "disengaged": ["Opened 0 of 7 messages sent.", "Has not signed in for 21 days.",
                       "Marked 2 messages \"not useful\".", "Last check-in 52 days ago."]}
    for days_ago in range(6, -1, -1):
        state = "slipping" if days_ago >= 4 else "disengaged"
        at = now - timedelta(days=days_ago)
        words = evidence[state]
        states.save_state(session, patient_id=person.id, day=at.astimezone(zone).date(),
                          state=state, points=2.0 if state == "slipping" else 5.0,
                          score=0.25 if state == "slipping" else 0.625, evidence=words,
                          signals={"seeded": True}, now=at)
    for hours_ago in (70, 46, 22):  # three motivational nudges held back since
        outreach.hold_nudge(session, person.id, evidence=evidence["disengaged"],
                            now=now - timedelta(hours=hours_ago))
    outreach.record_contact(session, patient_id=person.id, by_user=COACH[0], by_name=COACH[1],
                            by_role="coach", contacted=person.name, method="phone",
                            outcome="no answer", now=now - timedelta(hours=20),
                            next_step="Call again after lunch; try the home display message",
                            next_due=now.astimezone(zone).date(), tz=person.timezone)
    return person.id
