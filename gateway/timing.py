"""Clock correction: when a reading was really taken, from the device's clock and the gateway's.

Bluetooth health devices keep a wall clock with no time zone; many are never
set, some drift, some reset to 2000-01-01 when the batteries change. The
gateway's own clock (NTP-synchronised, UTC) is the reference:

1. the device gave no time stamp, or says its clock is unset: the reading is
   placed at the moment the gateway received it (``time:received``);
2. the gateway knows what the device's clock read at a known UTC instant (a
   ``ClockReference``, from the Current Time characteristic 0x2A2B or the
   simulator): the device time is shifted by that offset, which corrects a
   wrong clock and its time zone at once (``clock_offset_s:<n>``);
3. otherwise the device time is read as wall time in the configured zone of
   the home (``clock:zone``);
4. a result later than the receive time (plus a small tolerance) cannot be
   right - a reading cannot arrive before it was taken - so the receive time
   is used instead (``clock:ahead``).

The tags go into the reading's status list: the correction is stored with
the reading, so anyone can see how its time was obtained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from gateway.ble.model import Decoded

DEFAULT_TOLERANCE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class ClockReference:
    """The device's clock read ``device_wall`` when the gateway's clock read ``gateway_utc``."""

    device_wall: datetime  # naive: the device's own wall clock
    gateway_utc: datetime  # aware UTC

    def to_utc(self, device_time: datetime) -> datetime:
        """Shift by the whole-second offset: a device clock has no fractions, and the same
        record read on two connections must land on the same instant (ingest's identity)."""
        return (device_time + timedelta(seconds=self.offset_s)).replace(tzinfo=UTC)

    @property
    def offset_s(self) -> int:
        """Whole seconds to add to the device's wall clock to get UTC.

        Rounded down: a device clock shows whole seconds (it truncates), so
        with the gateway's instant taken just before the device's clock was
        read, the fraction belongs to the gateway's side.
        """
        reference = self.gateway_utc.astimezone(UTC).replace(tzinfo=None)
        return math.floor((reference - self.device_wall).total_seconds())


@dataclass(frozen=True, slots=True)
class Timing:
    measured_at: datetime  # aware UTC
    tags: tuple[str, ...]


def measured_at(
    decoded: Decoded,
    *,
    received_at: datetime,
    reference: ClockReference | None,
    zone: tzinfo = UTC,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> Timing:
    """When ``decoded`` was measured, in UTC, and how that was worked out."""
    received = received_at.astimezone(UTC)
    if decoded.device_time is None:
        unset = ("time:device_clock_unset",) if decoded.time_state == "unset" else ()
        return Timing(received, ("time:received", *unset))
    if reference is not None:
        when = reference.to_utc(decoded.device_time)
        tags: tuple[str, ...] = (f"clock_offset_s:{reference.offset_s:+d}",)
    else:
        when = decoded.device_time.replace(tzinfo=zone).astimezone(UTC)
        tags = (f"clock:zone:{_zone_name(zone)}"[:64],)
    if when - received > tolerance:
        return Timing(received, ("time:received", "clock:ahead"))
    return Timing(when, tags)


def _zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")
