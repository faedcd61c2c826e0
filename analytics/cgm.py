"""CGM core metrics per the International Consensus on Time in Range.

Source: Battelino T, et al. Clinical Targets for Continuous Glucose Monitoring
Data Interpretation: Recommendations From the International Consensus on Time
in Range. Diabetes Care 2019;42:1593-1603.  GMI: Bergenstal RM,
et al. Diabetes Care 2018;41:2275-2280.  GRI: Klonoff DC, et al. J Diabetes Sci
Technol 2023;17:1226-1242.  The numbers are analytics/targets.py's (docs/CLINICAL.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from analytics import targets as tg
from analytics.timebase import (
    US_PER_S,
    FloatArray,
    IntArray,
    clean,
    coverage_s,
    nominal_interval_s,
)
from core.metrics import GLUCOSE_MGDL_PER_MMOLL

logger = logging.getLogger(__name__)

# Consensus glycaemic ranges, mg/dL (analytics/targets.py; docs/CLINICAL.md).  The bands
# do not overlap: <54, 54-69, 70-180, 181-250, >250 for integer readings; for
# non-integer values (converted from mmol/L) the boundaries are 54, 70, 180, 250.
VERY_LOW_BELOW = tg.GLUCOSE_VERY_LOW_BELOW
LOW_BELOW = tg.GLUCOSE_LOW_BELOW
HIGH_ABOVE = tg.GLUCOSE_HIGH_ABOVE
VERY_HIGH_ABOVE = tg.GLUCOSE_VERY_HIGH_ABOVE

# A valid report: >=14 days with >=70% of possible readings (docs/CLINICAL.md).
MIN_DAYS = tg.REPORT_MIN_DAYS
MIN_PERCENT_ACTIVE = tg.WEAR_MIN_PERCENT
CV_TARGET = tg.CV_TARGET_AT_MOST  # CV <=36% = stable glucose (docs/CLINICAL.md)


class Units(StrEnum):
    MG_DL = "mg/dL"
    MMOL_L = "mmol/L"


def to_mg_dl(values: npt.ArrayLike, units: Units | str = Units.MG_DL) -> FloatArray:
    """Glucose values in mg/dL (1 mmol/L = 18.0156 mg/dL, core.metrics)."""
    v = np.asarray(values, dtype=np.float64)
    if Units(units) is Units.MMOL_L:
        return v * GLUCOSE_MGDL_PER_MMOLL
    return v


def range_index(values: FloatArray) -> npt.NDArray[np.intp]:
    """0 very low (<54), 1 low (54-69), 2 in range (70-180), 3 high (181-250), 4 very high."""
    # side="right" puts a value equal to an edge above it: 54 in band 1, 70 in 2; the
    # upper edges sit just above 180 and 250, so 180 stays in 2 and 250 in 3.
    edges = np.array(
        [
            VERY_LOW_BELOW,
            LOW_BELOW,
            np.nextafter(HIGH_ABOVE, np.inf),
            np.nextafter(VERY_HIGH_ABOVE, np.inf),
        ]
    )
    return np.searchsorted(edges, values, side="right")


@dataclass(frozen=True, slots=True)
class Ranges:
    """Percent of time in each consensus range; the five sum to 100."""

    very_low: float  # <54 mg/dL (TBR level 2)
    low: float  # 54-69 mg/dL (TBR level 1)
    in_range: float  # 70-180 mg/dL (TIR)
    high: float  # 181-250 mg/dL (TAR level 1)
    very_high: float  # >250 mg/dL (TAR level 2)
    minutes: tuple[float, float, float, float, float]  # the time behind each percentage

    @property
    def below_70(self) -> float:
        return self.very_low + self.low

    @property
    def above_180(self) -> float:
        return self.high + self.very_high


def time_in_ranges(values: FloatArray, weights_s: FloatArray) -> Ranges:
    """Each reading weighted by the time it covers (see timebase.coverage_s)."""
    if values.size == 0:
        zero = (0.0, 0.0, 0.0, 0.0, 0.0)
        return Ranges(0.0, 0.0, 0.0, 0.0, 0.0, zero)
    seconds = np.bincount(range_index(values), weights=weights_s, minlength=5)
    pct = 100.0 * seconds / seconds.sum()
    m = seconds / 60.0
    return Ranges(
        very_low=float(pct[0]),
        low=float(pct[1]),
        in_range=float(pct[2]),
        high=float(pct[3]),
        very_high=float(pct[4]),
        minutes=(float(m[0]), float(m[1]), float(m[2]), float(m[3]), float(m[4])),
    )


class GriZone(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


@dataclass(frozen=True, slots=True)
class Gri:
    """Glycemia Risk Index (Klonoff et al. 2023)."""

    value: float  # 0-100
    hypo_component: float  # VLow + 0.8 x Low
    hyper_component: float  # VHigh + 0.5 x High
    zone: GriZone  # A 0-20, B 21-40, C 41-60, D 61-80, E 81-100


def glycemia_risk_index(ranges: Ranges) -> Gri:
    """GRI = 3.0 x hypo + 1.6 x hyper = 3.0 VLow + 2.4 Low + 1.6 VHigh + 0.8 High, capped at 100.

    Klonoff DC et al., "A Glycemia Risk Index (GRI) of Hypoglycemia and
    Hyperglycemia for Continuous Glucose Monitoring Validated by Clinician
    Ratings", J Diabetes Sci Technol 2023.  Bands are the non-overlapping
    consensus bands (VLow <54, Low 54-69, High 181-250, VHigh >250).
    """
    hypo = ranges.very_low + 0.8 * ranges.low
    hyper = ranges.very_high + 0.5 * ranges.high
    value = min(3.0 * hypo + 1.6 * hyper, 100.0)
    zone = GriZone("ABCDE"[min(int(np.ceil(value / 20.0)) - 1, 4)] if value > 0 else "A")
    return Gri(value=value, hypo_component=hypo, hyper_component=hyper, zone=zone)


def gmi_percent(mean_mg_dl: float) -> float:
    """GMI (%) = 3.31 + 0.02392 x mean glucose (mg/dL) (Bergenstal et al. 2018)."""
    return 3.31 + 0.02392 * mean_mg_dl


@dataclass(frozen=True, slots=True)
class Sufficiency:
    """Is there enough data for a valid report (Battelino 2019: >=14 days, >=70% active)."""

    days: float  # length of the reporting period
    readings: int
    expected_readings: int  # period / sampling interval
    percent_active: float  # time covered by readings / period x 100
    interval_s: float
    sufficient: bool
    percent_of_expected: float = 0.0  # readings / expected readings x 100 (capped at 100)


def sufficiency(
    times_us: IntArray,
    weights_s: FloatArray,
    *,
    interval_s: float,
    start_us: int | None = None,
    end_us: int | None = None,
) -> Sufficiency:
    if times_us.size == 0:
        period_s = ((end_us or 0) - (start_us or 0)) / US_PER_S
        return Sufficiency(
            period_s / 86_400, 0, int(period_s // interval_s), 0.0, interval_s, False, 0.0
        )
    start = int(times_us[0]) if start_us is None else start_us
    end = int(times_us[-1]) + int(interval_s * US_PER_S) if end_us is None else end_us
    period_s = max((end - start) / US_PER_S, interval_s)
    covered = float(weights_s.sum())
    active = min(100.0, 100.0 * covered / period_s)
    days = period_s / 86_400
    expected = max(int(round(period_s / interval_s)), 1)
    return Sufficiency(
        days=days,
        readings=int(times_us.size),
        expected_readings=expected,
        percent_active=active,
        interval_s=interval_s,
        sufficient=days >= MIN_DAYS - 1e-9 and active >= MIN_PERCENT_ACTIVE,
        percent_of_expected=min(100.0, 100.0 * times_us.size / expected),
    )


@dataclass(frozen=True, slots=True)
class Target:
    """One consensus target and whether this patient meets it."""

    name: str
    value: float
    comparison: str  # "<" or ">"
    goal: float
    met: bool


def consensus_targets(
    ranges: Ranges, cv: float, *, older_or_high_risk: bool = False
) -> tuple[Target, ...]:
    """Targets of Battelino 2019 (Figure 3).

    Most adults with type 1 or type 2 diabetes: TIR >70%, <70 <4%, <54 <1%,
    >180 <25%, >250 <5%.  Older or high-risk: TIR >50%, <70 <1%, >250 <10%.
    CV <=36% for both.
    """
    own = tg.cgm_targets(older_or_high_risk)
    rows: list[tuple[str, float, str, float]] = [
        (f"Time in range {_mg(LOW_BELOW)}-{_mg(HIGH_ABOVE)} mg/dL", ranges.in_range, ">",
         own.tir_above),
        (f"Time below {_mg(LOW_BELOW)} mg/dL", ranges.below_70, "<", own.below_70_under),
    ]
    if own.below_54_under is not None:
        rows.append((f"Time below {_mg(VERY_LOW_BELOW)} mg/dL", ranges.very_low, "<",
                     own.below_54_under))
    if own.above_180_under is not None:
        rows.append((f"Time above {_mg(HIGH_ABOVE)} mg/dL", ranges.above_180, "<",
                     own.above_180_under))
    rows.append((f"Time above {_mg(VERY_HIGH_ABOVE)} mg/dL", ranges.very_high, "<",
                 own.above_250_under))
    rows.append(("Coefficient of variation", cv, "<=", CV_TARGET))
    return tuple(
        Target(name, value, cmp, goal, _meets(value, cmp, goal)) for name, value, cmp, goal in rows
    )


def _mg(x: float) -> str:
    return f"{x:.0f}"


def _meets(value: float, comparison: str, goal: float) -> bool:
    if comparison == ">":
        return value > goal
    if comparison == "<":
        return value < goal
    return value <= goal


@dataclass(frozen=True, slots=True)
class CgmMetrics:
    """The consensus CGM metrics of one reporting period (all glucose in mg/dL)."""

    mean: float
    sd: float  # sample SD (n-1); NaN for a single reading
    cv: float  # SD / mean x 100
    gmi: float  # %
    ranges: Ranges
    gri: Gri
    sufficiency: Sufficiency
    targets: tuple[Target, ...]
    duplicates_merged: int


def cgm_metrics(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    units: Units | str = Units.MG_DL,
    start_us: int | None = None,
    end_us: int | None = None,
    older_or_high_risk: bool = False,
) -> CgmMetrics:
    """Mean, SD, CV, GMI, the five ranges, GRI, data sufficiency and targets.

    Input may be unsorted and contain duplicate timestamps (merged) or NaN
    (dropped).  Mean and SD are over readings, as in the consensus; the range
    percentages are weighted by time covered.
    """
    data = clean(times_us, to_mg_dl(values, units))
    if data.values.size == 0:
        raise ValueError("no glucose readings to analyse")
    return metrics_from_clean(
        data.times_us,
        data.values,
        duplicates=data.duplicates,
        start_us=start_us,
        end_us=end_us,
        older_or_high_risk=older_or_high_risk,
    )


def metrics_from_clean(
    t: IntArray,
    v: FloatArray,
    *,
    duplicates: int = 0,
    start_us: int | None = None,
    end_us: int | None = None,
    older_or_high_risk: bool = False,
) -> CgmMetrics:
    """cgm_metrics() for readings already cleaned (sorted, unique, mg/dL)."""
    interval = nominal_interval_s(t)
    weights = coverage_s(t, interval)
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if v.size > 1 else float("nan")
    cv = 100.0 * sd / mean if v.size > 1 else float("nan")
    ranges = time_in_ranges(v, weights)
    return CgmMetrics(
        mean=mean,
        sd=sd,
        cv=cv,
        gmi=gmi_percent(mean),
        ranges=ranges,
        gri=glycemia_risk_index(ranges),
        sufficiency=sufficiency(t, weights, interval_s=interval, start_us=start_us, end_us=end_us),
        targets=consensus_targets(ranges, cv, older_or_high_risk=older_or_high_risk),
        duplicates_merged=duplicates,
    )
