"""The one-page AGP report: it is written, in the asked format and units."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analytics.report import _days, _in_units, write_agp_report
from analytics.summary import cgm_summary
from tests.analytics.factories import MINUTE_US, T0_US


def _summary(older: bool = False):  # type: ignore[no-untyped-def]
    t = T0_US + np.arange(14 * 288, dtype=np.int64) * 5 * MINUTE_US
    v = 140 + 70 * np.sin(np.arange(t.size) / 30.0)
    return cgm_summary(t, v, tz="Europe/Paris", older_or_high_risk=older)


def test_png_and_pdf_are_written(tmp_path: Path) -> None:
    s = _summary()
    png = write_agp_report(s, tmp_path / "agp.png", patient="Test")
    pdf = write_agp_report(s, tmp_path / "agp.pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agp.pdf", "agp.png"]


def test_mmol_and_older_targets_render(tmp_path: Path) -> None:
    out = write_agp_report(_summary(older=True), tmp_path / "r", fmt="png", units="mmol/L")
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_labels_in_mmol() -> None:
    assert _in_units("Time in range 70-180 mg/dL", "mmol/L") == "Time in range 3.9-10.0 mmol/L"
    assert _in_units("<54 mg/dL", "mmol/L") == "<3.0 mmol/L"
    assert _in_units("181-250 mg/dL", "mg/dL") == "181-250 mg/dL"


def test_days_never_round_up_to_fourteen() -> None:
    assert _days(14.0) == "14 days" and _days(13.97) == "13.9 days"
