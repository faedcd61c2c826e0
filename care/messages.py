"""What the dispatcher and the escalation ladder hand to the notification channels.

``Outbound`` is the one message type between the coaching policy (coach/dispatch.py,
coach/escalation.py) and delivery (the channels: home display over MQTT, inbox,
apprise). The policy decides *who* gets *what* and *why*; delivery only renders and
sends it. Keep this module free of I/O and stable: other code is written against it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from core.i18n import DEFAULT, localise

OutboundKind = Literal["nudge", "alert", "clinical_alert", "digest", "positive", "escalation"]
RecipientRole = Literal["patient", "caregiver", "coach", "nurse"]
Priority = Literal["urgent", "high", "normal", "low", "positive"]

KINDS: tuple[str, ...] = ("nudge", "alert", "clinical_alert", "digest", "positive", "escalation")
ROLES: tuple[str, ...] = ("patient", "caregiver", "coach", "nurse")
PRIORITIES: tuple[str, ...] = ("urgent", "high", "normal", "low", "positive")

# Lower number = more important; used to sort and to keep the highest severity.
PRIORITY_RANK: dict[str, int] = {"urgent": 0, "high": 1, "normal": 2, "low": 3, "positive": 4}


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to one recipient.

    ``kind``: "nudge" (to the patient), "alert" (to the coach), "clinical_alert"
    (to the nurse), "digest" (the morning bundle to the patient), "positive"
    (reinforcement to the patient), "escalation" (one step of the urgent ladder,
    to whoever the step names).
    ``ref``: the id of the row this message stands for (a nudge id for nudges,
    positives and digests, an alert id for alerts and escalation steps), so that
    delivery records and acknowledgements point back to it.
    ``evidence``: JSON-able (str/int/float/bool/None, lists and dicts of them).
    ``created_at``: timezone-aware UTC.
    """

    kind: OutboundKind
    patient_id: str
    recipient_role: RecipientRole
    flag_type: str
    priority: Priority
    title: str
    body: str
    why: str
    created_at: datetime
    ref: str
    recipient_id: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def urgent(self) -> bool:
        return self.priority == "urgent"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (created_at as ISO 8601) for MQTT payloads and the inbox."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def localised(outbound: Outbound, lang: str) -> Outbound:
    """The same message in the recipient's language (core/i18n.py): title, body and why
    said again from their catalogue templates, with the same numbers. The policy composes
    in English (what is stored and what clinicians read); a channel that shows the message
    to a person renders it in their language at send time."""
    if lang == DEFAULT:
        return outbound
    return replace(outbound, title=localise(outbound.title, lang),
                   body=localise(outbound.body, lang), why=localise(outbound.why, lang))
