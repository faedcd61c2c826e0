"""A patient's readings as CSV: one row per reading, the original value and unit kept.

Columns (header row first):

    time, metric, value, unit, original_value, original_unit, source, device_id,
    context, status

``time`` is UTC ISO 8601; ``value``/``unit`` are canonical (the catalogue's UCUM
unit); ``original_value``/``original_unit`` are what the device sent.
``status`` joins device status flags with ``|``.  The file reads back with
Python's csv module, a spreadsheet, or pandas.read_csv.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from core.interop.fhir import fhir_instant
from core.metrics import CATALOGUE
from core.readings import Reading

COLUMNS = ("time", "metric", "value", "unit", "original_value", "original_unit", "source",
           "device_id", "context", "status")


def _number(value: float) -> str:
    """Shortest exact text: 137 rather than 137.0, 8.2 rather than 8.200000."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def csv_row(reading: Reading) -> list[str]:
    return [
        fhir_instant(reading.measured_at),
        str(reading.metric),
        _number(reading.value),
        CATALOGUE[reading.metric].unit,
        _number(reading.original_value),
        reading.original_unit,
        reading.source,
        reading.device_id,
        reading.context or "",
        "|".join(reading.status),
    ]


def csv_lines(readings: Iterable[Reading]) -> Iterator[str]:
    """The CSV text line by line (for streaming responses); the header comes first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for reading in readings:
        writer.writerow(csv_row(reading))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def to_csv(readings: Iterable[Reading]) -> str:
    return "".join(csv_lines(readings))
