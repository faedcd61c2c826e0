"""The engine (one failing rule does not stop the others), the registry (enabled by name,
tuned per patient, validated by the rule) and the context builder over a real store."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from coach.context import ContextSettings, GlucoseNow, PatientContext, build_context
from coach.engine import evaluate, needs_of, run_rules
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule
from coach.rules.registry import RULES, EnabledRule, RuleTuningError, enabled_rules
from core.appdb.directory import DeviceBinding, PatientInfo
from core.metrics import Metric
from core.readings import Reading, to_epoch_us
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.coach.coaching_support import NOW, US_PER_MIN

REQUIRED = {
    "urgent_low", "low", "predicted_low", "prolonged_high", "nocturnal_lows", "rising_fasting",
    "tir_falling", "bp_crisis", "bp_above_target", "hf_weight_gain", "spo2_below_target",
    "unusual_inactivity", "missed_medication", "device_silent", "personal_best", "step_streak",
}


def low_ctx(value: float = 48.0) -> PatientContext:
    return PatientContext("p1", NOW, glucose=GlucoseNow(to_epoch_us(NOW) - US_PER_MIN, value))


@rule("broken", path="realtime", needs={"glucose"}, settings=RuleSettings)
def broken(ctx: PatientContext, settings: RuleSettings) -> list[FlagRequest]:
    raise ZeroDivisionError("a bug in a rule")


def test_every_required_rule_is_registered() -> None:
    assert REQUIRED <= set(RULES)
    for r in RULES.values():
        assert r.path in ("realtime", "scheduled")


def test_a_failing_rule_is_logged_by_name_and_the_others_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rules = [EnabledRule(broken, RuleSettings()),
             *enabled_rules(names=["urgent_low"])]
    with caplog.at_level(logging.ERROR, logger="coach.engine"):
        result = run_rules(low_ctx(), rules)
    assert result.failed == ("broken",)
    assert result.ran == ("urgent_low",)
    assert [f.flag_type for f in result.flags] == ["urgent_low"]
    assert "coaching rule broken failed for patient p1" in caplog.text
    assert "48" not in caplog.text  # no health values in logs


def test_disabled_by_tuning() -> None:
    assert evaluate(low_ctx(), tuning={"urgent_low": {"enabled": False}}).flags == ()


def test_threshold_tuned_per_patient() -> None:
    assert evaluate(low_ctx(52.0), names=["urgent_low"]).flags
    tuned = evaluate(low_ctx(52.0), names=["urgent_low"],
                     tuning={"urgent_low": {"threshold": 50.0}})
    assert tuned.flags == ()


@pytest.mark.parametrize("tuning", [
    {"nope": {}},
    {"low": {"threshold": 60}},  # the low rule has no such setting
    {"missed_medication": {"times": ["25:00"]}},
    {"bp_above_target": {"guideline": "who"}},
])
def test_bad_tuning_is_refused(tuning: dict[str, Any]) -> None:
    with pytest.raises(RuleTuningError):
        enabled_rules(tuning)


def test_paths_and_needs() -> None:
    realtime = enabled_rules(path="realtime")
    assert {r.rule.name for r in realtime} >= {"urgent_low", "low", "bp_crisis"}
    assert all(r.rule.path == "realtime" for r in realtime)
    assert "glucose_history" not in needs_of(realtime)
    assert "glucose_history" in needs_of(enabled_rules(path="scheduled"))


def test_unknown_feature_group_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown feature groups"):
        rule("x", path="realtime", needs={"weather"}, settings=RuleSettings)


def test_build_context_from_a_real_store(tmp_path: Path) -> None:
    store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    rows = []
    for k in range(24 * 12):  # the last day of CGM, ending with a fall to 50
        at = NOW - timedelta(minutes=5 * k)
        value = 50.0 if k < 4 else 120.0
        rows.append(Reading("p1", "cgm-1", Metric.GLUCOSE, value, at, "cgm", value, "mg/dL"))
    rows.append(Reading("p1", "cgm-1", Metric.GLUCOSE, 300.0, NOW + timedelta(minutes=5),
                        "cgm", 300.0, "mg/dL"))  # the future is not seen
    rows.append(Reading("p1", "scale-1", Metric.WEIGHT, 70.0, NOW - timedelta(hours=50),
                        "scale", 70.0, "kg"))
    store.write(rows)
    patient = PatientInfo("p1", "p1", "Europe/London", ("heart_failure",), {})
    devices = [DeviceBinding("cgm-1", "p1", "cgm", True),
               DeviceBinding("scale-1", "p1", "scale", True)]
    ctx = build_context(store, patient, NOW, ContextSettings(), devices=devices,
                        needs={"glucose", "weight", "devices"})
    assert ctx.glucose is not None and ctx.glucose.latest == 50.0
    assert ctx.glucose.readings == 24 * 12
    assert ctx.weight is not None and ctx.weight.latest_kg == 70.0
    assert ctx.bp is None and ctx.glucose_history is None  # not asked for
    seen = {d.device_id: d.last_seen_us for d in ctx.devices}
    assert seen["scale-1"] == to_epoch_us(NOW - timedelta(hours=50))
    result = evaluate(ctx, names=["urgent_low", "device_silent"])
    assert sorted(f.flag_type for f in result.flags) == ["device_silent", "urgent_low"]
    store.close()


def test_severity_order() -> None:
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]


def test_scheduled_rules_by_cadence() -> None:
    daily = {r.rule.name for r in enabled_rules(path="scheduled", cadence="daily")}
    hourly = {r.rule.name for r in enabled_rules(path="scheduled", cadence="hourly")}
    assert daily >= {"nocturnal_lows", "rising_fasting", "tir_falling", "bp_above_target",
                     "personal_best", "step_streak"}
    assert hourly >= {"unusual_inactivity", "missed_medication", "device_silent"}
    assert daily.isdisjoint(hourly)
    watch = {r.rule.name for r in enabled_rules(path="scheduled", cadence="watch")}
    assert watch == {"signal_loss_low"}  # every escalation tick (coach/episodes.py)
    assert daily | hourly | watch == {r.rule.name for r in enabled_rules(path="scheduled")}
    # the hourly checks do not need two weeks of glucose
    assert "glucose_history" not in needs_of(enabled_rules(path="scheduled", cadence="hourly"))


def test_no_pill_box_in_use_means_no_missed_dose(tmp_path: Path) -> None:
    store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    patient = PatientInfo("p1", "p1", "Europe/London", (), {"medication_times": ["08:00"]})
    ctx = build_context(store, patient, NOW, needs={"medication"})
    assert ctx.medication is None
    assert evaluate(ctx, names=["missed_medication"]).flags == ()
    store.write([Reading("p1", "box", Metric.MEDICATION_TAKEN, 1.0, NOW - timedelta(days=1),
                         "pill_box", 1.0, "{dose}")])
    ctx = build_context(store, patient, NOW, needs={"medication"})
    assert [f.flag_type for f in evaluate(ctx, names=["missed_medication"]).flags] == [
        "missed_medication"]
    store.close()
