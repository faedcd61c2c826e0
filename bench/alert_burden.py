"""Alert burden per patient-week: what the patient, the coach and the nurse receive when
held-out UVA/Padova virtual patients (bench/simglucose_patients.py) live a week through
the real rules, dispatcher, escalation ladders and escalation tick
(tests/coach/coaching_week.py), in two ways: nobody ever acknowledges (the worst case for
the care team), and the patient acknowledges each urgent alert 5 minutes after it came.

    python -m bench.alert_burden                 8 people, 7 days (a few minutes)
    python -m bench.alert_burden --people 3 --days 3

Printed per patient-week (mean and worst person): safety messages to the patient (urgent
alerts apart), motivational ones, the coach's non-urgent alerts, the nurse's clinical
alerts, and urgent ladder steps per role; with the consensus level-1 and level-2 lows the
CGM shows, so the figures can be read against how often these people were low.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np

from analytics.events import EventKind, detect_events
from analytics.timebase import coverage_s
from bench.simglucose_patients import REGIMES, TEST, trace
from coach.safety import is_safety
from core.appdb.directory import PatientInfo
from core.metrics import Metric
from core.readings import Reading
from tests.coach.coaching_week import Week

RESULTS = Path(__file__).resolve().parent / "results" / "alert_burden.json"
US = 1_000_000


def _lows(times_us: np.ndarray, values: np.ndarray, level: int) -> int:
    threshold = 54.0 if level == 2 else 70.0
    return len(detect_events(times_us, values, coverage_s(times_us), kind=EventKind.HYPO,
                             level=level, threshold=threshold))


def _people(count: int) -> list[str]:
    groups = ("adult", "child", "adolescent")
    ordered = [p for i in range(10) for g in groups for p in TEST if p == f"{g}#{i + 1:03d}"]
    return ordered[:count]


def run(people: list[str], days: int, *, answered: bool, workdir: Path) -> dict[str, Any]:
    regimes = {r.name: r for r in REGIMES}
    runs = {p: trace(p, regimes["bb-errors" if k % 2 else "bb-overbolus"], days=days + 1,
                     seed=11) for k, p in enumerate(people)}
    names = {p: p.replace("#", "-") for p in people}
    start = min(datetime.fromtimestamp(int(r.times_us[0]) / US, UTC) for r in runs.values())
    start += timedelta(days=1)
    readings = [Reading(names[p], f"{names[p]}-cgm", Metric.GLUCOSE, float(v),
                        datetime.fromtimestamp(int(t) / US, UTC), "cgm", float(v), "mg/dL")
                for p, r in runs.items() for t, v in zip(r.times_us, r.cgm, strict=True)]
    week = Week(workdir, patients={n: PatientInfo(n, n, "Europe/London", ("type1_diabetes",), {})
                                   for n in names.values()},
                devices={n: [(f"{n}-cgm", "cgm")] for n in names.values()},
                readings=readings, start=start,
                prefs={n: {"coach_id": "coach-1", "nurse_id": "nurse-1"}
                       for n in names.values()})
    began = time.process_time()
    _run_answering(week, days, answered)
    cpu = time.process_time() - began
    per: dict[str, Counter[str]] = {n: Counter() for n in names.values()}
    for s in week.sent:
        m = s.message
        if m.recipient_role == "patient":
            key = ("patient_urgent" if m.kind == "escalation"
                   else "patient_digest" if m.kind == "digest"
                   else "patient_safety" if is_safety(m.flag_type) else "patient_motivational")
        elif m.kind == "escalation":
            key = f"ladder_{m.recipient_role}"
        else:
            key = f"{m.recipient_role}_{m.kind}"
        per[m.patient_id][key] += 1
    weeks = days / 7.0
    keys = sorted({k for c in per.values() for k in c})
    table = {k: {"mean": round(mean(c[k] for c in per.values()) / weeks, 2),
                 "max": round(max(c[k] for c in per.values()) / weeks, 2)} for k in keys}
    lows = {"level1": round(mean(_lows(r.times_us, r.cgm, 1) for r in runs.values()) * 7
                            / (days + 1), 2),
            "level2": round(mean(_lows(r.times_us, r.cgm, 2) for r in runs.values()) * 7
                            / (days + 1), 2)}
    return {"answered": answered, "people": people, "days": days, "per_patient_week": table,
            "consensus_lows_per_patient_week": lows, "cpu_s": round(cpu, 1)}


def _run_answering(week: Week, days: int, answered: bool) -> None:
    """Week.run, with an acknowledgement 5 minutes after each urgent alert to the patient."""
    if not answered:
        week.run(days=days)
        return
    now, index = week.start + timedelta(minutes=5), 1
    while now <= week.start + timedelta(days=days):
        for s in week.sent:
            if s.message.kind == "escalation" and s.message.recipient_role == "patient" and \
                    s.when + timedelta(minutes=5) == now:
                week.acks[now] = (s.message.patient_id, s.message.patient_id, "patient")
        week.step(now, index)
        now += timedelta(minutes=5)
        index += 1


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args(argv)
    people = _people(args.people)
    out = []
    for answered in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            result = run(people, args.days, answered=answered, workdir=Path(tmp))
        out.append(result)
        say(f"{'patient answers' if answered else 'nobody answers'}: "
            f"{len(people)} people x {args.days} days "
            f"(consensus lows per patient-week: {result['consensus_lows_per_patient_week']})")
        for key, row in result["per_patient_week"].items():
            say(f"  {key:26} {row['mean']:6.2f} a patient-week (worst {row['max']:.2f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"measured_at": datetime.now(UTC).isoformat(),
                                   "runs": out}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
