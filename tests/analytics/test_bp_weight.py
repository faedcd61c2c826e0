"""Home blood pressure protocol and crisis rule; weight changes and the heart-failure warning."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from analytics.bp import (
    BpClass,
    CrisisStatus,
    classify_acc_aha,
    classify_esh,
    crises,
    home_bp,
)
from analytics.weight import weight_summary
from tests.analytics.factories import MINUTE_US, at

DAY = 1440


def _protocol(
    days: int, morning: tuple[float, float], evening: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs 1 min apart at 07:00 and 19:00 UTC each day."""
    minutes, sys, dia = [], [], []
    for d in range(days):
        for hour, (s, di) in ((7, morning), (19, evening)):
            minutes += [d * DAY + hour * 60, d * DAY + hour * 60 + 1]
            sys += [s, s]
            dia += [di, di]
    return at(minutes), np.array(sys, float), np.array(dia, float)


def test_seven_day_protocol_discards_the_first_day() -> None:
    t, s, d = _protocol(7, (140, 90), (130, 80))
    s[:4] = 200  # day 1 (all four readings) is left out, whatever it says
    bp = home_bp(t, s, d, tz="UTC")
    # 6 days x 4 readings; mean systolic (140 + 130) / 2 = 135, diastolic 85
    assert bp.readings_used == 24 and bp.days_used == 6 and bp.complete_days == 6
    assert bp.systolic == pytest.approx(135.0) and bp.diastolic == pytest.approx(85.0)
    assert bp.morning == (140.0, 90.0) and bp.evening == (130.0, 80.0)
    assert bp.discarded_day == "2026-03-02"
    assert bp.valid
    assert bp.acc_aha is BpClass.HYPERTENSION and bp.esh is BpClass.HYPERTENSION
    assert len(bp.sittings) == 14 and bp.sittings[0].readings == 2


def test_protocol_with_too_few_readings_is_not_valid() -> None:
    t, s, d = _protocol(3, (120, 70), (118, 72))  # 8 readings after the first day
    bp = home_bp(t, s, d)
    assert bp.readings_used == 8 and not bp.valid


def test_protocol_ignores_readings_after_its_days() -> None:
    t, s, d = _protocol(9, (120, 70), (120, 70))
    s[-8:] = 180  # days 8 and 9 are outside the 7-day protocol
    assert home_bp(t, s, d).systolic == 120.0


def test_classification_thresholds() -> None:
    assert classify_acc_aha(129, 79) is BpClass.ELEVATED
    assert classify_acc_aha(119, 79) is BpClass.NORMAL
    assert classify_acc_aha(130, 70) is BpClass.HYPERTENSION
    assert classify_acc_aha(110, 80) is BpClass.HYPERTENSION
    assert classify_esh(134, 84) is BpClass.NORMAL
    assert classify_esh(135, 80) is BpClass.HYPERTENSION
    assert classify_esh(120, 85) is BpClass.HYPERTENSION


def test_crisis_confirmed_by_a_repeat_five_minutes_later() -> None:
    t = at([0, 5])
    (c,) = crises(t, [185, 182], [100, 95], now_us=int(t[1]))
    assert c.status is CrisisStatus.CONFIRMED and c.urgent
    assert c.repeat == (int(t[1]), 182.0, 95.0)


def test_crisis_not_confirmed_when_the_repeat_is_lower() -> None:
    t = at([0, 5])
    (c,) = crises(t, [181, 150], [90, 90], now_us=int(t[1]))
    assert c.status is CrisisStatus.NOT_CONFIRMED and not c.urgent


def test_crisis_diastolic_alone_and_recheck_pending() -> None:
    t = at([0])
    (c,) = crises(t, [150], [120], now_us=int(t[0]) + 2 * MINUTE_US)
    assert c.status is CrisisStatus.RECHECK and not c.urgent


def test_crisis_without_repeat_becomes_unverified_and_urgent() -> None:
    t = at([0])
    (c,) = crises(t, [190], [100], now_us=int(t[0]) + 20 * MINUTE_US)
    assert c.status is CrisisStatus.UNVERIFIED and c.urgent


def test_readings_within_a_minute_are_not_a_repeat() -> None:
    # the cuff's second reading 30 s later is not the rested re-measure
    t = np.array([0, 30_000_000, 6 * MINUTE_US]) + at([0])[0]
    (c,) = crises(t, [185, 186, 170], [100, 100, 90], now_us=int(t[2]))
    assert c.status is CrisisStatus.NOT_CONFIRMED and c.repeat is not None
    assert c.repeat[1] == 170.0


def test_179_over_119_is_not_a_crisis() -> None:
    assert crises(at([0]), [179], [119], now_us=0) == ()


def _weigh(days_and_kg: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    return at([d * DAY + 7 * 60 for d, _ in days_and_kg]), np.array([k for _, k in days_and_kg])


def test_weight_changes_by_hand() -> None:
    t, kg = _weigh([(0, 80.0), (1, 80.4), (4, 80.6), (6, 81.0), (7, 81.5)])
    w = weight_summary(t, kg)
    one, three, seven = w.changes
    assert one.kg == pytest.approx(0.5) and one.reference_date == "2026-03-08"
    assert three.kg == pytest.approx(0.9) and three.reference_date == "2026-03-06"  # day 4
    assert seven.kg == pytest.approx(1.5) and seven.reference_date == "2026-03-02"
    assert w.warnings == ()
    assert w.latest_kg == 81.5


def test_missing_reference_day_gives_nan() -> None:
    t, kg = _weigh([(0, 80.0), (7, 81.0)])
    one, three, _ = weight_summary(t, kg).changes
    assert math.isnan(one.kg) and one.reference_date is None and math.isnan(three.kg)


def test_heart_failure_warnings() -> None:
    # 80.0 three days ago, 82.1 today: +2.1 kg in 3 days (and so in a week); +1.2 kg
    # overnight is no warning of its own (docs/CLINICAL.md: no overnight rule)
    t, kg = _weigh([(0, 80.0), (1, 80.5), (2, 80.9), (3, 82.1)])
    reasons = {x.reason: x for x in weight_summary(t, kg).warnings}
    assert set(reasons) == {"gain_3_days"}
    assert reasons["gain_3_days"].gain_kg == pytest.approx(2.1)
    assert reasons["gain_3_days"].from_date == "2026-03-02"


def test_heart_failure_weekly_gain() -> None:
    t, kg = _weigh([(0, 80.0), (2, 80.6), (4, 81.2), (6, 81.8), (7, 82.3)])
    reasons = {x.reason: x for x in weight_summary(t, kg).warnings}
    assert set(reasons) == {"gain_7_days"} and reasons["gain_7_days"].gain_kg == pytest.approx(2.3)


def test_exactly_two_kg_is_not_a_warning() -> None:
    t, kg = _weigh([(0, 80.0), (1, 80.5), (2, 81.25), (3, 82.0)])
    assert weight_summary(t, kg).warnings == ()


def test_daily_weight_is_the_first_weigh_in_and_trend_is_per_week() -> None:
    # a second, heavier weigh-in in the evening is ignored; +0.1 kg/day = +0.7 kg/week
    days = [(d, 80 + 0.1 * d) for d in range(14)]
    t, kg = _weigh(days)
    t = np.r_[t, at([13 * DAY + 20 * 60])]
    kg = np.r_[kg, 95.0]
    w = weight_summary(t, kg)
    assert w.latest_kg == pytest.approx(81.3)
    assert w.weekly_trend is not None
    assert w.weekly_trend.slope_per_week == pytest.approx(0.7)
    assert w.weekly_trend.direction == "rising"


def test_weight_days_are_local() -> None:
    # 23:30 UTC is the next morning in Paris
    t = np.array([int(at([0])[0]) + (23 * 60 + 30) * MINUTE_US])
    w = weight_summary(t, [80.0], tz="Europe/Paris")
    assert w.latest_date == "2026-03-03"
    assert datetime(2026, 3, 3, tzinfo=UTC).date().isoformat() == w.latest_date
