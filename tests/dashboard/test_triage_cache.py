"""The kept triage board and the trends page cache, through the real app.

A board is the triage of the 14 days ending at the start of its 5-minute period,
labelled "as of"; a reading stored later shows once the period turns (the old board
is served, with its own label, while the next one is built in the background).
Authorization and the audit are applied on every request, never kept with the board.
The trends page sees a new reading at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.appdb.accounts import AuditEvent, ClinicPatient
from core.metrics import Metric
from tests.dashboard.views_support import NOW, World, add_patient, build_world, fill, r
from tests.support.accounts import PASSWORD, sign_in
from tests.support.factories import wait_until


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    gen = build_world(tmp_path_factory.mktemp("triage-cache"), extra_patients=3)
    w = next(gen)
    for pid in ("q000", "q002"):  # meeting targets; q001 has no CGM data yet
        fill(w.store, pid, days=14, end=NOW, glucose=lambda i: 120.0)
    yield w
    w.clock.now = NOW
    try:
        next(gen)
    except StopIteration:
        pass


def board(world: World, **params: str) -> dict:
    response = world.client("nurse").get("/api/nurse/triage", params={"per_page": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()


def bucket_of(body: dict, pid: str) -> str:
    return next(row["bucket"] for row in body["rows"] if row["patient_id"] == pid)


def audited(world: World, actor: str, purpose: str) -> list[str]:
    with Session(world.engine) as session:
        return list(session.scalars(select(AuditEvent.patient_id).where(
            AuditEvent.actor_id == actor, AuditEvent.purpose == purpose)))


def test_a_new_reading_shows_when_the_period_turns_and_the_label_says_as_of_when(
        world: World) -> None:
    world.clock.now = NOW + timedelta(minutes=1)
    before = board(world)
    assert datetime.fromisoformat(before["as_of"]) == NOW  # 12:01 -> the period of 12:00
    assert bucket_of(before, "q001") == "no_data"
    page = world.client("nurse").get("/nurse").text
    assert "as of" in page and 'datetime="2026-03-15T12:00:00+00:00"' in page

    # q001's CGM uploads its 14 days after the board was built: 10% of it urgent lows
    fill(world.store, "q001", days=14, end=NOW, glucose=lambda i: 45.0 if i % 10 == 0 else 120.0)
    world.clock.now = NOW + timedelta(minutes=4)
    kept = board(world)  # same period: the kept board, and it says how old it is
    assert datetime.fromisoformat(kept["as_of"]) == NOW
    assert bucket_of(kept, "q001") == "no_data"

    world.clock.now = NOW + timedelta(minutes=6)  # the next period (12:05) has begun
    served = board(world)  # the previous board, labelled as such, or already the next one
    assert datetime.fromisoformat(served["as_of"]) in (NOW, NOW + timedelta(minutes=5))
    wait_until(lambda: datetime.fromisoformat(board(world)["as_of"])
               == NOW + timedelta(minutes=5), timeout=60, message="the next board")
    assert bucket_of(board(world), "q001") == "very_low"
    page = world.client("nurse").get("/nurse").text
    assert 'datetime="2026-03-15T12:05:00+00:00"' in page


def test_a_nurse_sees_only_her_clinic_even_from_a_kept_board(world: World) -> None:
    world.accounts.clinics.add("clinic2", "Other clinic")
    add_patient(world.engine, "z001", "Zed Elsewhere")
    fill(world.store, "z001", days=14, end=NOW, glucose=lambda i: 120.0)
    world.accounts.clinics.register("z001", "clinic2")
    world.accounts.users.add("nina", role="nurse", display_name="Nina", password=PASSWORD,
                            clinic_id="clinic2")
    nina = world.client()
    assert sign_in(nina, "nina").status_code == 303

    ours = {row["patient_id"] for row in board(world)["rows"]}
    theirs = nina.get("/api/nurse/triage", params={"per_page": 200}).json()
    assert "z001" not in ours and "p1" in ours
    assert [row["patient_id"] for row in theirs["rows"]] == ["z001"]
    searched = world.client("nurse").get("/nurse", params={"q": "Zed"}).text
    assert "Zed Elsewhere" not in searched and "0 patients match" in searched

    # a patient who leaves the clinic leaves the list at once, kept board or not
    world.accounts.clinics.register("q002", "clinic2")
    with Session(world.engine) as session:
        session.execute(delete(ClinicPatient).where(ClinicPatient.patient_id == "q002",
                                                    ClinicPatient.clinic_id == "clinic"))
        session.commit()
    assert "q002" not in {row["patient_id"] for row in board(world)["rows"]}
    assert "q002" in {row["patient_id"] for row in nina.get(
        "/api/nurse/triage", params={"per_page": 200}).json()["rows"]}


def test_every_request_audits_the_rows_it_shows_even_from_a_kept_board(world: World) -> None:
    before = len(audited(world, world.people.nurse, "triage"))
    first = board(world, per_page="1")
    second = board(world, per_page="1", page="2")
    shown = [row["patient_id"] for row in first["rows"] + second["rows"]]
    after = audited(world, world.people.nurse, "triage")
    assert len(after) - before == len(shown) == 2 and shown[0] != shown[1]
    assert sorted(after[before:]) == sorted(shown)


def test_the_trends_page_sees_a_new_reading_at_once(world: World) -> None:
    world.clock.now = NOW + timedelta(minutes=10)
    patient = world.client("patient")
    first = patient.get("/api/patients/p1/trends", params={"days": 14}).json()
    again = patient.get("/api/patients/p1/trends", params={"days": 14}).json()
    assert again == first  # served from the cache
    world.store.write([r("p1", "p1-scale", Metric.WEIGHT, 95.5,
                         NOW + timedelta(minutes=9), "scale", "kg")])
    after = patient.get("/api/patients/p1/trends", params={"days": 14}).json()
    assert after["weight"]["values"][-1] == 95.5
    assert len(after["weight"]["values"]) == len(first["weight"]["values"]) + 1


def test_cached_trends_are_still_checked_and_audited_for_each_viewer(world: World) -> None:
    world.clock.now = NOW + timedelta(minutes=11)
    own = world.client("patient").get("/api/patients/p1/trends").json()  # now cached
    before = len(audited(world, world.people.caregiver, "trends"))
    carer = world.client("caregiver").get("/api/patients/p1/trends")
    assert carer.status_code == 200 and carer.json()["glucose"] == own["glucose"]
    assert len(audited(world, world.people.caregiver, "trends")) == before + 1
    # the coach may see p1; nobody sees a patient outside their care from the cache
    assert world.client("coach").get("/api/patients/p1/trends").status_code == 200
    assert world.client("caregiver").get("/api/patients/q000/trends").status_code == 403
    world.accounts.sharing.unshare("p1", world.people.caregiver)
    assert world.client("caregiver").get("/api/patients/p1/trends").status_code == 403
