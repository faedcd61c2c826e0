"""JSON shapes of the view API (response models: they document themselves in OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from dashboard.timefields import ApiTime

GlucoseUnits = Literal["mg/dL", "mmol/L"]


class GlucoseNow(BaseModel):
    value: float = Field(description="in the viewer's units")
    units: GlucoseUnits
    time: ApiTime
    age_minutes: int
    fresh: bool = Field(description="measured within the last 15 minutes")
    rate_per_min: float | None = Field(None, description="mg/dL per minute over 15 minutes")
    arrow: str
    arrow_label: str


class LatestValue(BaseModel):
    label: str
    value: str
    unit: str
    time: ApiTime
    age: str


class Today(BaseModel):
    patient_id: str
    timezone: str
    glucose: GlucoseNow | None
    latest: dict[str, LatestValue] = Field(description="blood_pressure, weight, spo2, steps")


class RangesBar(BaseModel):
    very_low: float = Field(description="% time <54 mg/dL")
    low: float = Field(description="% time 54-69 mg/dL")
    in_range: float = Field(description="% time 70-180 mg/dL")
    high: float = Field(description="% time 181-250 mg/dL")
    very_high: float = Field(description="% time >250 mg/dL")


class TargetOut(BaseModel):
    name: str
    value: float | None
    comparison: str
    goal: float
    met: bool


class Agp(BaseModel):
    minute_of_day: list[float]
    p5: list[float | None]
    p25: list[float | None]
    p50: list[float | None]
    p75: list[float | None]
    p95: list[float | None]


class DayOverlay(BaseModel):
    date: str
    minute_of_day: list[float]
    values: list[float | None] = Field(
        description="null where readings are more than 15 minutes apart: a gap, not a line")
    time_in_range: float | None = Field(
        description="% in range; null for a partial day (worn <70% of it) or a day without "
                    "readings")
    wear_percent: float = 0.0
    readings: int = 0


class SeriesOut(BaseModel):
    times: list[float] = Field(description="seconds since the Unix epoch")
    values: list[float]


class GlucoseTrends(BaseModel):
    readings: int
    mean: float | None
    gmi: float | None
    cv: float | None
    wear_percent: float
    days_with_data: int = Field(description="days worn 70% or more (a partial day, such as "
                                            "today's first reading, is not a day)")
    sufficient: bool
    ranges: RangesBar
    targets: list[TargetOut]
    agp: Agp
    days: list[DayOverlay] = Field(description="daily overlays, the last 14 days at most")


class StepsDay(BaseModel):
    date: str
    steps: float


class ChartWindow(BaseModel):
    """What every chart page's data says first: whose, which days, in which units."""

    patient_id: str
    days: int
    start: ApiTime
    end: ApiTime
    timezone: str
    units: GlucoseUnits
    glucose_range: tuple[float | None, float | None] = Field(
        description="the target range drawn on glucose charts (70-180 mg/dL), viewer's units")


class Trends(ChartWindow):
    glucose: GlucoseTrends | None
    systolic: SeriesOut
    diastolic: SeriesOut
    weight: SeriesOut
    steps: list[StepsDay]
    step_goal: float
    weight_units: Literal["kg", "lb"] = Field("kg", description="the unit of ``weight``")
    meter: MeterOut | None = Field(None, description="finger-stick readings: points and the "
                                                     "standard day, never an AGP")


class MeterBlock(BaseModel):
    """A meter's readings in one block of the day (analytics/meter.py DAY_BLOCKS)."""

    name: str
    start_minute: int
    end_minute: int
    readings: int
    mean: float | None = Field(description="in the viewer's units")
    lowest: float | None
    highest: float | None
    below_70: int
    percent_in_target: float | None


class MeterOut(BaseModel):
    """Finger-stick readings: points, never a CGM curve or an AGP."""

    times: list[float] = Field(description="seconds since the Unix epoch")
    values: list[float | None] = Field(description="in the viewer's units")
    readings_per_day: float
    lowest: float | None = Field(description="in the viewer's units")
    percent_in_target: float = Field(description="each reading against its meal tag's target")
    target_low: float | None = Field(description="the range drawn: 70-180 mg/dL, viewer's units")
    target_high: float | None
    minute_of_day: list[float] = Field(
        default_factory=list, description="each reading's local time of day (the standard day)")
    below_70: int = Field(0, description="readings under 70 mg/dL in the period")
    blocks: list[MeterBlock] = Field(default_factory=list,
                                     description="readings by block of the day (local)")


class ReviewCharts(ChartWindow):
    """The nurse's review page: a chart for each condition the patient has readings of,
    each with its target lines (from analytics/targets.py or the patient's own)."""

    glucose: GlucoseTrends | None = Field(description="CGM only: consensus metrics and AGP")
    meter: MeterOut | None = Field(description="finger-stick readings, as points")
    systolic: SeriesOut
    diastolic: SeriesOut
    bp_target: tuple[float, float] = Field(description="home BP target, mmHg")
    weight: SeriesOut
    weight_units: Literal["kg", "lb"] = Field(
        "kg", description="the unit of weight, weight_alert_kg and weight_target_kg (the "
                          "viewer's; the fields keep their names)")
    weight_alert_kg: float | None = Field(description="heart failure: the latest weigh-in "
                                          "above this is a warning (lowest of the 3 days "
                                          "before + 2 kg)")
    weight_target_kg: float | None = Field(description="the patient's own (dry) weight")
    spo2: SeriesOut
    spo2_target: float | None = Field(description="SpO2 target (own or default), when charted")
    spo2_urgent: float | None = Field(description="SpO2 urgent at or below this, when charted")
    steps: list[StepsDay]
    step_goal: float


class Preferences(BaseModel):
    glucose_units: GlucoseUnits
    timezone: str | None = Field(None, description="IANA zone; null: the patient's own")
    locale: str | None = Field(None, description="language of pages and messages: en, pl or "
                                                 "ur; null: the browser's (docs/I18N.md)")
    weight_units: Literal["kg", "lb"] = Field("kg", description="how weights are shown")


class TriageFinding(BaseModel):
    code: str = Field(description="a glucose bucket or another risk")
    level: int = Field(description="3 urgent, 2 high, 1 watch")
    reason: str = Field(description="the finding in words, with its numbers")


class TriageRow(BaseModel):
    patient_id: str
    display_name: str
    level: int = Field(description="the highest level of any finding: 3 urgent, 2 high, "
                                   "1 watch, 0 none")
    level_label: str
    findings: list[TriageFinding] = Field(description="every finding, most urgent first")
    glucose_source: str = Field(description='"cgm", "meter" or "" (no glucose readings)')
    bucket: str = Field(description='the most urgent glucose bucket ("" when glucose is not '
                                    "judged)")
    flags: list[str]
    risks: list[str] = Field(description="other risks: bp_crisis, hf_weight, spo2_low, "
                                         "inactive, bp_high, adherence, device_silent")
    columns: dict[str, str] = Field(description="glucose, bp, weight, spo2: each in a few "
                                                "words, for the conditions the patient has")
    risk_score: float
    time_in_range: float | None = Field(description="CGM wearers only, as the next ones")
    below_70: float | None
    below_54: float | None
    above_180: float | None
    above_250: float | None
    wear_percent: float | None
    tir_change: float | None
    gri: float | None
    reviewed_at: ApiTime | None = None
    reviewed_by: str | None = None


class TriagePage(BaseModel):
    as_of: ApiTime
    total: int
    page: int
    per_page: int
    counts: dict[str, int] = Field(description="patients in each bucket and risk")
    rows: list[TriageRow]


class ReviewOut(BaseModel):
    reviewer: str
    reviewed_at: ApiTime
    note: str
