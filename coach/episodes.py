"""Episodes of a safety condition: when one is over, and what no new reading announces.

An urgent alert belongs to one episode of its condition (its flag ``key``: the start of
the low, the crisis reading, the silence). A new episode is a new alert whatever state
the old one is in (coach/dispatch.py). This module closes the loop on the other side:

- ``cleared``: an open ladder whose condition is over resolves itself, recorded as
  "resolved" by ``hearth`` with the reason, so that the care team is not paged about a
  low that ended an hour ago and a later low is plainly a new alert. The stated times
  (docs/CLINICAL.md): a low is over after more than 15 minutes of readings at or above
  70 mg/dL (Battelino 2019's end of an event); low oxygen when the two newest readings
  are above the alert's threshold; a BP crisis when a newer reading is below crisis
  level; a sensor silence when readings arrive again.
- ``silent_candidates``: patients whose newest CGM value is low and older than the
  signal-loss rule's wait (coach/rules/signal_loss.py), found in one bulk read.

Both run on the coach's escalation tick (coach/evaluation.py ``escalations``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.bp import CRISIS_DIASTOLIC, CRISIS_SYSTOLIC
from analytics.targets import GLUCOSE_LOW_BELOW
from care.alerts import OPEN, resolve
from core.appdb.coaching import CoachAlert
from core.appdb.models import Device
from core.clock import aware
from core.metrics import Metric
from core.timeseries import TimeSeriesStore

logger = logging.getLogger(__name__)

US_PER_S = 1_000_000
LOW_MG_DL = GLUCOSE_LOW_BELOW  # Battelino 2019 level 1 (docs/CLINICAL.md "Glucose")
CLEAR_AFTER = timedelta(minutes=15)  # Battelino 2019: >=15 minutes back above ends an event
FRESH = timedelta(minutes=15)  # evidence of "now": older readings say nothing about it
SIGNAL_LOSS_AFTER = timedelta(minutes=20)  # coach/rules/signal_loss.py (its default)
SIGNAL_LOSS_GIVE_UP = timedelta(hours=12)
READ_MARGIN = timedelta(seconds=1)  # reads end before their end time: take "now" in

Check = Callable[[TimeSeriesStore, CoachAlert, datetime], str | None]


def _hypo_cleared(store: TimeSeriesStore, alert: CoachAlert, now: datetime) -> str | None:
    """Over once the newest reading is at or above 70 and more than 15 minutes after the
    last one below it; the low that raised the alert must be among the readings seen (a
    window that missed it proves nothing)."""
    since = aware(alert.created_at) - timedelta(hours=1)
    series = store.read_series(alert.patient_id, Metric.GLUCOSE, since, now + READ_MARGIN)
    t, v = np.asarray(series.times_us), np.asarray(series.values)
    if t.size == 0 or now - _at(int(t[-1])) > FRESH or v[-1] < LOW_MG_DL:
        return None
    low = t[v < LOW_MG_DL]
    if low.size == 0:
        return None
    if int(t[-1]) - int(low[-1]) <= CLEAR_AFTER.total_seconds() * US_PER_S:
        return None
    return "glucose back at or above 70 mg/dL for more than 15 minutes"


def _spo2_cleared(store: TimeSeriesStore, alert: CoachAlert, now: datetime) -> str | None:
    threshold = alert.evidence.get("threshold")
    if not isinstance(threshold, int | float):
        return None
    series = store.read_series(alert.patient_id, Metric.SPO2, aware(alert.created_at),
                               now + READ_MARGIN)
    v = np.asarray(series.values)
    if v.size < 2 or now - _at(int(series.times_us[-1])) > FRESH:
        return None
    if min(float(v[-1]), float(v[-2])) <= float(threshold):
        return None
    return f"the two newest oxygen readings are above {threshold:g}%"


def _bp_cleared(store: TimeSeriesStore, alert: CoachAlert, now: datetime) -> str | None:
    newest = store.latest(alert.patient_id, (Metric.SYSTOLIC, Metric.DIASTOLIC))
    sys_r, dia_r = newest.get(Metric.SYSTOLIC), newest.get(Metric.DIASTOLIC)
    if sys_r is None or dia_r is None or sys_r.measured_at <= aware(alert.created_at):
        return None
    if sys_r.value >= CRISIS_SYSTOLIC or dia_r.value >= CRISIS_DIASTOLIC:
        return None
    return "a newer blood pressure reading is below crisis level"


def _signal_back(store: TimeSeriesStore, alert: CoachAlert, now: datetime) -> str | None:
    last = alert.evidence.get("last_reading_at")
    newest = store.latest(alert.patient_id, (Metric.GLUCOSE,)).get(Metric.GLUCOSE)
    if not isinstance(last, str) or newest is None:
        return None
    if newest.measured_at <= datetime.fromisoformat(last):
        return None
    return "glucose readings arrive again"


CHECKS: dict[str, Check] = {
    "hypo": _hypo_cleared,
    "spo2": _spo2_cleared,
    "bp_crisis": _bp_cleared,
    "signal_loss": _signal_back,
}


def cleared(session: Session, store: TimeSeriesStore, now: datetime) -> int:
    """Resolve every open or snoozed ladder whose condition is over; how many. The caller
    commits."""
    ladders = session.scalars(
        select(CoachAlert).where(CoachAlert.kind == "escalation", CoachAlert.state.in_(OPEN),
                                 CoachAlert.group.in_(tuple(CHECKS)))
    ).all()
    done = 0
    for alert in ladders:
        try:
            reason = CHECKS[alert.group](store, alert, now)
        except Exception:  # noqa: BLE001 - one unreadable series must not stop the others
            logger.exception("could not check whether alert %s cleared", alert.id)
            continue
        if reason and resolve(session, alert.id, "hearth", now,
                              note=f"Resolved by Hearth: {reason}."):
            logger.info("alert %s resolved: its condition cleared", alert.id)
            done += 1
    return done


def silent_candidates(session: Session, store: TimeSeriesStore, now: datetime) -> list[str]:
    """Patients with an active CGM whose newest glucose is below 70 mg/dL and older than the
    signal-loss wait (one bulk read); the signal-loss rule decides the rest."""
    ids = sorted(set(session.scalars(
        select(Device.patient_id).where(Device.kind == "cgm", Device.active.is_(True),
                                        Device.patient_id.is_not(None)))))
    if not ids:
        return []
    newest = store.newest_values(ids, (Metric.GLUCOSE,), now - SIGNAL_LOSS_GIVE_UP)
    quiet_since = now - SIGNAL_LOSS_AFTER
    return [pid for (pid, _), (time_us, value) in newest.items()
            if value < LOW_MG_DL and _at(time_us) <= quiet_since]


def _at(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / US_PER_S, tz=UTC)
