"""Simple threshold rules as rows of a table of frozen descriptions (no class per rule).

A row says where the value comes from (``value_fn`` over the prepared context), the
threshold (a default with its source, or the patient's own target), which side of it
is a finding, and how to say it in plain words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics import targets
from analytics.spo2 import NIGHT_END_MIN, NIGHT_START_MIN
from analytics.timebase import local_day_and_minute
from coach.context import PatientContext
from coach.rules.base import FlagRequest, RulePath, RuleSettings, Severity, iso_us
from core.i18n import N_, say

US_PER_MIN = 60_000_000


class ThresholdSettings(RuleSettings):
    threshold: float | None = None  # None: the patient's target, else the row's default
    max_age_min: float = 15.0  # a reading older than this is not "now"
    # SpO2 only: also readings taken overnight; None: the rule's own default (urgent: yes)
    include_night: bool | None = None


@dataclass(frozen=True, slots=True)
class Observed:
    value: float
    evidence: dict[str, Any]
    key: str = ""


@dataclass(frozen=True, slots=True)
class ThresholdDescription:
    name: str
    title: str
    path: RulePath
    needs: frozenset[str]
    severity: Severity
    below: bool  # a finding when the value is below (True) or above (False) the threshold
    default_threshold: float
    source: str  # where the threshold comes from (docs/CLINICAL.md)
    value_fn: Callable[[PatientContext, ThresholdSettings], Observed | None]
    explain: Callable[[Observed, float], str]
    target_name: str | None = None  # the patient's own target in Patient.targets, if any
    group: str = ""
    clinical: bool = False
    patient_only: bool = False
    description: str = ""
    cadence: str = "hourly"
    # the threshold when the patient's condition sets it (used instead of target/default)
    threshold_fn: Callable[[PatientContext], float] | None = None
    inclusive: bool = False  # a finding also at the threshold itself (<= or >=)
    # the episode a finding belongs to, given the threshold (its key: coach/safety.py)
    episode_fn: Callable[[PatientContext, float, bool], str] | None = None


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    row: ThresholdDescription

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def path(self) -> RulePath:
        return self.row.path

    @property
    def needs(self) -> frozenset[str]:
        return self.row.needs

    @property
    def description(self) -> str:
        return self.row.description

    @property
    def cadence(self) -> str:
        return self.row.cadence

    def settings(self, tuning: Mapping[str, Any] | None) -> ThresholdSettings:
        return ThresholdSettings.model_validate(dict(tuning or {}))

    def threshold(self, ctx: PatientContext, settings: ThresholdSettings) -> float:
        if settings.threshold is not None:
            return settings.threshold
        if self.row.threshold_fn is not None:
            return self.row.threshold_fn(ctx)
        if self.row.target_name:
            return ctx.target(self.row.target_name, self.row.default_threshold)
        return self.row.default_threshold

    def evaluate(self, ctx: PatientContext, settings: ThresholdSettings) -> list[FlagRequest]:
        seen = self.row.value_fn(ctx, settings)
        if seen is None:
            return []
        limit = self.threshold(ctx, settings)
        beyond = seen.value < limit if self.row.below else seen.value > limit
        if not (beyond or (self.row.inclusive and seen.value == limit)):
            return []
        evidence = {**seen.evidence, "value": round(seen.value, 1), "threshold": limit,
                    "source": self.row.source}
        key = seen.key
        if self.row.episode_fn is not None:
            key = self.row.episode_fn(ctx, limit, self.row.inclusive)
        return [
            FlagRequest(
                flag_type=self.row.name,
                severity=self.row.severity,
                explanation=self.row.explain(seen, limit),
                evidence=evidence,
                path=self.row.path,
                title=self.row.title,
                key=key,
                group=self.row.group,
                clinical=self.row.clinical,
                patient_only=self.row.patient_only,
            )
        ]


def _fresh_glucose(ctx: PatientContext, s: ThresholdSettings) -> Observed | None:
    g = ctx.glucose
    if g is None or g.latest is None or g.latest_us is None:
        return None
    if ctx.now_us - g.latest_us > s.max_age_min * US_PER_MIN:
        return None
    # One alert per episode below 54 (docs/CLINICAL.md; analytics/events.py episode_start):
    # a low that clears and comes back is a new alert, whatever happened to the last one.
    since = g.very_low_since_us if g.very_low_since_us is not None else g.latest_us
    return Observed(g.latest, {"reading_at": iso_us(g.latest_us), "unit": "mg/dL",
                               "episode_started_at": iso_us(since)},
                    key=f"episode:{iso_us(since)}")


def _tir_drop(ctx: PatientContext, s: ThresholdSettings) -> Observed | None:
    h = ctx.glucose_history
    if h is None or h.tir_this_week is None or h.tir_last_week is None:
        return None
    this, last = h.tir_this_week, h.tir_last_week
    # Battelino 2019: >=70% of possible CGM readings for the numbers to stand for the period
    if min(this.wear, last.wear) < targets.WEAR_MIN_PERCENT:
        return None
    return Observed(
        last.tir - this.tir,
        {
            "tir_this_week": round(this.tir, 1),
            "tir_last_week": round(last.tir, 1),
            "this_week_days": list(this.days),
            "last_week_days": list(last.days),
            "wear_percent": [round(this.wear, 1), round(last.wear, 1)],
        },
        key=this.days[-1],
    )


def _spo2_pair(ctx: PatientContext, s: ThresholdSettings) -> Observed | None:
    """The higher of the two newest readings, both within ``max_age_min``: one low reading
    alone is too often a motion artefact, two in a row are not.

    Readings taken overnight (22:00-07:00 local, analytics/spo2.py NIGHT_*): the urgent
    rule always reads them (70% at 03:00 is as urgent as at noon); the below-target rules
    leave them out unless ``include_night``, since brief dips in sleep are common in COPD
    (docs/CLINICAL.md "Pulse oximetry") and the SpO2 report summarises them for the care
    team (spo2_summary night_dips)."""
    sp = ctx.spo2
    if sp is None or len(sp.recent) < 2:
        return None
    (t1, v1), (t2, v2) = sp.recent[-2], sp.recent[-1]
    if ctx.now_us - t1 > s.max_age_min * US_PER_MIN:
        return None
    if not _night_counts(s, urgent=True) and _overnight(t2, ctx.tz):
        return None
    return Observed(
        max(v1, v2),
        {"readings": [{"at": iso_us(t1), "spo2": v1}, {"at": iso_us(t2), "spo2": v2}],
         "unit": "%"},
    )


def _spo2_single(ctx: PatientContext, s: ThresholdSettings) -> Observed | None:
    """The newest reading when it is fresh and alone (no other within ``max_age_min``
    before it): a spot check, to be repeated before anyone is alerted."""
    sp = ctx.spo2
    if sp is None or not sp.recent:
        return None
    t2, v2 = sp.recent[-1]
    if ctx.now_us - t2 > s.max_age_min * US_PER_MIN:
        return None
    if len(sp.recent) > 1 and t2 - sp.recent[-2][0] <= s.max_age_min * US_PER_MIN:
        return None  # a pair: spo2_below_target's business
    if not _night_counts(s, urgent=False) and _overnight(t2, ctx.tz):
        return None
    return Observed(v2, {"reading_at": iso_us(t2), "unit": "%"}, key=iso_us(t2))


def _spo2_episode(ctx: PatientContext, limit: float, inclusive: bool) -> str:
    """The start of the run of readings beyond ``limit`` that ends with the newest one (a
    gap of more than 15 minutes between two readings starts a new run): one alert per
    episode of low oxygen, however many readings it lasts."""
    sp = ctx.spo2
    readings = sp.recent if sp else ()
    start = len(readings) - 1
    gap_us = 15 * US_PER_MIN
    while start > 0:
        t0, v0 = readings[start - 1]
        if not (v0 < limit or (inclusive and v0 == limit)) or readings[start][0] - t0 > gap_us:
            break
        start -= 1
    return f"episode:{iso_us(readings[start][0])}" if readings else ""


def _night_counts(s: ThresholdSettings, *, urgent: bool) -> bool:
    return urgent if s.include_night is None else s.include_night


def _spo2_pair_below_target(ctx: PatientContext, s: ThresholdSettings) -> Observed | None:
    if s.include_night is None:
        s = s.model_copy(update={"include_night": False})
    return _spo2_pair(ctx, s)


def _overnight(time_us: int, tz: str) -> bool:
    _, minute = local_day_and_minute(np.array([time_us], dtype=np.int64), tz)
    return bool(minute[0] >= NIGHT_START_MIN or minute[0] < NIGHT_END_MIN)


def spo2_limits(ctx: PatientContext) -> tuple[float, float]:
    """(below this is under target, at or below this is urgent) for this patient
    (analytics/targets.py, docs/CLINICAL.md "Pulse oximetry")."""
    return targets.spo2_limits(ctx.targets, ctx.conditions)


THRESHOLDS: tuple[ThresholdDescription, ...] = (
    ThresholdDescription(
        name="urgent_low",
        title=N_("Very low glucose"),
        path="realtime",
        needs=frozenset({"glucose"}),
        severity=Severity.URGENT,
        below=True,
        default_threshold=targets.GLUCOSE_VERY_LOW_BELOW,
        source="Battelino 2019 International Consensus: <54 mg/dL is level 2 hypoglycaemia "
        "(docs/CLINICAL.md)",
        value_fn=_fresh_glucose,
        explain=lambda o, t: (
            say("Your glucose is {value} mg/dL, below {limit}: that is very low. Take 15 g of "
                "fast-acting sugar now and check again in 15 minutes.", value=f"{o.value:.0f}",
                limit=f"{t:.0f}")
        ),
        group="hypo",
        description="glucose now below 54 mg/dL (the newest reading, at most 15 min old)",
    ),
    ThresholdDescription(
        name="tir_falling",
        title=N_("Time in range fell this week"),
        path="scheduled",
        needs=frozenset({"glucose_history"}),
        severity=Severity.NORMAL,
        below=False,
        default_threshold=targets.TIR_DROP_POINTS,
        source="docs/CLINICAL.md population triage: TIR dropped >15 points; "
        "wear >=70% (Battelino 2019)",
        value_fn=_tir_drop,
        explain=lambda o, t: (
            say("Your time in range was {now}% this week, down from {before}% last week. Your "
                "coach will look at it with you.", now=f"{o.evidence['tir_this_week']:.0f}",
                before=f"{o.evidence['tir_last_week']:.0f}")
        ),
        clinical=True,
        description="TIR 70-180 fell more than 15 points week over week (both weeks >=70% wear)",
        cadence="daily",
    ),
    ThresholdDescription(
        name="spo2_urgent",
        title=N_("Very low oxygen"),
        path="realtime",
        needs=frozenset({"spo2"}),
        severity=Severity.URGENT,
        below=True,
        inclusive=True,
        default_threshold=targets.SPO2_URGENT_AT_OR_BELOW,
        source="docs/CLINICAL.md: SpO2 <=92% without a lower prescribed target (NHS @home "
        "oximetry); <=83% with a target of 88-92% (NEWS2 scale 2 scores 3)",
        value_fn=_spo2_pair,
        threshold_fn=lambda ctx: spo2_limits(ctx)[1],
        explain=lambda o, t: (
            say("Your oxygen level was {value}% or lower on your last two readings. That is "
                "very low. Call 999 if you are very breathless, or 111 now. Follow your action "
                "plan.", value=f"{o.value:.0f}")
        ),
        episode_fn=_spo2_episode,
        group="spo2",
        clinical=True,
        description="two newest SpO2 readings (within 15 min) at or below the urgent level "
        "(92%; 83% for people whose target is 88-92%)",
    ),
    ThresholdDescription(
        name="spo2_below_target",
        title=N_("Oxygen below your target"),
        path="realtime",
        needs=frozenset({"spo2"}),
        severity=Severity.HIGH,
        below=True,
        default_threshold=targets.SPO2_TARGET_DEFAULT,
        source="docs/CLINICAL.md: SpO2 93-94% is amber (NHS @home oximetry); below 88% for "
        "people whose target is 88-92% (BTS 2017, NEWS2 scale 2)",
        value_fn=_spo2_pair_below_target,
        threshold_fn=lambda ctx: spo2_limits(ctx)[0],
        explain=lambda o, t: (
            say("Your oxygen level was below your target of {target}% on your last two "
                "readings (highest {value}%). Rest, check again, and follow your action plan. "
                "Your care team can see this too.", target=f"{t:.0f}", value=f"{o.value:.0f}")
        ),
        episode_fn=_spo2_episode,
        group="spo2",
        clinical=True,
        description="two newest SpO2 readings (within 15 min) below the patient's target "
        "(95%; 88% for people at risk of hypercapnia)",
    ),
    ThresholdDescription(
        name="spo2_recheck",
        title=N_("Check your oxygen again"),
        path="realtime",
        needs=frozenset({"spo2"}),
        severity=Severity.HIGH,
        below=True,
        default_threshold=targets.SPO2_TARGET_DEFAULT,
        source="docs/CLINICAL.md: one reading alone is confirmed by a second before anyone "
        "but the patient is alerted",
        value_fn=_spo2_single,
        threshold_fn=lambda ctx: spo2_limits(ctx)[0],
        explain=lambda o, t: (
            say("Your oxygen reading was {value}%, below your target of {target}%. Rest for a "
                "few minutes, warm your hands, and measure again now.", value=f"{o.value:.0f}",
                target=f"{t:.0f}")
        ),
        group="spo2",
        patient_only=True,
        description="a single fresh SpO2 spot check below target: measure again",
    ),
)

THRESHOLD_RULES: tuple[ThresholdRule, ...] = tuple(ThresholdRule(row) for row in THRESHOLDS)
