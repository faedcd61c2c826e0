"""The CSV import (core.interop.csv_formats + csv_import) under generated files.

A file is either refused whole with CsvFormatError and a sentence, or read into
good rows and one problem per bad line, each naming its line (a real line of
the file) and a non-empty reason. No other exception escapes `hearth import csv`.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from core.interop.csv_formats import CsvFormatError, parse_glucose_csv
from core.interop.csv_import import ImportPlan, plan_import
from tests.security.fuzzing import FUZZ

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEXCOM = ["Index", "Timestamp (YYYY-MM-DDThh:mm:ss)", "Event Type", "Event Subtype",
          "Glucose Value (mg/dL)"]
LIBRE = ["Device", "Serial Number", "Device Timestamp", "Record Type",
         "Historic Glucose mmol/L", "Scan Glucose mmol/L", "Strip Glucose mmol/L"]
NIGHTSCOUT = ["dateString", "date", "sgv", "mbg", "type", "direction", "device"]
HEADERS = {"dexcom": DEXCOM, "libre": LIBRE, "nightscout": NIGHTSCOUT}

# Cells that look almost right, and junk.
CELLS = st.one_of(
    st.sampled_from(["", "EGV", "Calibration", "Low", "High", "lo", "0", "1", "2", "4",
                     "sgv", "mbg", "cal", "104", "5,6", "-3", "1e400", "inf", "nan", "NaN",
                     "99999999999999999999999", "2026-03-14T08:00:00", "2026-03-14T08:00:00Z",
                     "2026-03-15T05:55:12.000Z", "1773554112000", "-1e30", "1e30",
                     "14-03-2026 00:07", "03/14/2026 12:07 PM", "31-02-2026 00:07",
                     "2026-10-25T02:30:00", "2026-03-29T02:30:00", "9999-12-31T23:59:59",
                     "0001-01-01T00:00:00", "0001-01-01T00:00:00+14:00"]),
    st.text(max_size=12),
    st.integers().map(str),
    st.floats().map(str),
)


def _csv(rows: list[list[str]], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue()


def check(text: str) -> ImportPlan | None:
    try:
        parsed = parse_glucose_csv(text, fmt=None, tz="Europe/London")
    except CsvFormatError as exc:
        assert str(exc).strip()
        return None
    plan = plan_import(parsed, device_id="import-ann", now=NOW)
    lines = text.count("\n") + 1
    for problem in plan.problems:
        assert 1 <= problem.line <= lines, problem
        assert problem.reason.strip(), problem
    return plan


@FUZZ
@given(st.text(max_size=400))
def test_fuzz_any_text_is_read_or_refused_with_a_reason(text: str) -> None:
    check(text)


@FUZZ
@given(st.sampled_from(sorted(HEADERS)), st.sampled_from([",", "\t", ";"]),
       st.lists(st.lists(CELLS, min_size=0, max_size=8), min_size=1, max_size=25))
def test_fuzz_rows_under_a_real_header_each_bad_line_is_named(
        layout: str, delimiter: str, rows: list[list[str]]) -> None:
    plan = check(_csv([HEADERS[layout], *rows], delimiter))
    if plan is not None:
        # + 1: a sniffed delimiter that splits the header differently makes it a row too
        assert plan.rows_read + plan.skipped <= len(rows) + 1


def test_a_bad_line_is_named_with_its_reason() -> None:
    text = _csv([NIGHTSCOUT, ["2026-03-15T05:55:12.000Z", "", "104", "", "sgv"],
                 ["2026-03-15T06:00:12.000Z", "", "banana", "", "sgv"],
                 ["2026-03-15T06:05:12.000Z", "", "9999", "", "sgv"]], ",")
    plan = check(text)
    assert plan is not None and len(plan.measurements) == 1
    assert [(p.line, p.reason.split(" ")[0]) for p in plan.problems] == [(3, "glucose"),
                                                                         (4, "value")]
