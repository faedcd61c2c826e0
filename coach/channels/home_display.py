"""The home display: a small versioned JSON message on ``hearth/v1/down/{patient_id}``.

Published with QoS 1; the delivery counts as sent once the broker acknowledges
it (PUBACK), within ``timeout`` seconds.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt

from care.messages import Outbound, localised
from coach.channels import DeliveryResult, Recipient
from core import topics
from core.clock import Clock, SystemClock

DOWN_SCHEMA = 1


def display_payload(outbound: Outbound, sent_at: datetime) -> bytes:
    data: dict[str, Any] = {
        "schema": DOWN_SCHEMA,
        "kind": outbound.kind,
        "title": outbound.title,
        "body": outbound.body,
        "why": outbound.why,
        "priority": outbound.priority,
        "ref": outbound.ref,
        "sent_at": sent_at.isoformat(),
    }
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class HomeDisplayChannel:
    name = "home_display"

    def __init__(self, client: mqtt.Client, *, clock: Clock | None = None,
                 timeout: float = 5.0) -> None:
        self._client = client
        self._clock = clock or SystemClock()
        self._timeout = timeout

    def send(self, recipient: Recipient, outbound: Outbound) -> DeliveryResult:
        # The display lives in the patient's home: it shows the patient's messages.
        if recipient.role != "patient":
            return DeliveryResult.failed("the home display only serves the patient")
        payload = display_payload(localised(outbound, recipient.language), self._clock.now())
        info = self._client.publish(topics.down(outbound.patient_id), payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return DeliveryResult.failed(f"publish refused: {mqtt.error_string(info.rc)}")
        try:
            info.wait_for_publish(timeout=self._timeout)
        except (RuntimeError, ValueError) as exc:
            return DeliveryResult.failed(f"publish failed: {type(exc).__name__}")
        if not info.is_published():
            return DeliveryResult.failed("broker did not acknowledge in time")
        return DeliveryResult.sent()
