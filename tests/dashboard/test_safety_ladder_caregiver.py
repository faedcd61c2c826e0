"""A caregiver who shares a person's alerts but is not on her alert ladder sees the alert
and is told who answers it; only the caregivers she opted in to urgent alerts press OK
(dashboard/security.py may_act_on_alert; dashboard/views/safety.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.test_views_patient import csrf, open_safety_alert, steps_of
from tests.dashboard.views_support import World, build_world
from tests.support.accounts import PASSWORD, sign_in


@pytest.fixture
def fresh_world(tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from build_world(tmp_path)


def test_only_the_caregivers_on_the_ladder_get_the_ok_button(fresh_world: World) -> None:
    world = fresh_world
    world.accounts.users.add("dora", role="caregiver", display_name="Dora", password=PASSWORD)
    world.accounts.sharing.share("p1", "dora", ("readings", "alerts"), urgent_alerts=False)
    open_safety_alert(world, "c1")

    dora = TestClient(world.app)
    assert sign_in(dora, "dora").status_code == 303
    page = dora.get("/shared").text
    assert 'data-safety-alert="c1"' in page  # she sees it ...
    assert "/safety-alerts/c1/acknowledge" not in page  # ... without an OK she may not press
    assert "people on her alert ladder answer this one" in page
    refused = dora.post("/patients/p1/safety-alerts/c1/acknowledge",
                        headers={"X-CSRF-Token": csrf(dora)})
    assert refused.status_code == 403
    assert steps_of(world, "c1")[-1][1] == "notified"

    cara = world.client("caregiver")  # opted in to urgent alerts: on the ladder
    assert "/safety-alerts/c1/acknowledge" in cara.get("/shared").text


def test_a_caregiver_sharing_goals_does_not_read_the_patient_coach_thread(
        fresh_world: World) -> None:
    from dashboard.views.care import send

    world = fresh_world
    send(world.engine, patient_id="p1", author_id="coach1", author_name="Cora",
         author_role="coach", recipient_key="p1", body="Private: how did the new dose feel?",
         now=world.clock.now)
    world.accounts.users.add("gina", role="caregiver", display_name="Gina", password=PASSWORD)
    world.accounts.sharing.share("p1", "gina", ("readings", "goals"), urgent_alerts=False)
    gina = TestClient(world.app)
    assert sign_in(gina, "gina").status_code == 303
    page = gina.get("/patients/p1/goals")
    assert page.status_code == 200  # she may see the goals she was given ...
    assert "how did the new dose feel" not in page.text  # ... not the private thread
    assert 'id="messages"' not in page.text
    own = world.client("patient").get("/patients/p1/goals").text
    assert "how did the new dose feel" in own
