"""The one reader of glucose CSV files: Dexcom Clarity, LibreView, Nightscout and plain files.

`hearth import csv` and `hearth metrics` both read files here, so a file gives the
same numbers to both.  A file becomes glucose rows (line number, time, value,
unit, method) and a problem for each line that cannot be read, naming the line,
the column and the reason; rows that carry no glucose value (events, insulin,
notes, device rows) are counted as skipped.  Validation against the wire contract
happens after this, in core.interop.csv_import.

Layouts (docs/INTEROP.md, "CSV files", shows a sample of each):

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
  Outside the sensor's range: "LO" or "HI".
- Nightscout: the entries export, with a header (dateString, date, sgv, mbg,
  type, ...) or without one (dateString, date, sgv, direction, device, tab- or
  comma-separated).  sgv is a sensor value, mbg a meter value, both mg/dL;
  times are UTC.
- Plain ("generic"): any file with a time column and a glucose column, found by
  their headers ("time,glucose", "Time,CGM", "timestamp,sgv", ...) or named by
  the caller (``time_column``, ``glucose_column``: the commands' --time-column and
  --glucose-column).  A CGM column is preferred to a BG (meter) one.  Times in
  ISO 8601, epoch seconds or milliseconds, or a day-month / month-day format
  (detected from samples over the whole file), local unless they carry an offset.

Local times without an offset are read in the given zone; the hour repeated when
clocks go back is placed once for all layouts (``_second_pass_of_repeated_hours``).
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.metrics import GLUCOSE_MGDL_PER_MMOLL, GlucoseMethod

HEADER_SCAN_LINES = 30
MG_DL, MMOL_L = "mg/dL", "mmol/L"
MMOL_MEDIAN_BELOW = 35.0  # no one's median glucose is 35 mg/dL; 35 mmol/L is beyond any sensor


class CsvFormat(StrEnum):
    DEXCOM = "dexcom"
    LIBRE = "libre"
    NIGHTSCOUT = "nightscout"
    GENERIC = "generic"


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
    time_column: str = ""
    glucose_column: str = ""  # the sensor (CGM) column where the layout has several
    time_format: str | None = None  # None: ISO 8601 or epoch
    units: str = MG_DL  # of the file's glucose values
    units_from: str = "layout"  # "option", "header", "values" or "layout"


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


# -- plain files: the time and glucose columns by their headers ------------------------------

TIME_HEADERS = ("timestamp", "time", "datetime", "date")
# Preferred first: a sensor column before a meter (BG) one, so "Time,BG,CGM" reads CGM.
CGM_HEADERS = ("cgm", "sensor glucose", "historic glucose", "glucose value", "glucose", "sgv")
METER_HEADERS = ("bg", "blood glucose", "meter", "strip glucose", "fingerstick")
GLUCOSE_HEADERS = (*CGM_HEADERS, *METER_HEADERS, "value")
NO_COLUMNS = ("no header row with a time column and a glucose column (such as 'time,glucose' "
              "or 'Time,CGM') in the first {n} lines: name them with --time-column and "
              "--glucose-column")


def _matches(header: str, name: str) -> bool:
    return header == name or header.startswith(name) or (len(name) >= 5 and name in header)


def _pick(header: Sequence[str], wanted: Sequence[str], given: str | None,
          other: int | None = None) -> int | None:
    lowered = _lowered(header)
    if given is not None:
        return lowered.index(given.lower()) if given.lower() in lowered else None
    for name in wanted:
        for i, h in enumerate(lowered):
            if i != other and _matches(h, name):
                return i
    return None


def _generic_columns(lines: list[Line], time_col: str | None, glucose_col: str | None
                     ) -> tuple[int, int, int] | None:
    """(header index, time column, glucose column) or None."""
    for k, (_, row) in enumerate(lines[:HEADER_SCAN_LINES]):
        t = _pick(row, TIME_HEADERS, time_col)
        g = _pick(row, GLUCOSE_HEADERS, glucose_col, other=t)
        if t is not None and g is not None and t != g:
            return k, t, g
    return None


# -- layout detection -------------------------------------------------------------------------

def detect(lines: list[Line]) -> CsvFormat:
    for k, (_, row) in enumerate(lines[:HEADER_SCAN_LINES]):
        cells = _lowered(row)
        if any(c.startswith("timestamp (yyyy-mm-dd") for c in cells) and "event type" in cells:
            return CsvFormat.DEXCOM
        if "device timestamp" in cells and "record type" in cells:
            return CsvFormat.LIBRE
        nightscout_header = ("sgv" in cells or "mbg" in cells) and (
            "date" in cells or "datestring" in cells)
        if nightscout_header or (k == 0 and _headerless_nightscout(row)):  # data from line 1
            return CsvFormat.NIGHTSCOUT
    if _generic_columns(lines, None, None) is not None:
        return CsvFormat.GENERIC
    raise CsvFormatError(NO_COLUMNS.format(n=HEADER_SCAN_LINES)
                         + " (Dexcom Clarity, LibreView and Nightscout exports are recognised)")


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


def _unit_in_header(name: str) -> str | None:
    lowered = name.lower().replace(" ", "")
    if "mmol" in lowered:
        return MMOL_L
    if "mg/dl" in lowered or "mgdl" in lowered:
        return MG_DL
    return None


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


# -- values -----------------------------------------------------------------------------------

# What a sensor writes instead of a number outside its range, read as the range's edge
# and flagged in status (docs/INTEROP.md "Low and high words", with the sources):
# Dexcom G6/G7 measure 40-400 mg/dL and Clarity writes "Low"/"High" outside it;
# FreeStyle Libre 2/3 measure 40-500 mg/dL and LibreView writes "LO"/"HI".  A file
# whose sensor is unknown gets the narrowest range (a "High" is above 400 on every one).
SENSOR_LIMITS_MG_DL = {CsvFormat.DEXCOM: (40.0, 400.0), CsvFormat.LIBRE: (40.0, 500.0)}
UNKNOWN_SENSOR_LIMITS_MG_DL = (40.0, 400.0)
_WORDS = {"low": 0, "lo": 0, "high": 1, "hi": 1}


def _value(text: str, fmt: CsvFormat, unit: str) -> tuple[float, str, tuple[str, ...]]:
    word = _WORDS.get(text.lower())
    if word is not None:
        flag = "below_sensor_range" if word == 0 else "above_sensor_range"
        edge = SENSOR_LIMITS_MG_DL.get(fmt, UNKNOWN_SENSOR_LIMITS_MG_DL)[word]
        return (edge / GLUCOSE_MGDL_PER_MMOLL if unit == MMOL_L else edge), unit, (flag,)
    # a decimal comma ("5,6") where there is no decimal point
    number = text.replace(",", ".") if text.count(",") == 1 and "." not in text else text
    try:
        return float(number), unit, ()
    except ValueError:
        raise ValueError(f"glucose value {text!r} is not a number") from None


# -- times ------------------------------------------------------------------------------------

TIME_FORMATS = (
    "%m-%d-%Y %I:%M %p", "%m-%d-%Y %H:%M", "%d-%m-%Y %H:%M",
    "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M", "%Y/%m/%d %H:%M",
    "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S",
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_time(text: str, fmt: str | None) -> datetime:
    """Aware when the text has an offset or is epoch seconds/milliseconds, else naive."""
    text = text.strip()
    if text.replace(".", "", 1).isdigit():  # epoch milliseconds (Nightscout "date") or seconds
        n = float(text)
        return EPOCH + (timedelta(milliseconds=n) if n > 10**11 else timedelta(seconds=n))
    if fmt:
        return datetime.strptime(text, fmt)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _utc(when: datetime, zone: ZoneInfo, fold: int = 0) -> datetime:
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone, fold=fold)
    return when.astimezone(UTC)


def time_format(samples: Sequence[str]) -> str | None:
    """None for ISO 8601 / epoch; else the strptime format that reads the samples best.

    Only formats that read the first sample are candidates.  The samples are spread
    over the whole file, so a day above 12 tells 03-02 (2 March) from 03-02
    (3 February); when every sample reads both ways, the reading whose times run
    most steadily (smallest total jump between samples) wins.
    """
    def parsed(fmt: str | None) -> list[datetime]:
        out = []
        for text in samples:
            try:
                out.append(read_time(text, fmt).replace(tzinfo=None))
            except (ValueError, OverflowError):
                continue
        return out

    candidates = [fmt for fmt in (None, *TIME_FORMATS) if _reads(samples[0], fmt)]
    if not candidates:
        raise CsvFormatError(f"unrecognised time format {samples[0]!r} (use ISO 8601 or "
                             "--time-format)")

    def rank(fmt: str | None) -> tuple[int, float]:
        times = parsed(fmt)
        jumps = sum(abs((b - a).total_seconds()) for a, b in zip(times, times[1:], strict=False))
        return (len(times), -jumps)

    return max(candidates, key=rank)


def _reads(text: str, fmt: str | None) -> bool:
    try:
        read_time(text, fmt)
    except (ValueError, OverflowError):
        return False
    return True


def _spread(cells: Sequence[str], count: int = 200) -> list[str]:
    """The first cell and up to ``count`` more spread evenly over the file."""
    step = max(1, len(cells) // count)
    return [c for c in cells[::step] if c.strip()]


def _repeated(when: datetime, zone: ZoneInfo) -> bool:
    """Does this naive wall-clock time occur twice (the hour repeated when clocks go back)?"""
    first, second = when.replace(tzinfo=zone, fold=0), when.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    # both readings exist only when each maps back to the same wall-clock time
    return all(
        w.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == when for w in (first, second)
    )


def _second_pass_of_repeated_hours(times: list[datetime], naive: list[datetime | None],
                                   zone: ZoneInfo) -> None:
    """Place readings from the second pass of a repeated hour after the first pass.

    Exports in local time without an offset (Dexcom Clarity, LibreView) write the
    hour before clocks go back twice.  Read in file order (either direction), a
    repeated wall-clock time that runs backwards, and every repeated time of that
    night after it, is the second pass (``fold=1``); without this both passes
    would land on the same instants and the second be merged away.
    """
    rows = [i for i, w in enumerate(naive) if w is not None and _repeated(w, zone)]
    if not rows:
        return
    ascending = sum((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)) >= 0
    latest: dict[object, datetime] = {}
    second: set[object] = set()
    for i in rows if ascending else reversed(rows):
        when = naive[i]
        assert when is not None
        night = when.date()
        if night in second or (night in latest and when < latest[night]):
            second.add(night)
            times[i] = _utc(when, zone, fold=1)
        latest[night] = max(latest.get(night, when), when)


# -- from the layouts' cells to rows ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Cells:
    line: int
    time: str
    value: str
    unit: str
    method: GlucoseMethod
    column: str  # the glucose column's header, for the messages


def _rows(out: ParsedCsv, cells: list[_Cells], zone: ZoneInfo, *, fmt: str | None,
          offset_needed: bool = False) -> None:
    """Times and values of the layout's cells; a problem for each line that fails."""
    kept: list[_Cells] = []
    times: list[datetime] = []
    naive: list[datetime | None] = []
    for c in cells:
        if not c.value:
            out.problems.append(LineProblem(c.line, f"no glucose value in column {c.column!r}"))
            continue
        try:
            when = read_time(c.time, fmt)
            if offset_needed and when.tzinfo is None:
                raise ValueError(f"{c.time!r} has no time zone")
            times.append(_utc(when, zone))
        except (ValueError, OverflowError) as exc:  # overflow: a date outside the calendar
            out.problems.append(LineProblem(c.line, f"unreadable time {c.time!r} ({exc})"))
            continue
        naive.append(when if when.tzinfo is None else None)
        kept.append(c)
    _second_pass_of_repeated_hours(times, naive, zone)
    for c, time in zip(kept, times, strict=True):
        try:
            value, unit, status = _value(c.value, out.format, c.unit)
        except ValueError as exc:
            out.problems.append(LineProblem(c.line, f"{exc} (column {c.column!r})"))
            continue
        out.rows.append(GlucoseRow(c.line, time, value, unit, c.method, status))
    out.problems.sort(key=lambda p: p.line)


def _units(out: ParsedCsv, option: str | None, header_unit: str | None,
           cells: list[_Cells]) -> str:
    """The file's units: the caller's, the header's, the layout's or, last, the values'."""
    if option is not None:
        out.units, out.units_from = option, "option"
    elif header_unit is not None:
        out.units, out.units_from = header_unit, "header"
    elif out.format is CsvFormat.GENERIC:
        numbers = []
        for c in cells:
            try:
                numbers.append(_value(c.value, out.format, MG_DL)[0])
            except ValueError:
                continue
        finite = [v for v in numbers if math.isfinite(v)]
        median = statistics.median(finite) if finite else 100.0
        out.units, out.units_from = (MMOL_L if median < MMOL_MEDIAN_BELOW else MG_DL), "values"
    return out.units


def parse_dexcom(lines: list[Line], zone: ZoneInfo, units: str | None = None) -> ParsedCsv:
    out = ParsedCsv(CsvFormat.DEXCOM)
    k = _header(lines, lambda c: "event type" in c, "Dexcom Clarity")
    raw = lines[k][1]
    header = _lowered(raw)
    t_col = _column(header, "timestamp")
    e_col = _column(header, "event type")
    g_col = _column(header, "glucose value")
    if g_col is None or t_col is None:
        raise CsvFormatError(f"line {lines[k][0]}: no 'Glucose Value' column in the Dexcom header")
    out.time_column, out.glucose_column = raw[t_col].strip(), raw[g_col].strip()
    methods = {"egv": GlucoseMethod.CGM, "calibration": GlucoseMethod.METER}
    cells: list[_Cells] = []
    for number, row in lines[k + 1:]:
        method = methods.get(_cell(row, e_col).lower())
        if method is None:
            out.skipped += 1
            continue
        cells.append(_Cells(number, _cell(row, t_col), _cell(row, g_col), "", method,
                            out.glucose_column))
    unit = _units(out, units, _unit_in_header(raw[g_col]) or MG_DL, cells)
    _rows(out, [_with_unit(c, unit) for c in cells], zone, fmt=None)
    return out


def _with_unit(c: _Cells, unit: str) -> _Cells:
    return _Cells(c.line, c.time, c.value, unit, c.method, c.column)


def parse_libre(lines: list[Line], zone: ZoneInfo, units: str | None = None) -> ParsedCsv:
    out = ParsedCsv(CsvFormat.LIBRE)
    k = _header(lines, lambda c: "device timestamp" in c and "record type" in c, "LibreView")
    raw = lines[k][1]
    header = _lowered(raw)
    t_col, r_col = header.index("device timestamp"), header.index("record type")
    historic, strip = _column(header, "historic glucose"), _column(header, "strip glucose")
    out.time_column = raw[t_col].strip()
    out.glucose_column = raw[historic].strip() if historic is not None else ""
    cells: list[_Cells] = []
    for number, row in lines[k + 1:]:
        record = _cell(row, r_col)
        column = {"0": historic, "2": strip}.get(record)
        if column is None:
            out.skipped += 1  # 1 = scan (already in the history), 4-6 = insulin, food, notes
            continue
        method = GlucoseMethod.CGM if record == "0" else GlucoseMethod.METER
        cells.append(_Cells(number, _cell(row, t_col), _cell(row, column),
                            _unit_in_header(raw[column]) or MG_DL, method, raw[column].strip()))
    header_unit = _unit_in_header(out.glucose_column) if historic is not None else None
    unit = _units(out, units, header_unit or MG_DL, cells)
    samples = _spread([c.time for c in cells if c.time])
    out.time_format = time_format(samples) if samples else None
    _rows(out, [c if units is None else _with_unit(c, unit) for c in cells], zone,
          fmt=out.time_format)
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


def parse_nightscout(lines: list[Line], zone: ZoneInfo, units: str | None = None) -> ParsedCsv:
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
    out.time_column = "date" if cols["date"] is not None else "dateString"
    out.glucose_column = "sgv"
    cells: list[_Cells] = []
    for number, row in body:
        kind = _cell(row, cols["type"]).lower() or ("sgv" if _cell(row, cols["sgv"]) else "")
        column = {"sgv": cols["sgv"], "mbg": cols["mbg"]}.get(kind)
        if column is None:
            out.skipped += 1  # calibration records, device status
            continue
        method = GlucoseMethod.CGM if kind == "sgv" else GlucoseMethod.METER
        epoch = _cell(row, cols["date"])
        time = epoch if epoch.replace(".", "", 1).isdigit() else (
            _cell(row, cols["datestring"]) or epoch)
        cells.append(_Cells(number, time, _cell(row, column), MG_DL, method, kind))
    unit = _units(out, units, None, cells)  # mg/dL by the layout
    _rows(out, [_with_unit(c, unit) for c in cells], zone, fmt=None, offset_needed=True)
    return out


def parse_generic(lines: list[Line], zone: ZoneInfo, units: str | None = None, *,
                  time_column: str | None = None, glucose_column: str | None = None,
                  fmt: str | None = None) -> ParsedCsv:
    out = ParsedCsv(CsvFormat.GENERIC)
    found = _generic_columns(lines, time_column, glucose_column)
    if found is None:
        wanted = []
        if time_column:
            wanted.append(f"time column {time_column!r} (--time-column)")
        if glucose_column:
            wanted.append(f"glucose column {glucose_column!r} (--glucose-column)")
        if wanted:
            raise CsvFormatError(f"no header row with the {' and the '.join(wanted)} and the "
                                 f"other one in the first {HEADER_SCAN_LINES} lines")
        raise CsvFormatError(NO_COLUMNS.format(n=HEADER_SCAN_LINES))
    k, t_col, g_col = found
    raw = lines[k][1]
    out.time_column, out.glucose_column = raw[t_col].strip(), raw[g_col].strip()
    name = out.glucose_column.lower()
    meter = glucose_column is None and any(_matches(name, m) for m in METER_HEADERS)
    method = GlucoseMethod.METER if meter else GlucoseMethod.CGM
    cells: list[_Cells] = []
    for number, row in lines[k + 1:]:
        value = _cell(row, g_col)
        if not value:
            out.skipped += 1  # events, notes: rows without a glucose value
            continue
        cells.append(_Cells(number, _cell(row, t_col), value, "", method, out.glucose_column))
    if not cells:
        raise CsvFormatError(f"no glucose values in column {out.glucose_column!r} below the "
                             f"header on line {lines[k][0]}")
    unit = _units(out, units, _unit_in_header(out.glucose_column), cells)
    samples = _spread([c.time for c in cells if c.time])
    if not samples:
        raise CsvFormatError(f"line {cells[0].line}: no time in column {out.time_column!r}")
    try:
        out.time_format = fmt or time_format(samples)
    except CsvFormatError as exc:
        raise CsvFormatError(f"line {cells[0].line}: {exc}") from None
    _rows(out, [_with_unit(c, unit) for c in cells], zone, fmt=out.time_format)
    return out


PARSERS: dict[CsvFormat, Callable[[list[Line], ZoneInfo, str | None], ParsedCsv]] = {
    CsvFormat.DEXCOM: parse_dexcom,
    CsvFormat.LIBRE: parse_libre,
    CsvFormat.NIGHTSCOUT: parse_nightscout,
    CsvFormat.GENERIC: parse_generic,
}


def parse_glucose_csv(text: str, *, fmt: CsvFormat | None, tz: str, units: str | None = None,
                      time_column: str | None = None, glucose_column: str | None = None,
                      time_format: str | None = None) -> ParsedCsv:
    """Read a whole export; ``fmt`` None detects the layout from the header.

    ``units`` overrides the file's glucose units; ``time_column`` / ``glucose_column``
    name the columns of a plain file (and make it one); ``time_format`` is the
    strptime format of a plain file's times (default: detected).
    """
    lines = read_lines(text)
    if not lines:
        raise CsvFormatError("the file is empty")
    zone = ZoneInfo(tz)
    if time_column or glucose_column or time_format:
        if fmt not in (None, CsvFormat.GENERIC):
            raise CsvFormatError("--time-column, --glucose-column and --time-format are for "
                                 "plain files (--format generic)")
        return parse_generic(lines, zone, units, time_column=time_column,
                             glucose_column=glucose_column, fmt=time_format)
    found = detect(lines)
    if fmt is not None and fmt is not found:
        raise CsvFormatError(f"the file looks like a {found} export, not {fmt}")
    return PARSERS[found](lines, zone, units)


def iter_chunks(rows: Sequence[GlucoseRow], size: int) -> Iterator[Sequence[GlucoseRow]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]
