"""Patient profiles for the simulator and the demo, read from a small TOML file."""

from __future__ import annotations

import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_HOUSEHOLD = Path(__file__).with_name("household.toml")

DEVICE_KINDS = frozenset(
    {
        "cgm", "glucose_meter", "bp_cuff", "scale", "pulse_oximeter", "pedometer",
        "thermometer", "motion_sensor", "door_sensor", "pill_box", "gateway",
    }
)


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    id: str
    kind: str
    unit: str | None = None  # the unit the device reports in, when not canonical


@dataclass(frozen=True, slots=True)
class PatientProfile:
    id: str
    name: str
    timezone: str
    birth_year: int | None
    conditions: tuple[str, ...]
    targets: dict[str, Any]
    devices: tuple[DeviceSpec, ...]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # glucose, bp, weight, ...

    def section(self, name: str) -> dict[str, Any]:
        return self.params.get(name, {})

    def devices_of(self, kind: str) -> list[DeviceSpec]:
        return [d for d in self.devices if d.kind == kind]


class ProfileError(ValueError):
    pass


def load_profiles(path: str | Path = DEFAULT_HOUSEHOLD) -> list[PatientProfile]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read patient profiles from {path}: {exc}") from exc
    profiles = [_profile(raw, index) for index, raw in enumerate(data.get("patient", []))]
    ids = [d.id for p in profiles for d in p.devices]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ProfileError(f"device ids used twice: {sorted(duplicates)}")
    return profiles


def _profile(raw: dict[str, Any], index: int) -> PatientProfile:
    try:
        zoneinfo.ZoneInfo(raw["timezone"])
        devices = tuple(
            DeviceSpec(d["id"], d["kind"], d.get("unit")) for d in raw.get("device", [])
        )
        profile = PatientProfile(
            id=raw["id"],
            name=raw["name"],
            timezone=raw["timezone"],
            birth_year=raw.get("birth_year"),
            conditions=tuple(raw.get("conditions", ())),
            targets=dict(raw.get("targets", {})),
            devices=devices,
            params={k: v for k, v in raw.items() if isinstance(v, dict) and k != "targets"},
        )
    except (KeyError, zoneinfo.ZoneInfoNotFoundError) as exc:
        raise ProfileError(f"patient #{index + 1}: missing or invalid {exc}") from exc
    unknown = {d.kind for d in devices} - DEVICE_KINDS
    if unknown:
        raise ProfileError(f"patient {profile.id}: unknown device kinds {sorted(unknown)}")
    return profile


def replicate(profiles: list[PatientProfile], count: int) -> list[PatientProfile]:
    """``count`` patients cycling through ``profiles``; copies get numbered ids.

    For load tests and a bigger demo: copy k of "ann" is "ann-k" with devices
    "ann-cgm-k", ...; the simulator's seed streams are per id, so copies differ.
    """
    if not profiles:
        raise ProfileError("no profiles to replicate")
    out = []
    for i in range(count):
        base, k = profiles[i % len(profiles)], i // len(profiles)
        if k == 0:
            out.append(base)
            continue
        out.append(
            PatientProfile(
                id=f"{base.id}-{k}",
                name=f"{base.name} ({k + 1})",
                timezone=base.timezone,
                birth_year=base.birth_year,
                conditions=base.conditions,
                targets=dict(base.targets),
                devices=tuple(DeviceSpec(f"{d.id}-{k}", d.kind, d.unit) for d in base.devices),
                params=base.params,
            )
        )
    return out
