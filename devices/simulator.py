"""The synthetic household: every device of every patient, for any time range.

Seeded and deterministic: the readings of a given day are the same whether
they are backfilled or streamed live, so a replay is an exact duplicate.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from devices.home_devices import GENERATORS, DayContext, SimReading
from devices.profiles import PatientProfile


class HouseholdSimulator:
    def __init__(self, profiles: Sequence[PatientProfile], *, seed: int = 1) -> None:
        self.profiles = list(profiles)
        self.seed = seed
        self._days: OrderedDict[tuple[str, date], list[SimReading]] = OrderedDict()

    def readings(self, start: datetime, end: datetime) -> list[SimReading]:
        """Every reading measured in [start, end), oldest first."""
        out: list[SimReading] = []
        for profile in self.profiles:
            out += self.patient_readings(profile, start, end)
        out.sort(key=lambda r: (r.measured_at, r.device_id, r.metric))
        return out

    def patient_readings(
        self, profile: PatientProfile, start: datetime, end: datetime
    ) -> list[SimReading]:
        tz = ZoneInfo(profile.timezone)
        first = start.astimezone(tz).date() - timedelta(days=1)
        last = end.astimezone(tz).date()
        out = []
        day = first
        while day <= last:
            out += [r for r in self._day(profile, day, tz) if start <= r.measured_at < end]
            day += timedelta(days=1)
        return out

    def _day(self, profile: PatientProfile, day: date, tz: ZoneInfo) -> list[SimReading]:
        key = (profile.id, day)
        cached = self._days.get(key)
        if cached is not None:
            self._days.move_to_end(key)
            return cached
        readings: list[SimReading] = []
        for device in profile.devices:
            generator = GENERATORS.get(device.kind)
            if generator is not None:
                readings += generator(DayContext(profile, device, day, tz, self.seed))
        self._days[key] = readings
        while len(self._days) > 8 * max(1, len(self.profiles)):
            self._days.popitem(last=False)
        return readings
