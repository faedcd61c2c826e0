"""Safety: a Nightscout ``sgv`` below 39 is a CGM status code, never glucose.

Nightscout itself treats every sgv below 39 as a Dexcom error code
(https://github.com/nightscout/cgm-remote-monitor/blob/master/lib/plugins/errorcodes.js:
1 ?SN sensor not active ... 10 ??? power deviation, 12 ?RF bad RF); xDrip+ uploads them
as ordinary sgv entries. Before this, ``sgv: 10`` became a 10 mg/dL glucose reading and
an urgent low was sent. Here the whole stack runs: the dashboard's API, Mosquitto,
ingest, the store and the coach with its rules and dispatcher.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import topics
from core.appdb.delivery import InboxMessage
from core.metrics import Metric
from tests.interop.nightscout_apps.conftest import Stack, ms, sha1
from tests.support.factories import subscribed, wait_until


def test_status_codes_are_kept_as_sensor_events_and_raise_no_alert(stack: Stack) -> None:
    secret = stack.uploader("ann-xdrip")
    client = stack.client(**{"api-secret": sha1(secret)})
    now = datetime.now(UTC).replace(microsecond=0)
    coach = stack.coach()
    try:
        with subscribed(stack.broker_url, topics.DOWN_ALL) as display:
            codes = [{"type": "sgv", "sgv": code, "date": ms(now - timedelta(minutes=m)),
                      "direction": "NOT COMPUTABLE", "device": "xDrip-DexcomG6"}
                     for code, m in ((10, 20), (12, 15), (38, 10), (0, 8))]
            answer = client.post("/api/v1/entries", json=codes)
            assert answer.status_code == 200, answer.text  # an uploader is never stalled
            assert len(answer.json()) == 4
            stored = stack.wait_for(Metric.CGM_STATUS, 4)
            assert sorted(r.value for r in stored) == [0, 10, 12, 38]
            assert stack.read(Metric.GLUCOSE) == []  # not one glucose reading

            # 39 is Dexcom's "LOW": glucose, and an urgent low. It is sent after the codes,
            # so any message the codes caused would arrive before this one.
            low = client.post("/api/v1/entries", json=[
                {"type": "sgv", "sgv": 39, "date": ms(now - timedelta(minutes=5))},
                {"type": "sgv", "sgv": 40, "date": ms(now)}])
            assert low.status_code == 200, low.text
            glucose = stack.wait_for(Metric.GLUCOSE, 2)
            assert [(r.value, r.source) for r in glucose] == [(39.0, "cgm"), (40.0, "cgm")]
            wait_until(lambda: len(display) >= 1, timeout=20, message="the urgent low")
            wait_until(lambda: bool(_inbox(stack)), timeout=20, message="the inbox message")
            first = display.json()[0]
    finally:
        coach.stop()
    assert first["priority"] == "urgent"
    assert "39" in first["body"] or "40" in first["body"]
    code_as_glucose = re.compile(r"(?<![0-9])(0|10|12|38) mg/dL")
    for text in [m["body"] for m in display.json()] + _inbox(stack):
        assert not code_as_glucose.search(text), text

    # Served back as Nightscout serves them: sgv entries with the code, newest first.
    served = client.get("/api/v1/entries.json", params={"count": "10"}).json()
    assert [d["sgv"] for d in served] == [40, 39, 0, 38, 12, 10]
    assert served[3]["direction"] == "NOT COMPUTABLE"



def _inbox(stack: Stack) -> list[str]:
    with Session(stack.engine) as session:
        return [f"{m.title} {m.body} {m.why}" for m in session.scalars(
            select(InboxMessage).where(InboxMessage.patient_id == "ann"))]
