"""Engagement per person (care/engagement.py): the pure evaluation, the clinic's tuning, and
what ``gather`` reads from a real application database and time-series store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from care import engagement as eng
from care import outreach
from core.appdb import engagement as rows
from core.appdb.accounts import ClinicPatient
from core.appdb.coaching import CoachNudge
from core.appdb.delivery import InboxMessage
from core.appdb.directory import PatientInfo, bind_devices, upsert_patient
from core.metrics import Metric
from core.readings import Reading
from core.timeseries.sqlite import SqliteTimeSeriesStore
from tests.coach.coaching_support import database

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
S = eng.EngagementSettings()


def inputs(**kw: object) -> eng.EngagementInputs:
    base: dict[str, object] = {"patient_id": "p1", "window_days": 14, "known_days": 100.0,
                               "days_since_checkin": 10.0}
    base.update(kw)
    return eng.EngagementInputs(**base)  # type: ignore[arg-type]


def test_someone_using_everything_is_engaged_with_words_that_say_so() -> None:
    got = eng.evaluate(inputs(devices=(eng.DeviceUse("cgm", 14, 14.0),
                                       eng.DeviceUse("bp_cuff", 6, 6.0)),
                              days_since_any_reading=0.1, nudges_delivered=6, nudges_opened=5,
                              has_account=True, days_since_sign_in=1.0))
    assert (got.state, got.points, got.score) == ("engaged", 0.0, 0.0)
    assert got.evidence == ["Using the devices and messages as expected."]


def test_stopped_measuring_and_reading_is_disengaged_and_says_why() -> None:
    got = eng.evaluate(inputs(devices=(eng.DeviceUse("bp_cuff", 1, 6.0),),
                              days_since_any_reading=9.0, nudges_delivered=8, nudges_opened=1,
                              has_account=True, days_since_sign_in=40.0))
    assert got.state == "disengaged"
    assert [s.code for s in got.signs] == ["device:bp_cuff", "silent", "nudges_unread", "sign_in"]
    assert got.points == 7.0 and got.score == pytest.approx(7 / 8)
    assert "The blood pressure cuff was used on 1 of the 6 days expected in 14 days." in \
        got.evidence
    assert "No reading from any device for 9 days." in got.evidence
    assert "Opened 1 of 8 messages sent." in got.evidence
    assert "Has not signed in for 40 days." in got.evidence


def test_the_thresholds_are_the_settings_boundaries() -> None:
    # 0.7 of the expected days: not a sign; just under it: one point
    assert eng.evaluate(inputs(devices=(eng.DeviceUse("scale", 7, 10.0),))).points == 0
    assert eng.evaluate(inputs(devices=(eng.DeviceUse("scale", 6, 10.0),))).points == 1
    assert eng.evaluate(inputs(devices=(eng.DeviceUse("scale", 2, 10.0),))).points == 2
    # two points: slipping; four: disengaged
    slipping = eng.evaluate(inputs(not_useful=2, goals_missing=1))
    assert (slipping.state, slipping.points) == ("slipping", 2.0)
    assert "Marked 2 messages \"not useful\"." in slipping.evidence
    assert eng.evaluate(inputs(not_useful=2, goals_missing=1, goals_given_up=1,
                               days_since_checkin=50.0)).state == "disengaged"
    # too few messages to judge reading them; never signed in with no account: nothing
    assert eng.evaluate(inputs(nudges_delivered=2, nudges_opened=0)).points == 0
    assert eng.evaluate(inputs(has_account=False)).points == 0
    # never did a check-in: only once known long enough to have been asked
    assert eng.evaluate(inputs(days_since_checkin=None, known_days=10)).points == 0
    assert eng.evaluate(inputs(days_since_checkin=None, known_days=50)).evidence == [
        "Has never done a check-in."]


def test_a_clinic_tunes_the_thresholds_and_unknown_names_are_refused() -> None:
    strict = eng.EngagementSettings.from_overrides({"disengaged_points": 2.0,
                                                    "expected_days": {"bp_cuff": 7}})
    assert strict.expected_days["bp_cuff"] == 7 and strict.expected_days["cgm"] == 7
    assert eng.evaluate(inputs(not_useful=2, goals_missing=1), strict).state == "disengaged"
    with pytest.raises(ValueError, match="unknown engagement settings"):
        eng.EngagementSettings.from_overrides({"made_up": 1})
    with pytest.raises(ValueError):
        eng.EngagementSettings.from_overrides({"slipping_points": 5.0})


def reading(pid: str, device: str, metric: Metric, at: datetime, source: str) -> Reading:
    return Reading(pid, device, metric, 120.0, at, source, 120.0, "mm[Hg]")


def test_gather_reads_what_the_person_did_and_record_all_keeps_history(tmp_path: Path) -> None:
    engine = database(tmp_path)
    store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    with Session(engine) as session:
        for pid in ("busy", "quiet"):
            upsert_patient(session, PatientInfo(pid, pid, "Europe/London", ("hypertension",)))
            session.flush()
            bind_devices(session, pid, [(f"{pid}-cuff", "bp_cuff")])
        session.commit()
    # busy: a reading every day; quiet: two readings, 12 and 13 days ago
    store.write([reading("busy", "busy-cuff", Metric.SYSTOLIC, NOW - timedelta(days=d, hours=3),
                         "bp_cuff") for d in range(14)])
    store.write([reading("quiet", "quiet-cuff", Metric.SYSTOLIC,
                         NOW - timedelta(days=d), "bp_cuff") for d in (12, 13)])
    with Session(engine) as session:
        for i in range(5):  # five nudges to quiet, none opened, two "not useful"
            session.add(InboxMessage(recipient_key="quiet", recipient_role="patient",
                                     patient_id="quiet", kind="nudge", priority="normal",
                                     flag_type="bp_above_target", title="t", body="b", why="w",
                                     evidence={}, ref=f"n{i}", created_at=NOW - timedelta(days=i)))
            session.add(CoachNudge(id=f"n{i}", patient_id="quiet", kind="nudge",
                                   flag_type="bp_above_target", priority="normal", title="t",
                                   body="b", why="w", evidence={}, status="sent",
                                   feedback="not_useful" if i < 2 else None,
                                   feedback_at=NOW - timedelta(days=i) if i < 2 else None,
                                   created_at=NOW - timedelta(days=i)))
        session.commit()
        found = eng.record_all(session, store, NOW)
        session.commit()
    assert found["busy"].state == "engaged", found["busy"].evidence
    quiet = found["quiet"]
    assert quiet.state == "disengaged"
    assert [s.code for s in quiet.signs] == ["device:bp_cuff", "silent", "nudges_unread",
                                             "not_useful"]
    # a week's window (EngagementSettings.window_days): the two readings are older
    assert "The blood pressure cuff was used on 0 of the 3 days expected in 7 days." in \
        quiet.evidence
    assert "No reading from any device for 12 days." in quiet.evidence
    # the next day is a new row; the same day again replaces its row: history kept
    with Session(engine) as session:
        eng.record_all(session, store, NOW + timedelta(days=1), ["quiet"])
        eng.record_all(session, store, NOW + timedelta(days=1, hours=1), ["quiet"])
        session.commit()
        days = [h.day.isoformat() for h in rows.history(session, "quiet")]
        assert days == ["2026-03-16", "2026-03-15"]
        assert rows.first_disengaged(session, "quiet", since=NOW.date()) == NOW.date()
    store.close()


def test_a_clinic_row_changes_the_verdict_for_its_patients(tmp_path: Path) -> None:
    engine = database(tmp_path)
    with Session(engine) as session:
        upsert_patient(session, PatientInfo("p1", "p1", "UTC"))
        session.flush()
        from core.appdb.accounts import Clinic

        session.add(Clinic(id="c1", name="C"))
        session.flush()
        session.add(ClinicPatient(patient_id="p1", clinic_id="c1"))
        rows.set_clinic_settings(session, "c1", {"slipping_points": 1.0, "disengaged_points": 1.0},
                                by="nora", now=NOW)
        session.commit()
        assert eng.settings_for(session, "p1").disengaged_points == 1.0
        assert eng.settings_for(session, "nobody").disengaged_points == 4.0


def test_the_outreach_bucket_puts_risk_times_disengagement_first(tmp_path: Path) -> None:
    engine = database(tmp_path)
    with Session(engine) as session:
        for pid, score in (("calm", 1.0), ("rising", 0.6), ("fine", 0.0)):
            rows.save_state(session, patient_id=pid, day=NOW.date(),
                            state="disengaged" if score >= 0.5 else "engaged", points=score * 8,
                            score=score, evidence=["x"], signals={}, now=NOW)
        session.flush()
        items = outreach.needs_outreach(session, ["calm", "rising", "fine"], now=NOW,
                                        risk={"calm": 0, "rising": 1})
        # rising BP (watch, 1) who stopped measuring before a well-controlled one (0)
        assert [(i.patient_id, i.priority) for i in items] == [("rising", 1.2), ("calm", 1.0)]
        # a contact with a next step keeps the task open, due on that day; "reached" with
        # no next step closes it
        outreach.open_task(session, "rising", reason="r", by="system", now=NOW)
        done = outreach.record_contact(session, patient_id="rising", by_user="cole",
                                       by_name="Cole", by_role="coach", contacted="the patient",
                                       method="phone", outcome="no answer", now=NOW,
                                       next_step="call again",
                                       next_due=(NOW + timedelta(days=2)).date())
        task = outreach.open_tasks(session, ["rising"])["rising"]
        assert done.task_id == task.id and task.first_contact_at is not None
        assert task.due_at.replace(tzinfo=UTC) == datetime(2026, 3, 17, 9, tzinfo=UTC)
        outreach.record_contact(session, patient_id="rising", by_user="cole", by_name="Cole",
                                by_role="coach", contacted="the patient", method="phone",
                                outcome="reached", now=NOW + timedelta(days=2))
        assert outreach.open_tasks(session, ["rising"]) == {}
        # the loop is closed: for a week no new task and no place in the list, though
        # still recorded disengaged; then back
        week = NOW + timedelta(days=2, hours=1)
        assert outreach.hold_nudge(session, "rising", evidence=["x"], now=week) is None
        assert outreach.open_for_disengaged(session, ["rising"], week) == []
        assert [i.patient_id for i in outreach.needs_outreach(
            session, ["calm", "rising"], now=week)] == ["calm"]
        later = NOW + timedelta(days=10)
        assert [i.patient_id for i in outreach.needs_outreach(
            session, ["calm", "rising"], now=later, risk={"rising": 1})] == ["rising", "calm"]
        assert outreach.open_for_disengaged(session, ["rising"], later) == ["rising"]
        with pytest.raises(ValueError, match="method"):
            outreach.record_contact(session, patient_id="rising", by_user="c", by_name="C",
                                    by_role="coach", contacted="x", method="pigeon",
                                    outcome="reached", now=NOW)
