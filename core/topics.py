"""MQTT topics of the message contract (docs/DESIGN.md §2)."""

from __future__ import annotations

PREFIX = "hearth/v1"
UP_ALL = f"{PREFIX}/up/+"
DEAD_ALL = f"{PREFIX}/dead/+"
DOWN_ALL = f"{PREFIX}/down/+"
ACK_ALL = f"{PREFIX}/ack/+"
STORED_ALL = f"{PREFIX}/stored/+"
# One stored event for a committed batch of many patients' readings (core/stored_events.py).
STORED_BATCH = f"{PREFIX}/stored"

_FORBIDDEN_IN_LEVEL = frozenset("/+#\x00")
MAX_ID_LENGTH = 128


def valid_topic_id(identifier: str) -> bool:
    """An id may stand as one topic level: no separators, wildcards or NUL."""
    return (
        0 < len(identifier) <= MAX_ID_LENGTH
        and not (_FORBIDDEN_IN_LEVEL & set(identifier))
        and identifier.isprintable()
    )


def up(device_id: str) -> str:
    return f"{PREFIX}/up/{device_id}"


def dead(device_id: str) -> str:
    return f"{PREFIX}/dead/{device_id}"


def down(patient_id: str) -> str:
    return f"{PREFIX}/down/{patient_id}"


def status(device_id: str) -> str:
    return f"{PREFIX}/status/{device_id}"


def ack(device_id: str) -> str:
    return f"{PREFIX}/ack/{device_id}"


def stored(patient_id: str) -> str:
    return f"{PREFIX}/stored/{patient_id}"


def shared(group: str, topic: str) -> str:
    """A shared subscription: members of ``group`` split the messages."""
    return f"$share/{group}/{topic}"


def last_level(topic: str, kind: str) -> str | None:
    """The id in ``hearth/v1/{kind}/{id}``, or None if the topic is not of that kind."""
    head = f"{PREFIX}/{kind}/"
    if not topic.startswith(head):
        return None
    rest = topic[len(head):]
    return rest if valid_topic_id(rest) else None
