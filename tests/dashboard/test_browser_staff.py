"""A clinic adds a patient without the simulator or a terminal (issue 18): the nurse signs
in, clicks "Add a patient", fills the form, binds two devices, and lands on the new
patient's review page; the patient is on her triage board, bound to the devices, in the
chosen care team, and the audit log has the act. The form refuses a taken id, a device
bound to someone else and a coach; it is CSRF-protected; axe-core finds no serious
violation. In Debian's Chromium, clicking only (the URL is never typed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from core.appdb.accounts import CareTeamPatient, ClinicPatient
from core.appdb.directory import SqlDirectory
from tests.support.axe import axe_violations
from tests.support.browser import sign_in
from tests.support.demo_site import DemoSite

WAIT_MS = 60_000


def _nav(page: Any) -> Any:
    return page.get_by_role("navigation", name="Main")


def _click(page: Any, target: Any) -> None:
    with page.expect_navigation(wait_until="domcontentloaded", timeout=WAIT_MS):
        target.click(timeout=WAIT_MS)
    page.locator("h1").first.wait_for(timeout=WAIT_MS)


def _open_form(chromium: Any, site: DemoSite, *, bypass_csp: bool = False) -> Any:
    name, password = site.credentials["nurse"]
    page = sign_in(chromium, site.base_url, name, password, width=1280)
    if bypass_csp:  # axe is injected: a context of its own that ignores the page's CSP
        context = chromium.new_context(viewport={"width": 1280, "height": 900},
                                       bypass_csp=True, storage_state=page.context.storage_state())
        page.context.close()
        page = context.new_page()
        page.goto(f"{site.base_url}/nurse")
    assert page.url.endswith("/nurse")
    _click(page, _nav(page).get_by_role("link", name="Add a patient", exact=True))
    assert page.locator("h1").inner_text() == "Add a patient"
    return page


def test_a_nurse_adds_a_patient_by_clicking_and_opens_their_review(
        chromium: Any, served_demo: DemoSite, tmp_path: Path) -> None:
    page = _open_form(chromium, served_demo)
    try:
        page.fill("#patient_id", "nia")
        page.fill("#name", "Nia Okafor")
        page.select_option("#timezone", "Europe/London")
        page.check("#condition-heart_failure")
        page.check("#condition-hypertension")
        page.fill("#birth_year", "1951")
        team = page.locator("#team_id option").nth(1)
        team_id = team.get_attribute("value")
        page.select_option("#team_id", team_id)
        page.fill("#device-id-1", "nia-scale")
        page.select_option("#device-kind-1", "scale")
        page.fill("#device-id-2", "nia-cuff")
        page.select_option("#device-kind-2", "bp_cuff")
        page.screenshot(path=str(tmp_path / "add-patient-1280.png"), full_page=True)
        _click(page, page.locator("#add-patient-submit"))

        assert page.url.endswith("/nurse/patients/nia?added=1"), page.url
        assert page.locator("h1").inner_text() == "Review: Nia Okafor"
        assert page.locator("#patient-added").is_visible()
        _click(page, _nav(page).get_by_role("link", name="Triage", exact=True))
        row = page.locator("#triage tbody a[href='/nurse/patients/nia']")
        assert row.count() == 1
        _click(page, row)
        assert page.locator("h1").inner_text() == "Review: Nia Okafor"
    finally:
        page.context.close()

    info = SqlDirectory(served_demo.accounts.engine).patient("nia")
    assert info is not None and info.timezone == "Europe/London"
    assert set(info.conditions) == {"heart_failure", "hypertension"}
    directory = SqlDirectory(served_demo.accounts.engine)
    assert {(b.device_id, b.patient_id) for b in directory.devices_of("nia")} == {
        ("nia-scale", "nia"), ("nia-cuff", "nia")}
    with Session(served_demo.accounts.engine) as session:
        assert session.get(ClinicPatient, "nia") is not None
        assert session.get(CareTeamPatient, (team_id, "nia")) is not None
    acts = [e for e in served_demo.accounts.audit_log.entries(patient_id="nia")
            if e.purpose == "add a patient"]
    assert len(acts) == 1 and acts[0].actor_role == "nurse"


def test_the_form_says_what_is_wrong_and_adds_nothing(
        chromium: Any, served_demo: DemoSite) -> None:
    taken = served_demo.patient_id
    page = _open_form(chromium, served_demo)
    try:
        page.fill("#patient_id", taken)
        page.fill("#name", "Someone Else")
        page.fill("#device-id-1", f"{served_demo.outsider}-cgm")  # the outsider's own CGM
        page.select_option("#device-kind-1", "cgm")
        _click(page, page.locator("#add-patient-submit"))
        assert page.locator("#form-errors").is_visible()
        assert f"a patient {taken} exists already" in page.inner_text("#patient_id-error")
        # what was typed is kept
        assert page.input_value("#name") == "Someone Else"
    finally:
        page.context.close()
    info = SqlDirectory(served_demo.accounts.engine).patient(taken)
    assert info is not None and info.display_name != "Someone Else"


def test_only_a_nurse_may_and_only_with_the_form_s_csrf_token(
        chromium: Any, served_demo: DemoSite) -> None:
    coach, password = served_demo.credentials["coach"]
    page = sign_in(chromium, served_demo.base_url, coach, password)
    try:
        labels = _nav(page).get_by_role("link").all_inner_texts()
        assert "Add a patient" not in [t.strip() for t in labels]
        response = page.request.get(f"{served_demo.base_url}/staff/patients/new")
        assert response.status == 403
        posted = page.request.post(f"{served_demo.base_url}/staff/patients", form={
            "patient_id": "cat", "name": "Cat", "timezone": "Europe/London"})
        assert posted.status == 403
    finally:
        page.context.close()
    nurse, password = served_demo.credentials["nurse"]
    page = sign_in(chromium, served_demo.base_url, nurse, password)
    try:  # signed in, but a POST without the form's token is refused
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        answer = httpx.post(f"{served_demo.base_url}/staff/patients", cookies=cookies,
                            data={"patient_id": "dot", "name": "Dot",
                                  "timezone": "Europe/London"}, timeout=30)
        assert answer.status_code == 403
    finally:
        page.context.close()
    assert SqlDirectory(served_demo.accounts.engine).patient("cat") is None
    assert SqlDirectory(served_demo.accounts.engine).patient("dot") is None


def test_axe_core_finds_no_serious_violation_on_the_form(
        chromium: Any, served_demo: DemoSite) -> None:
    page = _open_form(chromium, served_demo, bypass_csp=True)
    try:
        assert axe_violations(page) == []
    finally:
        page.context.close()
