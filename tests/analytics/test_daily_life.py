"""Meter, SpO2, steps, home motion, adherence, trends and recurring patterns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.activity import steps_summary, unusual_inactivity
from analytics.adherence import bp_sittings, cgm_wear, pill_box, weigh_ins
from analytics.meter import meter_summary
from analytics.patterns import nocturnal_lows, post_breakfast_highs
from analytics.spo2 import spo2_summary
from analytics.trends import (
    daily_values,
    fasting_glucose_by_day,
    robust_trend,
    week_over_week,
    weekly_time_in_range,
)
from tests.analytics.factories import MINUTE_US, T0_US, at

DAY = 1440


# --- meter -------------------------------------------------------------------------------


def test_meter_summary_by_hand() -> None:
    # 2 days, 6 readings: fasting 90, 140; after meal 170, 200; untagged 65, 50
    t = at([7 * 60, 9 * 60, 13 * 60, DAY + 7 * 60, DAY + 9 * 60, DAY + 22 * 60])
    v = [90, 170, 65, 140, 200, 50]
    tags = ["fasting", "after_meal", None, "fasting", "after_meal", None]
    m = meter_summary(t, v, tags)
    assert m.readings == 6 and m.days == 2 and m.readings_per_day == 3.0
    stats = {c.context: c for c in m.by_context}
    assert stats["fasting"].mean == 115.0 and stats["fasting"].percent_in_target == 50.0
    assert stats["after_meal"].percent_in_target == 50.0
    assert stats["untagged"].percent_in_target == 0.0
    # in target: 90 (fasting), 170 (after meal) -> 2 of 6
    assert m.percent_in_target == pytest.approx(100 / 3)
    assert [(low.value, low.level) for low in m.lows] == [(65.0, 1), (50.0, 2)]


def test_meter_after_meal_180_is_out_of_target_and_mmol() -> None:
    m = meter_summary(at([0, 60]), [10.0, 9.0], ["after_meal", "after_meal"], units="mmol/L")
    # 10 mmol/L = 180.2 mg/dL (out), 9 mmol/L = 162.1 (in)
    assert m.percent_in_target == 50.0


# --- SpO2 --------------------------------------------------------------------------------


def test_spo2_time_below_target_and_night_dips() -> None:
    # every 5 min from 23:00 to 23:55 UTC: 95 x6, 89 x3, 86 x1, 94 x2
    values = [95] * 6 + [89, 89, 89, 86] + [94, 94]
    t = at(23 * 60 + np.arange(12) * 5)
    s = spo2_summary(t, values, target=92.0)
    assert s.percent_time_below == pytest.approx(100 * 4 / 12)
    assert s.minutes_below == pytest.approx(20.0)
    assert s.lowest[0].value == 86.0
    (dip,) = s.night_dips
    assert dip.nadir == 86.0 and dip.readings == 4 and dip.duration_min == pytest.approx(20.0)
    assert dip.night_of == "2026-03-02" and s.nights_with_dips == 1


def test_spo2_patient_target_and_day_lows_are_not_night_dips() -> None:
    t = at([12 * 60, 12 * 60 + 5, 3 * 60 + DAY])  # noon lows, then 03:00 next night
    s = spo2_summary(t, [89, 89, 87], target=88.0)
    assert s.percent_readings_below == pytest.approx(100 / 3)
    (dip,) = s.night_dips
    assert dip.night_of == "2026-03-02"  # 03:00 on the 3rd belongs to the night of the 2nd


# --- steps and motion --------------------------------------------------------------------


def test_steps_against_goal() -> None:
    # day totals 5000, 8000, 7000 (goal 7000 met on two days)
    t = at([600, 900, DAY + 600, 2 * DAY + 600])
    s = steps_summary(t, [2000, 3000, 8000, 7000], goal=7000)
    assert s.steps == (5000.0, 8000.0, 7000.0)
    assert s.days_met == 2 and s.percent_days_met == pytest.approx(200 / 3)
    assert s.mean_daily == pytest.approx(20000 / 3)
    assert s.trend is not None and s.trend.slope_per_day == pytest.approx(1000.0)


def _motion_history(days: int, first_motion_min: int) -> tuple[np.ndarray, np.ndarray]:
    """Motion every 30 min from the morning until 22:00, every day."""
    minutes = [d * DAY + m for d in range(days) for m in range(first_motion_min, 22 * 60, 30)]
    return at(minutes), np.ones(len(minutes))


def test_no_movement_by_mid_morning_is_unusual() -> None:
    t, v = _motion_history(14, 7 * 60)  # always up by 07:00
    now = T0_US + (14 * DAY + 10 * 60) * MINUTE_US  # day 15, 10:00, nothing since 22:00
    found = unusual_inactivity(t, v, now_us=now, tz="UTC")
    assert found is not None
    assert found.days_with_motion == found.days_compared == 13  # 13 past days hold the stretch
    assert found.usual_first_motion == "07:00"
    assert found.window[1] == "10:00"


def test_a_quiet_night_is_not_unusual() -> None:
    t, v = _motion_history(14, 7 * 60)
    now = T0_US + (14 * DAY + 3 * 60) * MINUTE_US  # 03:00: nobody moves at night
    assert unusual_inactivity(t, v, now_us=now, tz="UTC") is None


def test_a_late_riser_is_judged_by_their_own_history() -> None:
    t, v = _motion_history(14, 11 * 60)  # always up at 11:00
    now = T0_US + (14 * DAY + 10 * 60) * MINUTE_US
    assert unusual_inactivity(t, v, now_us=now, tz="UTC") is None


def test_too_little_history_says_nothing() -> None:
    t, v = _motion_history(3, 7 * 60)
    now = T0_US + (3 * DAY + 12 * 60) * MINUTE_US
    assert unusual_inactivity(t, v, now_us=now, tz="UTC") is None


# --- adherence ---------------------------------------------------------------------------


def test_cgm_wear_days_missed() -> None:
    # day 1 full (288), day 2 half (144 < 70% of 288): wear 75%, day 2 missed
    t = T0_US + np.r_[np.arange(288), 288 + np.arange(144)].astype(np.int64) * 5 * MINUTE_US
    a = cgm_wear(t, start_us=T0_US, end_us=T0_US + 2 * DAY * MINUTE_US, tz="UTC")
    assert a.expected == pytest.approx(576) and a.received == pytest.approx(432)
    assert a.percent == pytest.approx(75.0)
    assert a.days_missed == ("2026-03-03",)


def test_weigh_ins_and_pill_box() -> None:
    end = T0_US + 3 * DAY * MINUTE_US
    w = weigh_ins(at([420, 430, 2 * DAY + 420]), start_us=T0_US, end_us=end, tz="UTC")
    assert w.received == 2 and w.percent == pytest.approx(200 / 3)
    assert w.days_missed == ("2026-03-03",)
    p = pill_box(at([480, 1200, DAY + 480]), doses_per_day=2, start_us=T0_US, end_us=end, tz="UTC")
    assert p.per_day == (2.0, 1.0, 0.0) and p.percent == pytest.approx(50.0)
    assert p.days_missed == ("2026-03-03", "2026-03-04")


def test_bp_sittings_need_pairs() -> None:
    # day 1: morning pair + evening pair; day 2: morning pair + a single evening reading
    t = at([420, 421, 1140, 1141, DAY + 420, DAY + 421, DAY + 1140])
    a = bp_sittings(t, start_us=T0_US, end_us=T0_US + 2 * DAY * MINUTE_US, tz="UTC")
    assert a.per_day == (2.0, 1.0) and a.days_missed == ("2026-03-03",)


def test_partial_days_are_prorated() -> None:
    w = weigh_ins(
        at([720]), start_us=T0_US + 720 * MINUTE_US, end_us=T0_US + DAY * MINUTE_US, tz="UTC"
    )
    assert w.expected == pytest.approx(0.5) and w.received == pytest.approx(0.5)


# --- trends ------------------------------------------------------------------------------


def test_theil_sen_resists_an_outlier() -> None:
    # y = 2x + 10 with one wild value: the median of pairwise slopes is still 2
    days = np.arange(10) + 20_000
    y = 2.0 * np.arange(10) + 10
    y[5] = 500
    trend = robust_trend(days, y)
    assert trend.slope_per_day == pytest.approx(2.0)
    assert trend.slope_per_week == pytest.approx(14.0)
    assert trend.low_per_day <= 2.0 <= trend.high_per_day
    assert trend.days[0] == "2024-10-04" and trend.values[5] == 500


def test_flat_noise_is_flat() -> None:
    rng = np.random.default_rng(3)
    trend = robust_trend(np.arange(14), 100 + rng.normal(0, 5, 14))
    assert trend.direction == "flat"


def test_trend_needs_two_days() -> None:
    with pytest.raises(ValueError, match="two different days"):
        robust_trend([5, 5], [1.0, 2.0])


def test_week_over_week_by_hand() -> None:
    days = np.arange(14)
    values = np.r_[np.full(7, 100.0), np.full(7, 110.0)]
    w = week_over_week(days, values)
    assert (w.last_week, w.this_week, w.change) == (100.0, 110.0, 10.0)
    assert w.percent_change == pytest.approx(10.0)
    assert len(w.this_week_days) == 7


def test_daily_values_and_fasting_glucose() -> None:
    t = at([300, 330, 420, 480, DAY + 330, DAY + 400])  # 07:00 is outside 05:00-07:00
    v = [100, 110, 200, 250, 90, 95]
    days, values = daily_values(t, v, how="max")
    assert values.tolist() == [250.0, 95.0]
    _, fasting = fasting_glucose_by_day(t, v)  # 05:00-07:00: day 1 -> 100, 110; day 2 -> 90, 95
    assert fasting.tolist() == [105.0, 92.5]
    assert days.size == 2


def test_weekly_time_in_range() -> None:
    # week 1 all in range, week 2 half high (every 5 min, 14 days)
    n = 14 * 288
    v = np.full(n, 120.0)
    v[7 * 288 :: 2] = 200.0
    t = T0_US + np.arange(n, dtype=np.int64) * 5 * MINUTE_US
    _, tir = weekly_time_in_range(t, v)
    assert tir.tolist() == pytest.approx([100.0, 50.0])


# --- patterns ----------------------------------------------------------------------------


def _nights(low_nights: list[int], days: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Readings every 5 min; 60 mg/dL from 02:30 to 03:00 on the given days, else 120."""
    n = days * 288
    t = T0_US + np.arange(n, dtype=np.int64) * 5 * MINUTE_US
    v = np.full(n, 120.0)
    for d in low_nights:
        v[d * 288 + 30 : d * 288 + 36] = 60.0
    return t, v


def test_nocturnal_lows_on_three_of_seven_nights() -> None:
    p = nocturnal_lows(*_nights([1, 3, 5]), tz="UTC")
    assert p.found and p.days_with == 3 and p.days_checked == 7
    assert [e.date for e in p.evidence] == ["2026-03-03", "2026-03-05", "2026-03-07"]
    assert all(e.minutes_beyond == 30.0 and e.extreme == 60.0 for e in p.evidence)


def test_two_nights_are_not_a_pattern() -> None:
    p = nocturnal_lows(*_nights([1, 3]), tz="UTC")
    assert not p.found and p.days_with == 2


def test_lows_outside_the_last_seven_nights_do_not_count() -> None:
    p = nocturnal_lows(*_nights([0, 1, 2, 9], days=10), tz="UTC")
    assert p.days_with == 1


def test_post_breakfast_highs() -> None:
    n = 7 * 288
    t = T0_US + np.arange(n, dtype=np.int64) * 5 * MINUTE_US
    v = np.full(n, 120.0)
    for d in range(4):
        v[d * 288 + 96 : d * 288 + 108] = 230.0  # 08:00-09:00
    p = post_breakfast_highs(t, v, tz="UTC")
    assert p.found and p.days_with == 4 and p.evidence[0].extreme == 230.0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 6), unique=True))
def test_pattern_days_match_the_nights_with_lows(nights: list[int]) -> None:
    p = nocturnal_lows(*_nights(nights), tz="UTC")
    assert p.days_with == len(nights)
    assert p.found == (len(nights) >= 3)
    assert not math.isnan(p.threshold)
