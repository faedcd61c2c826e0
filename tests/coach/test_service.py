"""The scheduled path through the coach service: trend check -> dispatcher -> digest job ->
delivery, on an injected clock, across a restart of the service.

The real scheduler, evaluator, rules, dispatcher, notifier and inbox run; the home
display is a recording channel (the MQTT channel has its own test in test_channels.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care.messages import Outbound
from coach.channels import DeliveryResult, Recipient
from coach.service import CoachService
from coach.settings import CoachSettings
from core.appdb.delivery import Delivery
from core.clock import FixedClock
from core.metrics import Metric
from core.mqtt import MqttEndpoint
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.support.factories import reading, register

START = datetime(2026, 3, 2, 1, tzinfo=UTC)  # Monday 01:00 in London: quiet hours
LONDON = ZoneInfo("Europe/London")


class RecordingDisplay:
    name = "home_display"

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, Outbound]] = []

    def send(self, recipient: Recipient, outbound: Outbound) -> DeliveryResult:
        self.sent.append((self.clock.now(), outbound))
        return DeliveryResult.sent()


def service(engine: Engine, store: SqliteTimeSeriesStore, clock: FixedClock,
            display: RecordingDisplay) -> CoachService:
    coach = CoachService(
        endpoint=MqttEndpoint.parse("mqtt://127.0.0.1:1"),  # never connected: no real time
        store=store, engine=engine, clock=clock, channels={"home_display": display},
        settings=CoachSettings(delivery_attempts=1, instance=f"coach-{clock.now():%H%M}"))
    coach.declare_jobs()
    return coach


def walk(coach: CoachService, clock: FixedClock, until: datetime) -> None:
    while clock.now() < until:
        coach.scheduler.run_pending(clock.now(), wait_s=30)
        clock.set(clock.now() + timedelta(minutes=30))


def test_a_night_finding_waits_for_the_morning_digest_and_a_restart_repeats_nothing(
    engine: Engine, store: SqliteTimeSeriesStore
) -> None:
    register(engine, "p1", [("p1-scale", "scale")], timezone="Europe/London")
    store.write([reading(patient_id="p1", device_id="p1-scale", metric=Metric.WEIGHT,
                         value=81.0, unit="kg", source="device", at=START - timedelta(days=3))])
    clock = FixedClock(START)
    display = RecordingDisplay(clock)

    first = service(engine, store, clock, display)
    walk(first, clock, START + timedelta(hours=11))  # to Monday noon
    first.scheduler.stop()
    first.notifier.close()
    second = service(engine, store, clock, display)  # a restart, same database
    walk(second, clock, START + timedelta(days=2))
    second.scheduler.stop()
    second.notifier.close()

    assert display.sent, "the silent scale was never mentioned"
    at, first_message = display.sent[0]
    # Found at 01:00 (quiet hours): nothing then; it came with the 08:00 digest.
    assert first_message.kind == "digest"
    assert at.astimezone(LONDON).hour == 8 and at.date() == START.date()
    assert "scale" in first_message.body
    for when, message in display.sent:  # quiet hours held throughout
        local = when.astimezone(LONDON)
        assert 7 <= local.hour < 22 or message.urgent, (local, message.kind)
    refs = [(m.kind, m.ref) for _, m in display.sent]
    assert len(refs) == len(set(refs)), "a message was delivered twice"
    with Session(engine) as session:
        statuses = session.scalars(select(Delivery.status)).all()
    assert statuses and set(statuses) == {"sent"}
    # Each scheduled run happened once, across the restart, in one of the two processes.
    runs = second.scheduler.runs()
    assert len({(job, t) for job, t, _, _ in runs}) == len(runs)
    digests = [t for job, t, _, _ in runs if job == "digest:Europe/London"]
    assert digests == [datetime(2026, 3, d, 8, tzinfo=UTC) for d in (2, 3)]


def test_daily_rules_run_just_before_the_morning_digest_not_every_hour(
    engine: Engine, store: SqliteTimeSeriesStore
) -> None:
    register(engine, "p2", [("p2-cuff", "bp_cuff")], timezone="Europe/London")
    sittings = [START.replace(hour=h) - timedelta(days=d, minutes=m)
                for d in range(0, 8) for h in (7, 21) for m in (0, 2)]
    store.write([reading(patient_id="p2", device_id="p2-cuff", metric=metric, value=value,
                         unit="mm[Hg]", source="device", at=at)
                 for at in sittings if at < START
                 for metric, value in ((Metric.SYSTOLIC, 152.0), (Metric.DIASTOLIC, 96.0))])
    clock = FixedClock(START)
    display = RecordingDisplay(clock)
    coach = service(engine, store, clock, display)

    walk(coach, clock, START + timedelta(hours=10))  # 01:00 -> 11:00 London
    coach.scheduler.stop()
    coach.notifier.close()

    bp = [(at, m) for at, m in display.sent if m.flag_type == "bp_above_target"]
    assert len(bp) == 1, [m.flag_type for _, m in display.sent]
    at, message = bp[0]
    assert at.astimezone(LONDON).hour == 8  # found by the 08:00 daily run, said once
    assert "152" in message.body or "152" in message.why
