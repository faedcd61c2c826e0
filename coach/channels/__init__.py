"""Notification channels behind one interface (docs/STYLE.md: one tiny Protocol).

A channel renders an ``Outbound`` for one recipient and sends it; it returns a
``DeliveryResult`` rather than raising for an expected failure (a refused
connection, a broker that does not acknowledge). Retries, fall-back and the
record of deliveries live in coach/notify.py, so every channel stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from care.messages import Outbound


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who receives one message on one channel.

    ``key``: the person's id (the patient's id for the patient role).
    ``target``: the channel's address for this person (an apprise URL for
    e-mail, SMS and webhooks); None for built-in channels.
    ``language``: the language saved in the person's settings (English if none): what a
    person reads (the home display, e-mail, SMS) is rendered in it at send time; the inbox
    keeps the English record and the pages show it in the viewer's language.
    """

    key: str
    role: str
    patient_id: str
    target: str | None = None
    language: str = "en"  # the person's language (core/i18n.py); the channel renders in it


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    error: str | None = None  # a short reason, never message content

    @classmethod
    def sent(cls) -> DeliveryResult:
        return cls(True)

    @classmethod
    def failed(cls, reason: str) -> DeliveryResult:
        return cls(False, reason[:200])


class Channel(Protocol):
    name: str

    def send(self, recipient: Recipient, outbound: Outbound) -> DeliveryResult: ...
