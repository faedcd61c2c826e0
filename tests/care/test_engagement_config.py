"""A clinic's engagement thresholds (issue 20): checked as a whole with every error in
words, stored as overrides, used by the daily evaluation (care/engagement.py settings_for),
and the same through `hearth admin engagement` (audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from care import engagement as eng
from care import engagement_config as config
from core.appdb.accounts import Clinic, ClinicPatient
from core.appdb.audit_log import AuditLog
from core.config import get_settings
from hearth.cli import main
from tests.support.factories import app_database, register

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_every_field_of_the_settings_is_listed_with_its_default() -> None:
    names = {t.name for t in config.thresholds()}
    assert "sign_in_disengaged_days" in names and "expected_days.scale" in names
    assert config.defaults()["expected_days.bp_cuff"] == 3
    assert config.defaults()["slipping_points"] == eng.EngagementSettings().slipping_points


def test_a_change_keeps_only_what_differs_and_refuses_with_every_error() -> None:
    assert config.check({"sign_in_disengaged_days": "21", "nudges_min": "3",
                         "expected_days.scale": ""}) == {"sign_in_disengaged_days": 21}
    with pytest.raises(config.ThresholdError) as refused:
        config.check({"window_days": "0", "nudges_min": "2.5", "silent_all_days": "many",
                      "made_up": "1"})
    assert refused.value.errors == {
        "made_up": "not an engagement threshold (hearth admin engagement show lists them)",
        "window_days": "a number from 1 to 90", "nudges_min": "a whole number from 1 to 100",
        "silent_all_days": "a number from 1 to 90"}
    with pytest.raises(config.ThresholdError) as crossed:  # each pair keeps its order
        config.check({"slipping_points": "6", "disengaged_points": "5",
                      "device_disengaged_ratio": "0.8"})
    assert crossed.value.errors == {"slipping_points": "at most the points of disengaged",
                                    "device_disengaged_ratio": "below the share of slipping"}


def test_saved_thresholds_are_what_the_evaluation_uses(tmp_path: Path) -> None:
    engine = app_database(tmp_path / "app.db")
    register(engine, "p1", [])
    with Session(engine) as session:
        session.add(Clinic(id="riverside", name="Riverside"))
        session.flush()
        session.add(ClinicPatient(patient_id="p1", clinic_id="riverside"))
        session.commit()
    overrides = config.check({"disengaged_points": "3", "expected_days.scale": "7"})
    config.save(engine, "riverside", overrides, by="nina", now=NOW)
    current = config.read(engine, "riverside")
    assert current is not None and current.overrides == overrides
    assert current.values["disengaged_points"] == 3 and current.updated_by == "nina"
    with Session(engine) as session:
        s = eng.settings_for(session, "p1")
    assert s.disengaged_points == 3 and s.expected_days["scale"] == 7
    assert s.expected_days["bp_cuff"] == 3  # the rest stay the defaults
    assert config.read(engine, "nowhere") is None
    with pytest.raises(KeyError):
        config.save(engine, "nowhere", {}, by="nina", now=NOW)


def test_the_admin_command_shows_and_changes_them_audited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HEARTH_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        engine = app_database(tmp_path / "hearth.db")
        with Session(engine) as session:
            session.add(Clinic(id="riverside", name="Riverside"))
            session.commit()
        run = CliRunner()
        done = run.invoke(main, ["admin", "engagement", "set", "riverside",
                                 "sign_in_disengaged_days=21", "expected_days.scale=7"])
        assert done.exit_code == 0, done.output
        assert "saved (2 differ from the defaults)" in done.output
        shown = run.invoke(main, ["admin", "engagement", "show", "riverside"]).output
        assert "* sign_in_disengaged_days = 21   (default 30;" in shown
        assert "  window_days = 7   (default 7;" in shown
        bad = run.invoke(main, ["admin", "engagement", "set", "riverside", "window_days=0",
                                "slipping_points=x"])
        assert bad.exit_code != 0 and "nothing saved" in bad.output
        assert "window_days: a number from 1 to 90" in bad.output
        current = config.read(engine, "riverside")
        assert current is not None and current.overrides == {
            "sign_in_disengaged_days": 21, "expected_days.scale": 7}
        assert run.invoke(main, ["admin", "engagement", "set", "riverside", "--reset"]
                          ).exit_code == 0
        current = config.read(engine, "riverside")
        assert current is not None and current.overrides == {}
        audit = AuditLog(engine).entries(patient_id="clinic:riverside")
        assert [(a.actor_id, a.purpose) for a in audit] == [
            ("hearth-admin", "change engagement thresholds")] * 2
        assert run.invoke(main, ["admin", "engagement", "show", "nowhere"]).exit_code != 0
    finally:
        get_settings.cache_clear()
