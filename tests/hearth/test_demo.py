"""The demo household as the coach sees it, its seeded coaching history, and its sign-ins."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from care import conversation, groups, plans
from care.selfassessment import latest_assessment
from core.appdb.coaching import CoachAlert
from core.appdb.directory import SqlDirectory
from core.appdb.engine import create_schema, make_engine
from core.timeseries.sqlite import SqliteTimeSeriesStore
from devices.profiles import DEFAULT_HOUSEHOLD, load_profiles
from hearth.demo import (
    DemoAccount,
    create_demo_accounts,
    load_accounts,
    register_household,
    save_accounts,
)
from hearth.demo_seed import GROUP_NAME, seed_history
from tests.care.plan_support import simulated


def test_dose_times_of_a_profile_become_the_patients_medication_target() -> None:
    engine = make_engine("sqlite://")
    create_schema(engine)
    profiles = load_profiles(DEFAULT_HOUSEHOLD)
    register_household(engine, profiles)
    directory = SqlDirectory(engine)
    for profile in profiles:
        patient = directory.patient(profile.id)
        assert patient is not None
        times = profile.params.get("medication", {}).get("times")
        assert patient.targets.get("medication_times") == (list(times) if times else None)


def test_seeded_history_gives_every_role_something_real(tmp_path: Path) -> None:
    """Check-ins, agreed plans whose goals were measured on the 14 days of readings,
    messages both ways (the newest unread), a peer group with prompts and posts, and
    alerts for coach and nurse, older ones acknowledged; seeded once."""
    engine = make_engine(f"sqlite:///{tmp_path / 'hearth.db'}")
    create_schema(engine)
    store = SqliteTimeSeriesStore(tmp_path / "ts.db")
    profiles = load_profiles(DEFAULT_HOUSEHOLD)
    register_household(engine, profiles)
    create_demo_accounts(engine, profiles, password="a long enough password")
    now = datetime.now(UTC)
    store.write(simulated(profiles, now - timedelta(days=14), now))

    seeded = seed_history(engine, store, profiles, now=now)

    assert (seeded.patients, seeded.plans) == (4, 4)
    assert seeded.alerts_open >= 2 and seeded.alerts_acknowledged >= 2
    ids = [p.id for p in profiles]
    with Session(engine) as session:
        for pid in ids:
            assert latest_assessment(session, pid) is not None
            view = plans.plan_view(session, store, pid, now)
            assert view is not None and view.status == "agreed" and view.coach_id == "cora"
            assert view.goals and all(g.status == "active" for g in view.goals)
            # a finished week measured on the backfilled readings, and this week's so far
            assert all(g.history for g in view.goals), pid
            assert any(g.history[0]["achieved"] > 0 for g in view.goals), pid
            measured = [g for g in view.goals if g.kind != "self_report"]
            assert all(g.current is not None for g in measured), pid
            thread = conversation.thread(session, pid, viewer="coach")
            assert {m.author_role for m in thread} == {"coach", "patient"}
        # the demo patient (Ann) has a message from her coach to read; the others wrote last
        assert conversation.unread_for_patient(session, "ann") == 1
        assert conversation.unread_for_coach(session, ids) == {p: 1 for p in ids[1:]}
        (group,) = groups.groups_of(session, "ann")
        assert group.name == GROUP_NAME and set(groups.members(session, group.id)) == set(ids)
        feed = groups.group_feed(session, group.id, "bob")
        assert len(feed) == seeded.posts >= 5
        alerts = session.scalars(select(CoachAlert)).all()
        states = {(a.patient_id, a.audience, a.state) for a in alerts}
        assert ("carla", "nurse", "acknowledged") in states  # heart-failure weight, dealt with
        assert ("dev", "nurse", "open") in states  # oxygen below target, today
        assert any(s == "open" and aud == "coach" for _, aud, s in states)
        assert all(a.next_step_at is None for a in alerts)  # no ladder to page anybody
        for a in alerts:  # each dealt with by the person it went to
            if a.state == "acknowledged":
                assert a.acknowledged_by == {"nurse": "nina", "coach": "cora"}[a.audience]
        count = len(alerts)

    again = seed_history(engine, store, profiles, now=now + timedelta(minutes=5))
    assert again.kept and "earlier start" in again.summary()
    with Session(engine) as session:
        assert len(session.scalars(select(CoachAlert)).all()) == count
    store.close()
    engine.dispose()


def test_demo_sign_ins_are_kept_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "demo-accounts.txt"
    path.write_text("stale\n")
    path.chmod(0o644)
    accounts = [DemoAccount("ann", "patient", "Ann", "pw-one-1234"),
                DemoAccount("nina", "nurse", "Nina", "pw-two-5678")]
    save_accounts(path, accounts)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = load_accounts(path)
    assert "stale" not in text
    assert "    patient    ann        pw-one-1234\n" in text and "pw-two-5678" in text
    path.chmod(0o640)
    with pytest.raises(PermissionError, match="readable by others"):
        load_accounts(path)
    with pytest.raises(FileNotFoundError, match="start the demo first"):
        load_accounts(tmp_path / "nothing.txt")
