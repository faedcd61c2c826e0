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


# -- the report finished (issue 18): partial days, gaps, rounding, the 350 mg/dL scale ------

def _texts(fig) -> list[str]:  # type: ignore[no-untyped-def]
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text)]


def _gapped_summary():  # type: ignore[no-untyped-def]
    """12 whole days in UTC, two days missing (days 5 and 6), then one reading at 00:02 of
    a 15th day; highs up to 400 mg/dL at noon every day."""
    per_day = 288
    keep = np.ones(13 * per_day, dtype=bool)
    keep[5 * per_day:7 * per_day] = False
    t = (T0_US + np.arange(13 * per_day, dtype=np.int64) * 5 * MINUTE_US)[keep]
    minutes = (np.arange(13 * per_day) % per_day * 5.0)[keep]
    v = np.where((minutes >= 660) & (minutes < 780), 400.0, 120.0)
    t = np.append(t, T0_US + (13 * 1440 + 2) * MINUTE_US)
    v = np.append(v, 150.0)
    return cgm_summary(t, v, tz="UTC", start_us=T0_US,
                       end_us=T0_US + (13 * 1440 + 3) * MINUTE_US)


def test_a_last_day_with_one_reading_is_a_partial_day_not_tir_100() -> None:
    from analytics.report import _day_note

    s = _gapped_summary()
    last = s.days[-1]
    assert last.readings == 1 and last.time_in_range == 100.0
    assert not last.complete and last.wear_percent < 1
    assert _day_note(last) == "partial day"
    assert _day_note(s.days[0]) == f"TIR {s.days[0].time_in_range:.0f}%"


def test_days_missing_in_a_gap_are_blank_panels_not_left_out() -> None:
    from analytics.agp import calendar
    from analytics.report import agp_figure

    s = _gapped_summary()
    days = calendar(s.days, s.first_day, s.last_day)
    assert len(days) == 14 and len(s.days) == 12
    assert [d is None for _, d in days][5:7] == [True, True]
    texts = _texts(agp_figure(s))
    assert texts.count("no data") == 2 and texts.count("partial day") == 1
    # each of the 14 calendar days has its date label, the missing ones included
    assert "07 Sat Mar" in texts and "08 Sun Mar" in texts


def test_daily_panels_and_agp_extend_the_scale_to_the_highest_reading() -> None:
    """A 400 mg/dL high is drawn at 400 on a scale that reaches 400 (docs/CLINICAL.md
    "Glucose": 0-350 while everything fits, else up to the next 50 above the highest value),
    in every daily panel and the AGP alike, with the top labelled."""
    from analytics.report import agp_figure

    fig = agp_figure(_gapped_summary())
    daily = [ax for ax in fig.axes if ax.get_position().height < 0.09]
    assert len(daily) == 14
    traced = [ax for ax in daily if ax.lines]
    assert len(traced) == 12
    assert all(ax.get_ylim() == (0.0, 400.0) for ax in daily)
    for ax in traced[:-1]:  # the last day is its one reading at 00:02
        y = np.asarray(ax.lines[0].get_ydata(), dtype=float)
        assert np.nanmax(y) == 400.0  # the highs where they were, not on a 350 edge
    assert [t.get_text() for t in daily[0].get_yticklabels()] == ["70", "180", "400"]
    agp_ax = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("AMBULATORY"))
    assert agp_ax.get_ylim() == (0.0, 400.0)
    assert max(np.nanmax(np.asarray(ln.get_ydata(), dtype=float)) for ln in agp_ax.lines) == 400


def test_a_reading_of_420_is_drawn_at_420_on_a_450_scale_in_mmol_too() -> None:
    from analytics.report import Y_LIMIT, agp_figure, y_top

    t = T0_US + np.arange(14 * 288, dtype=np.int64) * 5 * MINUTE_US
    v = np.full(t.size, 130.0)
    v[100:106] = 420.0  # half an hour at 420 mg/dL on the first day
    s = cgm_summary(t, v, tz="UTC")
    assert y_top(s.values) == 450.0 and y_top([120.0, 349.0]) == 350.0
    assert y_top([700.0]) == Y_LIMIT == 600.0  # not a device reading: the scale stops
    fig = agp_figure(s, units="mmol/L")
    daily = [ax for ax in fig.axes if ax.get_position().height < 0.09]
    first = next(ax for ax in daily if ax.lines)
    y = np.asarray(first.lines[0].get_ydata(), dtype=float)
    assert np.nanmax(y) == 420.0 and first.get_ylim() == (0.0, 450.0)
    assert [t.get_text() for t in first.get_yticklabels()] == ["3.9", "10.0", "25.0"]
    # a value above every device's limit is drawn on the edge and marked, not hidden
    from matplotlib.figure import Figure

    from analytics.report import _day_trace

    ax = Figure().add_subplot()
    _day_trace(ax, s, s.days[0], top=400.0)
    assert len(ax.lines) == 2 and np.asarray(ax.lines[1].get_ydata()).tolist() == [400.0] * 6


def test_a_report_that_fits_keeps_the_consensus_350_scale() -> None:
    from analytics.report import agp_figure

    fig = agp_figure(_summary())  # 70-210 mg/dL
    agp_ax = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("AMBULATORY"))
    assert agp_ax.get_ylim() == (0.0, 350.0)
    assert [t.get_text() for t in agp_ax.get_yticklabels()] == ["0", "54", "70", "180", "250",
                                                               "350"]


def test_a_gap_within_a_day_is_not_drawn_across() -> None:
    from matplotlib.figure import Figure

    from analytics.report import _day_trace

    t = T0_US + np.r_[np.arange(0, 60, 5), np.arange(180, 240, 5)].astype(np.int64) * MINUTE_US
    s = cgm_summary(t, np.full(t.size, 120.0), tz="UTC")
    ax = Figure().add_subplot()
    _day_trace(ax, s, s.days[0])
    y = np.asarray(ax.lines[0].get_ydata(), dtype=float)
    assert np.isnan(y).sum() == 1 and y.size == t.size + 1


def test_the_bar_and_the_box_print_the_same_percentage() -> None:
    from analytics.report import agp_figure, percent_text

    assert percent_text(1.4) == "1.4%" and percent_text(0.6) == "0.6%"
    assert percent_text(0.01) == "<0.1%" and percent_text(0.0) == "0.0%"
    # 6 % of readings at 60 mg/dL: the "Low" of the bar and "Time below 70" of the box
    t = T0_US + np.arange(14 * 288, dtype=np.int64) * 5 * MINUTE_US
    v = np.where(np.arange(t.size) % 100 < 6, 60.0, 120.0)
    s = cgm_summary(t, v, tz="UTC")
    shown = percent_text(s.metrics.ranges.low)
    texts = _texts(agp_figure(s))
    # in the bar and beside "Time below 70 mg/dL" (and the GMI happens to be 6.1% too)
    assert shown == "6.1%" and texts.count(shown) == 3
    assert f"{s.metrics.ranges.low:.0f}%" not in texts


def test_too_little_data_is_said_in_words_on_the_first_line() -> None:
    from analytics.report import agp_figure, too_little_data

    short = _summary_days(5)
    line = too_little_data(short)
    assert line.startswith("Too little data for a valid report: 5 days")
    fig = agp_figure(short)
    top = max(fig.texts, key=lambda t: t.get_position()[1])
    assert top.get_text() == line
    assert too_little_data(_summary()) == ""


def _summary_days(days: int):  # type: ignore[no-untyped-def]
    t = T0_US + np.arange(days * 288, dtype=np.int64) * 5 * MINUTE_US
    return cgm_summary(t, np.full(t.size, 120.0), tz="UTC")
