"""Messages reach each person in the language saved in their settings (docs/I18N.md):
the real rules compose an urgent low in English (what is stored and what clinicians read),
the real dispatcher starts its ladder, and at send time the Notifier renders it for the
recipient. A patient who chose Polish gets Polish on her webhook and Urdu on the home
display of one who chose Urdu (Mosquitto), with the same reading, the same 15 g and the
same 15 minutes; the inbox keeps the English record; a nurse with no language saved gets
English e-mail (a real SMTP server). A saved language that cannot be read never holds a
message back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care.messages import Outbound
from coach.channels.external import AppriseChannel
from coach.channels.home_display import HomeDisplayChannel
from coach.channels.inbox import InboxChannel
from coach.context import PatientContext, glucose_now
from coach.notify import DeliveryPolicy, Notifier, set_channels
from core import i18n, topics
from core.appdb.accounts import User
from core.appdb.delivery import InboxMessage
from core.appdb.reviews import UserPreference
from core.mqtt import MqttEndpoint, connect, new_client
from tests.coach.coaching_support import NOW, add_patient, database, ending_at, run
from tests.support.factories import subscribed, wait_until
from tests.support.mosquitto import MosquittoServer
from tests.support.ports import free_port

FAST = DeliveryPolicy(attempts=2, backoff_initial_s=0.01, backoff_cap_s=0.05, send_timeout_s=20)


class Webhook:
    """A loopback HTTP receiver of apprise's json:// posts."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = database(tmp_path)
    for patient, account, lang in (("p1", "ola", "pl"), ("p2", "amna", "ur")):
        add_patient(e, patient)
        with Session(e) as session:
            session.add(User(id=account, display_name=account, role="patient",
                             password_hash="-", patient_id=patient))
            session.add(UserPreference(user_id=account, locale=lang, updated_at=NOW))
            session.commit()
    return e


def urgent_low(engine: Engine, patient: str) -> Outbound:
    """The real urgent_low rule and dispatcher: the ladder's first step, to the patient."""
    g = glucose_now(ending_at(NOW, [90, 80, 70, 62, 50]), NOW, 24.0, "Europe/London")
    ctx = PatientContext(patient, NOW, tz="Europe/London", glucose=g)
    (step,) = run(engine, ctx, names=["urgent_low"])
    assert step.recipient_role == "patient" and "Take 15 g of fast-acting sugar" in step.body
    return step


def test_a_patient_who_chose_polish_gets_her_urgent_low_in_polish_with_its_numbers(
        engine: Engine, webhook: Webhook) -> None:
    step = urgent_low(engine, "p1")
    set_channels(engine, "p1", [("webhook", webhook.url)])
    notifier = Notifier(engine=engine, channels={"webhook": AppriseChannel("webhook"),
                                                 "inbox": InboxChannel(engine)}, policy=FAST)
    try:
        outcomes = notifier.deliver(step).result(timeout=30)
    finally:
        notifier.close()
    assert {(o.channel, o.status) for o in outcomes} == {("webhook", "sent"), ("inbox", "sent")}
    (payload,) = webhook.received
    polish = i18n.localise(step.body, "pl")
    assert polish != step.body and polish in payload["message"]
    assert payload["title"] == i18n.gettext("pl", "Very low glucose")
    for kept in ("50 mg/dL", "54", "15 g", "15 minut"):
        assert kept in payload["message"], (kept, payload["message"])
    assert i18n.gettext("pl", "Why you are getting this:") in payload["message"]
    with Session(engine) as session:  # the record stays as composed
        (row,) = session.scalars(select(InboxMessage)).all()
        assert row.body == step.body


def test_the_home_display_of_a_patient_who_chose_urdu_speaks_urdu(
        engine: Engine, mosquitto: MosquittoServer) -> None:
    step = urgent_low(engine, "p2")
    client = new_client("i18n-test")
    connect(client, MqttEndpoint.parse(mosquitto.url))
    client.loop_start()
    notifier = Notifier(engine=engine, channels={"home_display": HomeDisplayChannel(client)},
                        policy=FAST)
    try:
        with subscribed(mosquitto.url, topics.DOWN_ALL) as listener:
            notifier.deliver(step).result(timeout=30)
            wait_until(lambda: len(listener) == 1, timeout=20, message="display message")
    finally:
        notifier.close()
        client.disconnect()
        client.loop_stop()
    topic, payload = listener.messages[0]
    assert topic == topics.down("p2")
    data = json.loads(payload)
    assert data["body"] == i18n.localise(step.body, "ur") != step.body
    assert data["title"] == i18n.gettext("ur", "Very low glucose")
    assert "50 mg/dL" in data["body"] and "15" in data["body"]


def test_a_nurse_with_no_language_saved_gets_english(engine: Engine) -> None:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    step = urgent_low(engine, "p1")
    to_nurse = replace(step, recipient_role="nurse", recipient_id="n1")
    set_channels(engine, "n1", [
        ("email", f"mailto://127.0.0.1:{port}?from=hearth@example.org&to=n@example.org"
                  "&mode=insecure")])
    notifier = Notifier(engine=engine, channels={"email": AppriseChannel("email")}, policy=FAST)
    try:
        notifier.deliver(to_nurse).result(timeout=30)
    finally:
        notifier.close()
        controller.stop()
    (mail,) = box.messages
    text = mail.content.decode()
    assert "Why you are getting this" in text and "fast-acting sugar" in text


def test_an_unreadable_language_never_holds_a_message_back(tmp_path: Path) -> None:
    e = database(tmp_path)
    with e.begin() as conn:  # a database without the preferences table (an old schema)
        conn.exec_driver_sql("DROP TABLE user_preferences")
    notifier = Notifier(engine=e, channels={}, policy=FAST)
    try:
        assert notifier.language_of("p1") == i18n.DEFAULT
    finally:
        notifier.close()


def test_a_language_is_chosen_saved_first_then_the_browser_then_english() -> None:
    assert i18n.choose("ur", "pl-PL,pl;q=0.9") == "ur"
    assert i18n.choose(None, "de-DE,de;q=0.9,pl;q=0.8,en;q=0.5") == "pl"
    assert i18n.choose(None, "pl;q=0, en-GB") == "en"
    assert i18n.choose("xx", None) == "en"
    assert i18n.direction("ur") == "rtl" and i18n.direction("pl") == "ltr"
    composed = datetime(2026, 3, 1).isoformat()
    assert i18n.localise(composed, "pl") == composed  # no template: unchanged, never guessed
