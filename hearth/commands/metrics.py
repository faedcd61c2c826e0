"""`hearth metrics FILE.csv`: consensus CGM metrics (JSON) and the AGP report from a CGM export.

The CSV needs a time column and a glucose column; they are found by their
headers (Dexcom Clarity, LibreView, Nightscout and plain "time,glucose" files
work as they are) or named with --time-column / --glucose-column.  Rows
without a glucose value (events, notes, device rows) are skipped and counted;
anything else that cannot be read stops the command with the line it is on.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from core.metrics import CATALOGUE, GLUCOSE_MGDL_PER_MMOLL, Metric

HEADER_SCAN_LINES = 30
TIME_HEADERS = ("timestamp", "time", "datetime", "date")
GLUCOSE_HEADERS = ("historic glucose", "glucose value", "glucose", "sgv", "bg", "value")
# Dexcom exports "Low" / "High" outside the sensor's 40-400 mg/dL range.
OUT_OF_RANGE_WORDS = {"low": 40.0, "lo": 40.0, "high": 400.0, "hi": 400.0}
TIME_FORMATS = (
    "%m-%d-%Y %I:%M %p",
    "%m-%d-%Y %H:%M",
    "%d-%m-%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M",
    "%Y/%m/%d %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
)
MMOL_MEDIAN_BELOW = 35.0  # no one's median glucose is 35 mg/dL; 35 mmol/L is beyond any sensor


class CsvError(ValueError):
    """A file that cannot be read as a CGM export; the message names the line."""


@dataclass(frozen=True, slots=True)
class CgmCsv:
    times_us: list[int]
    values: list[float]  # as in the file
    units: str  # "mg/dL" or "mmol/L"
    units_from: str  # "option", "header" or "values"
    skipped_rows: int
    out_of_range_words: int  # "Low"/"High" read as 40/400 mg/dL
    time_column: str
    glucose_column: str
    time_format: str | None  # None: ISO 8601 or epoch


def _pick(header: Sequence[str], wanted: Sequence[str], given: str | None) -> int | None:
    lowered = [h.strip().lower() for h in header]
    if given is not None:
        return lowered.index(given.lower()) if given.lower() in lowered else None
    for name in wanted:
        for i, h in enumerate(lowered):
            if h == name or h.startswith(name) or (len(name) >= 5 and name in h):
                return i
    return None


def _find_header(
    rows: list[tuple[int, list[str]]], time_col: str | None, glucose_col: str | None
) -> tuple[int, int, int]:
    for k, (_, row) in enumerate(rows[:HEADER_SCAN_LINES]):
        t, g = _pick(row, TIME_HEADERS, time_col), _pick(row, GLUCOSE_HEADERS, glucose_col)
        if t is not None and g is not None and t != g:
            return k, t, g
    wanted = f"{time_col or 'a time'} and {glucose_col or 'a glucose'} column"
    raise CsvError(f"no header row with {wanted} in the first {HEADER_SCAN_LINES} lines")


def _units_from_header(name: str) -> str | None:
    lowered = name.lower().replace(" ", "")
    if "mmol" in lowered:
        return "mmol/L"
    if "mg/dl" in lowered or "mgdl" in lowered:
        return "mg/dL"
    return None


def _read_time(text: str, fmt: str | None) -> datetime | int:
    """A datetime (naive when the file gives no offset), or epoch microseconds."""
    text = text.strip()
    if text.isdigit():  # epoch seconds or milliseconds (Nightscout "date")
        n = int(text)
        return n * 1000 if n > 10**11 else n * 1_000_000
    return (
        datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text.replace("Z", "+00:00"))
    )


def _utc_us(when: datetime | int, zone: ZoneInfo, fold: int = 0) -> int:
    if isinstance(when, int):
        return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone, fold=fold)
    return int(round(when.astimezone(UTC).timestamp() * 1_000_000))


def _parse_time(text: str, fmt: str | None, zone: ZoneInfo) -> int:
    return _utc_us(_read_time(text, fmt), zone)


def _repeated(when: datetime, zone: ZoneInfo) -> bool:
    """Does this naive wall-clock time occur twice (the hour repeated when clocks go back)?"""
    first, second = when.replace(tzinfo=zone, fold=0), when.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    # both readings exist only when each maps back to the same wall-clock time
    return all(
        w.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == when for w in (first, second)
    )


def _second_pass_of_repeated_hours(
    times: list[int], naive: list[datetime | None], zone: ZoneInfo
) -> None:
    """Place readings from the second pass of a repeated hour after the first pass.

    Exports in local time without an offset (Dexcom Clarity, LibreView) write the
    hour before clocks go back twice. Read in file order (either direction), a
    repeated wall-clock time that runs backwards, and every repeated time of
    that night after it, is the second pass (``fold=1``); without this both
    passes would land on the same instants and the second be merged away.
    """
    rows = [i for i, w in enumerate(naive) if w is not None and _repeated(w, zone)]
    if not rows:
        return
    ascending = sum(b - a for a, b in zip(times, times[1:], strict=False)) >= 0
    latest: dict[object, datetime] = {}
    second: set[object] = set()
    for i in rows if ascending else reversed(rows):
        when = naive[i]
        assert when is not None
        night = when.date()
        if night in second or (night in latest and when < latest[night]):
            second.add(night)
            times[i] = _utc_us(when, zone, fold=1)
        latest[night] = max(latest.get(night, when), when)


def _time_format(samples: list[str], zone: ZoneInfo) -> str | None:
    """None for ISO 8601 / epoch; else the strptime format that reads the samples best.

    Only formats that read the first sample are candidates.  The samples are
    spread over the whole file, so a day above 12 tells 03-02 (2 March) from
    03-02 (3 February); when every sample reads both ways, the reading whose
    times run most steadily (smallest total jump between samples) wins.
    """

    def parsed(fmt: str | None) -> list[int]:
        out = []
        for text in samples:
            try:
                out.append(_parse_time(text, fmt, zone))
            except ValueError:
                continue
        return out

    def reads_first(fmt: str | None) -> bool:
        try:
            _parse_time(samples[0], fmt, zone)
        except ValueError:
            return False
        return True

    candidates = [fmt for fmt in (None, *TIME_FORMATS) if reads_first(fmt)]
    if not candidates:
        raise CsvError(f"unrecognised time format {samples[0]!r} (use ISO 8601 or --time-format)")

    def rank(fmt: str | None) -> tuple[int, int]:
        times = parsed(fmt)
        jumps = sum(abs(b - a) for a, b in zip(times, times[1:], strict=False))
        return (len(times), -jumps)

    return max(candidates, key=rank)


def _spread(cells: list[str], count: int = 200) -> list[str]:
    """The first cell and up to ``count`` more spread evenly over the file."""
    step = max(1, len(cells) // count)
    return [c for c in cells[::step] if c.strip()]


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    for row in reader:
        yield reader.line_num, row


def parse_cgm_csv(
    text: str,
    *,
    tz: str = "UTC",
    units: str | None = None,
    time_column: str | None = None,
    glucose_column: str | None = None,
    time_format: str | None = None,
) -> CgmCsv:
    """Read a CGM export; raises CsvError naming the line of the first unreadable row."""
    zone = ZoneInfo(tz)
    rows = list(_rows(text))
    if not rows:
        raise CsvError("the file is empty")
    k, ti, gi = _find_header(rows, time_column, glucose_column)
    header = rows[k][1]
    data = [(n, r) for n, r in rows[k + 1 :] if len(r) > gi and r[gi].strip()]
    skipped = len(rows) - k - 1 - len(data)
    if not data:
        raise CsvError(f"no glucose values below the header on line {rows[k][0]}")
    if len(data[0][1]) <= ti or not data[0][1][ti].strip():
        raise CsvError(f"line {data[0][0]}: no time in column {header[ti]!r}")
    try:
        fmt = time_format or _time_format(_spread([r[ti] for _, r in data if len(r) > ti]), zone)
    except CsvError as exc:
        raise CsvError(f"line {data[0][0]}: {exc}") from exc
    times: list[int] = []
    naive: list[datetime | None] = []
    values: list[float] = []
    words = 0
    for n, r in data:
        if len(r) <= ti or not r[ti].strip():
            raise CsvError(f"line {n}: no time in column {header[ti]!r}")
        try:
            when = _read_time(r[ti], fmt)
            times.append(_utc_us(when, zone))
        except ValueError as exc:
            raise CsvError(f"line {n}: cannot read the time {r[ti]!r} ({exc})") from exc
        naive.append(when if isinstance(when, datetime) and when.tzinfo is None else None)
        cell = r[gi].strip()
        if cell.lower() in OUT_OF_RANGE_WORDS:
            values.append(float("nan"))  # resolved once the units are known
            words += 1
            continue
        try:
            value = (
                float(cell.replace(",", "."))
                if cell.count(",") == 1 and "." not in cell
                else float(cell)
            )
        except ValueError as exc:
            raise CsvError(f"line {n}: glucose {cell!r} is not a number") from exc
        if not math.isfinite(value) or value <= 0:
            raise CsvError(f"line {n}: glucose {cell!r} is not a positive number")
        values.append(value)
    _second_pass_of_repeated_hours(times, naive, zone)
    chosen, source = _units(units, header[gi], values)
    _fill_words(values, data, gi, chosen)
    _check_range(values, data, chosen)
    return CgmCsv(times, values, chosen, source, skipped, words, header[ti], header[gi], fmt)


def _units(option: str | None, header: str, values: list[float]) -> tuple[str, str]:
    if option is not None:
        return option, "option"
    from_header = _units_from_header(header)
    if from_header is not None:
        return from_header, "header"
    finite = [v for v in values if not math.isnan(v)]
    median = statistics.median(finite) if finite else 100.0
    return ("mmol/L" if median < MMOL_MEDIAN_BELOW else "mg/dL"), "values"


def _fill_words(
    values: list[float], data: list[tuple[int, list[str]]], gi: int, units: str
) -> None:
    scale = 1.0 / GLUCOSE_MGDL_PER_MMOLL if units == "mmol/L" else 1.0
    for i, (_, r) in enumerate(data):
        word = r[gi].strip().lower()
        if word in OUT_OF_RANGE_WORDS:
            values[i] = OUT_OF_RANGE_WORDS[word] * scale


def _check_range(values: list[float], data: list[tuple[int, list[str]]], units: str) -> None:
    spec = CATALOGUE[Metric.GLUCOSE]
    scale = GLUCOSE_MGDL_PER_MMOLL if units == "mmol/L" else 1.0
    for value, (n, _) in zip(values, data, strict=True):
        if not spec.in_range(value * scale):
            raise CsvError(
                f"line {n}: glucose {value:g} {units} is outside the plausible range "
                f"{spec.minimum:g}-{spec.maximum:g} mg/dL (wrong --units?)"
            )


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--units",
    type=click.Choice(["mg/dL", "mmol/L"], case_sensitive=False),
    default=None,
    help="Glucose units in the file (detected when not given).",
)
@click.option(
    "--tz",
    default="UTC",
    show_default=True,
    help="Time zone of times without an offset, and of the AGP's time of day.",
)
@click.option(
    "--pdf",
    "pdf",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the one-page AGP report here (.pdf, or .png).",
)
@click.option("--time-column", default=None, help="Header of the time column.")
@click.option("--glucose-column", default=None, help="Header of the glucose column.")
@click.option("--time-format", default=None, help="strptime format of the times (default: detect).")
@click.option("--older", is_flag=True, help="Use the targets for older or high-risk people.")
def metrics(
    file: Path,
    units: str | None,
    tz: str,
    pdf: Path | None,
    time_column: str | None,
    glucose_column: str | None,
    time_format: str | None,
    older: bool,
) -> None:
    """Print the consensus CGM metrics of FILE.csv as JSON (and write the AGP report)."""
    from analytics.report import write_agp_report
    from analytics.summary import cgm_summary, summary_json

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from exc
    canonical_units = {"mg/dl": "mg/dL", "mmol/l": "mmol/L"}.get((units or "").lower())
    try:
        text = file.read_text(encoding="utf-8-sig")
        parsed = parse_cgm_csv(
            text,
            tz=tz,
            units=canonical_units,
            time_column=time_column,
            glucose_column=glucose_column,
            time_format=time_format,
        )
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file}: not a UTF-8 text file ({exc.reason})") from exc
    except CsvError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    summary = cgm_summary(
        parsed.times_us, parsed.values, tz=tz, units=parsed.units, older_or_high_risk=older
    )
    out = summary_json(summary) | {
        "source": {
            "file": str(file),
            "readings": len(parsed.values),
            "skipped_rows": parsed.skipped_rows,
            "units_in_file": parsed.units,
            "units_from": parsed.units_from,
            "low_high_words": parsed.out_of_range_words,
            "time_column": parsed.time_column,
            "glucose_column": parsed.glucose_column,
            "time_format": parsed.time_format or "ISO 8601",
        }
    }
    if pdf is not None:
        fmt = "png" if pdf.suffix.lower() == ".png" else "pdf"
        write_agp_report(summary, pdf, patient=file.stem, fmt=fmt, units=parsed.units)
        out["source"]["report"] = str(pdf)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
