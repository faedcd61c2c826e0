"""What ingest tells others after a commit: acknowledgements and stored events.

``Announcer`` (ordinary traffic, on ingest's own connection): the writer hands it a
committed batch's handled sequence numbers per device and touched metrics per
patient. They wait in two maps, merged while they wait: a device's seqs from several
batches go out as one acknowledgement on ``hearth/v1/ack/{device}``, and the patients'
metrics as one stored event for all of them on ``hearth/v1/stored`` (issue 22; at most
1,000 patients a message, core/stored_events.py), or, with ``stored_form="patient"``
(for consumers that know only the older form), one per patient on
``hearth/v1/stored/{patient}``. A sender thread
publishes them at QoS 1 through a bounded in-flight window (``core.mqtt.PacedPublisher``),
so paho's own outgoing queue never grows beyond the window, and under load many
batches cost one message per device and one per patient instead of one each per
batch. The maps are bounded too (``max_pending`` devices and patients): beyond it
the writer waits, so it acknowledges nothing more to the broker until the backlog
drains (back-pressure, nothing dropped).

``PriorityAnnouncer`` (the priority lane, on a connection of its own): a stored event
with ``"urgent": true`` for a safety-class reading, published at once, never behind
the ordinary traffic of the other connection (ingest/priority.py says which).

Both are announcements after a commit, and both are idempotent: a second event for
the same readings makes the coach evaluate again, and its cool-downs and delivery
keys keep that from repeating a message; an acknowledgement repeated tells a
gateway again what it has already forgotten.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping

import paho.mqtt.client as mqtt

from core import topics
from core.acks import ack_payload
from core.mqtt import PacedPublisher, PublishError
from core.stored_events import batch_messages, stored_payload

__all__ = ["Announcer", "PriorityAnnouncer", "stored_payload"]

log = logging.getLogger(__name__)


class Announcer:
    def __init__(self, client: mqtt.Client, *, window: int, max_pending: int,
                 acks: bool = True, stored_events: bool = True,
                 stored_form: str = "batch") -> None:
        self._paced = PacedPublisher(client, window=window)
        self._batch_events = stored_form == "batch"
        self._max_pending = max_pending
        self._send_acks = acks
        self._send_stored = stored_events
        self._acks: dict[str, set[int]] = {}
        self._stored: dict[str, set[str]] = {}
        self._changed = threading.Condition()
        self._stopping = False
        self._sending = False  # the sender holds a taken batch not yet published
        self.published = 0
        self._thread = threading.Thread(target=self._run, name="ingest-announce", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, handled_seqs: Mapping[str, Iterable[int]],
            touched: Mapping[str, Iterable[object]]) -> None:
        """Announce a committed batch; waits while ``max_pending`` entries wait already."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopping or self._pending() < self._max_pending)
            if self._send_acks:
                for device_id, seqs in handled_seqs.items():
                    self._acks.setdefault(device_id, set()).update(seqs)
            if self._send_stored:
                for patient_id, metrics in touched.items():
                    self._stored.setdefault(patient_id, set()).update(str(m) for m in metrics)
            self._changed.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until everything announced so far is published and acknowledged."""
        deadline = time.monotonic() + timeout
        with self._changed:
            if not self._changed.wait_for(lambda: not self._pending() and not self._sending,
                                          timeout=timeout):
                return False
        return self._paced.wait_idle(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout=10)

    def _pending(self) -> int:
        return len(self._acks) + len(self._stored)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._stopping or self._pending() > 0)
                if self._stopping:
                    return
                acks, self._acks = self._acks, {}
                stored, self._stored = self._stored, {}
                self._sending = True
                self._changed.notify_all()  # room for the writer again
            try:
                self._publish(acks, stored)
            finally:
                with self._changed:
                    self._sending = False
                    self._changed.notify_all()

    def _publish(self, acks: dict[str, set[int]], stored: dict[str, set[str]]) -> None:
        messages = [(topics.ack(d), ack_payload(d, s)) for d, s in acks.items()]
        if self._batch_events:
            messages += batch_messages(stored)
        else:
            messages += [(topics.stored(p), stored_payload(p, m)) for p, m in stored.items()]
        for k, (topic, payload) in enumerate(messages):
            while True:
                if self._stopping:
                    log.warning("stopping with %d announcements unsent (gateways resend; "
                                "the coach's next event covers the rest)", len(messages) - k)
                    return
                try:
                    self._paced.publish(topic, payload, timeout=1.0)
                except PublishError:  # the window stays full: the broker is slow or away
                    continue
                self.published += 1
                break


class PriorityAnnouncer:
    """Stored events of the priority lane, on a connection that carries nothing else."""

    def __init__(self, client: mqtt.Client) -> None:
        self._client = client
        self.published = 0

    def announce(self, touched: Mapping[str, Iterable[object]]) -> None:
        for patient_id, metrics in touched.items():
            payload = stored_payload(patient_id, (str(m) for m in metrics), urgent=True)
            info = self._client.publish(topics.stored(patient_id), payload, qos=1)
            # Disconnected, paho keeps a QoS 1 message and sends it on reconnect.
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                log.warning("priority stored event refused: %s", mqtt.error_string(info.rc))
                continue
            self.published += 1
