"""Simulated weeks with known events: every expected nudge and alert happens and nothing
else does (the noise budget), quiet hours and budgets hold, and escalation reaches the
nurse only when nobody acknowledges.

The week runs on an injected clock in 5-minute steps over the real SQLite store and the
real application database. Each step writes the readings measured in it, runs the
real-time rules for every patient who got new readings (as the coach does on
``hearth/v1/stored/{patient_id}``), runs the scheduled rules on the hour, advances the
escalation ladders, and builds each patient's digest at the end of their quiet hours.
Half-way through, the coach "restarts": a new database engine and new sessions (the
in-memory store stands for the time-series server, which outlives a coach process).

Two people (fictional), Europe/London (GMT in March), default policy (quiet 22:00-07:00,
3 nudges a day):
- ann: type 1 diabetes, CGM and step counter; a caregiver opted in.
- carla: heart failure, scale, BP cuff, pill box (08:00 and 20:00), motion sensor.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from coach.safety import is_safety
from core.appdb.directory import PatientInfo
from core.clock import aware
from core.metrics import Metric
from core.readings import Reading
from tests.coach.coaching_week import Week

LONDON = ZoneInfo("Europe/London")
WEEK_START = datetime(2026, 3, 2, tzinfo=UTC)  # Monday 00:00 (GMT = UTC in early March)
HISTORY_DAYS = 15
STEP = timedelta(minutes=5)


def at(day: int, hhmm: str) -> datetime:
    """Local time on day ``day`` of the week (0 = Monday); London is UTC in March."""
    h, m = hhmm.split(":")
    return WEEK_START + timedelta(days=day, hours=int(h), minutes=int(m))


def r(patient: str, device: str, metric: Metric, value: float, when: datetime,
      source: str, context: str | None = None) -> Reading:
    return Reading(patient, device, metric, float(value), when, source, float(value), "",
                   context)


# --- ann: glucose with three known hypoglycaemic events, steps with one best day --------

def ann_glucose(when: datetime) -> float:
    minute = when.hour * 60 + when.minute
    base = 120.0 + 35.0 * np.sin(2 * np.pi * (minute - 600) / 1440)  # 85..155, smooth
    for start, points in EVENTS:
        offset = (when - start).total_seconds() / 60.0
        if 0 <= offset <= points[-1][0]:
            xs, ys = zip(*points, strict=True)
            return float(np.interp(offset, xs, [base if y is None else y for y in ys]))
    return round(float(base), 1)


EVENTS: list[tuple[datetime, list[tuple[float, float | None]]]] = [
    # Tue 14:30: falls to 62 by 15:00, stays below 70 for ~30 minutes, back by 15:50
    (at(1, "14:30"), [(0, None), (30, 62.0), (55, 62.0), (80, None)]),
    # Thu 03:00 (quiet hours): down to 45 by 03:20, until 03:40, then 90 by 03:45
    (at(3, "03:00"), [(0, None), (20, 45.0), (40, 45.0), (45, 90.0), (60, None)]),
    # Sat 14:00: down to 45 by 14:20, until 15:00, then 90 by 15:05; nobody answers, so
    # the ladder reaches the nurse (14:55) before the low is over and resolves itself
    (at(5, "14:00"), [(0, None), (20, 45.0), (60, 45.0), (65, 90.0), (85, None)]),
]


def ann_readings(start: datetime, end: datetime) -> list[Reading]:
    out = []
    t = start
    while t < end:
        out.append(r("ann", "ann-cgm", Metric.GLUCOSE, ann_glucose(t), t, "cgm"))
        t += STEP
    day = start
    while day < end:
        total = 9500.0 if day.date() == at(4, "00:00").date() else 5000.0  # Fri: best day
        for hour in range(7, 22):  # hourly reports of the last hour's steps
            out.append(r("ann", "ann-steps", Metric.STEPS, round(total / 15), day +
                         timedelta(hours=hour), "pedometer"))
        day += timedelta(days=1)
    return out


# --- carla: weight gain on Friday, a BP crisis on Wednesday, a missed dose on Tuesday
# evening, a quiet Sunday morning at home ----------------------------------------------

def carla_readings(start: datetime, end: datetime) -> list[Reading]:
    out: list[Reading] = []
    day = start
    while day < end:
        k = (day - WEEK_START).days  # negative in the history
        weight = {3: 70.9, 4: 72.2, 5: 72.0, 6: 71.5}.get(k, 70.0 + 0.1 * (k % 2))
        out.append(r("carla", "carla-scale", Metric.WEIGHT, weight, day + timedelta(hours=7,
                     minutes=10), "scale"))
        for hour, minute in ((7, 30), (20, 30)):
            first = day + timedelta(hours=hour, minutes=minute)
            if k == 2 and hour == 7:  # Wed: a crisis reading, and the re-measure 6 min later
                pair = [(first, 186.0, 104.0), (first + timedelta(minutes=6), 183.0, 101.0)]
            else:
                pair = [(first, 126.0, 78.0), (first + timedelta(minutes=1), 123.0, 77.0)]
            for when, sys, dia in pair:
                out.append(r("carla", "carla-cuff", Metric.SYSTOLIC, sys, when, "bp_cuff"))
                out.append(r("carla", "carla-cuff", Metric.DIASTOLIC, dia, when, "bp_cuff"))
        for hour in (8, 20):
            if not (k == 1 and hour == 20):  # Tue evening dose missed
                out.append(r("carla", "carla-pillbox", Metric.MEDICATION_TAKEN, 1.0,
                             day + timedelta(hours=hour, minutes=5), "pill_box"))
        for slot in range(7 * 4, 22 * 4):  # motion every 15 minutes 07:00-21:45
            when = day + timedelta(minutes=15 * slot)
            if k == 6 and when.hour * 60 + when.minute > 9 * 60 and when.hour < 13:
                continue  # Sun: nothing after 09:00 until 13:00
            out.append(r("carla", "carla-motion", Metric.MOTION, 1.0, when, "motion_sensor"))
        day += timedelta(days=1)
    return out


DEVICES = {
    "ann": [("ann-cgm", "cgm"), ("ann-steps", "pedometer")],
    "carla": [("carla-scale", "scale"), ("carla-cuff", "bp_cuff"),
              ("carla-pillbox", "pill_box"), ("carla-motion", "motion_sensor")],
}
PATIENTS = {
    "ann": PatientInfo("ann", "ann", "Europe/London", ("type1_diabetes",), {}),
    "carla": PatientInfo("carla", "carla", "Europe/London", ("heart_failure", "hypertension"),
                         {"bp_systolic": 135, "bp_diastolic": 85,
                          "medication_times": ["08:00", "20:00"]}),
}


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    history = WEEK_START - timedelta(days=HISTORY_DAYS)
    end = WEEK_START + timedelta(days=7)
    w = Week(
        tmp_path_factory.mktemp("week"),
        patients=PATIENTS,
        devices=DEVICES,
        readings=ann_readings(history, end) + carla_readings(history, end),
        start=WEEK_START,
        prefs={"ann": {"coach_id": "coach-1", "nurse_id": "nurse-1", "caregiver_id": "carer-ann"},
               "carla": {"coach_id": "coach-1", "nurse_id": "nurse-1"}},
        acks={at(3, "03:30"): ("ann", "ann", "patient"),
              at(2, "07:55"): ("carla", "coach-1", "coach")},
    )
    w.run(restart_at=at(3, "12:00"))
    return w


EXPECTED = Counter([
    # ann, Tue afternoon: the fall is forecast, falls fast (3 mg/dL/min), then the low
    # (patient and coach)
    ("ann", "Tue", "nudge", "patient", "predicted_low"),
    ("ann", "Tue", "nudge", "patient", "fast_fall"),
    ("ann", "Tue", "nudge", "patient", "low"),
    ("ann", "Tue", "alert", "coach", "low"),
    # ann, Thu 03:00: the forecast warns her at night (a safety message never waits for
    # the morning), then the urgent ladder starts with her and her care partner (opted in:
    # told at once, issue 20); she acknowledges
    ("ann", "Thu", "nudge", "patient", "predicted_low"),
    ("ann", "Thu", "escalation", "patient", "urgent_low"),
    ("ann", "Thu", "escalation", "caregiver", "urgent_low"),
    # ann, Sat: Friday's steps were her best (queued at midnight, in the digest)
    ("ann", "Sat", "digest", "patient", "digest"),
    # ann, Sat 14:00: nobody acknowledges: patient and caregiver at once, the caregiver
    # again at the ladder's step, coach, nurse
    ("ann", "Sat", "nudge", "patient", "predicted_low"),
    ("ann", "Sat", "nudge", "patient", "fast_fall"),
    ("ann", "Sat", "escalation", "patient", "urgent_low"),
    ("ann", "Sat", "escalation", "caregiver", "urgent_low"),
    ("ann", "Sat", "escalation", "caregiver", "urgent_low"),
    ("ann", "Sat", "escalation", "coach", "urgent_low"),
    ("ann", "Sat", "escalation", "nurse", "urgent_low"),
    # carla, Tue 22:00: evening dose missed -> quiet hours -> Wednesday's digest
    ("carla", "Wed", "digest", "patient", "digest"),
    # carla, Wed 07:30: crisis -> measure again; 07:36 still a crisis -> ladder; the coach
    # (told at 07:50) acknowledges at 07:55, so the nurse is never paged
    ("carla", "Wed", "nudge", "patient", "bp_crisis_recheck"),
    ("carla", "Wed", "escalation", "patient", "bp_crisis"),
    ("carla", "Wed", "escalation", "coach", "bp_crisis"),
    # carla, Fri 07:10: +2.2 kg in 3 days (ESC 2021: more than 2 kg)
    ("carla", "Fri", "nudge", "patient", "hf_weight_gain"),
    ("carla", "Fri", "alert", "coach", "hf_weight_gain"),
    ("carla", "Fri", "clinical_alert", "nurse", "hf_weight_gain"),
    # carla, Sun 11:00: no movement at home since 09:00 (two hours, at a time she is
    # always up and about, and the door stayed shut)
    ("carla", "Sun", "nudge", "patient", "unusual_inactivity"),
    ("carla", "Sun", "alert", "coach", "unusual_inactivity"),
])


def test_every_expected_message_and_nothing_else(week: Week) -> None:
    got = Counter(s.row for s in week.sent)
    assert got == EXPECTED, (
        f"missing: {sorted((EXPECTED - got).elements())}; "
        f"unexpected: {sorted((got - EXPECTED).elements())}"
    )


def test_digests_carry_what_waited(week: Week) -> None:
    digests = {(s.message.patient_id, s.row[1]): s for s in week.sent
               if s.message.kind == "digest"}
    items = {k: [i["flag_type"] for i in d.message.evidence["items"]] for k, d in digests.items()}
    assert items == {("ann", "Sat"): ["personal_best"], ("carla", "Wed"): ["missed_medication"]}
    assert all(d.when.astimezone(LONDON).strftime("%H:%M") == "07:00" for d in digests.values())


def test_quiet_hours_hold_for_motivational_messages_only(week: Week) -> None:
    policy_quiet = [s for s in week.sent if s.message.recipient_role == "patient"
                    and s.message.kind != "digest" and not is_safety(s.message.flag_type)
                    and not 7 <= s.when.astimezone(LONDON).hour < 22]
    assert policy_quiet == []
    night = [s.row for s in week.sent if s.when.astimezone(LONDON).hour < 7]
    assert night == [("ann", "Thu", "nudge", "patient", "predicted_low"),
                     ("ann", "Thu", "escalation", "patient", "urgent_low"),
                     ("ann", "Thu", "escalation", "caregiver", "urgent_low")]


def test_daily_budget_holds(week: Week) -> None:
    per_day = Counter((s.message.patient_id, s.row[1]) for s in week.sent
                      if s.message.kind == "nudge" and not is_safety(s.message.flag_type))
    assert max(per_day.values(), default=0) <= 3  # the budget itself: test_household_week


def test_escalation_reaches_the_nurse_only_when_nobody_acknowledges(week: Week) -> None:
    nurse = [s for s in week.sent if s.message.kind == "escalation"
             and s.message.recipient_role == "nurse"]
    assert [s.message.patient_id for s in nurse] == ["ann"]
    first = next(s for s in week.sent if s.row == ("ann", "Sat", "escalation", "patient",
                                                   "urgent_low"))
    steps = [(s.message.recipient_role, s.when - first.when) for s in week.sent
             if s.message.kind == "escalation"
             and s.message.ref.split(":")[0] == first.message.ref]
    assert steps == [("patient", timedelta(0)), ("caregiver", timedelta(0)),
                     ("caregiver", timedelta(minutes=10)),
                     ("coach", timedelta(minutes=20)), ("nurse", timedelta(minutes=35))]
    with Session(week.engine) as session:
        rows = care_alerts.steps(session, first.message.ref)
        assert [(x.role, x.action) for x in rows] == [
            ("patient", "notified"), ("caregiver", "notified"), ("caregiver", "notified"),
            ("coach", "notified"),
            ("nurse", "notified"), ("unknown", "resolved")]
        # ... and once the low was over (the last reading below 70 at 15:00, more than 15
        # minutes back above it) the ladder resolved itself, saying so
        last = rows[-1]
        assert last.by_user == "hearth" and aware(last.at) == at(5, "15:20")


def test_every_message_says_why_with_evidence(week: Week) -> None:
    for s in week.sent:
        assert s.message.why and s.message.evidence, s.row
        assert s.message.to_dict()["created_at"] == s.when.isoformat()
