"""All CGM analytics of one reporting period in one call (what the AGP report shows)."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.agp import PERCENTILES, Agp, DailyProfile, agp_percentiles, daily_profiles
from analytics.cgm import CgmMetrics, Units, metrics_from_clean, to_mg_dl
from analytics.events import EventSummary, all_events, summarise_events
from analytics.timebase import (
    FloatArray,
    IntArray,
    clean,
    coverage_s,
    local_day_and_minute,
    nominal_interval_s,
)
from analytics.variability import Mage, Modd, mage, modd

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CgmSummary:
    tz: str
    metrics: CgmMetrics
    events: EventSummary
    agp: Agp
    days: tuple[DailyProfile, ...]
    mage: Mage
    modd: Modd
    times_us: IntArray  # the clean readings the figures rest on (sorted, unique, mg/dL)
    values: FloatArray
    minute_of_day: FloatArray  # local time of day of each reading
    # the reporting period's first and last local days (days since 1970-01-01): the daily
    # panels run over these calendar days, a day without readings shown blank
    first_day: int = 0
    last_day: int = -1


def cgm_summary(
    times_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    tz: str = "UTC",
    units: Units | str = Units.MG_DL,
    start_us: int | None = None,
    end_us: int | None = None,
    older_or_high_risk: bool = False,
) -> CgmSummary:
    """Consensus metrics, events, AGP, daily profiles, MAGE and MODD."""
    data = clean(times_us, to_mg_dl(values, units))
    if data.values.size == 0:
        raise ValueError("no glucose readings to analyse")
    t, v = data.times_us, data.values
    zone = ZoneInfo(tz)
    interval = nominal_interval_s(t)
    weights = coverage_s(t, interval)
    day, minute = local_day_and_minute(t, zone)
    return CgmSummary(
        tz=tz,
        metrics=metrics_from_clean(
            t,
            v,
            duplicates=data.duplicates,
            start_us=start_us,
            end_us=end_us,
            older_or_high_risk=older_or_high_risk,
        ),
        events=summarise_events(all_events(t, v, weights)),
        agp=agp_percentiles(v, minute),
        days=daily_profiles(v, weights, day),
        mage=mage(v),
        modd=modd(t, v, interval_s=interval),
        times_us=t,
        values=v,
        minute_of_day=minute,
        first_day=_local_day(start_us, zone) if start_us is not None else int(day[0]),
        last_day=_local_day(end_us - 1, zone) if end_us is not None else int(day[-1]),
    )


def _local_day(at_us: int, zone: ZoneInfo) -> int:
    day, _ = local_day_and_minute(np.array([at_us], dtype=np.int64), zone)
    return int(day[0])


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(val) for k, val in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(val) for val in x]
    return x


def summary_json(summary: CgmSummary) -> dict[str, Any]:
    """A JSON-ready view (NaN becomes null); the per-reading arrays are left out."""
    m = summary.metrics
    ranges = asdict(m.ranges)
    ranges["below_70"] = m.ranges.below_70
    ranges["above_180"] = m.ranges.above_180
    agp = {
        "minute_of_day": summary.agp.minute_of_day.tolist(),
        **{f"p{int(q)}": summary.agp.curve(q).tolist() for q in PERCENTILES},
    }
    out: dict[str, Any] = _finite(
        {
            "units": "mg/dL",
            "tz": summary.tz,
            "mean": m.mean,
            "sd": m.sd,
            "cv": m.cv,
            "gmi": m.gmi,
            "ranges_percent": ranges,
            "gri": asdict(m.gri),
            "sufficiency": asdict(m.sufficiency),
            "targets": [asdict(t) for t in m.targets],
            "duplicates_merged": m.duplicates_merged,
            "events": {k: v for k, v in asdict(summary.events).items() if k != "events"}
            | {
                "list": [
                    asdict(e) | {"duration_min": e.duration_min, "prolonged": e.prolonged}
                    for e in summary.events.events
                ]
            },
            "mage": {"value": summary.mage.value, "up": summary.mage.up, "down": summary.mage.down},
            "modd": asdict(summary.modd),
            "days": [asdict(d) for d in summary.days],
            "agp": agp,
        }
    )
    return out
