"""A clinic's engagement thresholds on a page (issue 20): its nurse and an admin read and
change them, every error shown beside its field and nothing saved, every change audited;
a nurse of another clinic, a coach and a patient may not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from care import engagement_config as config
from tests.dashboard.views_support import World, build_world
from tests.support.accounts import csrf_from


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world(tmp_path_factory.mktemp("engagement-settings"))


def test_the_nurse_changes_her_clinics_thresholds(world: World) -> None:
    nurse = world.client("nurse")
    page = nurse.get("/nurse").text
    assert 'href="/staff/engagement"' in page  # reached by clicking, from her menu
    form = nurse.get("/staff/engagement")
    assert form.status_code == 200 and "Engagement thresholds: Test clinic" in form.text
    assert 'name="sign_in_disengaged_days"' in form.text and 'placeholder="30"' in form.text
    token = csrf_from(form.text)
    bad = nurse.post("/staff/engagement", data={
        "csrf_token": token, "clinic_id": "clinic", "window_days": "0",
        "slipping_points": "9", "disengaged_points": "4"})
    assert bad.status_code == 422 and 'id="form-errors"' in bad.text
    assert "a number from 1 to 90" in bad.text and 'aria-invalid="true"' in bad.text
    assert config.read(world.engine, "clinic").overrides == {}  # type: ignore[union-attr]
    done = nurse.post("/staff/engagement", data={
        "csrf_token": token, "clinic_id": "clinic", "sign_in_disengaged_days": "21",
        "expected_days.scale": "7", "window_days": ""}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/staff/engagement?saved=1"
    current = config.read(world.engine, "clinic")
    assert current is not None and current.updated_by == world.people.nurse
    assert current.overrides == {"sign_in_disengaged_days": 21, "expected_days.scale": 7}
    again = nurse.get("/staff/engagement?saved=1").text
    assert 'id="saved"' in again and 'value="21"' in again
    audit = world.accounts.audit_log.entries(patient_id="clinic:clinic")
    assert [(a.actor_id, a.purpose) for a in audit][:1] == [
        (world.people.nurse, "change engagement thresholds")]
    # another clinic is not hers
    assert nurse.get("/staff/engagement?clinic=elsewhere").status_code == 403


def test_an_admin_chooses_a_clinic_and_others_may_not(world: World) -> None:
    admin = world.client("admin")
    chooser = admin.get("/staff/engagement").text
    assert 'id="choose-clinic"' in chooser and '<option value="clinic"' in chooser
    page = admin.get("/staff/engagement?clinic=clinic").text
    done = admin.post("/staff/engagement", data={
        "csrf_token": csrf_from(page), "clinic_id": "clinic", "nudges_min": "5"},
        follow_redirects=False)
    assert done.headers["location"] == "/staff/engagement?clinic=clinic&saved=1"
    current = config.read(world.engine, "clinic")
    assert current is not None and current.overrides == {"nudges_min": 5}
    assert admin.get("/staff/engagement?clinic=nowhere").status_code == 404
    for role in ("coach", "patient", "caregiver"):
        client = world.client(role)
        assert client.get("/staff/engagement").status_code == 403
