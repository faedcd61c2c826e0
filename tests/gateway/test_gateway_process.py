"""`hearth gateway` as a real process, SIGKILLed mid-stream (power loss) and restarted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core import topics
from core.metrics import Metric
from core.timeseries.sqlite import SqliteTimeSeriesStore
from gateway.readers.simulator import weight
from ingest.service import IngestService
from tests.gateway.conftest import broker_config
from tests.support.factories import register, subscribed, wait_until
from tests.support.mosquitto import MosquittoServer

REPO = Path(__file__).resolve().parents[2]
DEVICES = [f"scale-{d}" for d in range(4)]
PER_DEVICE = 1250


def _replay_lines(start: datetime) -> list[str]:
    """5,000 Weight Measurement payloads, interleaved across four scales, 1 min apart."""
    lines = []
    for i in range(PER_DEVICE):
        for d, device_id in enumerate(DEVICES):
            when = (start + timedelta(minutes=i)).replace(tzinfo=None)
            kg = 60 + d + (i % 400) * 0.05
            lines.append(json.dumps({"device_id": device_id, "characteristic": "0x2A9D",
                                     "hex": weight(kg, when).hex(),
                                     "received_at": datetime.now(UTC).isoformat()}))
    return lines


class GatewayProcess:
    def __init__(self, tmp_path: Path, *, url: str, replay: Path, name: str,
                 pause_s: float = 0.02) -> None:
        self.log_path = tmp_path / f"{name}.log"
        env = {
            **os.environ,
            "HEARTH_MQTT_URL": url,
            "HEARTH_GATEWAY_GATEWAY_ID": "gw-home",
            "HEARTH_GATEWAY_OUTBOX_PATH": str(tmp_path / "outbox.db"),
            "HEARTH_GATEWAY_READER": "simulator",
            "HEARTH_GATEWAY_READER_OPTIONS": f"replay={replay},burst=25,pause_s={pause_s}",
            "HEARTH_GATEWAY_RESEND_AFTER_S": "1",
            "HEARTH_GATEWAY_RECONNECT_MAX_S": "1",
            "HEARTH_GATEWAY_MAX_READINGS_PER_MESSAGE": "100",
            "HEARTH_GATEWAY_MAX_INFLIGHT_MESSAGES": "10",
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "hearth", "gateway"], cwd=REPO,
                                            env=env, stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)


def _outbox_state(path: Path) -> tuple[int, int]:
    """(readings taken in so far, readings still held) - read from the outbox file itself."""
    db = sqlite3.connect(path)
    try:
        taken = db.execute("SELECT coalesce(sum(next_seq), 0) FROM devices").fetchone()[0]
        held = db.execute("SELECT count(*) FROM readings").fetchone()[0]
    finally:
        db.close()
    return int(taken), int(held)


def test_a_gateway_killed_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path,
    mosquitto_factory: type[MosquittoServer],
    store: SqliteTimeSeriesStore,
    app_engine: Any,
    start_ingest: Callable[..., IngestService],
) -> None:
    broker = mosquitto_factory(extra_config=broker_config())
    broker.start()
    register(app_engine, "pat", [(d, "scale") for d in DEVICES])
    ingest = start_ingest(broker.url)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=4)
    lines = _replay_lines(start)
    first_file = tmp_path / "replay-1.jsonl"
    first_file.write_text("\n".join(lines) + "\n")

    first = GatewayProcess(tmp_path, url=broker.url, replay=first_file, name="gateway-1")
    outbox_path = tmp_path / "outbox.db"
    wait_until(lambda: store.count() >= 1000, timeout=40, message="gateway under way")
    # Ingest goes away for a moment, so that readings surely await confirmation at the
    # kill (with prompt confirmations the outbox is often empty between two polls).
    ingest.stop()
    wait_until(lambda: _outbox_state(outbox_path)[1] >= 50, timeout=40,
               message="readings awaiting confirmation")
    first.kill()  # power loss: no flush, no goodbye
    start_ingest(broker.url)  # the same persistent session: what the broker queued comes now
    taken, held = _outbox_state(tmp_path / "outbox.db")
    with subscribed(broker.url, topics.status("gw-home")) as status:  # the last will, retained
        wait_until(lambda: any(m["state"] == "offline" for m in status.json()), timeout=10,
                   message="last will published")
    stored_at_kill = store.count()
    # Mid-stream: the gateway had not taken every reading yet; some of what it held may
    # be stored already, only not yet confirmed back to it.
    assert 0 < stored_at_kill <= taken < len(lines), "the kill did not land mid-stream"
    assert held > 0, "nothing was waiting in the outbox at the kill"

    # The devices still hold what the gateway had not taken; the restarted
    # gateway reads on from there, and must deliver what its outbox held.
    second_file = tmp_path / "replay-2.jsonl"
    second_file.write_text("\n".join(lines[taken:]) + "\n")
    second = GatewayProcess(tmp_path, url=broker.url, replay=second_file, name="gateway-2",
                            pause_s=0)
    try:
        wait_until(lambda: store.count() >= len(lines), timeout=40, message="every reading")
        wait_until(lambda: _outbox_state(tmp_path / "outbox.db")[1] == 0, timeout=15,
                   message="outbox emptied by confirmations")
    finally:
        second.stop()
    with subscribed(broker.url, topics.status("gw-home")) as status:  # a clean stop says so
        wait_until(lambda: len(status) > 0, timeout=5, message="retained status")
        assert status.json()[-1]["state"] == "offline"

    assert store.count() == len(lines)
    rows = store.read("pat", Metric.WEIGHT, start - timedelta(days=1), datetime.now(UTC))
    assert len(rows) == len(lines)
    for d, device_id in enumerate(DEVICES):
        values = [r.value for r in rows if r.device_id == device_id]
        assert values == [round(60 + d + (i % 400) * 0.05, 2) for i in range(PER_DEVICE)]
    # Sequence numbers continued after the restart instead of starting again.
    taken_after, _ = _outbox_state(tmp_path / "outbox.db")
    assert taken_after == len(lines)
    assert "Traceback" not in second.log()
    assert ingest.stats.messages > 0
