"""The safety path's threads run at a higher CPU priority than the rest (core/cpu_priority.py),
in ingest's lane and in the coach's urgent lane and urgent delivery pools."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from care.messages import Outbound
from coach.channels import DeliveryResult, Recipient
from coach.notify import DeliveryPolicy, Notifier
from core.appdb.engine import create_schema, make_engine
from core.cpu_priority import SAFETY_NICE, favour_this_thread, thread_nice

ROOT = os.geteuid() == 0  # lowering a nice value needs CAP_SYS_NICE (root has it)


def in_a_thread(work: object) -> object:
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(work()))  # type: ignore[operator]
    thread.start()
    thread.join(timeout=30)
    return out[0]


def test_a_favoured_thread_and_the_threads_it_starts_run_at_the_safety_nice() -> None:
    def favoured() -> tuple[bool, int, int]:
        took = favour_this_thread()
        child: list[int] = []
        thread = threading.Thread(target=lambda: child.append(thread_nice()))
        thread.start()
        thread.join(timeout=30)
        return took, thread_nice(), child[0]

    before = thread_nice()
    took, nice, child = in_a_thread(favoured)  # type: ignore[misc]
    if ROOT:
        assert (took, nice, child) == (True, SAFETY_NICE, SAFETY_NICE)
    else:  # refused: the thread keeps its priority and says so
        assert (took, nice, child) == (False, before, before)
    assert thread_nice() == before  # the caller's own thread is untouched


def test_no_change_asked_is_no_change_and_a_lower_priority_is_always_allowed() -> None:
    assert favour_this_thread(0) is True
    assert in_a_thread(lambda: (favour_this_thread(5), thread_nice())) == (True, 5)


class NiceRecorder:
    name = "home_display"

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def send(self, recipient: Recipient, outbound: Outbound) -> DeliveryResult:
        self.seen[outbound.ref] = thread_nice()
        return DeliveryResult.sent()


def message(ref: str, priority: str) -> Outbound:
    return Outbound(kind="escalation" if priority == "urgent" else "nudge", patient_id="p1",
                    recipient_role="patient", recipient_id="p1", flag_type="urgent_low",
                    priority=priority, title="t", body="b", why="w",  # type: ignore[arg-type]
                    created_at=datetime.now(UTC), ref=ref)


@pytest.mark.skipif(not ROOT, reason="needs CAP_SYS_NICE to lower a nice value")
def test_urgent_messages_are_delivered_by_favoured_threads_and_routine_ones_are_not(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    create_schema(engine)
    channel = NiceRecorder()
    notifier = Notifier(engine=engine, channels={"home_display": channel},
                        policy=DeliveryPolicy(urgent_nice=SAFETY_NICE))
    try:
        urgent, routine = message("u1", "urgent"), message("r1", "normal")
        assert urgent.urgent and not routine.urgent
        notifier.deliver(urgent).result(timeout=60)
        notifier.deliver(routine).result(timeout=60)
    finally:
        notifier.close(wait=True)
    assert channel.seen == {"u1": SAFETY_NICE, "r1": 0}
