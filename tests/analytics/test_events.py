"""Consensus event rule: >=15 min beyond the threshold to start, >=15 min back to end."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.events import EventKind, all_events, detect_events, summarise_events
from analytics.timebase import clean, coverage_s
from tests.analytics.factories import MINUTE_US, T0_US, at, every_5_min


def _hypos(t: np.ndarray, v: list[float] | np.ndarray, threshold: float = 70.0):  # type: ignore[no-untyped-def]
    data = clean(t, v)
    return detect_events(
        data.times_us,
        data.values,
        coverage_s(data.times_us),
        kind=EventKind.HYPO,
        level=1 if threshold == 70 else 2,
        threshold=threshold,
    )


def test_fifteen_minutes_below_starts_an_event_and_fifteen_above_ends_it() -> None:
    # 5-min readings: 3 below 70 (0, 5, 10 min = 15 min covered), then 3 above.
    t, v = every_5_min([100, 65, 60, 62, 80, 90, 95, 100])
    (event,) = _hypos(t, v)
    assert event.start_us == t[1]
    assert event.end_us == t[4]  # recovery starts at the first reading >= 70
    assert event.duration_min == pytest.approx(15.0)
    assert event.extreme == 60.0 and event.extreme_us == t[2]
    assert event.ended == "recovered"


def test_fourteen_minutes_below_is_not_an_event() -> None:
    # Two readings below 70 cover 10 minutes only.
    t, v = every_5_min([100, 65, 60, 80, 90, 95])
    assert _hypos(t, v) == []


def test_a_short_rise_does_not_end_the_event() -> None:
    # below x3, above x2 (10 min, too short to end), below x3, above x3
    t, v = every_5_min([65, 60, 62, 75, 80, 66, 64, 63, 90, 95, 100])
    (event,) = _hypos(t, v)
    assert event.start_us == t[0] and event.end_us == t[8]
    assert event.duration_min == pytest.approx(40.0)


def test_a_gap_ends_an_event_without_bridging() -> None:
    # below for 15 minutes, then 40 minutes without data, then normal
    t = at([0, 5, 10, 50, 55, 60, 65])
    v = [60, 60, 60, 120, 120, 120, 120]
    (event,) = _hypos(t, v)
    assert event.ended == "gap"
    assert event.end_us == t[2] + 5 * MINUTE_US  # last reading plus one nominal interval


def test_event_at_end_of_data_is_ongoing() -> None:
    t, v = every_5_min([100, 60, 60, 60, 60])
    (event,) = _hypos(t, v)
    assert event.ended == "ongoing"


def test_level_2_and_prolonged() -> None:
    # 130 minutes below 54 (26 readings), then recovery
    t, v = every_5_min([100] + [50] * 26 + [100] * 4)
    data = clean(t, v)
    events = all_events(data.times_us, data.values, coverage_s(data.times_us))
    summary = summarise_events(events)
    assert summary.hypo_level1 == 1 and summary.hypo_level2 == 1
    assert summary.prolonged_hypo == 1
    level2 = next(e for e in events if e.level == 2)
    assert level2.duration_min == pytest.approx(130.0)


def test_hyper_events_levels() -> None:
    # >250 for 20 minutes inside >180 for 35 minutes
    t, v = every_5_min([150, 190, 200, 260, 270, 280, 300, 200, 150, 150, 150])
    summary = summarise_events(all_events(t, np.asarray(v, float), coverage_s(t)))
    assert summary.hyper_level1 == 1 and summary.hyper_level2 == 1
    l1 = next(e for e in summary.events if e.level == 1)
    assert l1.duration_min == pytest.approx(35.0) and l1.extreme == 300.0
    l2 = next(e for e in summary.events if e.level == 2)
    assert l2.duration_min == pytest.approx(20.0)


def test_unsorted_input_finds_the_same_events() -> None:
    t, v = every_5_min([100, 65, 60, 62, 80, 90, 95, 100])
    order = np.array([7, 3, 0, 5, 1, 6, 2, 4])
    assert _hypos(t[order], np.asarray(v)[order]) == _hypos(t, v)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([50.0, 65.0, 100.0, 200.0, 260.0]), min_size=1, max_size=200))
def test_events_never_overlap_and_last_at_least_15_minutes(values: list[float]) -> None:
    t = T0_US + np.arange(len(values), dtype=np.int64) * 5 * MINUTE_US
    v = np.asarray(values)
    for kind, level, thr in [(EventKind.HYPO, 1, 70.0), (EventKind.HYPER, 2, 250.0)]:
        events = detect_events(t, v, coverage_s(t), kind=kind, level=level, threshold=thr)
        for a, b in zip(events, events[1:], strict=False):
            assert a.end_us <= b.start_us
        for e in events:
            assert e.duration_min >= 15.0
            assert (e.extreme < thr) if kind is EventKind.HYPO else (e.extreme > thr)
