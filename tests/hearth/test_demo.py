"""The demo household as the coach sees it."""

from __future__ import annotations

from core.appdb.directory import SqlDirectory
from core.appdb.engine import create_schema, make_engine
from devices.profiles import DEFAULT_HOUSEHOLD, load_profiles
from hearth.demo import register_household


def test_dose_times_of_a_profile_become_the_patients_medication_target() -> None:
    engine = make_engine("sqlite://")
    create_schema(engine)
    profiles = load_profiles(DEFAULT_HOUSEHOLD)
    register_household(engine, profiles)
    directory = SqlDirectory(engine)
    for profile in profiles:
        patient = directory.patient(profile.id)
        assert patient is not None
        times = profile.params.get("medication", {}).get("times")
        assert patient.targets.get("medication_times") == (list(times) if times else None)
