"""AGP percentiles by local time of day (DST-correct), daily profiles, MAGE and MODD."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.agp import BINS, agp_percentiles, daily_profiles
from analytics.summary import cgm_summary, summary_json
from analytics.timebase import coverage_s, local_day_and_minute, utc_offsets_s
from analytics.variability import mage, modd
from core.readings import to_epoch_us
from tests.analytics.factories import MINUTE_US, T0_US, at, every_5_min


def _utc(*args: int) -> int:
    return to_epoch_us(datetime(*args, tzinfo=UTC))


def test_local_time_of_day_across_spring_forward() -> None:
    # Europe/Paris moves from UTC+1 to UTC+2 at 2026-03-29 01:00 UTC.
    # 08:00 local is 07:00 UTC before the change and 06:00 UTC after it.
    t = np.array([_utc(2026, 3, 28, 7, 0), _utc(2026, 3, 29, 6, 0), _utc(2026, 3, 30, 6, 0)])
    day, minute = local_day_and_minute(t, "Europe/Paris")
    assert minute.tolist() == [480.0, 480.0, 480.0]
    assert np.diff(day).tolist() == [1, 1]


def test_local_time_of_day_across_fall_back() -> None:
    # 2026-10-25 01:00 UTC: back to UTC+1. 00:59 UTC is 02:59 CEST; 01:00 UTC is 02:00 CET.
    t = np.array([_utc(2026, 10, 25, 0, 59), _utc(2026, 10, 25, 1, 0), _utc(2026, 10, 26, 7, 0)])
    assert utc_offsets_s(t, "Europe/Paris").tolist() == [7200, 3600, 3600]
    _, minute = local_day_and_minute(t, "Europe/Paris")
    assert minute.tolist() == [179.0, 120.0, 480.0]


def test_agp_percentiles_by_hand() -> None:
    # One reading a day at 08:07 local (UTC) on five days: 100, 110, 120, 130, 140.
    # Bin 32 (08:00-08:15) and the bins within +/-2 of it see exactly these five values.
    # Linear interpolation: p5 = 100 + 0.05*4*10 = 102; p25 = 110; p50 = 120; p95 = 138.
    values = np.array([100.0, 110.0, 120.0, 130.0, 140.0])
    minute = np.full(5, 8 * 60 + 7.0)
    agp = agp_percentiles(values, minute)
    assert agp.percentiles[:, 32].tolist() == pytest.approx([102, 110, 120, 130, 138])
    for b in (30, 31, 33, 34):
        assert agp.curve(50.0)[b] == 120.0
    assert math.isnan(agp.curve(50.0)[35]) and math.isnan(agp.curve(50.0)[29])
    assert agp.counts[32] == 5 and agp.counts.sum() == 25


def test_agp_window_wraps_around_midnight() -> None:
    agp = agp_percentiles(np.array([90.0]), np.array([5.0]))  # 00:05
    assert agp.counts[BINS - 1] == 1 and agp.counts[BINS - 2] == 1 and agp.counts[3] == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1439.99), st.floats(40, 400)), min_size=1, max_size=200))
def test_agp_percentiles_are_ordered_and_match_numpy(points: list[tuple[float, float]]) -> None:
    minute = np.array([p[0] for p in points])
    values = np.array([p[1] for p in points])
    agp = agp_percentiles(values, minute)
    filled = ~np.isnan(agp.percentiles[0])
    assert np.all(np.diff(agp.percentiles[:, filled], axis=0) >= -1e-9)
    b = int(np.flatnonzero(filled)[0])
    own = (minute // 15).astype(int)
    window = values[np.isin(own, [(b + k) % BINS for k in range(-2, 3)])]
    assert agp.percentiles[:, b] == pytest.approx(np.percentile(window, [5, 25, 50, 75, 95]))


def test_daily_profiles_by_hand() -> None:
    # Day 1: 60, 100 (5 min each, TIR 50%); day 2: 200, 100, 100 (TIR 66.7%)
    t = at([23 * 60 + 50, 23 * 60 + 55, 24 * 60, 24 * 60 + 5, 24 * 60 + 10])
    v = np.array([60.0, 100.0, 200.0, 100.0, 100.0])
    day, _ = local_day_and_minute(t, "UTC")
    d1, d2 = daily_profiles(v, coverage_s(t), day)
    assert (d1.date, d1.readings, d1.mean, d1.time_in_range) == ("2026-03-02", 2, 80.0, 50.0)
    assert d1.time_below_70 == 50.0
    assert (d2.date, d2.readings, d2.minimum, d2.maximum) == ("2026-03-03", 3, 100.0, 200.0)
    assert d2.time_in_range == pytest.approx(200 / 3)


def test_daily_profiles_follow_the_local_calendar() -> None:
    # 23:30 UTC on 2 March is 00:30 on 3 March in Paris.
    t = at([23 * 60 + 30])
    day, _ = local_day_and_minute(t, "Europe/Paris")
    (d,) = daily_profiles(np.array([120.0]), np.array([300.0]), day)
    assert d.date == "2026-03-03"


def test_mage_by_hand() -> None:
    # 100 -> 200 -> 120 -> 220 -> 100 with SD threshold 50: every swing counts.
    # First swing is up: MAGE = mean of rises = (100 + 100) / 2 = 100; falls: (80 + 120)/2 = 100.
    v = np.array([100, 150, 200, 160, 120, 170, 220, 160, 100], dtype=float)
    m = mage(v, sd=50.0)
    assert m.pivots == (100, 200, 120, 220, 100)
    assert m.value == 100.0 and m.up == 100.0 and m.down == 100.0


def test_mage_ignores_swings_smaller_than_one_sd() -> None:
    # the 20 mg/dL wiggle (200 -> 180 -> 195) is below the 50 threshold and is skipped
    v = np.array([100, 200, 180, 195, 90], dtype=float)
    m = mage(v, sd=50.0)
    assert m.pivots == (100, 200, 90)
    assert m.up == 100.0 and m.down == 110.0 and m.value == 100.0


def test_mage_first_excursion_down() -> None:
    m = mage(np.array([200, 100, 190, 120], dtype=float), sd=40.0)
    assert m.pivots == (200, 100, 190, 120)
    assert m.value == m.down == pytest.approx((100 + 70) / 2)
    assert m.up == 90.0


def test_mage_flat_is_nan() -> None:
    assert math.isnan(mage(np.full(10, 120.0)).value)


def test_modd_by_hand() -> None:
    # Two days, readings at 08:00 and 20:00; day 2 differs by +20 and -10: MODD = 15.
    t = at([480, 1200, 1440 + 480, 1440 + 1200])
    m = modd(t, np.array([100.0, 150.0, 120.0, 140.0]))
    assert m.value == 15.0 and m.pairs == 2


def test_modd_needs_a_partner_within_half_an_interval() -> None:
    t = at([0, 1440 + 4])  # 4 minutes off: no partner with a 5-min sampling interval
    assert math.isnan(modd(t, np.array([100.0, 120.0])).value)


def test_summary_end_to_end_with_dst_and_json() -> None:
    # 14 days across the spring change, sinusoidal glucose: the JSON has no NaN and 96 AGP bins.
    start = _utc(2026, 3, 22, 0, 0)
    t = start + np.arange(14 * 288, dtype=np.int64) * 5 * MINUTE_US
    v = 140 + 50 * np.sin(np.arange(t.size) / 40.0)
    s = cgm_summary(t, v, tz="Europe/Paris")
    assert len(s.days) == 15  # 14 x 24 h from local 01:00 on day 1 to 01:55 on day 15
    j = summary_json(s)
    assert len(j["agp"]["p50"]) == 96
    assert j["sufficiency"]["sufficient"] is True
    assert (
        s.metrics.ranges.in_range + s.metrics.ranges.below_70 + s.metrics.ranges.above_180
        == pytest.approx(100.0)
    )


def test_single_reading_summary() -> None:
    s = cgm_summary(np.array([T0_US]), np.array([65.0]))
    assert s.events.events == ()
    assert len(s.days) == 1 and math.isnan(s.mage.value)
    assert summary_json(s)["sd"] is None


def test_every_5_min_factory_spacing() -> None:
    t, _ = every_5_min([1, 2])
    assert int(t[1] - t[0]) == 5 * MINUTE_US


def test_agp_keeps_a_daily_08_00_spike_at_08_00_across_dst() -> None:
    # 10 days around the Paris spring change; glucose 250 at 08:00-08:14 local, else 100.
    start = _utc(2026, 3, 24, 0, 0)
    t = start + np.arange(10 * 288, dtype=np.int64) * 5 * MINUTE_US
    _, minute = local_day_and_minute(t, "Europe/Paris")
    v = np.where((minute >= 480) & (minute < 495), 250.0, 100.0)
    s = cgm_summary(t, v, tz="Europe/Paris")
    p50 = s.agp.curve(50.0)
    # bin 32 (08:00-08:15) sees 15 min of spike in a 75-min window: median stays 100,
    # but the 95th percentile is the spike on every day, before and after the change.
    assert p50[32] == 100.0 and s.agp.curve(95.0)[32] == 250.0
    assert s.agp.curve(95.0)[28] == 100.0  # 07:00-07:15: no spike leaked from UTC offsets
    assert len(s.days) == 11  # the last local day is 00:00-01:55 only
    assert all(d.maximum == 250.0 for d in s.days[:-1])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(40, 400), min_size=2, max_size=120), st.randoms())
def test_summary_does_not_depend_on_input_order(values: list[float], rnd) -> None:  # type: ignore[no-untyped-def]
    t = T0_US + np.arange(len(values), dtype=np.int64) * 5 * MINUTE_US
    order = list(range(len(values)))
    rnd.shuffle(order)
    a = cgm_summary(t, np.asarray(values), tz="Europe/Paris")
    b = cgm_summary(t[order], np.asarray(values)[order], tz="Europe/Paris")
    assert a.metrics == b.metrics
    assert a.events == b.events
    assert np.array_equal(a.agp.percentiles, b.agp.percentiles, equal_nan=True)
