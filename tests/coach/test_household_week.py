"""The demo household (devices/household.toml, the seeded simulator) through a week of
the coach: the noise budget holds on realistic data.

The simulator is random (seeded), so the test does not list every message; it asserts
the budget and what is known by construction of the profiles:
- bob's home BP (profile 142/88) is above his target 135/85: the nurse hears about it
  exactly once in the week (the weekly cool-down), and bob through his digest;
- dev (COPD) wears the oximeter overnight and dips in his sleep: a dip below his target is
  no message to anyone at night; only an urgent level (NEWS2 scale 2 red, <=83%) is;
- carla's pill box (three doses a day, 90% adherence) misses doses: never a live
  message at night, at most one missed-dose message a day;
- nobody hears anything non-urgent in quiet hours or beyond the daily budget (set to one
  message a day here, so that it overflows on real data), what was held back comes in
  the next morning's digest, no one gets more than one digest a day, and the care team
  gets at most a few alerts per person per week (a coach with 100 patients must be able
  to read them all).
Real-time rules run every 15 minutes here (as if ingest batched its events); the
minute-by-minute path is covered by test_scenarios.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from coach.safety import is_safety
from core.appdb.coaching import CoachNudge
from core.appdb.directory import PatientInfo
from core.metrics import Metric, normalise_unit, spec
from core.readings import Reading
from devices.profiles import load_profiles
from devices.simulator import HouseholdSimulator
from tests.coach.coaching_week import Week

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
HISTORY_DAYS = 15
STAFF_ALERTS_PER_PATIENT_WEEK = 3
BUDGET = 1


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    profiles = load_profiles()
    owner = {d.id: p.id for p in profiles for d in p.devices}
    readings = []
    sim = HouseholdSimulator(profiles, seed=1)
    for s in sim.readings(START - timedelta(days=HISTORY_DAYS), START + timedelta(days=7)):
        metric = Metric(s.metric)
        value = spec(metric).to_canonical(s.value, normalise_unit(s.unit))
        readings.append(Reading(owner[s.device_id], s.device_id, metric, value,
                                s.measured_at, s.source, s.value, s.unit, s.context))
    patients = {
        # the pill-box schedule is the profile's (a deployment sets it as a target)
        p.id: PatientInfo(p.id, p.id, p.timezone, tuple(p.conditions), {
            **p.targets,
            **({"medication_times": p.section("medication")["times"]}
               if p.section("medication") else {}),
        })
        for p in profiles
    }
    w = Week(tmp_path_factory.mktemp("household"), patients=patients,
             devices={p.id: [(d.id, d.kind) for d in p.devices] for p in profiles},
             readings=readings, start=START, realtime_every=3,
             prefs={p.id: {"coach_id": "coach-1", "nurse_id": "nurse-1",
                           "daily_budget": BUDGET} for p in profiles})
    w.run()
    return w


def listing(week: Week) -> str:
    return "\n".join(f"{s.local:%a %H:%M} {s.row}" for s in week.sent)


def test_the_care_team_is_not_flooded(week: Week) -> None:
    # non-urgent alerts (the urgent ladders are never limited: docs/COACH.md)
    staff = Counter(s.message.patient_id for s in week.sent
                    if s.message.recipient_role in ("coach", "nurse")
                    and s.message.kind != "escalation")
    assert all(n <= STAFF_ALERTS_PER_PATIENT_WEEK for n in staff.values()), listing(week)


def test_bobs_blood_pressure_reaches_the_nurse_once(week: Week) -> None:
    rows = [s.row for s in week.sent if s.message.flag_type == "bp_above_target"
            and s.message.patient_id == "bob"]
    assert rows.count(("bob", rows[0][1], "clinical_alert", "nurse", "bp_above_target")) == 1
    assert len(rows) == 1, listing(week)
    in_digest = [i for s in week.sent if s.message.kind == "digest"
                 and s.message.patient_id == "bob" for i in s.message.evidence["items"]
                 if i["flag_type"] == "bp_above_target"]
    assert len(in_digest) == 1


def test_overnight_oximetry_dips_below_target_page_nobody(week: Week) -> None:
    night = [s for s in week.sent if s.message.patient_id == "dev"
             and (s.local.hour >= 22 or s.local.hour < 7) and s.message.kind != "digest"]
    assert all(s.message.flag_type == "spo2_urgent" for s in night), listing(week)
    for s in night:  # an urgent level: two readings at or below 83%, his target being 90%
        readings = s.message.evidence["readings"]
        assert max(r["spo2"] for r in readings) <= 83


def test_missed_doses_at_most_daily_and_never_at_night(week: Week) -> None:
    missed = [s for s in week.sent if s.message.flag_type == "missed_medication"]
    assert all(7 <= s.local.hour < 22 for s in missed)
    days = Counter((s.message.patient_id, s.local.date()) for s in missed)
    assert all(n == 1 for n in days.values())


def test_quiet_hours_budget_and_one_digest_a_day(week: Week) -> None:
    motivational = [s for s in week.sent if s.message.flag_type == "digest"
                    or not is_safety(s.message.flag_type)]
    for s in motivational:
        if s.message.recipient_role == "patient":
            assert 7 <= s.local.hour < 22, listing(week)
    live = Counter((s.message.patient_id, s.local.date()) for s in motivational
                   if s.message.kind in ("nudge", "positive"))
    assert all(n <= BUDGET for n in live.values())
    digests = Counter((s.message.patient_id, s.local.date()) for s in week.sent
                      if s.message.kind == "digest")
    assert all(n == 1 for n in digests.values())


def test_nothing_is_said_twice(week: Week) -> None:
    said = Counter((s.message.patient_id, s.message.recipient_role, s.message.flag_type,
                    s.local.date()) for s in week.sent if s.message.kind != "digest")
    assert all(n == 1 for n in said.values()), listing(week)
    for s in week.sent:
        assert s.message.why and s.message.evidence


def test_what_the_budget_held_back_comes_in_the_next_digest(week: Week) -> None:
    with Session(week.engine) as session:
        held = session.scalars(select(CoachNudge).where(CoachNudge.status != "sent")).all()
        assert held, "the budget never overflowed: the test shows nothing"
        last_morning = START + timedelta(days=6, hours=5)  # before any Sunday digest
        for n in held:
            created = n.created_at.replace(tzinfo=UTC)
            if created < last_morning:
                assert n.status == "digested" and n.digest_id, (n.flag_type, created)
        digested = {n.id for n in held if n.status == "digested"}
    in_digests = {i["ref"] for s in week.sent if s.message.kind == "digest"
                  for i in s.message.evidence["items"]}
    assert digested == in_digests
    over_budget = [n for n in held if n.priority in ("high", "normal")]
    assert over_budget, "no high or normal nudge was held back by the budget or quiet hours"
