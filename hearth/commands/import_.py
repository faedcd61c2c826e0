"""`hearth import csv FILE --patient ID --device ID`: a CGM or meter history from CSV.

The file (Dexcom Clarity, LibreView, Nightscout, or a plain file with a time and a
glucose column; --format auto detects it) is read by the reader `hearth metrics` uses
(core.interop.csv_formats), then goes through the wire contract's validation, the
one ingest runs on every message (core.interop.csv_import), and the valid readings
are written with the store's idempotent write, the one ingest commits with:
importing a file twice adds nothing.  Each line that cannot go in is reported with its reason; the
good lines go in all the same.  Exit status 0 when every glucose row was
imported, 1 when some lines were rejected (the others are stored).

docs/INTEROP.md says why the import writes to the store directly rather than
publishing to the broker.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.appdb.directory import SqlDirectory, bind_devices
from core.interop.csv_formats import CsvFormat, CsvFormatError, LineProblem, parse_glucose_csv
from core.interop.csv_import import plan_import
from core.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)
WRITE_BATCH = 5000


class CsvImportError(click.ClickException):
    """The import cannot start (unknown patient, foreign device, unreadable file)."""


@dataclass(slots=True)
class ImportReport:
    format: str
    patient_id: str
    device_id: str
    rows_read: int = 0
    stored_new: int = 0
    already_stored: int = 0
    skipped_rows: int = 0  # rows without a glucose value: events, notes, scans
    problems: list[LineProblem] = field(default_factory=list)
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        verb = "would import" if self.dry_run else "imported"
        head = (f"{self.format} export: {self.rows_read} glucose rows read, {verb} "
                f"{self.stored_new} new, {self.already_stored} already stored, "
                f"{len(self.problems)} rejected, {self.skipped_rows} other rows skipped")
        return [head, *(f"line {p.line}: {p.reason}" for p in self.problems)]


def check_device(engine: Engine, *, patient_id: str, device_id: str, register: str | None) -> None:
    """The device must be bound to this patient (or be registered to them with --register)."""
    directory = SqlDirectory(engine)
    if directory.patient(patient_id) is None:
        raise CsvImportError(f"no patient {patient_id!r} in the application database")
    binding = directory.binding(device_id)
    if binding is None and register:
        with Session(engine) as session:
            bind_devices(session, patient_id, [(device_id, register)])
            session.commit()
        log.info("registered device %s (%s) for the import", device_id, register)
        return
    if binding is None:
        raise CsvImportError(f"device {device_id!r} is not registered: register it to "
                           f"{patient_id!r} first, or pass --register cgm|glucose_meter")
    if binding.patient_id != patient_id:
        raise CsvImportError(f"device {device_id!r} belongs to another patient")
    if not binding.active:
        raise CsvImportError(f"device {device_id!r} has been revoked")


def import_csv(text: str, *, store: TimeSeriesStore, patient_id: str, device_id: str,
               fmt: CsvFormat | None, tz: str, now: datetime, dry_run: bool = False,
               time_column: str | None = None, glucose_column: str | None = None,
               time_format: str | None = None) -> ImportReport:
    """Parse, validate through the contract, and write idempotently; report every bad line."""
    try:
        parsed = parse_glucose_csv(text, fmt=fmt, tz=tz, time_column=time_column,
                                   glucose_column=glucose_column, time_format=time_format)
    except CsvFormatError as exc:
        raise CsvImportError(str(exc)) from exc
    plan = plan_import(parsed, device_id=device_id, now=now)
    report = ImportReport(str(plan.format), patient_id, device_id, rows_read=plan.rows_read,
                          skipped_rows=plan.skipped, problems=plan.problems, dry_run=dry_run)
    readings = [m.bind(patient_id) for m in plan.measurements]
    if dry_run:
        report.stored_new = len(readings)
        return report
    for i in range(0, len(readings), WRITE_BATCH):
        report.stored_new += store.write(readings[i:i + WRITE_BATCH])
    report.already_stored = len(readings) - report.stored_new
    log.info("CSV import: %d new readings, %d already stored, %d lines rejected",
             report.stored_new, report.already_stored, len(report.problems))
    return report


@click.group(name="import")
def import_() -> None:
    """Import a patient's history from another system."""


@import_.command("csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--patient", "patient_id", required=True, help="Patient id.")
@click.option("--device", "device_id", required=True,
              help="Device id the readings belong to (registered to the patient).")
@click.option("--format", "fmt", type=click.Choice(["auto", *(f.value for f in CsvFormat)]),
              default="auto", show_default=True, help="Layout of the file.")
@click.option("--tz", help="Time zone of the file's local times; default: the patient's.")
@click.option("--register", type=click.Choice(["cgm", "glucose_meter"]),
              help="Register an unknown device to the patient with this kind.")
@click.option("--time-column", default=None, help="Header of a plain file's time column.")
@click.option("--glucose-column", default=None,
              help="Header of a plain file's glucose column (read as CGM readings).")
@click.option("--time-format", default=None,
              help="strptime format of a plain file's times (default: detect).")
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def import_csv_command(file: Path, patient_id: str, device_id: str, fmt: str, tz: str | None,
                       register: str | None, time_column: str | None,
                       glucose_column: str | None, time_format: str | None, dry_run: bool,
                       as_json: bool) -> None:
    """Import a Dexcom Clarity, LibreView, Nightscout or plain (time, glucose) CSV file."""
    from core.config import get_settings
    from hearth import wiring

    settings = get_settings()
    engine = wiring.app_engine(settings)
    check_device(engine, patient_id=patient_id, device_id=device_id,
                 register=None if dry_run else register)
    info = SqlDirectory(engine).patient(patient_id)
    assert info is not None
    text = file.read_text(encoding="utf-8-sig", errors="replace")
    store = wiring.timeseries(settings)
    try:
        report = import_csv(text, store=store, patient_id=patient_id, device_id=device_id,
                            fmt=None if fmt == "auto" else CsvFormat(fmt),
                            tz=tz or info.timezone, now=datetime.now(UTC), dry_run=dry_run,
                            time_column=time_column, glucose_column=glucose_column,
                            time_format=time_format)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=1))
    else:
        for line in report.lines():
            click.echo(line)
    sys.exit(1 if report.problems else 0)
