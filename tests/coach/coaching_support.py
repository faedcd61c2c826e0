"""Helpers for the coaching tests: an application database, patients, and the pipeline
rules -> engine -> dispatcher with a hand-built context."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care.messages import Outbound
from coach.context import PatientContext
from coach.dispatch import dispatch
from coach.engine import evaluate
from coach.policy import save_preferences
from core.appdb.coaching import CoachAlert, CoachNudge
from core.appdb.directory import PatientInfo, upsert_patient
from core.appdb.engine import create_schema, make_engine
from core.readings import to_epoch_us
from core.timeseries import Series

# A Tuesday, 14:00 UTC = 14:00 in London (GMT in March before the clocks change)
NOW = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
US_PER_MIN = 60_000_000


_TEMPLATE: dict[str, Path] = {}


def database(tmp_path: Path) -> Engine:
    """A migrated application database: migrated once per test run, then copied."""
    if "path" not in _TEMPLATE:
        folder = tempfile.mkdtemp(prefix="coaching-template-")
        atexit.register(shutil.rmtree, folder, True)
        template = Path(folder) / "app.db"
        engine = make_engine(f"sqlite:///{template}")
        create_schema(engine)
        engine.dispose()
        _TEMPLATE["path"] = template
    target = tmp_path / "app.db"
    shutil.copyfile(_TEMPLATE["path"], target)
    return make_engine(f"sqlite:///{target}")


def add_patient(engine: Engine, patient_id: str = "p1", *, tz: str = "Europe/London",
                conditions: Sequence[str] = (), targets: dict[str, Any] | None = None,
                **prefs: Any) -> None:
    with Session(engine) as session:
        upsert_patient(session, PatientInfo(patient_id, patient_id, tz, tuple(conditions),
                                            targets or {}))
        session.flush()
        if prefs:
            save_preferences(session, patient_id, now=NOW, **prefs)
        session.commit()


def run(engine: Engine, ctx: PatientContext, *, names: Iterable[str] | None = None,
        tuning: dict[str, Any] | None = None, now: datetime | None = None) -> list[Outbound]:
    """The real engine over ``ctx``, then the real dispatcher; committed."""
    result = evaluate(ctx, names=names, tuning=tuning)
    assert not result.failed, result.failed
    with Session(engine) as session:
        out = dispatch(session, ctx.patient_id, result.flags, now or ctx.now)
        session.commit()
    return out


def summary(out: Iterable[Outbound]) -> list[tuple[str, str, str, str]]:
    """(kind, recipient role, flag type, priority) of each message, in order."""
    return [(o.kind, o.recipient_role, o.flag_type, o.priority) for o in out]


def nudges(engine: Engine, patient_id: str = "p1") -> list[CoachNudge]:
    with Session(engine) as session:
        rows = session.scalars(select(CoachNudge).where(CoachNudge.patient_id == patient_id)
                               .order_by(CoachNudge.created_at)).all()
        session.expunge_all()
        return list(rows)


def alerts(engine: Engine, patient_id: str = "p1") -> list[CoachAlert]:
    with Session(engine) as session:
        rows = session.scalars(select(CoachAlert).where(CoachAlert.patient_id == patient_id)
                               .order_by(CoachAlert.created_at)).all()
        session.expunge_all()
        return list(rows)


def series(start: datetime, values: Sequence[float], step_min: float = 5.0) -> Series:
    t0 = to_epoch_us(start)
    times = t0 + (np.arange(len(values)) * step_min * US_PER_MIN).astype(np.int64)
    return Series(times.astype(np.int64), np.asarray(values, dtype=np.float64))


def ending_at(end: datetime, values: Sequence[float], step_min: float = 5.0) -> Series:
    start = end - timedelta(minutes=step_min * (len(values) - 1))
    return series(start, values, step_min)
