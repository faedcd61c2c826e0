"""Every kind of flag is either a *safety* message or a *motivational* one (docs/DESIGN.md §5).

Safety messages reach the person live, at any hour: quiet hours, the daily budget,
cool-downs, "not useful" demotion and the morning digest apply to motivational messages
only. A safety message is sent once per episode (its flag ``key``: the start of the low,
the crisis reading, the weigh-in day), and the urgent ones open an escalation ladder per
episode (coach/dispatch.py, coach/episodes.py).

A flag type missing from this table is an error when the flag is made
(``FlagRequest.__post_init__``), so a new rule cannot slip past the classification.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal

FlagClass = Literal["safety", "motivational"]

FLAG_CLASSES: MappingProxyType[str, FlagClass] = MappingProxyType({
    # glucose (docs/CLINICAL.md "Glucose")
    "urgent_low": "safety",  # <54 mg/dL: urgent, escalates
    "low": "safety",  # <70 for 15 minutes: treatment advice
    "predicted_low": "safety",  # <70 forecast within 30 minutes
    "fast_fall": "safety",  # falling >=3 mg/dL/min
    "signal_loss_low": "safety",  # the CGM went quiet while the last value was low
    # blood pressure, oxygen, heart failure
    "bp_crisis": "safety",
    "bp_crisis_recheck": "safety",
    "spo2_urgent": "safety",
    "spo2_below_target": "safety",
    "spo2_recheck": "safety",
    "hf_weight_gain": "safety",
    # "are you all right?": no movement at home when there nearly always is (frailty)
    "unusual_inactivity": "safety",
    # motivational: trends, patterns, habits, reinforcement
    "tir_falling": "motivational",
    "prolonged_high": "motivational",
    "nocturnal_lows": "motivational",
    "rising_fasting": "motivational",
    "bp_above_target": "motivational",
    "missed_medication": "motivational",
    "device_silent": "motivational",
    "personal_best": "motivational",
    "step_streak": "motivational",
    "goal_reached": "motivational",
    # peers (issue 21): a story offered as a role model, an answer to a question to peers
    "story_offer": "motivational",
    "peer_answer": "motivational",
})


def flag_class(flag_type: str) -> FlagClass:
    """The class of a flag type; ValueError for one nobody classified."""
    try:
        return FLAG_CLASSES[flag_type]
    except KeyError:
        raise ValueError(
            f"flag type {flag_type!r} is not classified as safety or motivational "
            "(coach/safety.py FLAG_CLASSES)") from None


def is_safety(flag_type: str) -> bool:
    return flag_class(flag_type) == "safety"
