"""Issue 20 in Chromium (Debian's, Playwright) over the dashboard served by uvicorn:

- the nurse sees the "needs outreach" bucket on her triage, ordered by clinical risk x
  disengagement, opens the first person and records a contact that closes the loop;
- a caregiver the patient opted in to urgent alerts receives an urgent low on her own
  channel (a real webhook receiver, through the coach's real Notifier) when the ladder
  reaches her, sees it on her page of the people she cares for and acknowledges it: the
  ladder records her OK and stops.

Waits are on conditions only, with generous timeouts (a loaded 2-core machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from care import outreach
from coach import escalation
from coach.channels.external import AppriseChannel
from coach.channels.inbox import InboxChannel
from coach.dispatch import dispatch
from coach.notify import DeliveryPolicy, Notifier, set_channels
from coach.rules.base import FlagRequest, Severity
from core.appdb import engagement as rows
from core.appdb.coaching import CoachAlert
from core.appdb.outreach import OutreachContact
from tests.coach.test_channels import Webhook
from tests.dashboard.views_support import World, add_patient, build_world, join_clinic
from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in
from tests.support.dashboard_server import serving

WAIT_MS = 60_000


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path)


def disengaged(world: World, pid: str, score: float, words: str) -> None:
    with Session(world.engine) as session:
        rows.save_state(session, patient_id=pid, day=world.clock.now.date(),
                        state="disengaged", points=score * 8, score=score, evidence=[words],
                        signals={}, now=world.clock.now)
        session.commit()


def test_the_nurse_sees_the_bucket_in_order_and_records_an_outreach(
        world: World, chromium: Any, tmp_path: Path) -> None:
    # q1: diabetes and no glucose at all (triage watch, level 1), less disengaged; p1 meets
    # her targets (level 0) and is more disengaged: (1 + 1) x 0.5 > (0 + 1) x 0.9
    add_patient(world.engine, "q1", "Quinn Quiet")
    join_clinic(world.engine, ["q1"])
    disengaged(world, "p1", 0.9, "Opened 0 of 6 messages sent.")
    disengaged(world, "q1", 0.5, "No reading from any device for 9 days.")
    with Session(world.engine) as session:
        outreach.open_task(session, "q1", reason="Disengaged.", by="system", now=world.clock.now)
        session.commit()
    with serving(world.app) as url:
        page = sign_in(chromium, url, world.people.nurse, PASSWORD, width=1280)
        try:
            assert page.url.endswith("/nurse")
            rows_ = page.locator("#needs-outreach tbody tr")
            rows_.first.wait_for(timeout=WAIT_MS)
            assert [rows_.nth(i).get_attribute("data-patient")
                    for i in range(rows_.count())] == ["q1", "p1"]
            assert "Quinn Quiet" in rows_.first.inner_text()
            rows_.first.get_by_role("link", name="Record contact").click()
            page.wait_for_url(f"{url}/patients/q1/outreach", timeout=WAIT_MS)
            page.fill("#contacted", "Quinn's daughter")
            page.select_option("#method", "phone")
            page.select_option("#outcome", "reached")
            page.fill("#note", "The meter's strips ran out; the pharmacy delivers tomorrow.")
            page.click("#record-contact button[type=submit]")
            page.locator("#recorded").wait_for(timeout=WAIT_MS)
            assert "No open outreach task." in page.inner_text("#task")
            assert "Quinn's daughter by phone: reached" in page.inner_text("#contacts")
            page.screenshot(path=str(tmp_path / "nurse-outreach.png"), full_page=True)
        finally:
            page.context.close()
    with Session(world.engine) as session:
        (contact,) = session.scalars(select(OutreachContact)).all()
        assert (contact.by_user, contact.outcome) == (world.people.nurse, "reached")


URGENT = FlagRequest("urgent_low", Severity.URGENT, "Your glucose is 48 mg/dL. Take 15 g of "
                     "fast-acting sugar now.", {"value": 48.0}, "realtime", group="hypo",
                     key="episode:browser", title="Very low glucose")


def test_a_caregiver_receives_an_urgent_low_on_her_channel_and_acknowledges_it(
        world: World, chromium: Any, tmp_path: Path) -> None:
    hook = Webhook()
    set_channels(world.engine, world.people.caregiver, [("webhook", hook.url)])
    notifier = Notifier(engine=world.engine,
                        channels={"inbox": InboxChannel(world.engine),
                                  "webhook": AppriseChannel("webhook")},
                        policy=DeliveryPolicy(attempts=2, backoff_initial_s=0.1,
                                              send_timeout_s=20))
    began = datetime.now(UTC).replace(microsecond=0)
    world.clock.now = began
    try:
        with Session(world.engine) as session:
            first = dispatch(session, "p1", [URGENT], began - timedelta(minutes=11))
            session.commit()
        # the care partner hears at once, beside the patient (issue 20) ...
        assert [(o.recipient_role, o.recipient_id, o.kind) for o in first] == [
            ("patient", "p1", "escalation"),
            ("caregiver", world.people.caregiver, "escalation")]
        # ... and again at the ladder's caregiver step while nobody has acknowledged
        with Session(world.engine) as session:  # the escalation tick, 11 minutes on
            step = escalation.advance(session, began)
            session.commit()
        assert [(o.recipient_role, o.recipient_id) for o in step] == [
            ("caregiver", world.people.caregiver)]
        outcomes = notifier.deliver(step[0]).result(timeout=60)
        assert ("webhook", "sent") in {(o.channel, o.status) for o in outcomes}
        (payload,) = hook.received
        assert payload["title"] == "Very low glucose"
        assert "Urgent, for the person you care for" in payload["message"]
        with serving(world.app) as url:
            page = sign_in(chromium, url, world.people.caregiver, PASSWORD, width=390)
            try:
                page.goto(f"{url}/caring")
                alert = page.locator("[data-alert]")
                alert.wait_for(timeout=WAIT_MS)
                assert "Very low glucose" in alert.inner_text()
                page.screenshot(path=str(tmp_path / "caregiver-caring-390px.png"),
                                full_page=True)
                alert.get_by_role("button", name="OK, I have seen this").click()
                page.locator("[data-ok]").wait_for(timeout=WAIT_MS)
                assert page.locator("[data-alert]").count() == 0
            finally:
                page.context.close()
        with Session(world.engine) as session:
            (row,) = session.scalars(select(CoachAlert)).all()
            assert row.state == "acknowledged" and row.acknowledged_by == world.people.caregiver
            done = [(s.role, s.action) for s in care_alerts.steps(session, row.id)]
        # notified at once, reminded at the ladder's step, then her acknowledgement
        assert done == [("patient", "notified"), ("caregiver", "notified"),
                        ("caregiver", "notified"), ("caregiver", "acknowledged")]
        with Session(world.engine) as session:  # the ladder stops: nobody else is told
            assert escalation.advance(session, began + timedelta(hours=1)) == []
    finally:
        notifier.close()
        hook.close()
