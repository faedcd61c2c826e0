"""The WHO-5 (care/wellbeing.py), outcomes at a check-in and over time (care/outcomes.py),
and the joint record with its FHIR Bundle (care/record.py, care/record_fhir.py), against
the real migrated database: the scoring and both cut-offs of Topp 2015 at their edges
(docs/CLINICAL.md "Wellbeing (WHO-5)"), the coach's follow-up only at <=28, a refused
half-answered form, ratings of another person's outcome ignored, the story list by its
consent rule, and the Bundle validated against HL7's R4 schema and the R4B models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import outcomes, record, wellbeing
from care.record_fhir import bundle
from care.record_pdf import lines, pdf_bytes
from care.stories import Reader
from core.appdb.coaching import CoachAlert
from core.appdb.directory import PatientInfo
from core.appdb.stories import Story
from core.interop.fhir import schema_problems
from core.metrics import Metric
from tests.support.factories import reading, register

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(engine: Engine) -> Engine:
    register(engine, "p1", [("cgm-1", "cgm")], name="Ann Example")
    register(engine, "p2", [("cgm-2", "cgm")])
    return engine


@pytest.mark.parametrize(("items", "percent", "level"), [
    ((5, 5, 5, 5, 5), 100, "good"),
    ((3, 3, 3, 2, 2), 52, "good"),  # raw 13: just above the poor-wellbeing cut-off
    ((3, 3, 2, 2, 2), 48, "low"),  # raw 12
    ((2, 2, 2, 2, 2), 40, "low"),
    ((2, 2, 2, 1, 1), 32, "low"),  # raw 8: just above the likely-depression cut-off
    ((2, 2, 1, 1, 1), 28, "very_low"),  # raw 7: at it
    ((0, 0, 0, 0, 0), 0, "very_low"),
])
def test_the_who5_scores_and_levels_at_the_documented_cut_offs(
        items: tuple[int, ...], percent: int, level: str) -> None:
    assert wellbeing.score(items) * wellbeing.MULTIPLIER == percent
    assert wellbeing.level_of(percent) == level
    assert wellbeing.level_of(50) == "low" and wellbeing.level_of(51) == "good"
    assert wellbeing.level_of(28) == "very_low" and wellbeing.level_of(29) == "low"


def test_a_who5_form_is_all_or_nothing_and_each_answer_0_to_5() -> None:
    assert wellbeing.parse({}) is None
    assert wellbeing.parse({f"who5-{n}": "" for n in range(1, 6)}) is None
    assert wellbeing.parse({f"who5-{n}": str(n - 1) for n in range(1, 6)}) == (0, 1, 2, 3, 4)
    for bad in ({"who5-1": "3"}, {**{f"who5-{n}": "3" for n in range(1, 6)}, "who5-2": "6"},
                {**{f"who5-{n}": "3" for n in range(1, 6)}, "who5-5": "x"}):
        with pytest.raises(wellbeing.WellbeingError):
            wellbeing.parse(bad)
    with pytest.raises(wellbeing.WellbeingError):
        wellbeing.score((1, 2, 3, 4))


def test_only_a_score_at_or_under_28_asks_the_coach_to_follow_up(db: Engine) -> None:
    with Session(db) as s:
        wellbeing.record(s, "p1", (2, 2, 1, 1, 2), by="u1", coach_id="c1", now=T0)  # 32
        wellbeing.record(s, "p1", (2, 2, 1, 1, 1), by="u1", coach_id="c1",
                         now=T0 + timedelta(days=14))  # 28
        s.commit()
        alerts = list(s.scalars(select(CoachAlert).where(CoachAlert.patient_id == "p1")))
        history = wellbeing.history(s, "p1")
        assert wellbeing.latest(s, "p2") is None
    assert [a.evidence["percent"] for a in alerts] == [28]
    assert alerts[0].kind == "alert" and alerts[0].flag_type == "who5_low"
    assert "not a diagnosis" in alerts[0].body and "Topp" in alerts[0].why
    assert [(w.percent, w.level) for w in history] == [(32, "low"), (28, "very_low")]
    with Session(db) as s:
        latest = wellbeing.latest_of(s, ["p1", "p2"])
    assert list(latest) == ["p1"] and latest["p1"].percent == 28


def test_check_in_ratings_and_the_history_over_time(db: Engine) -> None:
    with Session(db) as s:
        walk = outcomes.add(s, "p1", "Walk to the shops", "u1", T0)
        sleep = outcomes.add(s, "p1", "Sleep through", "u1", T0)
        theirs = outcomes.add(s, "p2", "Not hers", "u2", T0)
        form = {f"outcome-{walk}": "3", f"outcome-{sleep}": "", f"outcome-{theirs}": "9"}
        scores = outcomes.parse_checkin(form, [walk, sleep, theirs])
        assert scores == {walk: 3, theirs: 9}
        with pytest.raises(outcomes.OutcomeError):
            outcomes.parse_checkin({f"outcome-{walk}": "11"}, [walk])
        with pytest.raises(LookupError):  # another person's outcome is not hers to rate
            outcomes.rate_at_checkin(s, "p1", {theirs: 9}, T0)
        assert outcomes.rate_at_checkin(s, "p1", {walk: 3}, T0 + timedelta(days=1)) == 1
        outcomes.rate(s, "p1", walk, 6, T0 + timedelta(days=8))
        outcomes.retire(s, "p1", sleep, T0 + timedelta(days=9))
        s.commit()
        got = outcomes.history(s, "p1")
    assert [(o.text, o.retired_at is not None) for o in got] == [
        ("Walk to the shops", False), ("Sleep through", True)]
    assert [score for _, score in got[0].ratings] == [3, 6]


def test_the_record_lists_stories_by_consent_and_exports_a_valid_bundle(db: Engine) -> None:
    with Session(db) as s:
        walk = outcomes.add(s, "p1", "Walk to the shops", "u1", T0)
        outcomes.rate(s, "p1", walk, 5, T0 + timedelta(days=1))
        wellbeing.record(s, "p1", (4, 4, 4, 4, 4), by="u1", coach_id=None, now=T0)
        for sid, audience, state in (("s-all", "everyone", "approved"),
                                     ("s-group", "group", "approved"),
                                     ("s-wait", "everyone", "pending")):
            s.add(Story(id=sid, author_id="u1", author_patient_id="p1", title=sid, body="b",
                        conditions=[], situations=[], goals=[], naming="first",
                        audience=audience, state=state, created_at=T0, updated_at=T0))
        s.commit()
        readings = [reading(patient_id="p1", device_id="cgm-1", value=v,
                            at=T0 + timedelta(minutes=5 * i))
                    for i, v in enumerate((69, 70, 180, 181))]
        author = record.build(s, patient_id="p1", name="Ann Example",
                              reader=Reader("u1", "patient", "p1"), private=True,
                              readings=readings, now=T0 + timedelta(days=2))
        stranger = record.build(s, patient_id="p1", name="Ann Example",
                                reader=Reader("cg", "caregiver"), private=False,
                                readings=None, now=T0 + timedelta(days=2))
    assert [x.id for x in author.stories] == ["s-all", "s-group"]  # approved only
    assert [x.id for x in stranger.stories] == ["s-all"]  # the group is not hers to read
    assert stranger.outcomes is None and stranger.wellbeing is None and stranger.readings is None
    [glucose] = author.readings or ()
    assert glucose.metric == str(Metric.GLUCOSE) and glucose.in_range == 50.0  # 70 and 180 in

    found = bundle(author, PatientInfo("p1", "Ann Example", "UTC"))
    assert schema_problems(found) == [] and Bundle.model_validate(found)
    goal = next(e["resource"] for e in found["entry"] if e["resource"]["resourceType"] == "Goal")
    assert goal["expressedBy"] == goal["subject"] and goal["lifecycleStatus"] == "active"
    again = bundle(author, PatientInfo("p1", "Ann Example", "UTC"))
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in found["entry"]]

    text = "\n".join(t for _, t in lines(author))
    assert "Walk to the shops: 5 on 02 Dec 2026" in text and "80 out of 100" in text
    assert "Topp" in text and "50% in 70-180" in text.replace("\n", " ")
    assert pdf_bytes(stranger).startswith(b"%PDF")
    assert "Outcomes" not in "\n".join(t for _, t in lines(stranger))
