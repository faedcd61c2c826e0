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

from analytics.spo2 import NIGHT_END_MIN, NIGHT_START_MIN
from analytics.timebase import local_day_and_minute
from coach.context import PatientContext
from coach.rules.base import FlagRequest, RulePath, RuleSettings, Severity, iso_us

US_PER_MIN = 60_000_000


class ThresholdSettings(RuleSettings):
    threshold: float | None = None  # None: the patient's target, else the row's default
    max_age_min: float = 15.0  # a reading older than this is not "now"
    include_night: bool = False  # SpO2 only: also readings taken overnight (see _spo2_pair)


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
    source: str  # where the threshold comes from (DESIGN.md §6)
    value_fn: Callable[[PatientContext, ThresholdSettings], Observed | None]
    explain: Callable[[Observed, float], str]
    target_name: str | None = None  # the patient's own target in Patient.targets, if any
    group: str = ""
    clinical: bool = False
    patient_only: bool = False
    description: str = ""
    cadence: str = "hourly"


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
        if self.row.target_name:
            return ctx.target(self.row.target_name, self.row.default_threshold)
        return self.row.default_threshold

    def evaluate(self, ctx: PatientContext, settings: ThresholdSettings) -> list[FlagRequest]:
        seen = self.row.value_fn(ctx, settings)
        if seen is None:
            return []
        limit = self.threshold(ctx, settings)
        if not (seen.value < limit if self.row.below else seen.value > limit):
            return []
        evidence = {**seen.evidence, "value": round(seen.value, 1), "threshold": limit,
                    "source": self.row.source}
        return [
            FlagRequest(
                flag_type=self.row.name,
                severity=self.row.severity,
                explanation=self.row.explain(seen, limit),
                evidence=evidence,
                path=self.row.path,
                title=self.row.title,
                key=seen.key,
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
    return Observed(g.latest, {"reading_at": iso_us(g.latest_us), "unit": "mg/dL"})


def _tir_drop(ctx: PatientContext, s: ThresholdSettings) -> Observed | None:
    h = ctx.glucose_history
    if h is None or h.tir_this_week is None or h.tir_last_week is None:
        return None
    this, last = h.tir_this_week, h.tir_last_week
    # Battelino 2019: >=70% of possible CGM readings for the numbers to stand for the period
    if min(this.wear, last.wear) < 70.0:
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

    Readings taken overnight (22:00-07:00 local, analytics/spo2.py NIGHT_*) are left
    out unless ``include_night``: brief dips in sleep are common in COPD and nobody can act
    on them at 3 a.m.; they are summarised for the care team by the SpO2 report
    (spo2_summary night_dips) instead of paging anyone one by one."""
    sp = ctx.spo2
    if sp is None or len(sp.recent) < 2:
        return None
    (t1, v1), (t2, v2) = sp.recent[-2], sp.recent[-1]
    if ctx.now_us - t1 > s.max_age_min * US_PER_MIN:
        return None
    if not s.include_night and _overnight(t2, ctx.tz):
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
    if not s.include_night and _overnight(t2, ctx.tz):
        return None
    return Observed(v2, {"reading_at": iso_us(t2), "unit": "%"}, key=iso_us(t2))


def _overnight(time_us: int, tz: str) -> bool:
    _, minute = local_day_and_minute(np.array([time_us], dtype=np.int64), tz)
    return bool(minute[0] >= NIGHT_START_MIN or minute[0] < NIGHT_END_MIN)


THRESHOLDS: tuple[ThresholdDescription, ...] = (
    ThresholdDescription(
        name="urgent_low",
        title="Very low glucose",
        path="realtime",
        needs=frozenset({"glucose"}),
        severity=Severity.URGENT,
        below=True,
        default_threshold=54.0,
        source="Battelino 2019 International Consensus: <54 mg/dL is level 2 hypoglycaemia",
        value_fn=_fresh_glucose,
        explain=lambda o, t: (
            f"Your glucose is {o.value:.0f} mg/dL, below {t:.0f}: that is very low. Take 15 g "
            "of fast-acting sugar now and check again in 15 minutes."
        ),
        group="hypo",
        description="glucose now below 54 mg/dL (the newest reading, at most 15 min old)",
    ),
    ThresholdDescription(
        name="tir_falling",
        title="Time in range fell this week",
        path="scheduled",
        needs=frozenset({"glucose_history"}),
        severity=Severity.NORMAL,
        below=False,
        default_threshold=15.0,
        source="DESIGN.md §6 population triage: TIR dropped >15 points; "
        "wear >=70% (Battelino 2019)",
        value_fn=_tir_drop,
        explain=lambda o, t: (
            f"Your time in range was {o.evidence['tir_this_week']:.0f}% this week, down from "
            f"{o.evidence['tir_last_week']:.0f}% last week. Your coach will look at it with you."
        ),
        clinical=True,
        description="TIR 70-180 fell more than 15 points week over week (both weeks >=70% wear)",
        cadence="daily",
    ),
    ThresholdDescription(
        name="spo2_below_target",
        title="Oxygen below your target",
        path="realtime",
        needs=frozenset({"spo2"}),
        severity=Severity.HIGH,
        below=True,
        default_threshold=92.0,
        source="DESIGN.md §6: SpO2 <92%, or below the patient's prescribed target "
        "(often 88-92% in COPD)",
        value_fn=_spo2_pair,
        explain=lambda o, t: (
            f"Your oxygen level was below your target of {t:.0f}% on your last two readings "
            f"(highest {o.value:.0f}%). Rest, check again, and follow your action plan."
        ),
        target_name="spo2_percent",
        group="spo2",
        clinical=True,
        description="two newest daytime SpO2 readings (within 15 min) below the patient's "
        "target (92%)",
    ),
    ThresholdDescription(
        name="spo2_recheck",
        title="Check your oxygen again",
        path="realtime",
        needs=frozenset({"spo2"}),
        severity=Severity.HIGH,
        below=True,
        default_threshold=92.0,
        source="DESIGN.md §6: SpO2 <92%, or below the patient's prescribed target; one "
        "reading alone is confirmed by a second before anyone is alerted",
        value_fn=_spo2_single,
        explain=lambda o, t: (
            f"Your oxygen reading was {o.value:.0f}%, below your target of {t:.0f}%. Rest for "
            "a few minutes, warm your hands, and measure again."
        ),
        target_name="spo2_percent",
        group="spo2",
        patient_only=True,
        description="a single fresh daytime SpO2 spot check below target: measure again",
    ),
)

THRESHOLD_RULES: tuple[ThresholdRule, ...] = tuple(ThresholdRule(row) for row in THRESHOLDS)
