"""The one-page AGP report (PDF or PNG), in the layout clinicians know.

Follows the International Diabetes Center's AGP Report (the layout endorsed by
the International Consensus on Time in Range, Battelino 2019, Figure 1):
glucose statistics and targets top left, the time-in-ranges bar top right,
the Ambulatory Glucose Profile (5/25/50/75/95th percentiles over a 24-hour
day, target range 70-180 mg/dL) in the middle, and daily glucose profiles
at the bottom.  Drawn with matplotlib (object API, Agg canvas: no display,
thread-safe); the only file written is the one asked for.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from analytics import targets as tg
from analytics.agp import DailyProfile, calendar
from analytics.cgm import Ranges, Target
from analytics.summary import CgmSummary
from analytics.timebase import FloatArray, day_label, gap_after
from core.metrics import GLUCOSE_MGDL_PER_MMOLL

if TYPE_CHECKING:  # matplotlib is imported where a report is drawn, not with the module
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

# IDC AGP colours
VERY_HIGH_C, HIGH_C, TARGET_C, LOW_C, VERY_LOW_C = (
    "#f08a24",
    "#fcc419",
    "#2f9e44",
    "#e03131",
    "#8b0000",
)
BAND_OUTER, BAND_INNER, MEDIAN_C = "#c5d5ea", "#7fa3cf", "#1b4f9c"
GREY = "#555555"
LOW, HIGH = tg.GLUCOSE_LOW_BELOW, tg.GLUCOSE_HIGH_ABOVE  # docs/CLINICAL.md
Y_TICKS = (0, int(tg.GLUCOSE_VERY_LOW_BELOW), int(LOW), int(HIGH),
           int(tg.GLUCOSE_VERY_HIGH_ABOVE), 350)


def _fmt(x: float, digits: int = 0, suffix: str = "") -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.{digits}f}{suffix}"


def percent_text(pct: float) -> str:
    """One way to print a time-in-range percentage, in the bar and in the targets box
    alike: one decimal, so the bar's value is the box's (a 1.4% below 70 is "1.4%" in
    both, never "1%" beside "1.4%"; a 0.6% below 54 never reads "1%" against the target of
    less than 1%, Battelino 2019); a time above 0 but under 0.05% is "<0.1%", not "0.0%"."""
    if pct is None or math.isnan(pct):
        return "-"
    if 0 < pct < 0.05:
        return "<0.1%"
    return f"{pct:.1f}%"


# The AGP report's glucose scale (docs/CLINICAL.md "Glucose"): 0-350 mg/dL as on the IDC AGP
# Report (Battelino 2019, Figure 1) while every value fits; a higher value extends the
# scale of the whole report (the AGP and every daily panel alike, so they compare) to the
# next 50 mg/dL above it, up to the highest reporting limit of home glucose devices
# (meters report up to 600 mg/dL, CGMs 400-500; Dexcom's own graphs run to the sensor's
# 400 rather than cutting at 350). A high is never flattened onto an edge below its value;
# only a value above 600 (not a device reading) would be, and it is then marked.
Y_MAX = 350.0
Y_LIMIT = 600.0
Y_STEP = 50.0


def y_top(values: npt.ArrayLike) -> float:
    """The top of the report's glucose scale for these values (mg/dL)."""
    arr = np.asarray(values, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    high = float(finite.max()) if finite.size else 0.0
    if high <= Y_MAX:
        return Y_MAX
    return float(min(math.ceil(high / Y_STEP) * Y_STEP, Y_LIMIT))


def _on_scale(values: npt.ArrayLike, top: float = Y_LIMIT) -> FloatArray:
    return np.asarray(np.minimum(values, top), dtype=np.float64)


def _tick_label(mg_dl: float, units: str) -> str:
    if units != "mmol/L":
        return f"{mg_dl:.0f}"
    return MMOL_LABELS.get(f"{mg_dl:.0f}") or f"{mg_dl / GLUCOSE_MGDL_PER_MMOLL:.1f}"


def _ticks(top: float) -> tuple[float, ...]:
    return (*Y_TICKS[:-1], top) if top > Y_MAX else tuple(float(t) for t in Y_TICKS)


# Consensus thresholds as printed in mmol/L (Battelino 2019, Figure 1)
MMOL_LABELS = {
    "70-180": "3.9-10.0",
    "181-250": "10.1-13.9",
    "54-69": "3.0-3.8",
    "54": "3.0",
    "70": "3.9",
    "180": "10.0",
    "250": "13.9",
    "350": "19.4",
    "0": "0",
}


def _in_units(text: str, units: str) -> str:
    """Rewrite 'NN mg/dL' and 'NN-MM mg/dL' in a label for the report's units."""
    if units != "mmol/L":
        return text
    return re.sub(r"(\d+(?:-\d+)?) mg/dL", lambda m: f"{MMOL_LABELS.get(m[1], m[1])} mmol/L", text)


def _glucose(mg_dl: float, units: str) -> str:
    if units == "mmol/L":
        return _fmt(mg_dl / GLUCOSE_MGDL_PER_MMOLL, 1, " mmol/L")
    return _fmt(mg_dl, 0, " mg/dL")


def write_agp_report(
    summary: CgmSummary,
    path: str | Path,
    *,
    patient: str = "",
    fmt: str | None = None,
    units: str = "mg/dL",
    dpi: int = 150,
) -> Path:
    """Draw the report and write it to ``path`` (format from ``fmt`` or the file extension).

    ``units`` ("mg/dL" or "mmol/L") is how glucose is printed; the analysis is the same.
    """
    fig = agp_figure(summary, patient=patient, units=units)
    out = Path(path)
    fig.savefig(out, format=fmt or (out.suffix.lstrip(".") or "pdf"), dpi=dpi)
    logger.info("AGP report written (%d days)", len(summary.days))
    return out


def too_little_data(s: CgmSummary) -> str:
    """The report's first line when the data are too few for a valid report, in words
    ("" when they suffice): Battelino 2019 asks for 14 days with 70% CGM wear
    (docs/CLINICAL.md "Glucose")."""
    suff = s.metrics.sufficiency
    if suff.sufficient:
        return ""
    return (f"Too little data for a valid report: {_days(suff.days)} with CGM active "
            f"{_fmt(suff.percent_active, 1, '%')} of the time (a valid report needs "
            f"{tg.REPORT_MIN_DAYS} days and {tg.WEAR_MIN_PERCENT:.0f}%). "
            "Targets are not judged.")


def agp_figure(summary: CgmSummary, *, patient: str = "", units: str = "mg/dL") -> Figure:
    """The report's page as a matplotlib figure (Agg canvas), not yet written anywhere."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 11.0))
    FigureCanvasAgg(fig)
    _header(fig, summary, patient)
    _statistics(fig.add_axes((0.05, 0.60, 0.50, 0.30)), summary, units)
    _ranges_bar(fig.add_axes((0.66, 0.60, 0.30, 0.30)), summary.metrics.ranges, units)
    _agp(fig.add_axes((0.08, 0.29, 0.88, 0.25)), summary, units)
    _daily(fig, summary, units)
    return fig


def _header(fig: Figure, s: CgmSummary, patient: str) -> None:
    from matplotlib.patches import Rectangle

    if warning := too_little_data(s):
        fig.text(0.05, 0.984, warning, fontsize=8.5, weight="bold", color=LOW_C)

    fig.text(0.05, 0.965, "AGP Report: Continuous Glucose Monitoring", fontsize=15, weight="bold")
    who = f"{patient}   " if patient else ""
    first, last = _long_date(s.days[0].date), _long_date(s.days[-1].date)
    fig.text(0.05, 0.945, f"{who}{first} - {last}   time zone {s.tz}", fontsize=9, color=GREY)
    fig.add_artist(Rectangle((0.05, 0.935), 0.91, 0.002, color="black", transform=fig.transFigure))


def _days(days: float) -> str:
    """Whole days as such; otherwise rounded down, so 13.97 days never reads as 14."""
    if abs(days - round(days)) < 1e-6:
        return f"{round(days)} days"
    return f"{math.floor(days * 10) / 10:.1f} days"


def _long_date(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%d %b %Y")


def _target_text(t: Target) -> str:
    word = "greater than" if t.comparison == ">" else "less than"
    return f"{word} {t.goal:g}% ({_duration(t.goal, per_day=False)})"


def _statistics(ax: Axes, s: CgmSummary, units: str) -> None:
    ax.axis("off")
    m, suff = s.metrics, s.metrics.sufficiency
    ax.set_title("GLUCOSE STATISTICS AND TARGETS", loc="left", fontsize=10, weight="bold")
    targets = [t for t in m.targets if t.name != "Coefficient of variation"]
    older = len(targets) == 3
    rows: list[tuple[str, str, Target | None]] = [
        (
            "Days of data",
            _days(suff.days),
            None,
        ),
        (
            "% Time CGM is active",
            _fmt(suff.percent_active, 1, "%")
            + ("" if suff.sufficient else "  (below 14 days / 70%: targets not judged)"),
            None,
        ),
        ("", "", None),
        (
            "Targets for older / high-risk people"
            if older
            else "Ranges and targets for type 1 or type 2 diabetes",
            "",
            None,
        ),
        *[(_in_units(t.name, units), _target_text(t), t) for t in targets],
        ("Each 5% increase in time in range is clinically beneficial", "", None),
        ("", "", None),
        ("Mean glucose", _glucose(m.mean, units), None),
        ("Glucose Management Indicator (GMI)", _fmt(m.gmi, 1, "%"), None),
        ("Glucose variability (CV)", _fmt(m.cv, 1, "%") + "   (target 36% or less)", None),
        ("Glycemia Risk Index (GRI)", f"{_fmt(m.gri.value, 1)}   zone {m.gri.zone}", None),
        (
            "Hypoglycaemic events (level 1 / level 2)",
            f"{s.events.hypo_level1} / {s.events.hypo_level2}",
            None,
        ),
        ("MAGE / MODD", f"{_glucose(s.mage.value, units)} / {_glucose(s.modd.value, units)}", None),
    ]
    for i, (label, value, target) in enumerate(rows):
        y = 0.97 - i * 0.058
        bold = label.startswith(("Ranges", "Targets", "Mean"))
        ax.text(
            0.0,
            y,
            label,
            fontsize=7.6,
            weight="bold" if bold else "normal",
            transform=ax.transAxes,
            va="top",
        )
        ax.text(
            1.0,
            y,
            value,
            fontsize=7.6,
            ha="right",
            transform=ax.transAxes,
            va="top",
            style="italic" if label.startswith("Each") else "normal",
        )
        if target is not None:
            ax.text(
                1.13,
                y,
                percent_text(target.value),
                fontsize=7.6,
                ha="right",
                va="top",
                transform=ax.transAxes,
                weight="bold",
                # too little data for a valid report: no target is judged met or missed
                color=GREY if not suff.sufficient else TARGET_C if target.met else LOW_C,
            )


def _ranges_bar(ax: Axes, r: Ranges, units: str) -> None:
    ax.set_title("TIME IN RANGES", loc="left", fontsize=10, weight="bold")
    parts = [
        ("Very High", ">250 mg/dL", r.very_high, r.minutes[4], VERY_HIGH_C),
        ("High", "181-250 mg/dL", r.high, r.minutes[3], HIGH_C),
        ("Target Range", "70-180 mg/dL", r.in_range, r.minutes[2], TARGET_C),
        ("Low", "54-69 mg/dL", r.low, r.minutes[1], LOW_C),
        ("Very Low", "<54 mg/dL", r.very_low, r.minutes[0], VERY_LOW_C),
    ]
    bottom = 0.0
    for _name, _band, pct, _mins, colour in reversed(parts):
        # every band stays visible as a sliver, as on the printed AGP
        height = max(pct, 0.8)
        ax.bar(0, height, bottom=bottom, width=0.5, color=colour, edgecolor="white", lw=0.8)
        bottom += height
    ax.set_xlim(-0.35, 2.6)
    ax.set_ylim(0, bottom)
    ax.axis("off")
    for i, (name, band, pct, _minutes, colour) in enumerate(parts):
        y = bottom * (0.93 - i * 0.2)
        ax.text(0.35, y, f"{name}", fontsize=8, weight="bold", color=colour, va="center")
        ax.text(
            0.35, y - bottom * 0.05, _in_units(band, units), fontsize=7, color=GREY, va="center"
        )
        ax.text(2.55, y, percent_text(pct), fontsize=10, weight="bold", ha="right", va="center")
        ax.text(
            2.55, y - bottom * 0.05, _duration(pct), fontsize=7, ha="right", va="center", color=GREY
        )


def _duration(pct: float, *, per_day: bool = True) -> str:
    """Percent of a day as hours and minutes (a day)."""
    minutes = round(pct / 100 * 1440)
    tail = "/day" if per_day else ""
    if minutes < 60:
        return f"{minutes}min{tail}"
    return f"{minutes // 60}h {minutes % 60:02d}min{tail}"


def _agp(ax: Axes, s: CgmSummary, units: str) -> None:
    ax.set_title("AMBULATORY GLUCOSE PROFILE (AGP)", loc="left", fontsize=10, weight="bold")
    agp = s.agp
    # close the day: repeat the first bin at 24:00 so the curves meet at midnight
    x = np.r_[agp.minute_of_day, agp.minute_of_day[0] + 1440] / 60.0
    top = y_top(s.values)
    p = _on_scale(np.hstack([agp.percentiles, agp.percentiles[:, :1]]), top)
    ax.fill_between(x, p[0], p[4], color=BAND_OUTER, lw=0, label="5% - 95%")
    ax.fill_between(x, p[1], p[3], color=BAND_INNER, lw=0, label="25% - 75%")
    ax.plot(x, p[2], color=MEDIAN_C, lw=2.0, label="Median (50%)")
    for y in (LOW, HIGH):
        ax.axhline(y, color=TARGET_C, lw=1.2)
    ax.axhspan(LOW, HIGH, color=TARGET_C, alpha=0.06, lw=0)
    ax.set_xlim(0, 24)
    ax.set_ylim(0, top)
    ax.set_yticks(_ticks(top))
    ax.set_yticklabels([_tick_label(y, units) for y in _ticks(top)])
    ax.set_ylabel(units, fontsize=8)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xticklabels(
        ["12am", "3am", "6am", "9am", "12pm", "3pm", "6pm", "9pm", "12am"], fontsize=8
    )
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.legend(loc="upper right", fontsize=7, frameon=False, ncol=3)
    last = _on_scale(agp.percentiles[:, -4], top)
    for q, value in zip(("5%", "25%", "50%", "75%", "95%"), last, strict=True):
        if not math.isnan(value):
            ax.text(24.15, value, q, fontsize=6.5, va="center", color=GREY, clip_on=False)


def _daily(fig: Figure, s: CgmSummary, units: str) -> None:
    fig.text(0.05, 0.235, "DAILY GLUCOSE PROFILES", fontsize=10, weight="bold")
    fig.text(
        0.05,
        0.222,
        "Each daily profile runs from midnight to midnight, local time; a day without "
        "readings is blank, a partial day has no time in range.",
        fontsize=7,
        color=GREY,
    )
    last = s.last_day if s.last_day >= s.first_day else (s.days[-1].day if s.days else 0)
    first = s.first_day if s.last_day >= s.first_day else (s.days[0].day if s.days else 0)
    days = calendar(s.days, first, last)[-14:]
    top = y_top(s.values)
    width, gap = 0.91 / 7, 0.004
    for i, (number, day) in enumerate(days):
        row, col = divmod(i, 7)
        ax = fig.add_axes((0.05 + col * width, 0.12 - row * 0.1, width - gap, 0.08))
        ax.axhspan(LOW, HIGH, color=TARGET_C, alpha=0.10, lw=0)
        if day is not None:
            _day_trace(ax, s, day, top)
        ax.set_xlim(0, 24)
        ax.set_ylim(0, top)
        ax.set_xticks([6, 12, 18])
        ax.set_xticklabels(
            ["6am", "12pm", "6pm"] if row == 1 or i + 7 >= len(days) else [], fontsize=5.5
        )
        # the top of an extended scale is labelled, so a reader sees the panels reach higher
        shown = [LOW, HIGH, *([top] if top > Y_MAX else [])]
        ax.set_yticks(shown if col == 0 else [])
        if col == 0:
            ax.set_yticklabels([_tick_label(y, units) for y in shown])
        ax.tick_params(axis="y", labelsize=5.5, length=2)
        ax.tick_params(axis="x", length=2)
        # the labels sit above the panel, never over its trace
        iso = day_label(number)
        ax.text(0.0, 1.03, f"{iso[8:]} {_month(iso)}", transform=ax.transAxes, fontsize=6,
                va="bottom", clip_on=False)
        ax.text(1.0, 1.03, _day_note(day), transform=ax.transAxes, fontsize=5.5,
                va="bottom", ha="right", color=GREY, clip_on=False)


def _day_note(day: DailyProfile | None) -> str:
    """What a daily panel says of its day: its time in range only for a day worn enough to
    judge (a day with one reading is not "TIR 100%")."""
    if day is None:
        return "no data"
    if not day.complete:
        return "partial day"
    return f"TIR {day.time_in_range:.0f}%"


def _day_trace(ax: Axes, s: CgmSummary, day: DailyProfile, top: float = Y_MAX) -> None:
    """The day's readings as a line broken wherever readings are more than 15 minutes
    apart (a gap is never drawn as a straight line across it), on the report's scale
    (``top``, from ``y_top``: every device reading fits under it)."""
    times = s.times_us[day.first : day.stop]
    minutes = s.minute_of_day[day.first : day.stop] / 60.0
    raw = np.asarray(s.values[day.first : day.stop], dtype=np.float64)
    values = _on_scale(raw, top)
    over = raw > top
    marks = (minutes[over], values[over])
    breaks = np.flatnonzero(gap_after(times)[:-1]) + 1
    minutes = np.insert(minutes, breaks, np.nan)
    values = np.insert(values, breaks, np.nan)
    ax.plot(minutes, values, color="black", lw=0.6)
    if over.any():  # beyond any device's range: marked on the top edge, never hidden
        ax.plot(*marks, "^", color=VERY_HIGH_C, ms=2.5, clip_on=False)
    if day.readings == 1:
        ax.plot(minutes, values, "o", color="black", ms=1.5)
    with np.errstate(invalid="ignore"):
        high, low = values > HIGH, values < LOW
    ax.fill_between(minutes, values, HIGH, where=high, color=HIGH_C, lw=0, interpolate=True)
    ax.fill_between(minutes, values, LOW, where=low, color=LOW_C, lw=0, interpolate=True)


def _month(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%a %b")
