"""The batch planner, with a small fake registry (no broker, no store)."""

import json
from datetime import UTC, datetime, timedelta

from core.appdb.directory import DeviceBinding
from core.contract import encode_message
from ingest.pipeline import Inbound, plan_batch

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


class FakeRegistry:
    def __init__(self, bindings: dict[str, DeviceBinding]) -> None:
        self.bindings = bindings

    def binding(self, device_id: str) -> DeviceBinding | None:
        return self.bindings.get(device_id)


REGISTRY = FakeRegistry({
    "cuff-1": DeviceBinding("cuff-1", "pat-1", "bp_cuff", True),
    "old-1": DeviceBinding("old-1", "pat-1", "scale", False),
})


def plan(*messages: Inbound):
    return plan_batch(list(messages), registry=REGISTRY, now=NOW, max_payload_bytes=10_000,
                      future_tolerance=timedelta(minutes=5))


def bp_message(seq: int, systolic: float = 120) -> bytes:
    return encode_message(device_id="cuff-1", seq=seq, base={"time": NOW - timedelta(hours=1)},
                          readings=[{"metric": "systolic", "value": systolic, "unit": "mmHg"},
                                    {"metric": "diastolic", "value": 80, "unit": "mmHg"}])


def test_readings_are_bound_to_the_registered_patient_not_to_anything_in_the_payload() -> None:
    result = plan(Inbound("hearth/v1/up/cuff-1", bp_message(1)))
    assert [r.patient_id for r in result.readings] == ["pat-1", "pat-1"]
    assert result.dead_letters == []
    assert json.loads(result.ack_messages()[0][1])["seqs"] == [1]
    topic, payload = result.stored_events()[0]
    assert topic == "hearth/v1/stored/pat-1"
    assert json.loads(payload)["metrics"] == ["diastolic", "systolic"]


def test_unknown_and_revoked_devices_are_dead_lettered() -> None:
    result = plan(Inbound("hearth/v1/up/ghost", bp_message(1)),
                  Inbound("hearth/v1/up/old-1", bp_message(2)))
    assert result.readings == []
    reasons = [json.loads(p)["reason"] for _, p in result.dead_letters]
    assert reasons == ["device 'ghost' is not registered", "device 'old-1' has been revoked"]
    assert [t for t, _ in result.dead_letters] == ["hearth/v1/dead/ghost", "hearth/v1/dead/old-1"]


def test_a_partly_bad_batch_keeps_its_good_readings_and_letters_the_rest() -> None:
    result = plan(Inbound("hearth/v1/up/cuff-1", bp_message(3, systolic=900)))
    assert [str(r.metric) for r in result.readings] == ["diastolic"]
    letter = json.loads(result.dead_letters[0][1])
    assert letter["errors"][0]["code"] == "out_of_range" and letter["errors"][0]["index"] == 0
    assert json.loads(letter["payload"])["seq"] == 3  # the original payload travels with it
    assert result.handled_seqs["cuff-1"] == [3, 3]


def test_binary_garbage_keeps_its_bytes_in_the_letter() -> None:
    result = plan(Inbound("hearth/v1/up/cuff-1", b"\xff\x00\x10"))
    letter = json.loads(result.dead_letters[0][1])
    assert letter["payload_encoding"] == "base64" and letter["payload"] == "/wAQ"
    assert letter["errors"][0]["code"] == "not_json"
