"""A coach process killed between claiming a delivery and sending it: the claim stays
pending; once it is older than the claim lease the escalation tick re-queues the
message, and it is delivered exactly once, even by two processes at once."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care.messages import Outbound
from coach.channels import DeliveryResult, Recipient
from coach.evaluation import CoachEvaluator
from coach.notify import Notifier
from core.appdb.delivery import CLAIM_LEASE, Delivery
from core.appdb.engine import create_schema, make_engine
from core.clock import FixedClock
from core.timeseries.sqlite import SqliteTimeSeriesStore

# The child claims the home-display delivery and dies in the middle of the send, as a
# process killed at the worst moment would (no cleanup, no finally).
CHILD = """
import os, sys
from datetime import UTC, datetime
from care.messages import Outbound
from coach.notify import Notifier
from core.appdb.engine import make_engine

class Dying:
    def send(self, recipient, outbound):
        os._exit(9)

message = Outbound(kind="nudge", patient_id="p1", recipient_role="patient",
                   recipient_id="p1", flag_type="missed_medication", priority="normal",
                   title="Missed dose", body="Your evening dose is not taken yet.",
                   why="The pill box was not opened.", created_at=datetime.now(UTC),
                   ref="nudge-1", evidence={"due": "20:00"})
notifier = Notifier(engine=make_engine(sys.argv[1]), channels={"home_display": Dying()})
notifier.deliver(message).result(timeout=30)
"""


class Recording:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self._lock = threading.Lock()

    def send(self, recipient: Recipient, outbound: Outbound) -> DeliveryResult:
        with self._lock:
            self.sent.append(outbound.ref)
        return DeliveryResult.sent()


def rows(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        return [tuple(r) for r in session.execute(
            select(Delivery.ref, Delivery.channel, Delivery.status))]


def test_a_killed_claim_is_delivered_exactly_once_after_its_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    engine = make_engine(url)
    create_schema(engine)
    died = subprocess.run([sys.executable, "-c", CHILD, url], cwd=Path(__file__).parents[2],
                          capture_output=True, timeout=120, check=False)
    assert died.returncode == 9, died.stderr.decode()
    assert rows(engine) == [("nudge-1", "home_display", "pending")]
    claimed_at = datetime.now(UTC)
    store = SqliteTimeSeriesStore(tmp_path / "timeseries.db")
    evaluator = CoachEvaluator(store=store, engine=engine)

    # Within its lease the claim may still be sending: nothing is re-queued.
    assert evaluator.escalations(claimed_at + timedelta(minutes=1)) == []

    later = claimed_at + CLAIM_LEASE + timedelta(minutes=1)
    requeued = evaluator.escalations(later)
    assert [(m.ref, m.recipient_id, m.title) for m in requeued] == [
        ("nudge-1", "p1", "Missed dose")]
    # Two coach processes deliver it at the same moment: one sends, the other sees it taken.
    display = Recording()
    notifiers = [Notifier(engine=make_engine(url), channels={"home_display": display},
                          clock=FixedClock(later)) for _ in range(2)]
    futures = [n.deliver(m) for n in notifiers for m in requeued]
    outcomes = sorted(o.status for f in futures for o in f.result(timeout=30))
    assert outcomes == ["duplicate", "sent"]
    assert display.sent == ["nudge-1"]
    assert rows(engine) == [("nudge-1", "home_display", "sent")]
    # Nothing is pending any more: the next ticks re-queue nothing.
    assert evaluator.escalations(later + timedelta(hours=1)) == []
    for n in notifiers:
        n.close()
    store.close()
