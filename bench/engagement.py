"""Figures that show outreach reaches the people who need it (issue 20): a simulation over
the demo population (devices/household.toml, each profile copied ``--copies`` times with
its own seeded behaviour) through the real components on SQLite: the time-series store,
the coach's daily engagement job (coach/evaluation.py ``engagement``: care/engagement.py
and care/outreach.py), the dispatcher (coach/dispatch.py) with the in-app inbox
(coach/channels/inbox.py), and a coach who works the "needs outreach" list
(care/outreach.py ``needs_outreach``, the order the nurse and coach pages show) a fixed
number of contacts a day.

    python -m bench.engagement                 4 profiles x 50 people, 28 days (minutes)
    python -m bench.engagement --copies 5 --days 21

Each person follows one seeded pattern of behaviour: *steady* (uses each device on 95% of
days, opens 80% of messages, signs in on half the days), *wobbly* (60%, 40%, 15%), or
*drifting* (steady until a seeded day, then 5%, 2%, never). Every day: readings for the
days a device is used, one motivational candidate (a normal-severity "missed_medication"
flag) through the real dispatcher, messages opened or not, sign-ins; at 03:30 the daily
engagement job; at 10:00 the coach's contacts (reached with probability 0.6, else "no
answer" and a next step the next day); each drifting person also has one safety message
(a low's treatment advice) a week after drifting.

Printed: the share of the coach's contacts that went to the least-engaged quartile (by
the device days each person actually used in the run), against a coach working the same
number of contacts a day through the caseload in turn; the days from drifting to the
first human contact (the same two ways); the motivational nudges held back from people
recorded disengaged, and the safety messages that reached them. The risk level each
person has on the triage board (0-3) is seeded from the number of their conditions (the
simulation writes no clinical readings for the board to judge).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from care import outreach
from care.engagement import DEVICE_METRIC
from coach.channels import Recipient
from coach.channels.inbox import InboxChannel
from coach.dispatch import dispatch
from coach.evaluation import CoachEvaluator
from coach.rules.base import FlagRequest, Severity
from core.appdb import engagement as states
from core.appdb.accounts import LoginAttempt, User
from core.appdb.coaching import CoachFlag
from core.appdb.delivery import InboxMessage
from core.appdb.directory import PatientInfo, bind_devices, upsert_patient
from core.appdb.engine import create_schema, make_engine
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from devices.profiles import load_profiles

RESULTS = Path(__file__).resolve().parent / "results" / "engagement.json"
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
PATTERNS = {"steady": (0.95, 0.8, 0.5), "wobbly": (0.6, 0.4, 0.15), "drifting": (0.05, 0.02, 0.0)}
UNITS = {"cgm": "mg/dL", "glucose_meter": "mg/dL", "bp_cuff": "mm[Hg]", "scale": "kg",
         "pulse_oximeter": "%", "pill_box": "1", "pedometer": "{steps}"}
VALUES = {"cgm": 120.0, "glucose_meter": 120.0, "bp_cuff": 128.0, "scale": 80.0,
          "pulse_oximeter": 96.0, "pill_box": 1.0, "pedometer": 4000.0}


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Person:
    id: str
    pattern: str
    drift_day: int | None
    risk: int
    devices: list[tuple[str, str]]
    used_days: int = 0
    expected_days: int = 0

    def rates(self, day: int) -> tuple[float, float, float]:
        if self.pattern == "drifting" and self.drift_day is not None and day < self.drift_day:
            return PATTERNS["steady"]
        return PATTERNS[self.pattern]


def population(copies: int, days: int, rng: random.Random) -> list[Person]:
    people = []
    for k in range(copies):
        for p in load_profiles():
            devices = [(f"{p.id}-{k}-{d.kind}", d.kind) for d in p.devices
                       if d.kind in DEVICE_METRIC]
            if not devices:
                continue
            roll = rng.random()
            pattern = "steady" if roll < 0.5 else "wobbly" if roll < 0.75 else "drifting"
            drift = rng.randint(5, max(6, days - 10)) if pattern == "drifting" else None
            risk = min(3, max(0, len(p.conditions) - 1 + rng.choice((-1, 0, 0, 1))))
            people.append(Person(f"{p.id}-{k}", pattern, drift, risk, devices))
    return people


def _flag(day: int) -> FlagRequest:
    return FlagRequest("missed_medication", Severity.NORMAL, "A dose was missed yesterday.",
                       {"day": day}, "scheduled", group="missed_medication", key=f"day:{day}")


def _low(day: int) -> FlagRequest:
    return FlagRequest("low", Severity.HIGH, "Your glucose is 62 mg/dL: take 15 g of sugar.",
                       {"value": 62.0}, "realtime", group="hypo", key=f"low:{day}")


def simulate(*, copies: int, days: int, contacts_per_day: int, seed: int,
             folder: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    people = population(copies, days, rng)
    engine = make_engine(f"sqlite:///{folder / 'app.db'}")
    create_schema(engine)
    store = SqliteTimeSeriesStore(folder / "ts.db")
    with Session(engine) as session:
        for person in people:
            upsert_patient(session, PatientInfo(person.id, person.id, "Europe/London", ()))
            session.flush()
            bind_devices(session, person.id, person.devices)
            session.add(User(id=f"{person.id}-login", display_name=person.id, role="patient",
                             password_hash="x", patient_id=person.id))
        session.commit()
    evaluator = CoachEvaluator(store=store, engine=engine)
    inbox = InboxChannel(engine)
    by_id = {p.id: p for p in people}
    contacts: list[tuple[str, datetime]] = []
    candidates_disengaged = held = safety_to_disengaged = 0
    history_days = 14  # two weeks of steady history before the run: a fair first verdict
    for day in range(-history_days, days):
        midnight = START + timedelta(days=day)
        readings = []
        for person in people:
            device_p, _, _ = person.rates(max(day, 0))
            for device, kind in person.devices:
                if rng.random() < device_p:
                    metric = DEVICE_METRIC[kind][0]
                    at = midnight + timedelta(hours=8, minutes=rng.randint(0, 600))
                    readings.append(Reading(person.id, device, metric, VALUES[kind], at,
                                            "cgm" if kind == "cgm" else
                                            "meter" if kind == "glucose_meter" else kind,
                                            VALUES[kind], UNITS[kind]))
                    if day >= 0:
                        person.used_days += 1
                if day >= 0:
                    person.expected_days += 1
        store.write(readings)
        if day < 0:
            continue
        evaluator.engagement(midnight + timedelta(hours=3, minutes=30))
        work = midnight + timedelta(hours=10)
        with Session(engine) as session:
            items = outreach.needs_outreach(session, list(by_id), now=work,
                                            risk={p.id: p.risk for p in people})
            for item in items[:contacts_per_day]:
                reached = rng.random() < 0.6
                outreach.record_contact(
                    session, patient_id=item.patient_id, by_user="coach", by_name="Coach",
                    by_role="coach", contacted="the patient", method="phone",
                    outcome="reached" if reached else "no answer", now=work,
                    next_step="" if reached else "call again",
                    next_due=None if reached else (work + timedelta(days=1)).date())
                contacts.append((item.patient_id, work))
            session.commit()
        noon = midnight + timedelta(hours=12)
        with Session(engine) as session:
            disengaged = {pid for pid, s in states.latest_states(session, list(by_id)).items()
                          if s.state == "disengaged"}
            sent = []
            for person in people:
                flags = [_flag(day)]
                low_day = (person.drift_day or 0) + 7
                if person.pattern == "drifting" and day == low_day:
                    flags.append(_low(day))
                out = dispatch(session, person.id, flags, noon)
                if person.id in disengaged:
                    candidates_disengaged += 1
                    safety_to_disengaged += sum(1 for o in out if o.flag_type == "low"
                                                and o.recipient_role == "patient")
                sent += out
            session.commit()
        for message in sent:
            if message.recipient_role == "patient":
                inbox.send(Recipient(message.patient_id, "patient", message.patient_id),
                           message)
        with Session(engine) as session:
            for person in people:
                _, read_p, sign_p = person.rates(day)
                if rng.random() < read_p:
                    session.execute(update(InboxMessage).where(
                        InboxMessage.recipient_key == person.id,
                        InboxMessage.read_at.is_(None)).values(read_at=noon + timedelta(hours=6)))
                if rng.random() < sign_p:
                    session.add(LoginAttempt(user_id=f"{person.id}-login", address="sim",
                                             at=noon + timedelta(hours=7), succeeded=True))
            session.commit()
    with Session(engine) as session:
        held = len(session.scalars(select(CoachFlag.id).where(
            CoachFlag.flag_type == "missed_medication",
            CoachFlag.outcome.startswith("held"))).all())
        first_recorded = {p.id: states.first_disengaged(session, p.id, since=START.date())
                          for p in people if p.pattern == "drifting"}
    store.close()
    engine.dispose()
    return _figures(people, contacts, contacts_per_day, days, held=held,
                    candidates_disengaged=candidates_disengaged,
                    safety_to_disengaged=safety_to_disengaged, first_recorded=first_recorded)


def _figures(people: list[Person], contacts: list[tuple[str, datetime]], per_day: int,
             days: int, *, held: int, candidates_disengaged: int, safety_to_disengaged: int,
             first_recorded: dict[str, Any]) -> dict[str, Any]:
    ranked = sorted(people, key=lambda p: (p.used_days / max(p.expected_days, 1), p.id))
    quartile = {p.id for p in ranked[:max(1, len(ranked) // 4)]}
    # the same capacity, the caseload in turn (what a coach without the list does)
    order = sorted(p.id for p in people)
    turn = [(order[i % len(order)], START + timedelta(days=i // per_day, hours=10))
            for i in range(per_day * days)]

    def share(made: list[tuple[str, datetime]]) -> float:
        return round(100.0 * sum(1 for pid, _ in made if pid in quartile) / max(len(made), 1), 1)

    def delays(made: list[tuple[str, datetime]]) -> list[float]:
        out = []
        for p in people:
            if p.pattern != "drifting" or p.drift_day is None:
                continue
            drifted = START + timedelta(days=p.drift_day)
            after = [t for pid, t in made if pid == p.id and t >= drifted]
            out.append((min(after) - drifted).total_seconds() / 86_400 if after
                       else float("inf"))
        return out

    def summary(values: list[float]) -> dict[str, Any]:
        reached = sorted(v for v in values if v != float("inf"))
        return {"people": len(values), "reached": len(reached),
                "median_days": round(median(reached), 1) if reached else None,
                "p90_days": round(reached[min(len(reached) - 1,
                                              math.ceil(0.9 * len(reached)) - 1)], 1)
                if reached else None}

    drifting = [p for p in people if p.pattern == "drifting"]
    recorded = [(first_recorded[p.id] - (START + timedelta(days=p.drift_day)).date()).days
                for p in drifting if p.drift_day is not None and first_recorded.get(p.id)]
    return {
        "people": len(people), "days": days, "contacts_per_day": per_day,
        "patterns": {k: sum(1 for p in people if p.pattern == k) for k in PATTERNS},
        "contacts": len(contacts),
        "least_engaged_quartile_share_pct": share(contacts),
        "least_engaged_quartile_share_in_turn_pct": share(turn),
        "drift_to_first_contact": summary(delays(contacts)),
        "drift_to_first_contact_in_turn": summary(delays(turn)),
        "drift_to_recorded_disengaged_median_days": median(recorded) if recorded else None,
        "drifting_recorded_disengaged": f"{len(recorded)} of {len(drifting)}",
        "motivational_candidates_to_disengaged": candidates_disengaged,
        "motivational_nudges_held": held,
        "safety_messages_to_disengaged": safety_to_disengaged,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--contacts-per-day", type=int, default=6)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hearth-engagement-") as tmp:
        figures = simulate(copies=args.copies, days=args.days,
                           contacts_per_day=args.contacts_per_day, seed=args.seed,
                           folder=Path(tmp))
    for key, value in figures.items():
        _say(f"{key}: {value}")
    if not args.no_save:
        RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
