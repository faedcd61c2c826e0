"""Real `hearth ingest` processes and reading streams, for outage and scale-out tests.

Each process is the production command (``python -m hearth ingest``) configured
only through HEARTH_* variables, so that SIGKILL is a real crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from core import topics
from core.contract import encode_message

REPO = Path(__file__).resolve().parents[2]


def glucose_stream(
    *, devices: int, messages_per_device: int, readings_per_message: int, start: datetime
) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of CGM batches, interleaved across devices; every reading is distinct."""
    for seq in range(messages_per_device):
        for d in range(devices):
            device_id = f"cgm-{d}"
            first = start + timedelta(minutes=5 * seq * readings_per_message)
            entries = [
                {"value": 70 + (seq * readings_per_message + i) % 200, "offset_s": 300 * i}
                for i in range(readings_per_message)
            ]
            base = {"metric": "glucose", "unit": "mg/dL", "source": "cgm", "time": first}
            payload = encode_message(device_id=device_id, seq=seq, readings=entries, base=base)
            yield topics.up(device_id), payload


class IngestProcess:
    """One `hearth ingest` child process with its own log file."""

    def __init__(self, workdir: Path, *, client_id: str, env: dict[str, str]) -> None:
        self.client_id = client_id
        self.log_path = workdir / f"{client_id}.log"
        self._env = {**os.environ, **env, "HEARTH_INGEST_CLIENT_ID": client_id}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> IngestProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hearth", "ingest"],
                cwd=REPO,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def subscribed(self) -> bool:
        return "subscribed to" in self.log()

    def kill(self) -> None:
        """SIGKILL: no flush, no disconnect, nothing acknowledged that was not already."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
