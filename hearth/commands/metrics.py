"""`hearth metrics FILE.csv`: consensus CGM metrics (JSON) and the AGP report from a CGM export.

The file is read by the same reader as `hearth import csv` (core.interop.csv_formats:
Dexcom Clarity, LibreView, Nightscout, or a plain file whose time and glucose columns
are found by their headers or named with --time-column / --glucose-column) and its
readings go through the same contract validation (core.interop.csv_import), so a file
gives the same numbers to both commands.  Only sensor (CGM) readings count; meter rows
and rows without a glucose value (events, notes, device rows) are skipped and counted.
Any line that cannot be read stops the command with the line and the reason.  Too
little data for a valid report (docs/CLINICAL.md: >=14 days, sensor active >=70%) is
said so, and the targets are then not judged.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from core.interop.csv_formats import CsvFormatError, GlucoseRow, ParsedCsv, parse_glucose_csv
from core.interop.csv_import import validate_rows
from core.metrics import GlucoseMethod

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEVICE = "csv-file"  # the contract validates readings of a device; this names the file's


class CsvError(click.ClickException):
    """A file that cannot be read as a CGM export; the message names the line."""


def read_cgm(text: str, *, tz: str, units: str | None, time_column: str | None,
             glucose_column: str | None, time_format: str | None, now: datetime
             ) -> tuple[ParsedCsv, list[GlucoseRow], list[int], list[float]]:
    """The file's CGM rows and their validated times (epoch microseconds) and mg/dL values."""
    try:
        parsed = parse_glucose_csv(text, fmt=None, tz=tz, units=units, time_column=time_column,
                                   glucose_column=glucose_column, time_format=time_format)
    except CsvFormatError as exc:
        raise CsvError(str(exc)) from exc
    if parsed.problems:
        first, more = parsed.problems[0], len(parsed.problems) - 1
        also = f" (and {more} more line{'s' * (more > 1)})" if more else ""
        raise CsvError(f"line {first.line}: {first.reason}{also}")
    cgm = [r for r in parsed.rows if r.method is GlucoseMethod.CGM]
    if not cgm:
        raise CsvError(
            f"no CGM readings: column {parsed.glucose_column!r} holds meter (blood glucose) "
            "readings; the CGM metrics need a sensor column: name it with --glucose-column")
    measurements, problems = validate_rows(cgm, device_id=DEVICE, now=now)
    if problems:
        first = problems[0]
        hint = " (wrong --units?)" if "plausible range" in first.reason else ""
        raise CsvError(f"line {first.line}: {first.reason}{hint}")
    times = [(m.measured_at - EPOCH) // timedelta(microseconds=1) for m in measurements]
    return parsed, cgm, times, [m.value for m in measurements]


def _too_little(out: dict[str, Any]) -> str | None:
    """A sentence when the data cannot make a valid report; its targets are then unjudged."""
    suff = out["sufficiency"]
    if suff["sufficient"]:
        return None
    for target in out["targets"]:
        target["met"] = None
    n = suff["readings"]
    return (f"too little data for a valid report: {n} reading{'s' * (n != 1)} over "
            f"{suff['days']:.1f} days, the sensor active {suff['percent_active']:.0f}% of the "
            "time; a report needs at least 14 days with the sensor active at least 70% of the "
            "time (docs/CLINICAL.md), so the targets are not judged")


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
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file}: not a UTF-8 text file ({exc.reason})") from exc
    try:
        parsed, cgm, times_us, values = read_cgm(
            text, tz=tz, units=canonical_units, time_column=time_column,
            glucose_column=glucose_column, time_format=time_format, now=datetime.now(UTC))
    except CsvError as exc:
        raise CsvError(f"{file}: {exc.message}") from exc
    summary = cgm_summary(times_us, values, tz=tz, units="mg/dL", older_or_high_risk=older)
    out = summary_json(summary)
    warning = _too_little(out)
    if warning is not None:
        out["warning"] = warning
        click.echo(f"warning: {warning}", err=True)
    out["source"] = {
        "file": str(file),
        "format": str(parsed.format),
        "readings": len(cgm),
        "skipped_rows": parsed.skipped + len(parsed.rows) - len(cgm),
        "units_in_file": parsed.units,
        "units_from": parsed.units_from,
        "low_high_words": sum(1 for r in cgm if r.status),
        "time_column": parsed.time_column,
        "glucose_column": parsed.glucose_column,
        "time_format": parsed.time_format or "ISO 8601",
    }
    if pdf is not None:
        fmt = "png" if pdf.suffix.lower() == ".png" else "pdf"
        write_agp_report(summary, pdf, patient=file.stem, fmt=fmt, units=parsed.units)
        out["source"]["report"] = str(pdf)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
