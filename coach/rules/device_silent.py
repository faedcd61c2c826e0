"""A device gone silent: no reading from it for longer than its kind allows
(coach/device_kinds.py: the expected silence per device kind, tunable per patient)."""

from __future__ import annotations

from pydantic import Field

from coach.context import PatientContext
from coach.device_kinds import DEVICE_KINDS
from coach.rules.base import FlagRequest, RuleSettings, Severity, iso_us, rule
from core.i18n import N_, say

NAMES = {
    "cgm": N_("glucose sensor"), "glucose_meter": N_("glucose meter"),
    "bp_cuff": N_("blood-pressure cuff"), "scale": N_("scale"),
    "pulse_oximeter": N_("pulse oximeter"), "pedometer": N_("step counter"),
    "thermometer": N_("thermometer"), "motion_sensor": N_("motion sensor"),
    "door_sensor": N_("door sensor"), "pill_box": N_("pill box"),
}


class DeviceSilentSettings(RuleSettings):
    silent_after_h: dict[str, float] = Field(default_factory=dict)  # per kind, overrides


@rule("device_silent", path="scheduled", needs={"devices"}, settings=DeviceSilentSettings,
      description="no reading from a device for longer than its kind's expected interval")
def device_silent(ctx: PatientContext, settings: DeviceSilentSettings) -> list[FlagRequest]:
    found = []
    for d in ctx.devices:
        spec = DEVICE_KINDS.get(d.kind)
        if spec is None or spec.metric is None:
            continue
        hours = settings.silent_after_h.get(d.kind, spec.silent_after_h)
        if d.last_seen_us is not None and ctx.now_us - d.last_seen_us <= hours * 3600e6:
            continue
        name = NAMES.get(d.kind, d.kind)
        since = iso_us(d.last_seen_us) if d.last_seen_us is not None else None
        found.append(FlagRequest(
            "device_silent", Severity(spec.severity),
            say("Your {device} has not sent anything for more than {hours} hours. Check that "
                "it is switched on, charged and near the hub.", device=name, hours=f"{hours:.0f}"),
            {"device_id": d.device_id, "kind": d.kind, "last_seen": since,
             "expected_within_h": hours, "source": f"coach/device_kinds.py: {spec.why}"},
            "scheduled", title=say("Your {device} is quiet", device=name),
            key=f"{d.device_id}:{since}", group=f"device_silent:{d.device_id}",
        ))
    return found
