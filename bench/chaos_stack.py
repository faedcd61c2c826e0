"""Real processes for the fault suite: gateways fed by replay files, supervised ingest
replicas, the readings the gateways are given, and reading the store back.

Everything here is a production command started as a child process and configured
only through its environment, so that SIGKILL is a real crash. The servers
themselves (Mosquitto, influxd) come from tests/support.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.chaos_sources import Key, key
from gateway.readers.simulator import glucose, weight

REPO = Path(__file__).resolve().parents[1]


# -- the readings ---------------------------------------------------------------------


@dataclass
class Home:
    """One gateway's devices and the payload lines its devices hold, in the order read."""

    gateway_id: str
    patient_id: str
    devices: list[tuple[str, str]]  # (device id, kind)
    lines: list[str] = field(default_factory=list)
    # What each device holds, from the values its payloads were made of (not decoded).
    expected: dict[str, list[Key]] = field(default_factory=dict)


def build_homes(*, readings: int, devices: int, gateways: int, now: datetime) -> list[Home]:
    """Scales and glucose meters, one reading per payload, one minute apart per device,
    interleaved across a home's devices; all in the past (a week ago onwards)."""
    per_device = readings // devices
    start = (now - timedelta(days=7)).replace(second=0, microsecond=0)
    received = now.isoformat()
    homes = [Home(f"gw-{g}", f"p-{g}", []) for g in range(gateways)]
    for d in range(devices):
        kind = "scale" if d % 2 == 0 else "meter"
        homes[d % gateways].devices.append((f"chaos-{kind}-{d}", kind))
    for home in homes:
        for i in range(per_device):
            when = (start + timedelta(minutes=i)).replace(tzinfo=None)
            for n, (device_id, kind) in enumerate(home.devices):
                if kind == "scale":
                    kg = round(60 + n + (i % 400) * 0.05, 2)  # a multiple of 0.005 kg
                    char, payload = "0x2A9D", weight(kg, when)
                    source = key("weight", when.replace(tzinfo=UTC), kg)
                else:
                    mg_dl = 70 + (i * 7 + n) % 200
                    char, payload = "0x2A18", glucose(i, mg_dl, when)
                    source = key("glucose", when.replace(tzinfo=UTC), mg_dl)
                home.expected.setdefault(device_id, []).append(source)
                home.lines.append(json.dumps({"device_id": device_id, "characteristic": char,
                                              "hex": payload.hex(), "received_at": received}))
    return homes


def expected_readings(homes: list[Home]) -> dict[str, list[Key]]:
    """Per device, (metric, measured time in µs, value) of every reading its payloads were
    made from: what must end up in the store (the device clocks are UTC, the gateway's zone)."""
    return {device: keys for home in homes for device, keys in home.expected.items()}


def epoch_us(iso: str) -> int:
    when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(when.astimezone(UTC).timestamp()) * 1_000_000 + when.microsecond


def checksum(rows: list[Key]) -> str:
    digest = hashlib.sha256()
    for metric, at, value in sorted(rows):
        digest.update(f"{metric}:{at}:{value:.3f}\n".encode())
    return digest.hexdigest()[:16]


# -- processes ------------------------------------------------------------------------


class Child:
    """A child process with its own log file; ``kill`` is SIGKILL, ``stop`` is SIGTERM."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, cwd=REPO, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def kill(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def hearth_child(name: str, command: str, *, env: dict[str, str], workdir: Path) -> Child:
    return Child(name, [sys.executable, "-m", "hearth", command],
                 env={**os.environ, **env}, log_path=workdir / f"{name}.log")


class GatewayChild(Child):
    """`hearth gateway` replaying its home's payloads; after a crash it is restarted on the
    records its devices still hold (those its outbox had not taken), as a meter or
    scale keeps its records until they are read."""

    def __init__(self, home: Home, *, workdir: Path, env: dict[str, str], burst: int,
                 pause_s: float) -> None:
        self.home = home
        self.outbox = workdir / f"{home.gateway_id}-outbox.db"
        self.workdir, self.burst, self.pause_s = workdir, burst, pause_s
        self.base_env = {**env, "HEARTH_GATEWAY_GATEWAY_ID": home.gateway_id,
                         "HEARTH_GATEWAY_OUTBOX_PATH": str(self.outbox),
                         "HEARTH_GATEWAY_READER": "simulator"}
        super().__init__(home.gateway_id, [sys.executable, "-m", "hearth", "gateway"],
                         env={}, log_path=workdir / f"{home.gateway_id}.log")

    def start(self) -> None:
        taken, _ = self.state()
        replay = self.workdir / f"{self.home.gateway_id}-replay-{self.starts}.jsonl"
        replay.write_text("".join(line + "\n" for line in self.home.lines[taken:]))
        self.env = {**os.environ, **self.base_env, "HEARTH_GATEWAY_READER_OPTIONS":
                    f"replay={replay},burst={self.burst},pause_s={self.pause_s}"}
        self._run_started_at = len(self.log())
        super().start()

    def state(self) -> tuple[int, int]:
        """(readings taken into the outbox so far, readings it still holds)."""
        if not self.outbox.exists():
            return 0, 0
        db = sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True, timeout=5)
        try:
            taken = db.execute("SELECT coalesce(sum(next_seq), 0) FROM devices").fetchone()[0]
            held = db.execute("SELECT count(*) FROM readings").fetchone()[0]
        except sqlite3.DatabaseError:
            return 0, -1
        finally:
            db.close()
        return int(taken), int(held)

    def finished(self) -> bool:
        """Every record taken, and the outbox empty (every reading confirmed by ingest)."""
        taken, held = self.state()
        return taken >= len(self.home.lines) and held == 0


# -- reading the stores back ----------------------------------------------------------


def influx_series(base_url: str, database: str, statement: str,
                  timeout: float = 60.0) -> Iterator[dict[str, Any]]:
    """Every series of one InfluxQL statement's results (chunked, so no row limit)."""
    with httpx.stream("POST", f"{base_url}/query", timeout=timeout,
                      data={"q": statement, "db": database, "epoch": "u", "chunked": "true",
                            "chunk_size": "10000"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.strip():
                continue
            for result in json.loads(line).get("results", []):
                if "error" in result:
                    raise RuntimeError(result["error"])
                yield from result.get("series", [])


def influx_rows(base_url: str, database: str, statement: str) -> list[list[object]]:
    """Every row of every series of one InfluxQL statement."""
    return [row for series in influx_series(base_url, database, statement)
            for row in series["values"]]


def stored_count(base_url: str, database: str) -> int | None:
    """Points stored so far across all measurements, or None while the server is away."""
    try:
        rows = influx_rows(base_url, database, 'SELECT count("value") FROM /.*/')
    except (httpx.HTTPError, RuntimeError):
        return None
    return int(sum(int(r[1]) for r in rows))  # type: ignore[call-overload]


def influx_points(base_url: str, database: str) -> list[tuple[str, str, str, int, float]]:
    """(metric, device, patient, time µs, value) of every point of the database."""
    points: list[tuple[str, str, str, int, float]] = []
    for series in influx_series(base_url, database,
                                'SELECT "value", "device", "patient" FROM /.*/', timeout=120.0):
        points += [(series["name"], str(device), str(patient), int(at), round(float(value), 3))
                   for at, value, device, patient in series["values"]]
    return points


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process, MB (None when it is gone)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        return None
    return None
