"""Publishing the outbox to the broker, and forgetting only what ingest confirms.

paho-mqtt (MQTT v5) with a persistent session (``clean_start=False`` and a
session expiry): while the gateway is away the broker queues ingest's
acknowledgements on ``hearth/v1/ack/{device_id}`` for it. The gateway's
presence is the retained ``hearth/v1/status/{gateway_id}`` message, set to
offline by the last will when the connection dies.

The loop takes due messages from the outbox only while connected (so nothing
piles up in paho's memory), keeps at most ``max_inflight_messages`` awaiting
ingest's confirmation, and re-sends a message that stays unconfirmed for
``resend_after_s`` (then after twice as long, up to ``resend_max_s``). Every
bit of state that matters is in the outbox: a SIGKILL at any moment loses
nothing, and a restart re-sends what was not confirmed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from core import topics
from core.acks import read_ack
from core.contract import SCHEMA_VERSION, encode_message
from core.mqtt import MQTT_V5, MqttEndpoint, connect, new_client  # connect sets TCP_NODELAY
from gateway.outbox import Batch, Outbox, resend_delay
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

SUBACK_TIMEOUT_S = 10.0  # a subscription unanswered this long is asked again


def status_payload(gateway_id: str, state: str, **extra: Any) -> bytes:
    body = {"schema": SCHEMA_VERSION, "device_id": gateway_id, "state": state, **extra}
    return json.dumps(body, separators=(",", ":")).encode()


class Forwarder:
    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        outbox: Outbox,
        settings: GatewaySettings,
        on_confirmed: Callable[[], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._endpoint = endpoint
        self._outbox = outbox
        self._settings = settings
        self.on_confirmed = on_confirmed or (lambda: None)
        self._now = wall_clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._subscribed: set[str] = set()
        self._sub_refused: dict[str, float] = {}  # device -> when to ask the broker again
        self._pending_subs: dict[int, tuple[list[str], float]] = {}  # mid -> devices, asked at
        self._awaiting: dict[tuple[str, int], float] = {}  # (device, msg_seq) -> due again at
        self._alert: dict[str, Any] | None = None
        self._mid_lock = threading.Lock()
        self._in_flight: dict[int, tuple[str, int]] = {}  # paho mid -> (device, msg_seq)
        self._early_pubacks: dict[int, str | None] = {}  # mid -> refusal (None: accepted)
        self._refused_devices: set[str] = set()
        self.refused_messages = 0
        self.published_messages = 0
        self.resent_messages = 0
        self.confirmed_readings = 0
        self._client = self._build_client()
        self._thread = threading.Thread(target=self._run, name="gateway-forwarder", daemon=True)

    # -- lifecycle ----------------------------------------------------------

    def _build_client(self) -> mqtt.Client:
        client = new_client(self._settings.gateway_id, protocol=self._settings.protocol,
                            clean_session=False)
        client.will_set(
            topics.status(self._settings.gateway_id),
            status_payload(self._settings.gateway_id, "offline"),
            qos=1,
            retain=True,
        )
        client.max_inflight_messages_set(self._settings.max_inflight_messages)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def start(self) -> None:
        connect(
            self._client,
            self._endpoint,
            clean_start=False,
            session_expiry_s=self._settings.session_expiry_s,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=self._settings.reconnect_max_s)
        self._client.loop_start()
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)
        if self._connected.is_set():
            info = self._publish_status("offline")
            if info is not None:
                try:
                    info.wait_for_publish(timeout=5)
                except (RuntimeError, ValueError):
                    pass
        self._client.disconnect()
        self._client.loop_stop()

    def wake(self) -> None:
        """New readings are in the outbox."""
        self._wake.set()

    def set_alert(self, alert: dict[str, Any] | None) -> None:
        """Show (or clear) an alert in the retained status message."""
        self._alert = alert
        if self._connected.is_set():
            self._publish_status("online")

    # -- paho callbacks (its network thread) --------------------------------

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the gateway's connection: %s", reason)
            return
        session_present = bool(getattr(flags, "session_present", False))
        log.info("gateway connected to the broker (session present: %s)", session_present)
        if not session_present:
            # The broker has no session for us: it restarted without its state (or it is
            # our first visit), so what it acknowledged may be gone. Re-send it now
            # rather than after the timeout; ingest drops the copies.
            with self._lock:
                self._awaiting.clear()
            again = self._outbox.all_due()
            if again:
                log.info("broker without our session: %d unconfirmed readings due again", again)
        self._connected.set()
        self._publish_status("online")
        self._subscribe(self._outbox.devices())
        self._wake.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        with self._lock:
            self._subscribed.clear()
            self._pending_subs.clear()
        with self._mid_lock:
            self._in_flight.clear()
            self._early_pubacks.clear()
        if was_connected and not self._stopping.is_set():
            log.warning("gateway lost the broker (%s); readings wait in the outbox", reason)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: Any, _props: Any
    ) -> None:
        with self._lock:
            devices, _ = self._pending_subs.pop(mid, ([], 0.0))
            for device_id, code in zip(devices, reasons, strict=False):
                if getattr(code, "is_failure", False):
                    retry = self._settings.subscribe_retry_s
                    first = device_id not in self._sub_refused
                    self._sub_refused[device_id] = time.monotonic() + retry
                    if first:
                        log.error("broker refused the ack subscription of device %s (%s): is "
                                  "the device linked to this gateway? Its readings stay in the "
                                  "outbox; asking again every %.0f s", device_id, code, retry)
                else:
                    self._subscribed.add(device_id)
                    if self._sub_refused.pop(device_id, None) is not None:
                        log.info("device %s: the broker now accepts its subscription",
                                 device_id)
        self._wake.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            device_id, seqs = read_ack(msg.topic, msg.payload)
        except ValueError as exc:
            log.warning("%s (ignored)", exc)
            return
        removed = self._outbox.confirm(device_id, seqs)
        with self._lock:
            for seq in seqs:
                self._awaiting.pop((device_id, seq), None)
        self.confirmed_readings += removed
        self.on_confirmed()
        self._wake.set()

    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reason: Any, _props: Any
    ) -> None:
        """The broker's PUBACK. Success forgets nothing (only ingest's ack does); a refusal
        (e.g. the ACL does not let this gateway forward the device) is logged once per
        device, and the readings stay: they go through once an administrator links the
        device, and are re-sent with backoff until then."""
        outcome = str(reason) if getattr(reason, "is_failure", False) else None
        with self._mid_lock:  # never held while calling paho (it holds its own locks here)
            sent = self._in_flight.pop(mid, None)
            if sent is None:
                self._early_pubacks[mid] = outcome  # PUBACK before _publish noted the mid
        if sent is not None:
            self._puback(sent, outcome)

    def _puback(self, sent: tuple[str, int], refusal: str | None) -> None:
        if refusal is not None:
            self._refused(*sent, reason=refusal)
            return
        with self._mid_lock:
            was_refused = sent[0] in self._refused_devices
            self._refused_devices.discard(sent[0])
        if was_refused:
            log.info("device %s: the broker now accepts it", sent[0])

    def _refused(self, device_id: str, msg_seq: int, *, reason: str) -> None:
        self.refused_messages += 1
        with self._mid_lock:
            first = device_id not in self._refused_devices
            self._refused_devices.add(device_id)
        if first:
            log.error("broker refused message %d of device %s (%s): is the device linked to "
                      "this gateway? Its readings stay in the outbox", msg_seq, device_id, reason)

    # -- sending ------------------------------------------------------------

    def _subscribe(self, devices: list[str]) -> None:
        """Subscribe to the ack topics of devices not yet subscribed (or whose SUBACK is lost)."""
        now = time.monotonic()
        # Held across subscribe(): the SUBACK (paho's thread) must find its mid registered.
        with self._lock:
            for old_mid, (_, asked) in list(self._pending_subs.items()):
                if now - asked > SUBACK_TIMEOUT_S:
                    del self._pending_subs[old_mid]
            waiting = {d for ds, _ in self._pending_subs.values() for d in ds}
            new = [d for d in devices if d not in self._subscribed and d not in waiting
                   and self._sub_refused.get(d, 0.0) <= now]
            for start in range(0, len(new), 100):
                chunk = new[start : start + 100]
                if self._settings.protocol == MQTT_V5:
                    option = SubscribeOptions(qos=1)
                    rc, mid = self._client.subscribe([(topics.ack(d), option) for d in chunk])
                else:  # MQTT 3.1.1: a plain QoS
                    rc, mid = self._client.subscribe([(topics.ack(d), 1) for d in chunk])
                if rc == mqtt.MQTT_ERR_SUCCESS and mid is not None:
                    self._pending_subs[mid] = (chunk, now)

    def _publish_status(self, state: str) -> mqtt.MQTTMessageInfo | None:
        stats = self._outbox.stats()
        extra: dict[str, Any] = {
            "outbox": {"readings": stats.readings, "max_readings": stats.max_readings}
        }
        if self._alert is not None and state == "online":
            extra["alert"] = self._alert
        payload = status_payload(self._settings.gateway_id, state, **extra)
        return self._client.publish(
            topics.status(self._settings.gateway_id), payload, qos=1, retain=True
        )

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.25)
            self._wake.clear()
            if not self._connected.is_set():
                continue
            try:
                self._send_due()
            except Exception:  # the loop must outlive one bad turn
                log.exception("gateway forwarder turn failed; retrying")
                time.sleep(1.0)

    def _send_due(self) -> None:
        self._subscribe(self._outbox.devices())
        now = self._now()
        with self._lock:
            for key, due_at in list(self._awaiting.items()):
                if due_at <= now:
                    del self._awaiting[key]  # overdue: take_due hands it out again
            room = self._settings.max_inflight_messages - len(self._awaiting)
            ready = set(self._subscribed)
        if room <= 0 or not ready:
            return
        batches = self._outbox.take_due(
            now=now,
            resend_after_s=self._settings.resend_after_s,
            resend_max_s=self._settings.resend_max_s,
            max_messages=room,
            max_per_message=self._settings.max_readings_per_message,
            devices=ready,
        )
        for batch in batches:
            if not self._publish(batch, now):
                break
        if len(batches) == room:
            self._wake.set()  # more may be waiting

    def _publish(self, batch: Batch, now: float) -> bool:
        payload = encode_message(
            device_id=batch.device_id, seq=batch.msg_seq, readings=list(batch.entries)
        )
        info = self._client.publish(topics.up(batch.device_id), payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("publish refused (%s); message kept in the outbox",
                        mqtt.error_string(info.rc))
            self._outbox.unsend(batch)
            return False
        if batch.attempts > 1:
            self.resent_messages += 1
            log.info("re-sent unconfirmed message %d of device %s (attempt %d)",
                     batch.msg_seq, batch.device_id, batch.attempts)
        delay = resend_delay(batch.attempts, after_s=self._settings.resend_after_s,
                             max_s=self._settings.resend_max_s)
        with self._lock:
            self._awaiting[(batch.device_id, batch.msg_seq)] = now + delay
        sent = (batch.device_id, batch.msg_seq)
        with self._mid_lock:
            early = info.mid in self._early_pubacks
            outcome = self._early_pubacks.pop(info.mid, None)
            if not early:
                self._in_flight[info.mid] = sent
        if early:
            self._puback(sent, outcome)
        self.published_messages += 1
        return True
