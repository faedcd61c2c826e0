"""The household simulator makes believable, seeded data for every kind of device."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from core.metrics import CATALOGUE, Metric, normalise_unit
from devices.profiles import ProfileError, load_profiles
from devices.simulator import HouseholdSimulator

END = datetime(2026, 11, 20, tzinfo=UTC)
START = END - timedelta(days=14)


@pytest.fixture(scope="module")
def fortnight():
    profiles = load_profiles()
    return profiles, HouseholdSimulator(profiles, seed=3).readings(START, END)


def by_device(readings, device_id):
    return [r for r in readings if r.device_id == device_id]


def test_the_same_seed_gives_the_same_readings_in_backfill_and_in_live_slices(fortnight) -> None:
    profiles, readings = fortnight
    again = HouseholdSimulator(profiles, seed=3)
    sliced = []
    t = START
    while t < END:  # as the live stream asks for it: small consecutive windows
        sliced += again.readings(t, t + timedelta(hours=7))
        t += timedelta(hours=7)
    assert sorted(sliced, key=repr) == sorted(readings, key=repr)
    other = HouseholdSimulator(profiles, seed=4).readings(START, END)
    assert [r.value for r in other[:200]] != [r.value for r in readings[:200]]


def test_every_reading_passes_the_contract(fortnight) -> None:
    _profiles, readings = fortnight
    identities = {(r.device_id, r.metric, r.measured_at) for r in readings}
    assert len(identities) == len(readings), "no two readings share an identity"
    for r in readings:
        spec = CATALOGUE[Metric(r.metric)]
        unit = normalise_unit(r.unit)
        assert spec.accepts(unit), r
        assert spec.in_range(spec.to_canonical(r.value, unit)), r
        assert START <= r.measured_at < END


def test_cgm_is_every_five_minutes_with_gaps_lows_and_highs(fortnight) -> None:
    _p, readings = fortnight
    cgm = by_device(readings, "ann-cgm")
    times = np.array([r.measured_at.timestamp() for r in cgm])
    steps = np.diff(times)
    assert np.median(steps) == 300
    assert (steps > 15 * 60).sum() >= 1  # warm-up gaps and dropouts
    wear = len(cgm) / (14 * 288)
    assert 0.85 < wear < 1.0
    values = np.array([r.value for r in cgm])
    assert 130 < values.mean() < 190
    assert 20 < values.std() / values.mean() * 100 < 45  # CV of a person with type 1 diabetes
    assert (values < 70).sum() >= 3 and (values > 250).sum() >= 3
    hours = np.array([r.measured_at.astimezone(ZoneInfo("Europe/London")).hour for r in cgm])
    night = values[(hours >= 0) & (hours < 6)]
    assert (night < 70).any(), "nocturnal lows happen"


def test_meter_readings_come_around_meals_in_the_patients_unit(fortnight) -> None:
    _p, readings = fortnight
    meter = by_device(readings, "bob-meter")
    contexts = Counter(r.context for r in meter)
    assert contexts["fasting"] >= 12 and contexts["before_meal"] >= 3
    assert {r.unit for r in meter} == {"mmol/L"}
    assert all(r.source == "meter" for r in meter)


def test_blood_pressure_comes_in_morning_and_evening_pairs(fortnight) -> None:
    _p, readings = fortnight
    systolic = [r for r in by_device(readings, "bob-cuff") if r.metric == "systolic"]
    sessions = Counter((r.measured_at.date(), r.context) for r in systolic)
    assert set(sessions.values()) == {2}
    assert {c for _d, c in sessions} == {"morning", "evening"}
    assert 20 <= len(sessions) <= 28  # some sessions are missed


def test_heart_failure_weight_creeps_up_in_episodes(fortnight) -> None:
    _p, readings = fortnight
    weights = np.array([r.value for r in by_device(readings, "carla-scale")])
    assert len(weights) >= 11
    gains = weights[3:] - weights[:-3]
    assert gains.max() > 2.0  # an episode worth a heart-failure warning


def test_copd_oximetry_has_night_dips_and_home_sensors_follow_a_routine(fortnight) -> None:
    _p, readings = fortnight
    night = [r.value for r in by_device(readings, "dev-oximeter")
             if r.metric == "spo2" and r.context == "night"]
    assert min(night) <= 89 and np.median(night) >= 90
    kitchen = by_device(readings, "carla-motion-kitchen")
    hours = Counter(r.measured_at.astimezone(ZoneInfo("Europe/Lisbon")).hour for r in kitchen)
    assert sum(hours[h] for h in range(0, 5)) == 0  # nobody cooks at 3 am
    doses = by_device(readings, "carla-pillbox")
    assert 0.75 * 42 <= len(doses) < 42  # three a day, some missed


def test_a_bad_profile_file_gets_a_clear_error(tmp_path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[patient]]\nid = "x"\nname = "X"\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ProfileError, match="patient #1"):
        load_profiles(path)
    path.write_text('[[patient]]\nid = "x"\nname = "X"\ntimezone = "UTC"\n'
                    '[[patient.device]]\nid = "d"\nkind = "toaster"\n')
    with pytest.raises(ProfileError, match="toaster"):
        load_profiles(path)


def test_a_larger_household_has_distinct_ids_and_distinct_data() -> None:
    from devices.profiles import replicate

    many = replicate(load_profiles(), 10)
    assert len({p.id for p in many}) == 10
    assert len({d.id for p in many for d in p.devices}) == sum(len(p.devices) for p in many)
    sim = HouseholdSimulator(many, seed=1)
    day = (END - timedelta(days=1), END)
    first = [r.value for r in sim.patient_readings(many[0], *day) if r.metric == "glucose"]
    copy = [r.value for r in sim.patient_readings(many[4], *day) if r.metric == "glucose"]
    assert len(first) > 200 and first != copy
