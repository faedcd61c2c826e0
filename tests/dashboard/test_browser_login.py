"""Sign in as each role in a real browser (Debian's Chromium, headless, via Playwright)
and see the right things and nothing else; screenshots go to test-artifacts/auth/."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium, screenshot, served_demo, sign_in  # noqa: F401
from tests.support.demo_site import DemoSite

NAMES = {"ann": "Ann Hughes", "bob": "Bob Okafor", "carla": "Carla Mendes", "dev": "Dev Patel",
         "zed": "Zed Outsider"}
# DESIGN.md §4 for the demo accounts: whose records each role may open.
SEES = {
    "patient": {"ann"},
    "caregiver": {"ann"},  # ann shares her readings with the caregiver
    "coach": {"ann", "bob", "carla", "dev"},  # the household is the care team's
    "nurse": {"ann", "bob", "carla", "dev"},  # and registered at the nurse's clinic
    "admin": set(),  # accounts and devices, no health data
}


@pytest.mark.parametrize("role", list(SEES))
def test_each_role_sees_its_patients_and_nothing_else(chromium, served_demo: DemoSite,  # noqa: F811
                                                      role: str) -> None:
    name, password = served_demo.credentials[role]
    page = sign_in(chromium, served_demo.base_url, name, password)
    try:
        assert "/login" not in page.url, f"{role} could not sign in"
        listed = {p["id"] for p in page.context.request.get(
            f"{served_demo.base_url}/api/patients").json()}
        assert listed == SEES[role]
        for patient_id in (*served_demo.household, served_demo.outsider):
            response = page.goto(f"{served_demo.base_url}/patients/{patient_id}")
            assert response is not None
            if patient_id in SEES[role]:
                assert response.status == 200, (role, patient_id)
                assert NAMES[patient_id] in page.inner_text("main")
                if patient_id == served_demo.patient_id:
                    screenshot(page, f"auth/{role}-patient-page")
            else:
                assert response.status == 403, (role, patient_id)
                assert "Not available to you" in page.inner_text("main")
                assert NAMES[patient_id] not in page.content()
        if role == "admin":
            screenshot(page, f"auth/{role}-forbidden")
    finally:
        page.context.close()


def test_the_patient_sees_who_looked_and_the_admin_sees_the_audit_log(
        chromium, served_demo: DemoSite) -> None:  # noqa: F811
    nurse = sign_in(chromium, served_demo.base_url, *served_demo.credentials["nurse"])
    nurse.goto(f"{served_demo.base_url}/patients/{served_demo.patient_id}")
    assert nurse.goto(f"{served_demo.base_url}/my-data/audit").status == 403
    nurse.context.close()

    patient = sign_in(chromium, served_demo.base_url, *served_demo.credentials["patient"])
    patient.goto(f"{served_demo.base_url}/my-data/audit")
    table = patient.inner_text("table.audit")
    assert "Nina (nurse)" in table and "patient page" in table
    screenshot(patient, "auth/patient-who-looked")
    assert patient.goto(f"{served_demo.base_url}/audit").status == 403
    patient.context.close()

    admin = sign_in(chromium, served_demo.base_url, *served_demo.credentials["admin"])
    admin.goto(f"{served_demo.base_url}/audit")
    assert "Nina (nurse)" in admin.inner_text("table.audit")
    screenshot(admin, "auth/admin-audit-log")
    admin.context.close()


def test_wrong_password_then_sign_in_then_sign_out(chromium, served_demo: DemoSite) -> None:  # noqa: F811
    name, password = served_demo.credentials["nurse"]
    page = sign_in(chromium, served_demo.base_url, name, "not the password")
    try:
        assert "do not match" in page.inner_text("#login-error")
        screenshot(page, "auth/login-error")
        page.fill("#username", name)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "/login" not in page.url
        page.get_by_role("button", name="Sign out").first.click()
        page.wait_for_load_state("networkidle")
        assert page.url.endswith("/login")
        page.goto(f"{served_demo.base_url}/patients/{served_demo.patient_id}")
        assert "/login?next=" in page.url  # signed out: back to the form
    finally:
        page.context.close()
