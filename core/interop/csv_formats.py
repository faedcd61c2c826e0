"""Read glucose histories from the CSV files Dexcom Clarity, LibreView and Nightscout export.

Each parser turns a file into glucose rows (line number, time, value, unit,
method) and a problem for each line it cannot read, naming the line and the
reason; rows that carry no glucose value (events, insulin, notes, device rows)
are counted as skipped.  Validation against the wire contract happens after
this, in core.interop.csv_import.

Layouts (docs/INTEROP.md shows a sample of each):

- Dexcom Clarity: a header row with "Timestamp (YYYY-MM-DDThh:mm:ss)",
  "Event Type" and "Glucose Value (mg/dL)" (or "(mmol/L)"); patient and
  device rows come first.  "EGV" rows are sensor readings, "Calibration" rows
  are meter readings.  Times are local to the patient.  Outside the sensor's
  range Clarity writes "Low" or "High".
- LibreView: one or two title lines, then a header with "Device Timestamp",
  "Record Type", "Historic Glucose mg/dL" (or mmol/L), "Scan Glucose ...",
  "Strip Glucose ...".  Record type 0 is the sensor's 15-minute history,
  1 a scan (a copy of what the sensor already recorded, skipped), 2 a strip
  (meter) reading.  Times are local, month-day-year or day-month-year by region.
- Nightscout: the entries export, with a header (dateString, date, sgv, mbg,
  type, ...) or without one (dateString, date, sgv, direction, device, tab- or
  comma-separated).  sgv is a sensor value, mbg a meter value, both mg/dL;
  times are UTC.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.metrics import GlucoseMethod

HEADER_SCAN_LINES = 20


class CsvFormat(StrEnum):
    DEXCOM = "dexcom"
    LIBRE = "libre"
    NIGHTSCOUT = "nightscout"


class CsvFormatError(ValueError):
    """The file is not one of the known layouts (or not the one asked for)."""


@dataclass(frozen=True, slots=True)
class GlucoseRow:
    line: int
    time: datetime  # aware, UTC
    value: float
    unit: str  # "mg/dL" or "mmol/L", as in the file
    method: GlucoseMethod
    status: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    reason: str


@dataclass(slots=True)
class ParsedCsv:
    format: CsvFormat
    rows: list[GlucoseRow] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    skipped: int = 0  # rows without a glucose value (events, notes, scans, device rows)


Line = tuple[int, list[str]]


def read_lines(text: str) -> list[Line]:
    """(line number, cells) of every non-empty row; the delimiter is sniffed."""
    sample = "\n".join(text.splitlines()[:HEADER_SCAN_LINES + 5])
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), dialect)
    try:
        return [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:  # e.g. a bare carriage return inside a field
        raise CsvFormatError(f"line {reader.line_num + 1}: not readable as CSV ({exc})") from None


def _lowered(row: Sequence[str]) -> list[str]:
    return [c.strip().lower() for c in row]


def detect(lines: list[Line]) -> CsvFormat:
    for _, row in lines[:HEADER_SCAN_LINES]:
        cells = _lowered(row)
        if any(c.startswith("timestamp (yyyy-mm-dd") for c in cells) and "event type" in cells:
            return CsvFormat.DEXCOM
        if "device timestamp" in cells and "record type" in cells:
            return CsvFormat.LIBRE
        if "sgv" in cells or "mbg" in cells or _headerless_nightscout(row):
            return CsvFormat.NIGHTSCOUT
    raise CsvFormatError(
        "not a Dexcom Clarity, LibreView or Nightscout export: no known header in the first "
        f"{HEADER_SCAN_LINES} lines"
    )


def _header(lines: list[Line], test: Callable[[list[str]], bool], what: str) -> int:
    for k, (_, row) in enumerate(lines[:HEADER_SCAN_LINES]):
        if test(_lowered(row)):
            return k
    raise CsvFormatError(f"no {what} header row in the first {HEADER_SCAN_LINES} lines")


def _column(header: list[str], *starts: str) -> int | None:
    for start in starts:
        for i, name in enumerate(header):
            if name.startswith(start):
                return i
    return None


def _unit_of(name: str) -> str:
    return "mmol/L" if "mmol" in name.lower() else "mg/dL"


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


class _LocalTimes:
    """Local wall-clock times to UTC; a repeated time in the autumn hour is the second one."""

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self._seen: set[datetime] = set()

    def to_utc(self, naive: datetime) -> datetime:
        first = naive.replace(tzinfo=self._zone, fold=0)
        second = naive.replace(tzinfo=self._zone, fold=1)
        ambiguous = first.utcoffset() != second.utcoffset()
        chosen = second if ambiguous and naive in self._seen else first
        self._seen.add(naive)
        return chosen.astimezone(UTC)


# Dexcom G6/G7 report 40-400 mg/dL; outside it Clarity writes Low/High (Dexcom G6
# user guide, "Low/High" readings).  Imported at the limit, flagged in status.
SENSOR_LIMITS_MG_DL = {CsvFormat.DEXCOM: (40.0, 400.0), CsvFormat.LIBRE: (40.0, 500.0)}
_WORDS = {"low": 0, "lo": 0, "high": 1, "hi": 1}


def _value(text: str, fmt: CsvFormat, unit: str) -> tuple[float, str, tuple[str, ...]]:
    word = _WORDS.get(text.lower())
    if word is not None and fmt in SENSOR_LIMITS_MG_DL:
        flag = "below_sensor_range" if word == 0 else "above_sensor_range"
        return SENSOR_LIMITS_MG_DL[fmt][word], "mg/dL", (flag,)
    try:
        return float(text.replace(",", ".")), unit, ()
    except ValueError:
        raise ValueError(f"glucose value {text!r} is not a number") from None


def parse_dexcom(lines: list[Line], zone: ZoneInfo) -> ParsedCsv:
    out = ParsedCsv(CsvFormat.DEXCOM)
    k = _header(lines, lambda c: "event type" in c, "Dexcom Clarity")
    header = _lowered(lines[k][1])
    t_col = _column(header, "timestamp")
    e_col = _column(header, "event type")
    g_col = _column(header, "glucose value")
    if g_col is None:
        raise CsvFormatError(f"line {lines[k][0]}: no 'Glucose Value' column in the Dexcom header")
    unit = _unit_of(lines[k][1][g_col])
    local = _LocalTimes(zone)

    def to_time(row: list[str]) -> datetime:
        return local.to_utc(datetime.fromisoformat(_cell(row, t_col)))

    methods = {"egv": GlucoseMethod.CGM, "calibration": GlucoseMethod.METER}
    for number, row in lines[k + 1:]:
        method = methods.get(_cell(row, e_col).lower())
        if method is None:
            out.skipped += 1
            continue
        _add(out, number, row, to_time, _cell(row, g_col), unit, method)
    return out


def _add(out: ParsedCsv, number: int, row: list[str], to_time: Callable[[list[str]], datetime],
         text: str, unit: str, method: GlucoseMethod) -> None:
    if not text:
        out.problems.append(LineProblem(number, "no glucose value"))
        return
    try:
        time = to_time(row)
    except (ValueError, OverflowError) as exc:  # overflow: a date outside the calendar
        out.problems.append(LineProblem(number, f"unreadable time: {exc}"))
        return
    try:
        value, value_unit, status = _value(text, out.format, unit)
    except ValueError as exc:
        out.problems.append(LineProblem(number, str(exc)))
        return
    out.rows.append(GlucoseRow(number, time, value, value_unit, method, status))


LIBRE_FORMATS = ("%m-%d-%Y %H:%M", "%d-%m-%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M",
                 "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M", "%m-%d-%Y %I:%M %p", "%m/%d/%Y %I:%M %p")


def libre_time_format(samples: Sequence[str]) -> str:
    """The format that reads every sample; where several do (days <= 12), the tightest in time."""
    def spread(fmt: str) -> float | None:
        try:
            times = [datetime.strptime(s, fmt) for s in samples]
        except ValueError:
            return None
        return sum(abs((b - a).total_seconds()) for a, b in zip(times, times[1:], strict=False))

    scored = [(s, fmt) for fmt in LIBRE_FORMATS if (s := spread(fmt)) is not None]
    if not scored:
        raise CsvFormatError(f"unrecognised LibreView time format, e.g. {samples[0]!r}")
    return min(scored, key=lambda pair: pair[0])[1]


def parse_libre(lines: list[Line], zone: ZoneInfo) -> ParsedCsv:
    out = ParsedCsv(CsvFormat.LIBRE)
    k = _header(lines, lambda c: "device timestamp" in c and "record type" in c, "LibreView")
    raw_header = lines[k][1]
    header = _lowered(raw_header)
    t_col, r_col = header.index("device timestamp"), header.index("record type")
    historic, strip = _column(header, "historic glucose"), _column(header, "strip glucose")
    body = lines[k + 1:]
    samples = [_cell(r, t_col) for _, r in body if _cell(r, t_col)][:500]
    fmt = libre_time_format(samples) if samples else LIBRE_FORMATS[0]
    local = _LocalTimes(zone)

    def to_time(row: list[str]) -> datetime:
        return local.to_utc(datetime.strptime(_cell(row, t_col), fmt))

    for number, row in body:
        record = _cell(row, r_col)
        column = {"0": historic, "2": strip}.get(record)
        if column is None:
            out.skipped += 1  # 1 = scan (already in the history), 4-6 = insulin, food, notes
            continue
        method = GlucoseMethod.CGM if record == "0" else GlucoseMethod.METER
        _add(out, number, row, to_time, _cell(row, column), _unit_of(raw_header[column]), method)
    return out


def _headerless_nightscout(row: list[str]) -> bool:
    if len(row) < 3:
        return False
    try:
        datetime.fromisoformat(row[0].strip().replace("Z", "+00:00"))
        float(row[2])
    except ValueError:
        return False
    return True


def _nightscout_time(date_string: str, epoch_ms: str) -> datetime:
    if epoch_ms:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(float(epoch_ms)))
    when = datetime.fromisoformat(date_string.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"{date_string!r} has no time zone")
    return when.astimezone(UTC)


def parse_nightscout(lines: list[Line], _zone: ZoneInfo) -> ParsedCsv:
    out = ParsedCsv(CsvFormat.NIGHTSCOUT)
    header = _lowered(lines[0][1]) if lines else []
    has_header = "sgv" in header or "mbg" in header
    if has_header:
        cols = {name: header.index(name) if name in header else None
                for name in ("datestring", "date", "sgv", "mbg", "type")}
        body = lines[1:]
    else:
        cols = {"datestring": 0, "date": 1, "sgv": 2, "mbg": None, "type": None}
        body = lines

    def to_time(row: list[str]) -> datetime:
        return _nightscout_time(_cell(row, cols["datestring"]), _cell(row, cols["date"]))

    for number, row in body:
        kind = _cell(row, cols["type"]).lower() or ("sgv" if _cell(row, cols["sgv"]) else "")
        column = {"sgv": cols["sgv"], "mbg": cols["mbg"]}.get(kind)
        if column is None:
            out.skipped += 1  # calibration records, device status
            continue
        method = GlucoseMethod.CGM if kind == "sgv" else GlucoseMethod.METER
        _add(out, number, row, to_time, _cell(row, column), "mg/dL", method)
    return out


PARSERS: dict[CsvFormat, Callable[[list[Line], ZoneInfo], ParsedCsv]] = {
    CsvFormat.DEXCOM: parse_dexcom,
    CsvFormat.LIBRE: parse_libre,
    CsvFormat.NIGHTSCOUT: parse_nightscout,
}


def parse_glucose_csv(text: str, *, fmt: CsvFormat | None, tz: str) -> ParsedCsv:
    """Read a whole export; ``fmt`` None detects the layout from the header."""
    lines = read_lines(text)
    if not lines:
        raise CsvFormatError("the file is empty")
    found = detect(lines)
    if fmt is not None and fmt is not found:
        raise CsvFormatError(f"the file looks like a {found} export, not {fmt}")
    return PARSERS[found](lines, ZoneInfo(tz))


def iter_chunks(rows: Sequence[GlucoseRow], size: int) -> Iterator[Sequence[GlucoseRow]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]
