"""The nurse view through the real app: triage across conditions (CGM buckets against own
targets, meter, BP, heart-failure weight, SpO2), ranked by the most urgent finding, filters,
search and paging, the review page's charts per condition, the AGP report, reviews."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.metrics import Metric
from tests.dashboard.views_support import NOW, World, add_patient, build_world, fill, r
from tests.support.accounts import PASSWORD, csrf_from


def steady(value: float):
    return lambda i: value


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("nurse")
    gen = build_world(tmp, extra_patients=60)
    w = next(gen)
    s = w.store
    # q000: 10% of the time at 50 mg/dL -> very low (and low)
    fill(s, "q000", days=14, end=NOW, glucose=lambda i: 50.0 if i % 10 == 0 else 120.0)
    # q001: 30% of the time at 200 -> high
    fill(s, "q001", days=14, end=NOW, glucose=lambda i: 200.0 if i % 10 < 3 else 120.0)
    # q002: CGM worn 5 of 14 days -> low wear
    fill(s, "q002", days=5, end=NOW, glucose=steady(120.0))
    # q003: 2% below 70 at 65: fine for most adults (< 4%) ...
    fill(s, "q003", days=14, end=NOW, glucose=lambda i: 65.0 if i % 50 == 0 else 120.0)
    # q004: ... but the same for an older adult (< 1%) is the "low" bucket
    add_patient(w.engine, "q004", "Other q004", targets={"older_adult": True})
    fill(s, "q004", days=14, end=NOW, glucose=lambda i: 65.0 if i % 50 == 0 else 120.0)
    # q005: meeting targets, with a confirmed BP crisis yesterday, a 3 kg gain and low SpO2
    fill(s, "q005", days=14, end=NOW, glucose=steady(120.0))
    crisis = NOW - timedelta(days=1)
    s.write([r("q005", "q005-cuff", Metric.SYSTOLIC, 186.0, crisis, "bp_cuff", "mm[Hg]"),
             r("q005", "q005-cuff", Metric.DIASTOLIC, 100.0, crisis, "bp_cuff", "mm[Hg]"),
             r("q005", "q005-cuff", Metric.SYSTOLIC, 184.0, crisis + timedelta(minutes=5),
               "bp_cuff", "mm[Hg]"),
             r("q005", "q005-cuff", Metric.DIASTOLIC, 101.0, crisis + timedelta(minutes=5),
               "bp_cuff", "mm[Hg]"),
             r("q005", "q005-scale", Metric.WEIGHT, 84.0, NOW - timedelta(hours=3), "scale", "kg"),
             r("q005", "q005-ox", Metric.SPO2, 88.0, NOW - timedelta(hours=2), "pulse_oximeter",
               "%")])
    # q006: time in range fell from 100% to ~60% in the last 7 days
    fill(s, "q006", days=14, end=NOW,
         glucose=lambda i: 120.0 if i < 7 * 288 or i % 5 > 1 else 200.0)
    # q007: meeting targets on the CGM, with fingersticks of 45 mg/dL beside it (not CGM time)
    fill(s, "q007", days=14, end=NOW, glucose=steady(120.0))
    s.write([r("q007", "q007-meter", Metric.GLUCOSE, 45.0, NOW - timedelta(hours=h, minutes=2),
               "meter", "mg/dL") for h in range(1, 200, 2)])
    # q008: a glucose meter only: no CGM data, however many fingersticks
    s.write([r("q008", "q008-meter", Metric.GLUCOSE, 120.0, NOW - timedelta(hours=h),
               "meter", "mg/dL") for h in range(1, 300, 3)])
    yield w
    try:
        next(gen)
    except StopIteration:
        pass


def rows_by_id(body: dict) -> dict[str, dict]:
    return {row["patient_id"]: row for row in body["rows"]}


def test_triage_puts_each_patient_in_its_bucket_against_their_own_targets(world: World) -> None:
    nurse = world.client("nurse")
    body = nurse.get("/api/nurse/triage", params={"per_page": 200}).json()
    rows = rows_by_id(body)
    assert rows["q000"]["bucket"] == "very_low" and "low" in rows["q000"]["flags"]
    assert rows["q001"]["bucket"] == "high"
    assert rows["q001"]["above_180"] == pytest.approx(30, abs=1)
    assert rows["q002"]["bucket"] == "low_wear" and rows["q002"]["wear_percent"] < 70
    assert rows["q003"]["bucket"] == "meeting"
    assert rows["q004"]["bucket"] == "low"  # the same data, judged against older-adult targets
    assert rows["q006"]["bucket"] == "tir_drop" and rows["q006"]["tir_change"] < -15
    assert rows["q010"]["bucket"] == "no_data"  # a person with diabetes and no glucose at all
    assert rows["q010"]["findings"][0]["reason"] == "No glucose readings in 14 days (diabetes)"
    review = world.client("nurse").get("/nurse/patients/q010").text
    conditions = review.split('id="conditions"')[1].split("</section>")[0]
    assert 'id="no-glucose"' in review and 'class="chart"' not in conditions
    assert rows["q007"]["bucket"] == "meeting" and rows["q007"]["below_54"] == 0
    # a glucose meter only: judged as a meter user, never by the CGM's rules
    assert rows["q008"]["bucket"] == "meter_ok" and rows["q008"]["glucose_source"] == "meter"
    assert rows["q008"]["flags"] == [] and rows["q008"]["wear_percent"] is None
    assert rows["q008"]["level"] == 0 and rows["q008"]["columns"]["glucose"].startswith("Meter")
    assert rows["p1"]["bucket"] == "meeting"
    # ranked by the most urgent finding of any condition: q005's BP crisis, weight gain and
    # low SpO2 (three urgent findings), then q000's lows (two), q004's (one), q001's highs
    order = [row["patient_id"] for row in body["rows"]]
    assert order[:3] == ["q005", "q000", "q004"]
    assert order.index("q004") < order.index("q001") < order.index("q006") < order.index("q003")
    assert [rows[p]["level"] for p in ("q005", "q000", "q001", "q006", "q003")] == [3, 3, 2, 1, 0]
    assert rows["q000"]["findings"][0]["reason"].startswith("CGM: 10% of the time below 54 mg/dL")
    assert body["counts"]["very_low"] == 1 and body["total"] == 61


def test_non_glucose_risks_stand_beside_the_buckets(world: World) -> None:
    nurse = world.client("nurse")
    rows = rows_by_id(nurse.get("/api/nurse/triage", params={"per_page": 200}).json())
    assert set(rows["q005"]["risks"]) == {"bp_crisis", "hf_weight", "spo2_low"}
    assert rows["q005"]["bucket"] == "meeting" and rows["q005"]["level"] == 3
    reasons = [f["reason"] for f in rows["q005"]["findings"]]
    assert any(r.startswith("BP 186/100 on 14 Mar") and "confirmed" in r for r in reasons)
    assert "SpO2 88% at 15 Mar 10:00 (at or below the urgent 92%; 1 reading below 95% in 24 h)" \
        in reasons
    assert any(r.startswith("Weight up 3.") for r in reasons)
    assert rows["p1"]["risks"] == []


def test_filters_search_and_pages(world: World) -> None:
    nurse = world.client("nurse")
    low = nurse.get("/api/nurse/triage", params={"bucket": "low"}).json()
    assert {row["patient_id"] for row in low["rows"]} == {"q000", "q004"}
    for name in ("low", "very_low", "high", "meeting", "no_data", "meter_ok", "spo2_low"):
        key = "risk" if name == "spo2_low" else "bucket"  # each count = what its filter shows
        shown = nurse.get("/api/nurse/triage", params={key: name}).json()
        assert shown["total"] == low["counts"][name]
    for level in range(4):
        shown = nurse.get("/api/nurse/triage", params={"level": level}).json()
        assert shown["total"] == low["counts"][f"level_{level}"]
        assert {row["level"] for row in shown["rows"]} <= {level}
    assert sum(low["counts"][f"level_{n}"] for n in range(4)) == 61
    crisis = nurse.get("/api/nurse/triage", params={"risk": "bp_crisis"}).json()
    assert [row["patient_id"] for row in crisis["rows"]] == ["q005"]
    found = nurse.get("/api/nurse/triage", params={"q": "pat ex"}).json()
    assert [row["patient_id"] for row in found["rows"]] == ["p1"]
    first = nurse.get("/api/nurse/triage", params={"per_page": 25, "page": 1}).json()
    third = nurse.get("/api/nurse/triage", params={"per_page": 25, "page": 3}).json()
    assert len(first["rows"]) == 25 and len(third["rows"]) == 11 and third["page"] == 3
    assert not {x["patient_id"] for x in first["rows"]} & {x["patient_id"] for x in third["rows"]}
    page = nurse.get("/nurse", params={"bucket": "very_low"})
    assert page.status_code == 200 and 'data-patient="q000"' in page.text
    assert 'data-patient="q001"' not in page.text
    assert nurse.get("/api/nurse/triage", params={"bucket": "purple"}).status_code == 422
    assert nurse.get("/nurse", params={"level": "9"}).status_code == 422
    urgent = nurse.get("/nurse", params={"level": "3"}).text
    assert 'data-patient="q005"' in urgent and 'data-patient="q001"' not in urgent


def test_only_nurses_triage_and_only_their_clinic(world: World) -> None:
    assert world.client("coach").get("/api/nurse/triage").status_code == 403
    assert world.client("patient").get("/nurse").status_code == 403
    world.accounts.clinics.add("elsewhere", "Another clinic")
    world.accounts.users.add("nell", role="nurse", display_name="Nell",
                            password="correct horse battery staple",
                            clinic_id="elsewhere")
    from tests.support.accounts import sign_in

    other = world.client()
    sign_in(other, "nell")
    assert other.get("/api/nurse/triage").json()["total"] == 0
    assert other.get("/api/patients/q000/agp-report").status_code == 403


def test_agp_report_pdf_and_png(world: World) -> None:
    nurse = world.client("nurse")
    pdf = nurse.get("/api/patients/q001/agp-report")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    png = nurse.get("/api/patients/q001/agp-report", params={"format": "png", "days": 7})
    assert png.content.startswith(b"\x89PNG")
    assert nurse.get("/api/patients/q010/agp-report").status_code == 404  # no glucose


def test_review_records_who_and_when_and_shows_in_the_list(world: World) -> None:
    nurse = world.client("nurse")
    page = nurse.get("/nurse/patients/q001")
    assert "Not reviewed yet" in page.text and "/api/patients/q001/agp-report" in page.text
    done = nurse.post("/nurse/patients/q001/reviews", data={"note": "Talked about evening snacks",
                                                            "csrf_token": csrf_from(page.text)},
                      follow_redirects=False)
    assert done.status_code == 303
    page = nurse.get("/nurse/patients/q001")
    assert "Last reviewed by <strong>Nora</strong>" in page.text
    assert "Talked about evening snacks" in page.text
    row = rows_by_id(nurse.get("/api/nurse/triage", params={"q": "q001"}).json())["q001"]
    assert row["reviewed_by"] == "Nora" and row["reviewed_at"].startswith("2026-03-15T12:00")
    # without the CSRF token the form is refused
    assert nurse.post("/nurse/patients/q001/reviews", data={"note": "x"}).status_code == 403


def test_nurse_acknowledges_a_clinical_alert_on_the_review_page(world: World) -> None:
    from sqlalchemy.orm import Session

    from core.appdb.coaching import CoachAlert

    with Session(world.engine) as session:
        session.add(CoachAlert(id="clin1", patient_id="q005", flag_type="bp_crisis",
                               kind="clinical_alert",
                               audience="nurse", priority="urgent", title="Blood pressure crisis",
                               body="186/100 twice",
                               why="Systolic 180 or more, confirmed after 5 minutes.",
                               evidence={}, state="open", created_at=NOW - timedelta(hours=1),
                               ladder=[]))
        session.commit()
    nurse = world.client("nurse")
    page = nurse.get("/nurse/patients/q005")
    assert 'data-alert="clin1"' in page.text and "confirmed after 5 minutes" in page.text
    assert 'data-alert="clin1"' in nurse.get("/nurse/alerts").text
    done = nurse.post("/patients/q005/alerts/clin1/acknowledge",
                      data={"csrf_token": csrf_from(page.text), "back": "/nurse/patients/q005"},
                      follow_redirects=False)
    assert done.headers["location"] == "/nurse/patients/q005"
    with Session(world.engine) as session:
        alert = session.get(CoachAlert, "clin1")
        assert alert.state == "acknowledged" and alert.acknowledged_by == world.people.nurse
    assert 'data-alert="clin1"' not in nurse.get("/nurse/patients/q005").text


# -- a seeded risk mix across conditions -------------------------------------------------------

@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory):
    """A CGM user with hypos, a COPD patient with low SpO2, a heart-failure patient gaining
    2.5 kg in 3 days, and a well-controlled meter user, beside p1 (meeting targets)."""
    from sqlalchemy.orm import Session

    from core.appdb.directory import PatientInfo, upsert_patient
    from tests.dashboard.views_support import join_clinic

    gen = build_world(tmp_path_factory.mktemp("nurse-mix"))
    w = next(gen)
    s = w.store
    with Session(w.engine) as session:  # their conditions and own targets, as a clinic records them
        for info in (PatientInfo("m-hypo", "Ann Hypo", "Europe/London", ("type_1_diabetes",)),
                     PatientInfo("m-copd", "Dev Copd", "America/New_York", ("copd",),
                                 {"spo2_percent": 90}),
                     PatientInfo("m-hf", "Carla Heart", "Europe/London",
                                 ("heart_failure", "hypertension"), {"bp_systolic": 135}),
                     PatientInfo("m-meter", "Mo Meter", "Europe/London", ("type_2_diabetes",))):
            upsert_patient(session, info)
        session.commit()
    join_clinic(w.engine, ["m-hypo", "m-copd", "m-hf", "m-meter"])
    # CGM: 10% of the time at 45 mg/dL (urgent lows)
    s.write([r("m-hypo", "m-hypo-cgm", Metric.GLUCOSE, 45.0 if i % 10 == 0 else 130.0,
               NOW - timedelta(minutes=5 * i + 1), "cgm", "mg/dL") for i in range(14 * 288)])
    # COPD: 94% every 2 hours, and 86-87% this morning (own target 90%)
    s.write([r("m-copd", "m-copd-ox", Metric.SPO2, 94.0, NOW - timedelta(hours=2 * h + 1),
               "pulse_oximeter", "%") for h in range(2, 40)]
            + [r("m-copd", "m-copd-ox", Metric.SPO2, v, NOW - timedelta(hours=h),
                 "pulse_oximeter", "%") for v, h in ((86.0, 3), (87.0, 1))])
    # heart failure: 70 kg every morning for 11 days, then 70.8, 71.6 and 72.5 kg
    weights = [70.0] * 11 + [70.8, 71.6, 72.5]
    s.write([r("m-hf", "m-hf-scale", Metric.WEIGHT, kg, NOW - timedelta(days=13 - d, hours=4),
               "scale", "kg") for d, kg in enumerate(weights)])
    # a meter four times a day, 95-150 mg/dL
    s.write([r("m-meter", "m-meter-meter", Metric.GLUCOSE, 95.0 + (k * 17) % 56,
               NOW - timedelta(hours=6 * k + 2), "meter", "mg/dL") for k in range(56)])
    yield w
    try:
        next(gen)
    except StopIteration:
        pass


def test_a_risk_mix_is_ranked_across_conditions(mix: World) -> None:
    nurse = mix.client("nurse")
    body = nurse.get("/api/nurse/triage").json()
    order = [row["patient_id"] for row in body["rows"]]
    rows = rows_by_id(body)
    # the CGM hypos (two urgent findings), then low SpO2 and the weight gain, as urgent
    assert order[0] == "m-hypo" and set(order[1:3]) == {"m-copd", "m-hf"}
    assert [rows[p]["level"] for p in order[:3]] == [3, 3, 3]
    assert set(order[3:]) == {"m-meter", "p1"} and rows["m-meter"]["level"] == 0
    assert rows["m-copd"]["risks"] == ["spo2_low"] and rows["m-hf"]["risks"] == ["hf_weight"]
    assert rows["m-copd"]["findings"][0]["reason"] == (
        "SpO2 86% at 15 Mar 05:00 (target 90% or more; 2 readings below 90% in 24 h)")
    assert rows["m-hf"]["findings"][0]["reason"].startswith("Weight up 2.5 kg since 12 Mar")
    assert rows["m-hf"]["columns"]["weight"] == "+2.5 kg since 12 Mar"
    # only CGM wearers are judged by CGM rules
    for pid in ("m-copd", "m-hf", "m-meter"):
        assert rows[pid]["glucose_source"] in ("", "meter") and rows[pid]["wear_percent"] is None
        assert not {"no_data", "low_wear"} & set(rows[pid]["flags"])
    assert rows["m-meter"]["bucket"] == "meter_ok" and rows["m-copd"]["bucket"] == ""
    page = nurse.get("/nurse").text
    shown = [line.split('data-patient="')[1].split('"')[0] for line in page.splitlines()
             if 'data-patient="' in line]
    assert shown == order
    assert "No CGM data" not in page and "Wear &lt;70%" not in page and "Wear <70%" not in page


def test_the_board_shows_weights_in_the_nurses_units(mix: World) -> None:
    """Issue 18: a nurse who reads lb sees the heart-failure gain in lb on the board (its
    column and its reason, page and API); the rule is still 2 kg in 3 days underneath and
    the shared board itself stays in kg (another nurse reads kg at the same time)."""
    from core.metrics import KG_PER_LB
    from dashboard.views.units import in_text

    assert in_text("Weight up 2.5 kg since 12 Mar (70.0 to 72.5 kg)", "lb") == (
        "Weight up 5.5 lb since 12 Mar (154.3 to 159.8 lb)")
    assert in_text("+2.5 kg since 12 Mar", "kg") == "+2.5 kg since 12 Mar"
    nurse = mix.client("nurse")
    token = nurse.get("/settings").text.split('name="csrf_token" value="')[1].split('"')[0]
    saved = nurse.post("/settings", data={"glucose_units": "mg/dL", "weight_units": "lb",
                                          "csrf_token": token}, follow_redirects=False)
    assert saved.status_code == 303
    try:
        rows = rows_by_id(nurse.get("/api/nurse/triage").json())
        gain = f"{round(2.5 / KG_PER_LB, 1):.1f}"
        assert rows["m-hf"]["columns"]["weight"] == f"+{gain} lb since 12 Mar"
        assert rows["m-hf"]["findings"][0]["reason"].startswith(f"Weight up {gain} lb since")
        assert "72.5 kg" not in rows["m-hf"]["findings"][0]["reason"]
        page = nurse.get("/nurse").text
        assert f"+{gain} lb since 12 Mar" in page and "+2.5 kg since" not in page
    finally:
        token = nurse.get("/settings").text.split('name="csrf_token" value="')[1].split('"')[0]
        nurse.post("/settings", data={"glucose_units": "mg/dL", "weight_units": "kg",
                                      "csrf_token": token}, follow_redirects=False)
    rows = rows_by_id(nurse.get("/api/nurse/triage").json())
    assert rows["m-hf"]["columns"]["weight"] == "+2.5 kg since 12 Mar"


def review_data(page: str) -> dict:
    import json

    return json.loads(page.split('<script type="application/json" id="review-data">')[1]
                      .split("</script>")[0])


def test_the_review_page_charts_every_condition_with_its_target_lines(mix: World) -> None:
    nurse = mix.client("nurse")
    copd = nurse.get("/nurse/patients/m-copd").text
    data = review_data(copd)
    assert 'id="spo2-chart"' in copd and data["spo2_target"] == 90.0
    assert data["spo2_urgent"] == 83.0  # a prescribed target below 92%: NEWS2 scale 2
    assert len(data["spo2"]["values"]) == 40 and min(data["spo2"]["values"]) == 86.0
    assert data["glucose"] is None and data["meter"] is None
    assert "agp-chart" not in copd and "Download the AGP report" not in copd
    assert "views/review.js" in copd and "vendor/uplot/uPlot.iife.min.js" in copd
    assert nurse.get("/api/patients/m-copd/agp-report").status_code == 404  # never raw JSON

    hf = nurse.get("/nurse/patients/m-hf").text
    data = review_data(hf)
    assert 'id="weight-chart"' in hf and data["weight"]["values"][-1] == 72.5
    assert data["weight_alert_kg"] == 72.0  # the lowest of the 3 days before (70.0) + 2 kg
    assert "Download the AGP report" not in hf and "spo2-chart" not in hf

    hypo = nurse.get("/nurse/patients/m-hypo").text
    data = review_data(hypo)
    assert 'id="agp-chart"' in hypo and 'id="agp-pdf"' in hypo
    assert data["glucose"]["readings"] == 14 * 288 and data["glucose_range"] == [70.0, 180.0]
    assert nurse.get("/api/nurse/patients/m-hypo/charts").json() == data


def test_finger_sticks_are_points_and_never_an_agp(mix: World) -> None:
    nurse = mix.client("nurse")
    page = nurse.get("/nurse/patients/m-meter").text
    data = review_data(page)
    assert data["glucose"] is None  # no AGP, no time in range from four readings a day
    assert len(data["meter"]["values"]) == 56 and data["meter"]["readings_per_day"] == 4.0
    assert data["meter"]["percent_in_target"] == 100.0 and data["meter"]["lowest"] == 95.0
    assert 'id="meter-chart"' in page and "agp-chart" not in page
    assert "Download the AGP report" not in page
    report = nurse.get("/api/patients/m-meter/agp-report")
    assert report.status_code == 404 and "CGM data only" in report.json()["detail"]
    # a coach may not open the nurse's charts; nurses of another clinic neither
    assert mix.client("coach").get("/api/nurse/patients/m-meter/charts").status_code == 403


def test_in_a_browser_the_nurse_opens_the_most_urgent_rows_and_sees_their_charts(
        mix: World, chromium) -> None:
    """Debian's Chromium under the page's Content-Security-Policy: the triage order as seen,
    a click on a row opens the review page, and its charts are drawn (screenshots at
    1280 and 390 px in test-artifacts/nurse/)."""
    from tests.support.browser import screenshot
    from tests.support.browser import sign_in as browser_sign_in
    from tests.support.dashboard_server import serving

    expected = [row["patient_id"] for row in
                mix.client("nurse").get("/api/nurse/triage").json()["rows"]]
    with serving(mix.app) as url:
        for width in (1280, 390):
            page = browser_sign_in(chromium, url, mix.people.nurse, PASSWORD, width=width)
            page.goto(f"{url}/nurse")
            seen = page.eval_on_selector_all("#triage tbody tr[data-patient]",
                                             "rows => rows.map(r => r.dataset.patient)")
            assert seen == expected
            assert "SpO2 86%" in page.inner_text('tr[data-patient="m-copd"]')
            screenshot(page, f"nurse/triage-{width}px")
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways
            for name, pid, drawn in (("Dev Copd", "m-copd", "#spo2-chart canvas"),
                                     ("Carla Heart", "m-hf", "#weight-chart canvas"),
                                     ("Mo Meter", "m-meter", "#meter-chart canvas"),
                                     ("Ann Hypo", "m-hypo", "#agp-chart canvas")):
                page.goto(f"{url}/nurse")
                page.click(f'#triage a:text-is("{name}")')
                page.wait_for_url(f"**/nurse/patients/{pid}")
                page.wait_for_selector(drawn, timeout=30_000)
                assert page.locator("#agp-pdf").count() == (1 if pid == "m-hypo" else 0)
                screenshot(page, f"nurse/review-{pid}-{width}px")
                assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.context.close()


def test_each_condition_has_its_own_rules_in_words(mix: World) -> None:
    """judge() on patients outside the clinic (their readings in the same store)."""
    from core.appdb.directory import PatientInfo
    from dashboard.views.triage import judge

    s = mix.store
    day = timedelta(days=1)
    # heart failure, weighed on 4 of the last 7 whole days
    s.write([r("u-hf", "u-hf-scale", Metric.WEIGHT, 80.0, NOW - d * day - timedelta(hours=4),
               "scale", "kg") for d in (0, 1, 3, 5, 6)])
    # home BP: a morning and an evening pair every day for 8 days at 150/95
    s.write([r("u-bp", "u-bp-cuff", metric, value, NOW - d * day - timedelta(hours=h, minutes=m),
               "bp_cuff", "mm[Hg]")
             for d in range(8) for h in (2, 12) for m in (0, 1)
             for metric, value in ((Metric.SYSTOLIC, 150.0), (Metric.DIASTOLIC, 95.0))])
    # an oximeter that stopped 50 hours ago; a meter with one urgent low; a pill box opened
    # on 3 of the last 7 days for a twice-daily medication
    s.write([r("u-ox", "u-ox-ox", Metric.SPO2, 95.0, NOW - timedelta(hours=50 + h),
               "pulse_oximeter", "%") for h in range(10)])
    s.write([r("u-meter", "u-meter-m", Metric.GLUCOSE, 50.0 if k == 3 else 120.0,
               NOW - timedelta(hours=8 * k + 1), "meter", "mg/dL") for k in range(30)])
    s.write([r("u-pill", "u-pill-box", Metric.MEDICATION_TAKEN, 1.0,
               NOW - d * day - timedelta(hours=h), "pill_box", "1") for d in (1, 2, 3)
             for h in (1, 11)])

    def reasons(pid: str, conditions: tuple[str, ...] = (), **targets: object) -> list[str]:
        row = judge(s, PatientInfo(pid, pid, "Europe/London", conditions, dict(targets)), end=NOW)
        return [f"{f.level} {f.reason}" for f in row.findings]

    assert reasons("u-hf", ("heart_failure",)) == [
        "1 Weighed on 4 of the last 7 days (daily weighing advised)"]
    assert reasons("u-hf") == []  # daily weighing is heart-failure self-care
    assert reasons("u-bp") == [
        "1 Home BP average 150/95 over 7 days (target under 135/85)"]
    assert reasons("u-bp", bp_systolic=155, bp_diastolic=100) == []  # the patient's own target
    assert reasons("u-ox") == ["1 No SpO2 reading for 2 days"]
    assert reasons("u-meter", ("type_2_diabetes",)) == [
        "3 Meter: 1 reading below 54 mg/dL in 14 days (lowest 50)"]
    assert reasons("u-pill", medication_times=["08:00", "20:00"]) == [
        "1 Pill box: 6 of 14 doses in the last 7 days"]
    assert reasons("u-nobody") == ["1 No readings in 14 days"]
    assert reasons("u-nobody", ("type_1_diabetes",)) == [
        "1 No glucose readings in 14 days (diabetes)"]
