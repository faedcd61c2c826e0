"""Import a glucose history from CSV through the wire contract, as a device would send it.

The rows a format parser read are packed into reading messages
(core.contract.encode_message) and validated by the same function ingest runs
on every MQTT message (core.contract.decode_message): unit, plausible range,
future times, glucose method.  A rejected entry maps back to its line in the
file, so the report names each bad line and its reason; the good rows go on.

What happens to the measurements is up to the caller: `hearth import csv`
binds them to the patient and writes them with the store's idempotent write
(the same one ingest commits with), so importing a file twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.contract import decode_message, encode_message
from core.errors import ContractError
from core.interop.csv_formats import CsvFormat, GlucoseRow, LineProblem, ParsedCsv, iter_chunks
from core.metrics import Metric
from core.readings import Measurement

ROWS_PER_MESSAGE = 500  # well under the contract's 256 KiB and 5000-reading limits


@dataclass(slots=True)
class ImportPlan:
    format: CsvFormat
    measurements: list[Measurement] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    skipped: int = 0

    @property
    def rows_read(self) -> int:
        return len(self.measurements) + len(self.problems)


def _entry(row: GlucoseRow) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": row.value, "unit": row.unit, "time": row.time,
                             "source": str(row.method)}
    if row.status:
        entry["status"] = list(row.status)
    return entry


def _reason(text: str) -> str:
    """decode_message says "reading 7: ..."; the report names the line instead."""
    head, sep, rest = text.partition(": ")
    return rest if sep and head.startswith("reading ") else text


def validate_rows(rows: Sequence[GlucoseRow], *, device_id: str, now: datetime,
                  first_seq: int = 0) -> tuple[list[Measurement], list[LineProblem]]:
    measurements: list[Measurement] = []
    problems: list[LineProblem] = []
    for seq, chunk in enumerate(iter_chunks(rows, ROWS_PER_MESSAGE), start=first_seq):
        payload = encode_message(device_id=device_id, seq=seq, base={"metric": str(Metric.GLUCOSE)},
                                 readings=[_entry(r) for r in chunk])
        try:
            decoded = decode_message(payload, topic_device_id=device_id, now=now)
        except ContractError as exc:  # the whole message: cannot happen for rows we built
            problems += [LineProblem(r.line, exc.reason) for r in chunk]
            continue
        measurements += decoded.measurements
        problems += [LineProblem(chunk[j.index].line, _reason(j.reason))
                     for j in decoded.rejections if j.index is not None]
    return measurements, problems


def plan_import(parsed: ParsedCsv, *, device_id: str, now: datetime) -> ImportPlan:
    measurements, problems = validate_rows(parsed.rows, device_id=device_id, now=now)
    every = sorted([*parsed.problems, *problems], key=lambda p: p.line)
    return ImportPlan(parsed.format, measurements, every, parsed.skipped)
