"""The explicit list of coaching rules, enabled by name with per-patient tuning.

Adding a rule: write it in its own module under coach/rules/ and add it to ``_RULES``
below. Tuning is a JSON object per rule name (stored per patient in
``coaching_preferences.rule_tuning``), validated by the rule's own pydantic settings;
``{"enabled": false}`` turns a rule off for that person.

Every rule is imported plainly, the goal-reached rule (``coach/rules/goal_reached.py``,
positive reinforcement when a plan goal is met) like the others: a renamed or missing
module is an ImportError at start, never a rule silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from coach.rules.base import Rule, RuleSettings
from coach.rules.bp_above_target import bp_above_target
from coach.rules.bp_crisis import bp_crisis, bp_crisis_check
from coach.rules.device_silent import device_silent
from coach.rules.fast_fall import fast_fall
from coach.rules.goal_reached import goal_reached
from coach.rules.hf_weight_gain import hf_weight_gain
from coach.rules.inactivity import unusual_inactivity
from coach.rules.low import low
from coach.rules.missed_medication import missed_medication
from coach.rules.nocturnal_lows import nocturnal_lows
from coach.rules.peer_stories import peer_answer, story_offer
from coach.rules.personal_best import personal_best
from coach.rules.predicted_low import predicted_low
from coach.rules.prolonged_high import prolonged_high
from coach.rules.rising_fasting import rising_fasting
from coach.rules.signal_loss import signal_loss_low
from coach.rules.streaks import step_streak
from coach.rules.thresholds import THRESHOLD_RULES

logger = logging.getLogger(__name__)


_RULES: tuple[Rule, ...] = (
    *THRESHOLD_RULES,  # urgent_low, tir_falling, spo2_below_target
    low,
    predicted_low,
    fast_fall,
    signal_loss_low,
    prolonged_high,
    nocturnal_lows,
    rising_fasting,
    bp_crisis,
    bp_crisis_check,
    bp_above_target,
    hf_weight_gain,
    unusual_inactivity,
    missed_medication,
    device_silent,
    personal_best,
    step_streak,
    goal_reached,
    story_offer,  # peers as role models (issue 21)
    peer_answer,
)

RULES: Mapping[str, Rule] = MappingProxyType({r.name: r for r in _RULES})
if len(RULES) != len(_RULES):
    raise RuntimeError("two coaching rules share a name")


@dataclass(frozen=True, slots=True)
class EnabledRule:
    rule: Rule
    settings: RuleSettings


class RuleTuningError(ValueError):
    """A patient's tuning names an unknown rule or fails the rule's validation."""


def enabled_rules(
    tuning: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    names: Iterable[str] | None = None,
    path: str | None = None,
    cadence: str | None = None,
) -> list[EnabledRule]:
    """The rules to run for one patient: ``names`` (default: all registered), minus those
    the tuning disables, optionally only one path ("realtime" or "scheduled") and one
    cadence of scheduled rules ("hourly" or "daily"; rules without one count as hourly)."""
    tuning = tuning or {}
    unknown = set(tuning) - set(RULES)
    if unknown:
        raise RuleTuningError(f"tuning for unknown rules: {sorted(unknown)}")
    chosen = list(RULES) if names is None else list(names)
    out = []
    for name in chosen:
        if name not in RULES:
            raise RuleTuningError(f"unknown rule {name!r}")
        r = RULES[name]
        if path is not None and r.path != path:
            continue
        if cadence is not None and getattr(r, "cadence", "hourly") != cadence:
            continue
        try:
            settings = r.settings(tuning.get(name))
        except ValidationError as exc:
            raise RuleTuningError(f"tuning for rule {name!r}: {exc}") from exc
        if settings.enabled:
            out.append(EnabledRule(r, settings))
    return out


def validate_tuning(tuning: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise RuleTuningError if any rule refuses its tuning (for the API and the CLI)."""
    enabled_rules(tuning)
