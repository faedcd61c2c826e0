"""Consensus CGM metrics against hand-worked examples.

Sources: Battelino 2019 (ranges, targets), Bergenstal 2018 (GMI), Klonoff 2023 (GRI).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.cgm import (
    Ranges,
    cgm_metrics,
    glycemia_risk_index,
    gmi_percent,
    range_index,
)
from tests.analytics.factories import MINUTE_US, T0_US, at, every_5_min


def test_mean_sd_cv_gmi_by_hand() -> None:
    # values 100, 150, 200: mean 150; sample SD = sqrt((50^2+0+50^2)/2) = 50; CV = 33.33%
    # GMI = 3.31 + 0.02392 x 150 = 6.898
    m = cgm_metrics(*every_5_min([100, 150, 200]))
    assert m.mean == pytest.approx(150.0)
    assert m.sd == pytest.approx(50.0)
    assert m.cv == pytest.approx(100 / 3)
    assert m.gmi == pytest.approx(6.898)


def test_gmi_formula() -> None:
    assert gmi_percent(154.0) == pytest.approx(3.31 + 0.02392 * 154.0)  # 6.99%


def test_range_boundaries_do_not_overlap() -> None:
    # 53 <54 | 54, 69 in 54-69 | 70, 180 in 70-180 | 181, 250 in 181-250 | 251 >250
    bands = range_index(np.array([53, 54, 69, 69.9, 70, 180, 180.5, 181, 250, 250.1, 251.0]))
    assert bands.tolist() == [0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4]


def test_ranges_weighted_by_time_covered() -> None:
    # Readings at 0, 5, 10, 40, 45 min: 40 (0-5), 100 (5-10), 100 (10-?) then a 30-min gap.
    # After the gap: 200 (40-45), 300 (45-50). Nominal interval = median spacing = 5 min.
    # The reading before the gap covers 5 min (the gap itself is excluded, not interpolated).
    # Covered: very low 5, in range 10, high 5, very high 5 => 25 min in total.
    t = at([0, 5, 10, 40, 45])
    m = cgm_metrics(t, [40, 100, 100, 200, 300])
    r = m.ranges
    assert (r.very_low, r.low, r.in_range, r.high, r.very_high) == pytest.approx(
        (20.0, 0.0, 40.0, 20.0, 20.0)
    )
    assert r.minutes == pytest.approx((5.0, 0.0, 10.0, 5.0, 5.0))
    assert r.below_70 == pytest.approx(20.0) and r.above_180 == pytest.approx(40.0)


def test_uneven_spacing_weights_each_reading_by_its_interval() -> None:
    # 60 covers 10 min (0->10), 120 covers 5 min (10->15), 120 at 15 covers the nominal
    # interval = median spacing (10, 5) -> 7.5 min rounded to 450 s.  Low = 10/22.5.
    m = cgm_metrics(at([0, 10, 15]), [60, 120, 120])
    assert m.ranges.low == pytest.approx(100 * 10 / 22.5)


def test_gri_by_hand() -> None:
    # VLow 1, Low 3, High 20, VHigh 4: hypo = 1 + 0.8x3 = 3.4, hyper = 4 + 0.5x20 = 14
    # GRI = 3.0 x 3.4 + 1.6 x 14 = 10.2 + 22.4 = 32.6 -> zone B (21-40)
    r = Ranges(1.0, 3.0, 72.0, 20.0, 4.0, (0.0,) * 5)
    g = glycemia_risk_index(r)
    assert g.hypo_component == pytest.approx(3.4)
    assert g.hyper_component == pytest.approx(14.0)
    assert g.value == pytest.approx(32.6)
    assert g.zone == "B"


def test_gri_is_capped_at_100() -> None:
    g = glycemia_risk_index(Ranges(50.0, 50.0, 0.0, 0.0, 0.0, (0.0,) * 5))
    assert g.value == 100.0 and g.zone == "E"


def test_sufficiency_fourteen_full_days() -> None:
    t = T0_US + np.arange(14 * 288, dtype=np.int64) * 5 * MINUTE_US
    m = cgm_metrics(t, np.full(t.size, 120.0))
    s = m.sufficiency
    assert s.days == pytest.approx(14.0)
    assert s.readings == s.expected_readings == 4032
    assert s.percent_active == pytest.approx(100.0)
    assert s.percent_of_expected == pytest.approx(100.0)
    assert s.sufficient


def test_sufficiency_against_a_given_period() -> None:
    # 7 days of readings in a 14-day period: 50% active, not a valid report
    t = T0_US + np.arange(7 * 288, dtype=np.int64) * 5 * MINUTE_US
    m = cgm_metrics(t, np.full(t.size, 120.0), start_us=T0_US, end_us=T0_US + 14 * 1440 * MINUTE_US)
    assert m.sufficiency.percent_active == pytest.approx(50.0)
    assert m.sufficiency.expected_readings == 4032
    assert m.sufficiency.percent_of_expected == pytest.approx(100 * 2016 / 4032)
    assert not m.sufficiency.sufficient


def test_targets_standard_and_older() -> None:
    t, v = every_5_min([100] * 90 + [65] * 5 + [200] * 5)
    m = cgm_metrics(t, v)
    met = {x.name: x.met for x in m.targets}
    assert met["Time in range 70-180 mg/dL"]  # 90% > 70%
    assert not met["Time below 70 mg/dL"]  # 5% is not < 4%
    assert met["Time above 180 mg/dL"]
    older = cgm_metrics(t, v, older_or_high_risk=True)
    assert [x.goal for x in older.targets] == [50.0, 1.0, 10.0, 36.0]


def test_unsorted_and_duplicate_input_gives_the_same_answer() -> None:
    t, v = every_5_min([100, 150, 200, 250])
    shuffled = cgm_metrics(t[[2, 0, 3, 1]], v[[2, 0, 3, 1]])
    assert shuffled == cgm_metrics(t, v)
    # The same instant twice (two devices): merged to their mean, not counted twice.
    dup = cgm_metrics(np.r_[t, t[1]], np.r_[v, 170.0])
    assert dup.duplicates_merged == 1
    assert dup.mean == pytest.approx((100 + 160 + 200 + 250) / 4)


def test_mmol_per_litre_input() -> None:
    # 5.5 mmol/L = 99.09 mg/dL; 10.0 mmol/L = 180.156 mg/dL (just above 180: high)
    m = cgm_metrics(*every_5_min([5.5, 10.0]), units="mmol/L")
    assert m.mean == pytest.approx((5.5 + 10.0) / 2 * 18.0156)
    assert m.ranges.in_range == pytest.approx(50.0)
    assert m.ranges.high == pytest.approx(50.0)


def test_all_readings_low() -> None:
    m = cgm_metrics(*every_5_min([45, 50, 60, 65]))
    assert m.ranges.below_70 == pytest.approx(100.0)
    assert m.ranges.very_low == pytest.approx(50.0)
    assert m.gri.value == pytest.approx(min(3.0 * (50 + 0.8 * 50), 100.0))


def test_single_reading() -> None:
    m = cgm_metrics(np.array([T0_US]), np.array([120.0]))
    assert m.mean == 120.0
    assert math.isnan(m.sd) and math.isnan(m.cv)
    assert m.ranges.in_range == 100.0
    assert m.sufficiency.readings == 1 and not m.sufficiency.sufficient


def test_no_readings_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no glucose readings"):
        cgm_metrics(np.array([], dtype=np.int64), np.array([]))


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(min_value=20, max_value=600), min_size=1, max_size=300),
    steps=st.lists(st.integers(min_value=1, max_value=40), min_size=300, max_size=300),
)
def test_ranges_always_sum_to_100_and_gri_is_bounded(values: list[float], steps: list[int]) -> None:
    t = T0_US + np.cumsum(steps[: len(values)]).astype(np.int64) * MINUTE_US
    m = cgm_metrics(t, values)
    r = m.ranges
    assert r.very_low + r.low + r.in_range + r.high + r.very_high == pytest.approx(100.0)
    assert all(p >= 0 for p in (r.very_low, r.low, r.in_range, r.high, r.very_high))
    assert 0.0 <= m.gri.value <= 100.0
    assert 0.0 < m.sufficiency.percent_active <= 100.0
    assert min(values) - 1e-9 <= m.mean <= max(values) + 1e-9


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=2.0, max_value=30.0), min_size=2, max_size=100))
def test_mmol_and_mg_dl_agree(values_mmol: list[float]) -> None:
    t = T0_US + np.arange(len(values_mmol), dtype=np.int64) * 5 * MINUTE_US
    a = cgm_metrics(t, values_mmol, units="mmol/L")
    b = cgm_metrics(t, np.asarray(values_mmol) * 18.0156)
    assert a.mean == pytest.approx(b.mean)
    assert a.ranges.in_range == pytest.approx(b.ranges.in_range)
