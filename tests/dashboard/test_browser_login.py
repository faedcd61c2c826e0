"""Sign in as each role in a real browser (Debian's Chromium, headless, via Playwright)
and see the right things and nothing else; screenshots go to test-artifacts/auth/."""

from __future__ import annotations

import pytest

from tests.support.browser import screenshot, sign_in
from tests.support.demo_site import DemoSite

NAMES = {"ann": "Ann Hughes", "bob": "Bob Okafor", "carla": "Carla Mendes", "dev": "Dev Patel",
         "zed": "Zed Outsider"}
# docs/DESIGN.md §4 for the demo accounts: whose records each role may open.
SEES = {
    "patient": {"ann"},
    "caregiver": {"ann"},  # ann shares her readings with the caregiver
    "coach": {"ann", "bob", "carla", "dev"},  # the household is the care team's
    "nurse": {"ann", "bob", "carla", "dev"},  # and registered at the nurse's clinic
    "admin": set(),  # accounts and devices, no health data
}


@pytest.mark.parametrize("role", list(SEES))
def test_each_role_sees_its_patients_and_nothing_else(chromium, served_demo: DemoSite,
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
        chromium, served_demo: DemoSite) -> None:
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


def test_wrong_password_then_sign_in_then_sign_out(chromium, served_demo: DemoSite) -> None:
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


def test_a_coach_reads_and_the_patient_sees_it_in_who_looked_at_my_data(
        chromium, served_demo: DemoSite) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    base, ann = served_demo.base_url, served_demo.patient_id
    coach = sign_in(chromium, base, *served_demo.credentials["coach"])
    assert coach.goto(f"{base}/coach/patients/{ann}").status == 200
    coach.context.close()

    patient = sign_in(chromium, base, *served_demo.credentials["patient"])
    try:
        patient.goto(f"{base}/home")
        assert patient.url.endswith(f"/patients/{ann}/today")  # their pages link to the view
        patient.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Who looked at my data").click()
        patient.wait_for_load_state("networkidle")
        assert patient.url.endswith("/my-data/audit")
        row = patient.locator("table.audit tbody tr", has_text="coach detail").first
        text = row.inner_text()
        assert "Cora (coach)" in text
        from devices.profiles import load_profiles

        zone = ZoneInfo(next(p.timezone for p in load_profiles() if p.id == ann))
        # the patient's local day, in the browser's locale (Babel: "Dec 7, 2026" in en-US)
        from babel.dates import format_skeleton

        lang = patient.evaluate("navigator.language").replace("-", "_")
        day = format_skeleton("yMMMd", datetime.now(UTC).astimezone(zone), locale=lang)
        assert day in text, (day, text)
        size = patient.evaluate("getComputedStyle(document.querySelector('table.audit td'))"
                                ".fontSize")
        assert float(size.removesuffix("px")) >= 18  # large, readable type
        screenshot(patient, "auth/patient-who-looked-coach")
    finally:
        patient.context.close()

    admin = sign_in(chromium, base, *served_demo.credentials["admin"])
    try:
        admin.goto(f"{base}/home")
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
        admin.wait_for_load_state("networkidle")
        admin.select_option("#f-patient", ann)
        admin.select_option("#f-actor", served_demo.credentials["coach"][0])
        admin.fill("#f-since", datetime.now(UTC).strftime("%Y-%m-%d"))
        admin.get_by_role("button", name="Filter").click()
        admin.wait_for_load_state("networkidle")
        rows = admin.locator("table.audit tbody tr").all_inner_texts()
        assert rows and all("Cora (coach)" in r and ann in r for r in rows), rows
        assert any("coach detail" in r for r in rows)
        screenshot(admin, "auth/admin-audit-filtered")
    finally:
        admin.context.close()
