"""The safety invariant, on people Hearth's own simulator never made.

**Every level-2 episode (below 54 mg/dL for 15 minutes or more, Battelino 2019) reaches the
patient as an urgent alert within 5 minutes of qualifying, and every level-1 low (below 70
for 15 minutes) still going on when it qualifies brings treatment advice to the patient
within 5 minutes; no safety message ever waits for quiet hours, a budget or a digest** — with nobody
acknowledging anything, the daily budget spent, quiet hours, repeated episodes, a coach
restart mid-episode, and two people at once.

Traces: the UVA/Padova virtual patients of the ``simglucose`` package
(bench/simglucose_patients.py), replayed through the real rules, dispatcher, escalation
ladders and escalation tick (tests/coach/coaching_week.py), plus hand-made edge cases.
The dispatcher's episode logic is also checked as a property over random sequences.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.events import EventKind, detect_events
from analytics.timebase import coverage_s
from bench.simglucose_patients import REGIMES, trace
from care import alerts as care_alerts
from coach.dispatch import dispatch
from coach.rules.base import FlagRequest, Severity
from coach.safety import is_safety
from core.appdb.coaching import CoachAlert, CoachNudge
from core.appdb.directory import PatientInfo
from core.metrics import Metric
from core.readings import Reading
from tests.coach.coaching_support import NOW, add_patient, database
from tests.coach.coaching_week import Sent, Week

US = 1_000_000
QUALIFY = timedelta(minutes=15)  # Battelino 2019: an event is >=15 consecutive minutes
WITHIN = timedelta(minutes=5)  # the invariant's promise after qualifying
TREATMENT = ("urgent_low", "low", "signal_loss_low")  # messages that say "take 15 g"


def consensus_events(times_us: np.ndarray, values: np.ndarray, level: int) -> list[datetime]:
    """When each consensus hypo event of ``level`` started (from the CGM's own values)."""
    threshold = 54.0 if level == 2 else 70.0
    found = detect_events(times_us, values, coverage_s(times_us), kind=EventKind.HYPO,
                          level=level, threshold=threshold)
    return [datetime.fromtimestamp(e.start_us / US, UTC) for e in found]


def still_at(times_us: np.ndarray, values: np.ndarray, when: datetime) -> float:
    """The CGM value at ``when`` (the newest reading by then)."""
    i = int(np.searchsorted(times_us, int(when.timestamp() * US), side="right")) - 1
    return float(values[max(i, 0)])


def to_patient(sent: list[Sent], patient: str, flag_types: tuple[str, ...]) -> list[Sent]:
    return [s for s in sent if s.message.patient_id == patient
            and s.message.recipient_role == "patient" and s.message.flag_type in flag_types]


def assert_invariant(week: Week, patient: str, times_us: np.ndarray, values: np.ndarray,
                     start: datetime, end: datetime) -> tuple[int, int]:
    """Both halves of the invariant for one person; (level-2, level-1) episodes checked."""
    checked = [0, 0]
    for level, kinds, what in ((2, ("urgent_low", "signal_loss_low"), "urgent alert"),
                               (1, TREATMENT, "treatment advice")):
        told = to_patient(week.sent, patient, kinds)
        if level == 2:
            told = [s for s in told if s.message.kind == "escalation"]
        for began in consensus_events(times_us, values, level):
            qualified = began + QUALIFY
            if not start + timedelta(hours=1) <= qualified <= end - WITHIN:
                continue  # needs the context before it, and the time after it
            if level == 1 and still_at(times_us, values, qualified) >= 70.0:
                continue  # back above 70 as it qualified: no treatment to advise any more
            hit = [s for s in told if began - QUALIFY <= s.when <= qualified + WITHIN]
            assert hit, (f"{patient}: level-{level} low from {began:%a %H:%M} got no {what} "
                         f"by {qualified + WITHIN:%H:%M}")
            checked[2 - level] += 1
    with Session(week.engine) as session:  # nothing of safety waited for a digest
        held = session.scalars(select(CoachNudge).where(
            CoachNudge.patient_id == patient, CoachNudge.status != "sent")).all()
        assert [n.flag_type for n in held if is_safety(n.flag_type)] == []
    return checked[0], checked[1]


# -- independent virtual patients ---------------------------------------------------------

# held-out people of bench/simglucose_patients.py (even numbers: the forecast never
# trained on them), one of each age group, under the regime with the most lows
PEOPLE = ("adult#002", "child#004", "adolescent#006")
DAYS = 4


@pytest.fixture(scope="module")
def virtual_week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Week, dict[str, object]]:
    regime = next(r for r in REGIMES if r.name == "bb-overbolus")
    runs = {p: trace(p, regime, days=DAYS + 1, seed=7,
                     directory=tmp_path_factory.getbasetemp() / "simglucose") for p in PEOPLE}
    first = min(datetime.fromtimestamp(int(t.times_us[0]) / US, UTC) for t in runs.values())
    start = first + timedelta(days=1)  # a day of history before the week starts
    names = {p: p.replace("#", "-") for p in PEOPLE}
    readings = [
        Reading(names[p], f"{names[p]}-cgm", Metric.GLUCOSE, float(v),
                datetime.fromtimestamp(int(t) / US, UTC), "cgm", float(v), "mg/dL")
        for p, run in runs.items() for t, v in zip(run.times_us, run.cgm, strict=True)
    ]
    week = Week(
        tmp_path_factory.mktemp("virtual"),
        patients={n: PatientInfo(n, n, "Europe/London", ("type1_diabetes",), {})
                  for n in names.values()},
        devices={n: [(f"{n}-cgm", "cgm")] for n in names.values()},
        readings=readings, start=start,
        # the budget spent before the day starts: only safety messages may still go out
        prefs={n: {"coach_id": "coach-1", "nurse_id": "nurse-1", "daily_budget": 0}
               for n in names.values()},
    )
    week.run(days=DAYS - 1)
    return week, {"runs": runs, "names": names, "start": start}


def test_every_low_of_independent_virtual_patients_reaches_them(virtual_week) -> None:  # type: ignore[no-untyped-def]
    week, info = virtual_week
    end = info["start"] + timedelta(days=DAYS - 1)
    totals = [0, 0]
    for person, run in info["runs"].items():
        level2, level1 = assert_invariant(week, info["names"][person], run.times_us, run.cgm,
                                          info["start"], end)
        totals[0] += level2
        totals[1] += level1
    # the suite shows something: these people do have lows in these days
    assert totals[0] >= 1 and totals[1] >= 4, totals


def test_safety_messages_at_night_are_live(virtual_week) -> None:  # type: ignore[no-untyped-def]
    week, _ = virtual_week
    night = [s for s in week.sent if s.message.recipient_role == "patient"
             and s.message.kind != "digest" and is_safety(s.message.flag_type)
             and (s.local.hour >= 22 or s.local.hour < 7)]
    assert night, "no low at night in these traces: the test shows nothing"


# -- hand-made edge cases ------------------------------------------------------------------

START = datetime(2026, 3, 2, tzinfo=UTC)  # Monday; London is UTC in March


def dips(start: datetime, hours: float, lows: list[tuple[float, float, float]]
         ) -> tuple[np.ndarray, np.ndarray]:
    """A CGM every 5 minutes at 120 mg/dL with V-shaped lows (start h, minutes, nadir)."""
    t = np.arange(0, hours * 60, 5.0)
    v = np.full(t.size, 120.0)
    for at_h, minutes, nadir in lows:
        s = at_h * 60
        inside = (t >= s) & (t <= s + minutes)
        depth = np.minimum(t[inside] - s, s + minutes - t[inside]) / (minutes / 2)
        v[inside] = 120.0 - (120.0 - nadir) * np.clip(depth * 1.6, 0, 1)
    times = np.array([int((start + timedelta(minutes=float(m))).timestamp() * US) for m in t],
                     dtype=np.int64)
    return times, np.round(v)


def readings_of(patient: str, times: np.ndarray, values: np.ndarray) -> list[Reading]:
    return [Reading(patient, f"{patient}-cgm", Metric.GLUCOSE, float(v),
                    datetime.fromtimestamp(int(t) / US, UTC), "cgm", float(v), "mg/dL")
            for t, v in zip(times, values, strict=True)]


def test_repeated_lows_restart_snooze_quiet_hours_and_two_people(tmp_path) -> None:  # type: ignore[no-untyped-def]
    history = START - timedelta(hours=6)
    # ann: three level-2 lows an hour and a half apart at night, then one in the morning;
    # nobody ever answers; the coach restarts in the middle of the second low
    ann = dips(history, 36, [(6 + 23.0, 60, 45), (6 + 24.5, 60, 42), (6 + 26.0, 50, 48),
                             (6 + 33.0, 60, 44)])
    # bea: lows at the same times; she snoozes the first ladder, acknowledges the second
    bea = dips(history, 36, [(6 + 23.0, 60, 45), (6 + 24.5, 60, 42), (6 + 26.0, 50, 48),
                             (6 + 33.0, 60, 44)])
    week = Week(
        tmp_path, patients={p: PatientInfo(p, p, "Europe/London", ("type1_diabetes",), {})
                            for p in ("ann", "bea")},
        devices={p: [(f"{p}-cgm", "cgm")] for p in ("ann", "bea")},
        readings=readings_of("ann", *ann) + readings_of("bea", *bea), start=START,
        prefs={p: {"coach_id": "coach-1", "nurse_id": "nurse-1", "daily_budget": 0}
               for p in ("ann", "bea")},
        acks={START + timedelta(hours=23, minutes=30): ("bea", "bea", "snooze"),
              START + timedelta(days=1, hours=0, minutes=55): ("bea", "bea", "patient")},
    )
    week.run(days=1.25, restart_at=START + timedelta(days=1, minutes=45))  # type: ignore[arg-type]
    end = START + timedelta(days=1.25)
    for who, (t, v) in (("ann", ann), ("bea", bea)):
        level2, _ = assert_invariant(week, who, t, v, START, end)
        assert level2 == 3, who  # the three night lows (the morning one is after the end)
    # one ladder per low: ann's three lows are three alerts, none blocked by the last
    ladders = {s.message.ref for s in to_patient(week.sent, "ann", ("urgent_low",))
               if s.message.kind == "escalation"}
    assert len(ladders) == 3
    with Session(week.engine) as session:
        # the lows that cleared resolved their ladders themselves, saying why
        states = [(a.state, a.note) for a in session.scalars(
            select(CoachAlert).where(CoachAlert.patient_id == "ann",
                                     CoachAlert.kind == "escalation"))]
        resolved = [n for s, n in states if s == "resolved"]
        assert resolved and all("Resolved by Hearth: glucose back" in (n or "")
                                for n in resolved)


def test_a_sensor_going_quiet_during_a_low_is_an_alert(tmp_path) -> None:  # type: ignore[no-untyped-def]
    history = START - timedelta(hours=6)
    t, v = dips(history, 20, [(6 + 10.0, 90, 40)])
    keep = t < int((START + timedelta(hours=10, minutes=25)).timestamp() * US)  # lost at 63
    week = Week(tmp_path, patients={"cy": PatientInfo("cy", "cy", "Europe/London",
                                                      ("type1_diabetes",), {})},
                devices={"cy": [("cy-cgm", "cgm")]}, readings=readings_of("cy", t[keep], v[keep]),
                start=START, prefs={"cy": {"coach_id": "coach-1", "nurse_id": "nurse-1"}})
    week.run(days=0.6)  # type: ignore[arg-type]
    lost = to_patient(week.sent, "cy", ("signal_loss_low",))
    assert len(lost) == 1, [s.row for s in week.sent]
    last = datetime.fromtimestamp(int(t[keep][-1]) / US, UTC)
    assert last + timedelta(minutes=20) <= lost[0].when <= last + timedelta(minutes=25)


# -- the dispatcher's episodes, as a property ----------------------------------------------

@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["none", "ack", "snooze"])),
                min_size=1, max_size=12))
def test_each_new_episode_reaches_the_patient_exactly_once(tmp_path_factory, events) -> None:  # type: ignore[no-untyped-def]
    engine = database(tmp_path_factory.mktemp("prop"))
    add_patient(engine, "p1", daily_budget=0)
    seen: set[int] = set()
    for i, (episode, answer) in enumerate(events):
        at = NOW + timedelta(minutes=7 * i)
        flag = FlagRequest("urgent_low", Severity.URGENT, "Very low.", {}, "realtime",
                           key=f"episode:{episode}", group="hypo")
        with Session(engine) as session:
            out = dispatch(session, "p1", [flag], at)
            session.commit()
        to_her = [o for o in out if o.recipient_role == "patient"]
        assert len(to_her) == (0 if episode in seen else 1), (episode, seen)
        seen.add(episode)
        if to_her and answer != "none":
            with Session(engine) as session:
                if answer == "ack":
                    care_alerts.acknowledge(session, to_her[0].ref, "p1", at, role="patient")
                else:
                    care_alerts.snooze(session, to_her[0].ref, at + timedelta(hours=1), "p1", at)
                session.commit()
