"""The coach service measures the clinics' service agreements every hour (coach/service.py
``measure_service``, coach/scheduler.py ``service-standards``; the rules are
care/agreements.py): a message left unanswered past the clinic's 48 hours becomes a
breach in the database within the hour, with nobody opening a page, and the same case is
never counted twice across runs. The real scheduler and service run on an injected
clock; nothing is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from coach.service import CoachService
from coach.settings import CoachSettings
from core.appdb.account_store import AccountStore
from core.appdb.agreements import ServiceMeasure
from core.appdb.delivery import InboxMessage
from core.clock import FixedClock
from core.mqtt import MqttEndpoint
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import register

START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_an_unanswered_message_is_a_breach_within_the_hour_after_its_limit(
        engine: Engine, store: SqliteTimeSeriesStore) -> None:
    register(engine, "p1", [("p1-cgm", "cgm")])
    accounts = AccountStore(engine)
    accounts.clinics.add("north", "North clinic")
    accounts.clinics.register("p1", "north")
    with Session(engine) as s:
        s.add(InboxMessage(recipient_key="p1", recipient_role="coach", patient_id="p1",
                           kind="message", priority="normal", flag_type="message", title="m",
                           body="b", why="w", evidence={}, ref="r", created_at=START))
        s.commit()
    clock = FixedClock(START + timedelta(hours=46))  # the coach starts two days later
    coach = CoachService(endpoint=MqttEndpoint.parse("mqtt://127.0.0.1:1"),  # never connected
                         store=store, engine=engine, clock=clock,
                         settings=CoachSettings(delivery_attempts=1, instance="coach-a"))
    coach.declare_jobs()
    seen: list[tuple[datetime, bool]] = []
    try:
        while clock.now() < START + timedelta(hours=50):
            clock.set(clock.now() + timedelta(minutes=30))
            coach.scheduler.run_pending(clock.now(), wait_s=30)
            with Session(engine) as s:
                rows = s.scalars(select(ServiceMeasure)).all()
                seen.append((clock.now(), any(r.breached_at is not None for r in rows)))
                assert len(rows) <= 1
    finally:
        coach.scheduler.stop()
        coach.notifier.close()
    first = next(at for at, breached in seen if breached)
    assert START + timedelta(hours=48) < first <= START + timedelta(hours=49)
    runs = [job for job, _t, _owner, status in coach.scheduler.runs()
            if job == "service-standards" and status == "done"]
    assert len(runs) >= 3, runs
