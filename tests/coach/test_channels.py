"""Notification channels and delivery against real servers.

E-mail goes to a real local SMTP server (aiosmtpd), webhooks to a real HTTP
receiver on loopback, the home display through a real Mosquitto. Failures are
real too: a closed port, a receiver that answers 500, one that hangs.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import apprise
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care.messages import Outbound
from coach.channels.external import AppriseChannel
from coach.channels.home_display import HomeDisplayChannel
from coach.channels.inbox import InboxChannel
from coach.notify import DeliveryPolicy, Notifier, set_channels
from core import topics
from core.appdb.delivery import ChannelPreference, Delivery, InboxMessage
from core.mqtt import MqttEndpoint, connect, new_client
from tests.support.factories import subscribed, wait_until
from tests.support.mosquitto import MosquittoServer
from tests.support.ports import free_port

# Timeouts generous: a send cut by its timeout may still complete (and then be retried).
# How long a test waits for a delivery's outcome (a condition: it returns when delivered),
# sized for a loaded machine where a worker's first apprise import alone takes seconds.
WAIT_S = 60
FAST = DeliveryPolicy(attempts=2, backoff_initial_s=0.01, backoff_cap_s=0.05, send_timeout_s=15)


def outbound(ref: str = "n-1", *, patient: str = "p1", role: str = "patient",
             recipient: str | None = None, priority: str = "normal") -> Outbound:
    return Outbound(
        kind="nudge" if role == "patient" else "alert", patient_id=patient,
        recipient_role=role, recipient_id=recipient, flag_type="low",  # type: ignore[arg-type]
        priority=priority, title="Glucose is low",  # type: ignore[arg-type]
        body="Your glucose has been below 70 for 20 minutes.",
        why="Below 70 mg/dL for 15 minutes or more (International Consensus on TIR 2019).",
        created_at=datetime(2026, 3, 1, 8, tzinfo=UTC), ref=ref, evidence={"minutes": 20},
    )


def prefer(engine: Engine, key: str, *channels: tuple[str, str | None]) -> None:
    with Session(engine) as session:
        for rank, (channel, target) in enumerate(channels):
            session.add(ChannelPreference(recipient_id=key, channel=channel, target=target,
                                          rank=rank, enabled=True))
        session.commit()


def deliveries(engine: Engine) -> dict[tuple[str, str, str], tuple[str, int]]:
    with Session(engine) as session:
        rows = session.scalars(select(Delivery)).all()
        return {(r.ref, r.recipient_key, r.channel): (r.status, r.attempts) for r in rows}


# -- real receivers ----------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class Webhook:
    """A loopback HTTP receiver; ``delay`` makes it hang, ``status`` makes it fail."""

    def __init__(self, *, status: int = 200, delay: float = 0.0) -> None:
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(hook.delay_s)
                hook.received.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.status, self.delay_s = status, delay
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhooks() -> Iterator[list[Webhook]]:
    made: list[Webhook] = []
    yield made
    for hook in made:
        hook.close()


@functools.cache
def _apprise_plugins_loaded() -> None:
    """Apprise loads its ~100 plugin modules at its first URL: seconds, more than a send's
    timeout at load 20 (the sends failed). Done once per process, before any send is timed."""
    assert apprise.Apprise().add("json://127.0.0.1:9/warm-up")


def external_notifier(engine: Engine, policy: DeliveryPolicy = FAST) -> Notifier:
    _apprise_plugins_loaded()
    channels = {"inbox": InboxChannel(engine), "email": AppriseChannel("email"),
                "webhook": AppriseChannel("webhook"), "sms": AppriseChannel("sms")}
    return Notifier(engine=engine, channels=channels, policy=policy)


def mail_url(port: int, to: str = "nurse@example.org") -> str:
    return f"mailto://127.0.0.1:{port}?from=hearth@example.org&to={to}&mode=insecure"


# -- tests -----------------------------------------------------------------------------------


def test_an_email_reaches_a_real_smtp_server_and_the_inbox_keeps_a_copy(
    engine: Engine, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    prefer(engine, "nurse-1", ("email", mail_url(port)))
    notifier = external_notifier(engine)
    message = outbound("a-1", role="nurse", recipient="nurse-1")

    outcomes = notifier.deliver(message).result(timeout=WAIT_S)
    notifier.close()

    assert {(o.channel, o.status) for o in outcomes} == {("email", "sent"), ("inbox", "sent")}
    assert len(box.messages) == 1 and box.messages[0].rcpt_tos == ["nurse@example.org"]
    text = box.messages[0].content.decode()
    assert "Subject: Glucose is low" in text and "Why you are getting this" in text
    with Session(engine) as session:
        (row,) = session.scalars(select(InboxMessage)).all()
        assert (row.recipient_key, row.ref, row.why) == ("nurse-1", "a-1", message.why)
    assert deliveries(engine)[("a-1", "nurse-1", "email")] == ("sent", 1)


def test_a_webhook_reaches_a_real_receiver(engine: Engine, webhooks: list[Webhook]) -> None:
    hook = Webhook()
    webhooks.append(hook)
    prefer(engine, "coach-1", ("webhook", hook.url))
    notifier = external_notifier(engine)

    notifier.deliver(outbound("a-2", role="coach", recipient="coach-1")).result(timeout=WAIT_S)
    notifier.close()

    (payload,) = hook.received
    assert payload["title"] == "Glucose is low" and "below 70" in payload["message"]


def test_a_failing_channel_is_retried_then_falls_back_to_the_next(
    engine: Engine, smtp: tuple[Mailbox, int], webhooks: list[Webhook]
) -> None:
    box, _ = smtp
    broken = Webhook(status=500)
    webhooks.append(broken)
    dead_smtp = mail_url(free_port())  # nothing listens there: connection refused
    prefer(engine, "p1", ("webhook", broken.url), ("email", dead_smtp),
           ("sms", None), ("email-2", None))
    with Session(engine) as session:  # the working e-mail comes last
        session.add(ChannelPreference(recipient_id="p2", channel="email",
                                      target=mail_url(smtp[1], "p2@example.org"), rank=0,
                                      enabled=True))
        session.commit()
    notifier = external_notifier(engine)

    outcomes = notifier.deliver(outbound("n-3")).result(timeout=WAIT_S)

    tried = [(o.channel, o.status, o.attempts) for o in outcomes if o.channel != "inbox"]
    # sms has no address: it fails at once; each is retried (FAST.attempts) before moving on.
    assert tried == [("webhook", "failed", 2), ("email", "failed", 2), ("sms", "failed", 2)]
    assert len(broken.received) == 2
    # The record says what happened to each channel, and the inbox still has the message.
    record = deliveries(engine)
    assert record[("n-3", "p1", "webhook")] == ("failed", 2)
    assert record[("n-3", "p1", "inbox")] == ("sent", 1)

    # A person whose first channel works stops there.
    outcomes = notifier.deliver(outbound("n-4", patient="p2")).result(timeout=WAIT_S)
    notifier.close()
    assert [(o.channel, o.status) for o in outcomes] == [("email", "sent"), ("inbox", "sent")]
    assert box.messages[-1].rcpt_tos == ["p2@example.org"]


def test_a_fallback_reaches_the_person_when_the_first_channel_is_down(
    engine: Engine, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    prefer(engine, "nurse-1", ("email", mail_url(free_port())), ("sms", None),
           ("webhook", None))
    prefer(engine, "nurse-2", ("webhook", "json://127.0.0.1:1/none"), ("email", mail_url(port)))
    notifier = external_notifier(engine)

    outcomes = notifier.deliver(outbound("a-5", role="nurse", recipient="nurse-2")).result(WAIT_S)
    notifier.close()

    assert [(o.channel, o.status) for o in outcomes][:2] == [("webhook", "failed"),
                                                             ("email", "sent")]
    assert len(box.messages) == 1


def test_a_hanging_channel_does_not_block_other_channels_or_people(
    engine: Engine, webhooks: list[Webhook]
) -> None:
    hanging, quick = Webhook(delay=20.0), Webhook()
    webhooks.extend([hanging, quick])
    prefer(engine, "p-slow", ("webhook", hanging.url))
    prefer(engine, "p-fast", ("webhook", quick.url))
    policy = DeliveryPolicy(attempts=1, send_timeout_s=10.0, workers_per_channel=2)
    notifier = external_notifier(engine, policy)

    started = time.monotonic()
    slow = notifier.deliver(outbound("n-slow", patient="p-slow"))
    fast = notifier.deliver(outbound("n-fast", patient="p-fast"))
    fast_outcomes = fast.result(timeout=WAIT_S)
    fast_took = time.monotonic() - started
    slow_was_hanging = not slow.done()
    slow_outcomes = slow.result(timeout=WAIT_S)
    notifier.close(wait=False)

    assert [(o.channel, o.status) for o in fast_outcomes] == [("webhook", "sent"),
                                                              ("inbox", "sent")]
    # Delivered while the other send still hung (not after its timeout cut it): no wall
    # clock bound but the send timeout, so a loaded machine does not decide the outcome.
    assert slow_was_hanging and fast_took < policy.send_timeout_s, \
        "the other person's message waited for the hanging receiver"
    # The hanging send is cut at its timeout, recorded as failed; the inbox still got it.
    assert ("webhook", "failed") in [(o.channel, o.status) for o in slow_outcomes]
    assert ("inbox", "sent") in [(o.channel, o.status) for o in slow_outcomes]


def test_an_urgent_alert_goes_to_every_channel_at_once(
    engine: Engine, smtp: tuple[Mailbox, int], webhooks: list[Webhook]
) -> None:
    box, port = smtp
    hook = Webhook()
    webhooks.append(hook)
    prefer(engine, "p1", ("email", mail_url(port, "p1@example.org")), ("webhook", hook.url))
    notifier = external_notifier(engine)

    outcomes = notifier.deliver(outbound("u-1", priority="urgent")).result(timeout=WAIT_S)
    notifier.close()

    assert sorted((o.channel, o.status) for o in outcomes) == [
        ("email", "sent"), ("inbox", "sent"), ("webhook", "sent")]
    assert len(box.messages) == 1 and len(hook.received) == 1


def test_delivering_the_same_message_again_sends_nothing_twice(
    engine: Engine, webhooks: list[Webhook]
) -> None:
    hook = Webhook()
    webhooks.append(hook)
    prefer(engine, "p1", ("webhook", hook.url))
    notifier = external_notifier(engine)
    message = outbound("n-9")

    notifier.deliver(message).result(timeout=WAIT_S)
    again = notifier.deliver(message).result(timeout=WAIT_S)
    notifier.close()

    assert {o.status for o in again} == {"duplicate"}
    assert len(hook.received) == 1
    with Session(engine) as session:
        assert len(session.scalars(select(InboxMessage)).all()) == 1


def test_the_home_display_gets_a_small_versioned_message_over_mqtt(
    engine: Engine, mosquitto: MosquittoServer
) -> None:
    client = new_client("coach-test")
    connect(client, MqttEndpoint.parse(mosquitto.url))
    client.loop_start()
    notifier = Notifier(engine=engine, channels={"home_display": HomeDisplayChannel(client),
                                                 "inbox": InboxChannel(engine)}, policy=FAST)
    try:
        with subscribed(mosquitto.url, topics.DOWN_ALL) as listener:
            outcomes = notifier.deliver(outbound("n-10")).result(timeout=WAIT_S)
            wait_until(lambda: len(listener) == 1, timeout=10, message="display message")
    finally:
        notifier.close()
        client.disconnect()
        client.loop_stop()

    assert [(o.channel, o.status) for o in outcomes] == [("home_display", "sent"),
                                                         ("inbox", "sent")]
    topic, payload = listener.messages[0]
    assert topic == topics.down("p1")
    data = json.loads(payload)
    assert data["schema"] == 1
    assert set(data) == {"schema", "kind", "title", "body", "why", "priority", "ref", "sent_at"}
    assert (data["kind"], data["ref"], data["priority"]) == ("nudge", "n-10", "normal")


def test_channels_are_configured_per_person_in_order_and_checked(engine: Engine) -> None:
    notifier = external_notifier(engine)
    set_channels(engine, "nurse-1", [("webhook", "json://127.0.0.1:9/h"), ("email", mail_url(25))])
    set_channels(engine, "nurse-1", [("email", mail_url(25)), ("inbox", None)])  # replaces

    assert notifier.channels_for("nurse-1", "nurse") == [("email", mail_url(25))]
    assert notifier.channels_for("p9", "patient") == []  # no home display in this process
    with pytest.raises(ValueError, match="unknown channel"):
        set_channels(engine, "nurse-1", [("pager", None)])
    with pytest.raises(ValueError, match="apprise URL"):
        set_channels(engine, "nurse-1", [("email", "not a url")])
    notifier.close()
