"""The dispatcher's policy: quiet hours, budget, cool-down, digest, feedback, positives,
de-duplication, and the urgent exception."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from care.alerts import record_feedback
from care.messages import Outbound
from coach.dispatch import build_digest, dispatch
from coach.policy import load_policy
from coach.rules.base import FlagRequest, Severity
from core.appdb.coaching import CoachAlert, CoachFlag
from tests.coach.coaching_support import NOW, add_patient, database, nudges, summary

LONDON_NIGHT = NOW.replace(hour=23, minute=30)  # 23:30 in London: quiet hours


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    e = database(tmp_path)
    add_patient(e, "p1")
    return e


def flag(flag_type: str, severity: Severity = Severity.NORMAL, *, key: str = "",
         group: str = "", clinical: bool = False, patient_only: bool = False) -> FlagRequest:
    return FlagRequest(flag_type, severity, f"Because of {flag_type}.", {"why": flag_type},
                       "realtime", key=key, group=group, clinical=clinical,
                       patient_only=patient_only)


def motivational(i: int) -> FlagRequest:
    """A motivational flag of a group of its own (the budget counts them all)."""
    return flag("missed_medication", group=f"meds{i}", key=f"k{i}")


def send(engine: Engine, flags: list[FlagRequest], at: datetime,
         patient: str = "p1") -> list[Outbound]:
    with Session(engine) as session:
        out = dispatch(session, patient, flags, at)
        session.commit()
    return out


def digest(engine: Engine, at: datetime, patient: str = "p1") -> Outbound | None:
    with Session(engine) as session:
        out = build_digest(session, patient, at)
        session.commit()
    return out


def test_a_normal_nudge_goes_out_with_why_and_evidence(engine: Engine) -> None:
    out = send(engine, [flag("missed_medication")], NOW)
    assert summary(out) == [("nudge", "patient", "missed_medication", "normal")]
    assert out[0].why == "Because of missed_medication."
    assert out[0].evidence == {"why": "missed_medication"}
    assert out[0].ref == nudges(engine)[0].id and nudges(engine)[0].status == "sent"


def test_quiet_hours_hold_nudges_for_the_morning_digest(engine: Engine) -> None:
    out = send(engine, [flag("prolonged_high", Severity.HIGH),
                        flag("device_silent", Severity.NORMAL)], LONDON_NIGHT)
    # the coach still hears about the high one at once; the patient hears nothing tonight
    assert summary(out) == [("alert", "coach", "prolonged_high", "high")]
    assert digest(engine, LONDON_NIGHT + timedelta(hours=3)) is None  # 02:30: still quiet
    morning = digest(engine, NOW.replace(hour=7) + timedelta(days=1))
    assert morning is not None and morning.kind == "digest"
    assert [i["flag_type"] for i in morning.evidence["items"]] == ["prolonged_high",
                                                                   "device_silent"]
    assert "Because of prolonged_high." in morning.body
    assert digest(engine, NOW.replace(hour=7, minute=5) + timedelta(days=1)) is None  # once


def test_quiet_hours_are_the_patients_local_time(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "ny", tz="America/New_York")
    # 23:30 in London is 18:30 in New York: not quiet there
    out = send(e, [flag("missed_medication")], LONDON_NIGHT, patient="ny")
    assert summary(out) == [("nudge", "patient", "missed_medication", "normal")]
    # 03:30 UTC is 22:30 in New York: quiet
    assert send(e, [flag("device_silent")], NOW.replace(hour=3, minute=30) + timedelta(days=1),
                patient="ny") == []


def test_custom_quiet_hours(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", quiet_start="13:00", quiet_end="15:00")
    assert send(e, [flag("device_silent")], NOW) == []  # 14:00 London
    assert len(send(e, [flag("missed_medication")], NOW.replace(hour=16))) == 1


def test_daily_budget_then_digest_and_reset_next_day(engine: Engine) -> None:
    out = send(engine, [motivational(i) for i in range(5)], NOW)
    assert len(out) == 3  # the default budget
    assert [n.status for n in nudges(engine)].count("queued") == 2
    tomorrow = NOW + timedelta(days=1)
    assert len(send(engine, [motivational(10), motivational(11)], tomorrow)) == 2


def test_budget_is_a_preference(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", daily_budget=1)
    assert len(send(e, [motivational(1), motivational(2)], NOW)) == 1


def test_cool_down_per_flag_group(engine: Engine) -> None:
    assert len(send(engine, [flag("missed_medication", key="d1")], NOW)) == 1
    # another finding of the same type within the day's cool-down: not repeated
    assert send(engine, [flag("missed_medication", key="d2")], NOW + timedelta(hours=3)) == []
    # after the cool-down (24 h for normal) it may be said again
    assert len(send(engine, [flag("missed_medication", key="d3")],
                    NOW + timedelta(hours=25))) == 1


def test_the_same_finding_is_never_repeated(engine: Engine) -> None:
    send(engine, [flag("tir_falling", key="2026-03-03")], NOW)
    later = NOW + timedelta(days=30)
    assert send(engine, [flag("tir_falling", key="2026-03-03")], later) == []


def test_a_more_severe_message_in_the_group_is_not_held_back(engine: Engine) -> None:
    send(engine, [flag("rising_fasting", Severity.NORMAL, group="glucose", key="a")], NOW)
    out = send(engine, [flag("prolonged_high", Severity.HIGH, group="glucose", key="b")],
               NOW + timedelta(minutes=10))
    assert summary(out) == [("nudge", "patient", "prolonged_high", "high"),
                            ("alert", "coach", "prolonged_high", "high")]
    # ... but a less severe one after it is
    assert send(engine, [flag("rising_fasting", Severity.NORMAL, group="glucose", key="c")],
                NOW + timedelta(minutes=30)) == []


def test_dedupe_keeps_the_highest_severity(engine: Engine) -> None:
    out = send(engine, [flag("predicted_low", group="hypo"),
                        flag("low", Severity.HIGH, group="hypo"),
                        flag("predicted_low", group="hypo")], NOW)
    assert [o.flag_type for o in out] == ["low", "low"]
    with Session(engine) as session:
        assert session.scalars(select(CoachFlag.flag_type)).all() == ["low"]
        assert session.scalars(select(CoachFlag.outcome)).all() == ["sent+coach"]


def test_not_useful_lowers_that_kind_for_that_person(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1")
    add_patient(e, "p2")
    first = send(e, [flag("prolonged_high", Severity.HIGH, key="1")], NOW)
    with Session(e) as session:
        assert record_feedback(session, first[0].ref, useful=False, by_user="p1", now=NOW)
        session.commit()
    later = NOW + timedelta(days=2)
    out = send(e, [flag("prolonged_high", Severity.HIGH, key="2")], later)
    # one lower for the patient; the coach's alert of the week is not repeated (grouped)
    assert summary(out) == [("nudge", "patient", "prolonged_high", "normal")]
    with Session(e) as session:
        assert record_feedback(session, out[0].ref, useful=False, by_user="p1", now=later)
        session.commit()
    # two answers: low, so the digest only
    assert send(e, [flag("prolonged_high", Severity.HIGH, key="3")], NOW + timedelta(days=4)) == []
    assert nudges(e)[-1].status == "queued" and nudges(e)[-1].priority == "low"
    # other people and other kinds are untouched
    assert summary(send(e, [flag("prolonged_high", Severity.HIGH, key="1")], NOW, "p2"))[0] == (
        "nudge", "patient", "prolonged_high", "high")
    assert summary(send(e, [flag("tir_falling", Severity.HIGH)], NOW + timedelta(days=4)))[0][3] \
        == "high"


def test_not_useful_never_lowers_a_safety_message(engine: Engine) -> None:
    first = send(engine, [flag("low", Severity.HIGH, group="hypo", key="e1")], NOW)
    with Session(engine) as session:
        assert record_feedback(session, first[0].ref, useful=False, by_user="p1", now=NOW)
        assert record_feedback(session, first[0].ref, useful=False, by_user="p1", now=NOW)
        session.commit()
    out = send(engine, [flag("low", Severity.HIGH, group="hypo", key="e2")],
               NOW + timedelta(hours=1))
    assert summary(out)[0] == ("nudge", "patient", "low", "high")
    assert nudges(engine)[-1].status == "sent"


def test_feedback_on_unknown_nudge(engine: Engine) -> None:
    with Session(engine) as session:
        assert not record_feedback(session, "nope", useful=False, by_user="p1", now=NOW)


def test_positive_reinforcement_once_a_day_live(engine: Engine) -> None:
    out = send(engine, [flag("personal_best", Severity.POSITIVE)], NOW)
    assert summary(out) == [("positive", "patient", "personal_best", "positive")]
    assert send(engine, [flag("step_streak", Severity.POSITIVE)], NOW + timedelta(hours=1)) == []
    morning = digest(engine, NOW.replace(hour=7) + timedelta(days=1))
    assert morning is not None and [i["flag_type"] for i in morning.evidence["items"]] == [
        "step_streak"]


def test_positives_do_not_use_the_nudge_budget(engine: Engine) -> None:
    send(engine, [flag("personal_best", Severity.POSITIVE)], NOW)
    assert len(send(engine, [motivational(i) for i in range(3)], NOW)) == 3


def test_clinical_flags_reach_the_nurse(engine: Engine) -> None:
    out = send(engine, [flag("bp_above_target", clinical=True)], NOW)
    assert summary(out) == [("nudge", "patient", "bp_above_target", "normal"),
                            ("clinical_alert", "nurse", "bp_above_target", "normal")]


def test_urgent_bypasses_quiet_hours_and_budget(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", daily_budget=0)
    out = send(e, [flag("urgent_low", Severity.URGENT, group="hypo")], LONDON_NIGHT)
    assert summary(out) == [("escalation", "patient", "urgent_low", "urgent")]
    recheck = send(e, [flag("bp_crisis_recheck", Severity.URGENT, patient_only=True)],
                   LONDON_NIGHT)
    assert summary(recheck) == [("nudge", "patient", "bp_crisis_recheck", "urgent")]


def test_a_running_ladder_is_not_started_twice(engine: Engine) -> None:
    urgent = flag("urgent_low", Severity.URGENT, group="hypo", key="episode:1")
    assert len(send(engine, [urgent], NOW)) == 1
    assert send(engine, [urgent], NOW + timedelta(hours=2)) == []  # nobody acknowledged yet


def ladders(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [(a.state, a.flag_type) for a in session.scalars(
            select(CoachAlert).where(CoachAlert.kind == "escalation")
            .order_by(CoachAlert.created_at))]


def test_a_new_episode_is_a_new_alert_while_the_old_ladder_is_still_open(engine: Engine) -> None:
    first = flag("urgent_low", Severity.URGENT, group="hypo", key="episode:1")
    assert summary(send(engine, [first], NOW)) == [
        ("escalation", "patient", "urgent_low", "urgent")]
    second = flag("urgent_low", Severity.URGENT, group="hypo", key="episode:2")
    # ten minutes later, nobody has acknowledged the first: the second still reaches her
    assert summary(send(engine, [second], NOW + timedelta(minutes=10))) == [
        ("escalation", "patient", "urgent_low", "urgent")]
    assert ladders(engine) == [("open", "urgent_low"), ("open", "urgent_low")]


def test_a_snooze_covers_its_own_episode_only(engine: Engine) -> None:
    out = send(engine, [flag("urgent_low", Severity.URGENT, group="hypo", key="episode:1")], NOW)
    with Session(engine) as session:
        assert care_alerts.snooze(session, out[0].ref, NOW + timedelta(hours=2), "p1", NOW)
        session.commit()
    assert send(engine, [flag("urgent_low", Severity.URGENT, group="hypo", key="episode:1")],
                NOW + timedelta(minutes=5)) == []
    again = send(engine, [flag("urgent_low", Severity.URGENT, group="hypo", key="episode:2")],
                 NOW + timedelta(minutes=40))
    assert summary(again) == [("escalation", "patient", "urgent_low", "urgent")]


def test_safety_messages_are_live_at_night_with_the_budget_spent(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", daily_budget=0)
    for i, kind in enumerate(("low", "predicted_low", "fast_fall", "hf_weight_gain",
                              "spo2_below_target")):
        out = send(e, [flag(kind, Severity.NORMAL, key=f"e{i}", patient_only=True)],
                   LONDON_NIGHT + timedelta(minutes=i))
        assert summary(out) == [("nudge", "patient", kind, "normal")], kind
    assert {n.status for n in nudges(e)} == {"sent"}
    assert not any(n.counts_to_budget for n in nudges(e))
    assert digest(e, NOW.replace(hour=7) + timedelta(days=1)) is None  # nothing waited


def test_a_safety_message_once_per_episode_and_again_for_the_next(engine: Engine) -> None:
    low = flag("low", Severity.HIGH, group="hypo", key="event-1")
    assert len(send(engine, [low], NOW)) == 2  # the patient, and the coach
    assert send(engine, [low], NOW + timedelta(minutes=5)) == []  # the same low
    # a new low 40 minutes later: no cool-down holds the treatment advice back
    out = send(engine, [flag("low", Severity.HIGH, group="hypo", key="event-2")],
               NOW + timedelta(minutes=40))
    assert summary(out) == [("nudge", "patient", "low", "high")]  # the coach's alert: grouped


def test_the_treatment_advice_follows_the_urgent_alert_once_above_54(engine: Engine) -> None:
    urgent = flag("urgent_low", Severity.URGENT, group="hypo", key="episode:1")
    send(engine, [urgent], NOW)
    low = flag("low", Severity.HIGH, group="hypo", key="event-1")
    # still below 54: the urgent alert is what she has; no second message on top
    assert send(engine, [urgent, low], NOW + timedelta(minutes=15)) == []
    # 60 mg/dL, the low goes on: the treatment advice now
    out = send(engine, [low], NOW + timedelta(minutes=25))
    assert ("nudge", "patient", "low", "high") in summary(out)


def test_coach_alerts_of_a_group_are_one_alert_a_week_with_a_count(engine: Engine) -> None:
    for day in range(7):
        send(engine, [flag("low", Severity.HIGH, group="hypo", key=f"d{day}")],
             NOW + timedelta(days=day))
    with Session(engine) as session:
        alerts = session.scalars(select(CoachAlert).where(CoachAlert.kind == "alert")).all()
        assert len(alerts) == 1
        assert len(alerts[0].evidence["occurrences"]) == 7
    send(engine, [flag("low", Severity.HIGH, group="hypo", key="d8")], NOW + timedelta(days=8))
    with Session(engine) as session:
        assert len(session.scalars(select(CoachAlert).where(CoachAlert.kind == "alert")).all()) \
            == 2


def test_a_nurse_alert_she_dealt_with_is_not_reopened(engine: Engine) -> None:
    out = send(engine, [flag("spo2_below_target", Severity.HIGH, key="a", clinical=True)], NOW)
    nurse = next(o for o in out if o.recipient_role == "nurse")
    later = send(engine, [flag("spo2_below_target", Severity.HIGH, key="b", clinical=True)],
                 NOW + timedelta(hours=1))
    assert "nurse" not in [o.recipient_role for o in later]  # still open: one alert, two times
    with Session(engine) as session:
        assert care_alerts.acknowledge(session, nurse.ref, "n1", NOW + timedelta(hours=2),
                                       role="nurse")
        session.commit()
    again = send(engine, [flag("spo2_below_target", Severity.HIGH, key="c", clinical=True)],
                 NOW + timedelta(hours=3))
    assert "nurse" in [o.recipient_role for o in again]


def test_policy_defaults_and_preferences(tmp_path: Path) -> None:
    e = database(tmp_path)
    add_patient(e, "p1", caregiver_id="carer-1", escalation_minutes={"patient": 5})
    with Session(e) as session:
        policy = load_policy(session, "p1")
    assert policy.tz == "Europe/London" and policy.daily_budget == 3
    assert policy.ladder() == ["patient", "caregiver", "coach", "nurse"]
    assert policy.wait_after("patient") == timedelta(minutes=5)
    assert policy.wait_after("coach") == timedelta(minutes=15)


def test_rule_tuning_is_validated_when_saved(tmp_path: Path) -> None:
    from coach.rules.registry import RuleTuningError

    e = database(tmp_path)
    with pytest.raises(RuleTuningError):
        add_patient(e, "p1", rule_tuning={"low": {"threshold": 60}})
    with pytest.raises(RuleTuningError):
        add_patient(e, "p2", rule_tuning={"no_such_rule": {}})
    add_patient(e, "p3", rule_tuning={"urgent_low": {"threshold": 50}, "low": {"enabled": False}})
