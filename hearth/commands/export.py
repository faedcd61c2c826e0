"""`hearth export fhir|csv --patient ID --from ... --to ...`: a patient's data for a period.

``--from`` and ``--to`` take an ISO 8601 time with a zone (2026-03-01T00:00:00Z)
or a date (2026-03-01), which means midnight in the patient's own time zone;
``--to`` is exclusive.  The output goes to stdout unless ``--output`` names a file.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from core.appdb.directory import PatientInfo

MAX_RANGE = timedelta(days=400)


def parse_when(text: str, zone: ZoneInfo) -> datetime:
    """An aware datetime from ISO 8601; a bare date is local midnight in ``zone``."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), zone)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 date or time") from None
    if when.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no time zone: add Z or +01:00, or give a date")
    return when


def resolve_period(
    info: PatientInfo, start: str | None, end: str | None
) -> tuple[datetime, datetime]:
    zone = ZoneInfo(info.timezone)
    end_at = parse_when(end, zone) if end else datetime.now(UTC)
    start_at = parse_when(start, zone) if start else end_at - timedelta(days=30)
    if start_at >= end_at:
        raise click.BadParameter("--from must be before --to")
    if end_at - start_at > MAX_RANGE:
        raise click.BadParameter(f"a period may span at most {MAX_RANGE.days} days")
    return start_at.astimezone(UTC), end_at.astimezone(UTC)


def _patient(directory: object, patient_id: str) -> PatientInfo:
    info: PatientInfo | None = directory.patient(patient_id)  # type: ignore[attr-defined]
    if info is None:
        raise click.ClickException(f"no patient {patient_id!r} in the application database")
    return info


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


_patient_option = click.option("--patient", "patient_id", required=True, help="Patient id.")
_from_option = click.option(
    "--from", "start", help="Start (inclusive); default: 30 days before --to."
)
_to_option = click.option("--to", "end", help="End (exclusive); default: now.")
_output_option = click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                              help="Write to this file instead of stdout.")


@click.group()
def export() -> None:
    """Export a patient's data: a FHIR R4 Bundle or CSV."""


@export.command("fhir")
@_patient_option
@_from_option
@_to_option
@_output_option
def export_fhir(patient_id: str, start: str | None, end: str | None, output: Path | None) -> None:
    """Print the FHIR R4 Bundle (Patient, Devices, CGM summary, readings)."""
    from core.config import get_settings
    from dashboard.fhir_export import patient_bundle
    from hearth import wiring

    settings = get_settings()
    directory = wiring.directory(settings)
    info = _patient(directory, patient_id)
    start_at, end_at = resolve_period(info, start, end)
    store = wiring.timeseries(settings)
    try:
        bundle = patient_bundle(store=store, directory=directory, patient_id=patient_id,
                                start=start_at, end=end_at, now=datetime.now(UTC))
    finally:
        store.close()
    _emit(json.dumps(bundle, indent=1) + "\n", output)


@export.command("csv")
@_patient_option
@_from_option
@_to_option
@_output_option
@click.option("--metric", "metrics", multiple=True, help="Only this metric (repeatable).")
def export_csv(patient_id: str, start: str | None, end: str | None, output: Path | None,
               metrics: tuple[str, ...]) -> None:
    """Print the readings as CSV, one row per reading, original unit kept."""
    from core.config import get_settings
    from core.interop.csv_export import to_csv
    from core.metrics import Metric
    from dashboard.exports import period_readings
    from hearth import wiring

    try:
        wanted = [Metric(m) for m in metrics] or list(Metric)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; known: {', '.join(Metric)}") from None
    settings = get_settings()
    info = _patient(wiring.directory(settings), patient_id)
    start_at, end_at = resolve_period(info, start, end)
    store = wiring.timeseries(settings)
    try:
        text = to_csv(period_readings(store, patient_id, wanted, start_at, end_at))
    finally:
        store.close()
    _emit(text, output)
