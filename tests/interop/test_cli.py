"""`hearth export fhir|csv` and `hearth import csv`, run as a person would run them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from core.metrics import Metric
from core.timeseries.sqlite import SqliteTimeSeriesStore
from hearth.commands.metrics import read_cgm
from tests.interop.conftest import Household
from tests.support.factories import app_database, register

DATA = Path(__file__).with_name("data")


def hearth(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hearth", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_export_fhir_prints_a_valid_bundle_for_the_period(month: Household) -> None:
    done = hearth(month.env(), "export", "fhir", "--patient", "ann", "--from", "2026-03-02",
                  "--to", "2026-03-03")
    assert done.returncode == 0, done.stderr
    bundle = json.loads(done.stdout)
    Bundle.model_validate(bundle)
    cgm = [e["resource"] for e in bundle["entry"]
           if e["resource"]["resourceType"] == "Observation"
           and e["resource"]["code"]["coding"][0]["code"] == "99504-3"]
    # a local day in Europe/London (GMT in early March) of 5-minute readings
    assert 280 <= len(cgm) <= 288
    assert min(o["effectiveDateTime"] for o in cgm) >= "2026-03-02T00:00:00Z"
    assert max(o["effectiveDateTime"] for o in cgm) < "2026-03-03T00:00:00Z"


def test_export_csv_to_a_file(month: Household, tmp_path: Path) -> None:
    out = tmp_path / "ann.csv"
    done = hearth(month.env(), "export", "csv", "--patient", "ann", "--from",
                  "2026-03-02T00:00:00Z", "--to", "2026-03-09T00:00:00Z", "--metric", "systolic",
                  "-o", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and {r["metric"] for r in rows} == {"systolic"}


@pytest.mark.parametrize(("args", "words"), [
    (["--patient", "nobody"], "no patient 'nobody'"),
    (["--patient", "ann", "--from", "2026-03-02T00:00:00"], "no time zone"),
    (["--patient", "ann", "--from", "2026-03-05", "--to", "2026-03-01"], "before --to"),
    (["--patient", "ann", "--from", "March"], "not an ISO 8601"),
])
def test_export_refuses_bad_arguments_clearly(month: Household, args: list[str],
                                              words: str) -> None:
    done = hearth(month.env(), "export", "fhir", *args)
    assert done.returncode != 0
    assert words in done.stderr


@pytest.fixture
def fresh(tmp_path: Path) -> dict[str, str]:
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "sam", [("sam-g6", "cgm"), ("sam-meter", "glucose_meter")],
             timezone="Europe/London")
    register(engine, "other", [("other-cgm", "cgm")])
    return {"HEARTH_DATA_DIR": str(tmp_path),
            "HEARTH_TIMESERIES_URL": f"sqlite:///{tmp_path / 'timeseries.db'}",
            "HEARTH_DATABASE_URL": f"sqlite:///{tmp_path / 'hearth.db'}"}


def stored(env: dict[str, str], patient: str = "sam") -> int:
    store = SqliteTimeSeriesStore(env["HEARTH_TIMESERIES_URL"].removeprefix("sqlite:///"))
    try:
        return len(store.read(patient, Metric.GLUCOSE, *_all_time()))
    finally:
        store.close()


def _all_time() -> tuple[datetime, datetime]:
    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def test_import_csv_twice_stores_once_and_says_so(fresh: dict[str, str]) -> None:
    file = str(DATA / "dexcom_clarity_export.csv")
    first = hearth(fresh, "import", "csv", file, "--patient", "sam", "--device", "sam-g6", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["format"] == "dexcom"
    assert report["stored_new"] == report["rows_read"] == 145 and not report["problems"]
    again = hearth(fresh, "import", "csv", file, "--patient", "sam", "--device", "sam-g6", "--json")
    report = json.loads(again.stdout)
    assert report["stored_new"] == 0 and report["already_stored"] == 145
    assert stored(fresh) == 145


def test_import_reports_each_bad_line_and_keeps_the_good_ones(fresh, tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO((DATA / "dexcom_clarity_export.csv").read_text())))
    rows[10][7] = "abc"  # line 11
    rows[25][1] = "2026-13-14T08:35:03"  # line 26
    rows[30][7] = "5"  # line 31: below the catalogue's plausible range (contract)
    rows[40][1] = "2099-03-14T10:00:03"  # line 41: in the future (contract)
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    done = hearth(fresh, "import", "csv", str(bad), "--patient", "sam", "--device", "sam-g6")
    assert done.returncode == 1
    out = done.stdout.splitlines()
    assert "imported 141 new" in out[0] and "4 rejected" in out[0]
    assert out[1] == ("line 11: glucose value 'abc' is not a number "
                      "(column 'Glucose Value (mg/dL)')")
    assert out[2].startswith("line 26: unreadable time")
    assert out[3].startswith("line 31: value 5.0 mg/dL is outside the plausible range for glucose")
    assert out[4].startswith("line 41: measured time 2099-03-14T10:00:03+00:00 is")
    assert "in the future" in out[4]
    assert stored(fresh) == 141


@pytest.mark.parametrize(("args", "words"), [
    (["--device", "other-cgm"], "belongs to another patient"),
    (["--device", "new-cgm"], "is not registered"),
    (["--device", "sam-g6", "--patient", "ghost"], "no patient 'ghost'"),
    (["--device", "sam-g6", "--format", "libre"], "looks like a dexcom export, not libre"),
])
def test_import_refuses_what_it_cannot_attribute(fresh, args: list[str], words: str) -> None:
    argv = ["import", "csv", str(DATA / "dexcom_clarity_export.csv"), "--patient", "sam", *args]
    if "--patient" in args[2:]:
        argv = ["import", "csv", str(DATA / "dexcom_clarity_export.csv"), *args]
    done = hearth(fresh, *argv)
    assert done.returncode != 0
    assert words in done.stderr
    assert stored(fresh) == 0


def test_import_can_register_the_device_for_a_new_patient(fresh) -> None:
    done = hearth(fresh, "import", "csv", str(DATA / "libreview_export.csv"), "--patient", "sam",
                  "--device", "sam-libre", "--register", "cgm")
    assert done.returncode == 0, done.stderr
    assert "libre export: 97 glucose rows read, imported 97 new" in done.stdout
    assert stored(fresh) == 97


def _libre_with_words(tmp_path: Path) -> Path:
    """The LibreView sample with one history reading set to "HI" and one to "LO"."""
    rows = list(csv.reader(io.StringIO((DATA / "libreview_export.csv").read_text())))
    rows[10][4], rows[20][4] = "HI", "LO"  # lines 11 and 21
    path = tmp_path / "libre-words.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_import_and_metrics_read_the_same_numbers_from_one_file(fresh, tmp_path: Path) -> None:
    """One reader (core.interop.csv_formats): LibreView's "HI" is the FreeStyle Libre's
    500 mg/dL upper limit and "LO" its 40 mg/dL lower one, in both commands."""
    path = _libre_with_words(tmp_path)
    done = hearth(fresh, "import", "csv", str(path), "--patient", "sam", "--device",
                  "sam-libre", "--register", "cgm", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stored_new"] == 97
    store = SqliteTimeSeriesStore(fresh["HEARTH_TIMESERIES_URL"].removeprefix("sqlite:///"))
    try:
        stored_rows = store.read("sam", Metric.GLUCOSE, *_all_time())
    finally:
        store.close()
    # the sample's one strip (meter) reading is imported; the CGM metrics leave it out
    assert sorted(r.source for r in stored_rows).count("meter") == 1
    imported = sorted(r.value for r in stored_rows if r.source == "cgm")
    flagged = {r.status: r.value for r in stored_rows if r.status}
    assert flagged == {("above_sensor_range",): pytest.approx(500.0),
                       ("below_sensor_range",): pytest.approx(40.0)}

    _parsed, _rows, _times, values = read_cgm(
        path.read_text(), tz="Europe/London", units=None, time_column=None,
        glucose_column=None, time_format=None, now=datetime.now(UTC))
    assert sorted(values) == pytest.approx(imported)

    metrics = hearth(fresh, "metrics", str(path), "--tz", "Europe/London")
    assert metrics.returncode == 0, metrics.stderr
    out = json.loads(metrics.stdout)
    assert out["source"]["format"] == "libre" and out["source"]["low_high_words"] == 2
    assert out["mean"] == pytest.approx(sum(imported) / len(imported), rel=1e-3)
    assert max(imported) == pytest.approx(500.0) and min(imported) == pytest.approx(40.0)
