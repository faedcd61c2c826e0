"""Readings, patients and devices as FHIR R4 resources, gathered in a Bundle.

Each reading becomes an ``Observation`` coded with the LOINC code and UCUM unit
of the metric catalogue (glucose by its method: CGM 99504-3, meter 41653-7);
blood pressure becomes the panel 85354-9 with systolic (8480-6) and diastolic
(8462-4) components, as the FHIR R4 vital-signs blood-pressure profile has it
(http://hl7.org/fhir/R4/bp.html).  Oxygen saturation carries LOINC 2708-6 beside
the pulse-oximetry code 59408-5: the R4 vital-signs oxygen-saturation profile
(http://hl7.org/fhir/R4/oxygensat.html) requires 2708-6.  CGM readings carry the
HL7 CGM IG's quantity pattern exactly (unit "mg/dl", UCUM code "mg/dL"; profile
cgm-sensor-reading-mass-per-volume, http://hl7.org/fhir/uv/cgm/).  Metrics
without a LOINC code (motion, door, pill box) are left out of the export.

Resources get stable ids (UUID v5 of the reading's identity), so exporting the
same period twice gives the same resources, and every bundle is validated
twice before it leaves: against HL7's R4 JSON schema (``fhir_schema/fhir.schema.json``,
vendored), which refuses what the models let through (an unknown status code, a
number given as a string), and against the ``fhir.resources`` R4B models
(docs/INTEROP.md, "FHIR R4 export").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from core.appdb.directory import DeviceBinding, PatientInfo
from core.errors import HearthError
from core.metrics import CATALOGUE, LOINC_BY_GLUCOSE_METHOD, GlucoseMethod, Metric
from core.readings import Reading

FHIR_VERSION = "4.0.1"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
IDENTIFIER_SYSTEM = "urn:hearth"  # urn:hearth:patient, urn:hearth:device, urn:hearth:reading
BP_PANEL_LOINC = "85354-9"  # Blood pressure panel with all children optional
SPO2_VITAL_SIGNS_LOINC = "2708-6"  # Oxygen saturation in Arterial blood (R4 oxygensat profile)
CGM_MASS_UNIT = "mg/dl"  # the CGM IG's pattern: unit "mg/dl", UCUM code "mg/dL"
SCHEMA_PATH = Path(__file__).with_name("fhir_schema") / "fhir.schema.json"
CGM_IG = "http://hl7.org/fhir/uv/cgm/StructureDefinition"
CGM_READING_PROFILE = f"{CGM_IG}/cgm-sensor-reading-mass-per-volume"
CGM_DEVICE_PROFILE = f"{CGM_IG}/cgm-device"
_NAMESPACE = uuid.UUID("6f1e2c1a-8c2b-5d55-9a0e-4e6561727468")  # fixed: ids stay stable
_BP = (Metric.SYSTOLIC, Metric.DIASTOLIC)
_CATEGORY = {Metric.GLUCOSE: "laboratory", Metric.STEPS: "activity"}


class FhirValidationError(HearthError):
    """A resource Hearth built does not validate against the FHIR models (a bug here)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One Bundle entry: the resource and the URL other entries reference it by."""

    full_url: str
    resource: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"fullUrl": self.full_url, "resource": self.resource}


def stable_id(kind: str, key: str) -> str:
    """A FHIR id (UUID v5) that is the same on every export of the same thing."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{key}"))


def full_url(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def fhir_instant(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def identifier(kind: str, value: str) -> dict[str, str]:
    return {"system": f"{IDENTIFIER_SYSTEM}:{kind}", "value": value}


def patient_entry(info: PatientInfo) -> Entry:
    rid = stable_id("patient", info.id)
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": rid,
        "identifier": [identifier("patient", info.id)],
        "active": True,
        "name": [{"text": info.display_name}],
    }
    return Entry(full_url(rid), resource)


def device_entry(binding: DeviceBinding, *, patient_url: str) -> Entry:
    rid = stable_id("device", binding.device_id)
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": rid,
        "identifier": [identifier("device", binding.device_id)],
        "status": "active" if binding.active else "inactive",
        "deviceName": [{"name": f"{binding.kind} {binding.device_id}",
                        "type": "user-friendly-name"}],
        "type": {"text": binding.kind},
        "patient": {"reference": patient_url},
    }
    if binding.kind == "cgm":
        resource["meta"] = {"profile": [CGM_DEVICE_PROFILE]}
    return Entry(full_url(rid), resource)


def quantity(value: float, metric: Metric) -> dict[str, Any]:
    spec = CATALOGUE[metric]
    number: float | int = int(round(value)) if spec.integer else round(value, 4)
    return {"value": number, "unit": spec.display_unit, "system": UCUM, "code": spec.unit}


def loinc_of(reading: Reading) -> str | None:
    if reading.metric is Metric.GLUCOSE:
        return LOINC_BY_GLUCOSE_METHOD.get(reading.source)
    return CATALOGUE[reading.metric].loinc


def observation_entries(
    readings: Iterable[Reading], *, patient_url: str, device_urls: Mapping[str, str]
) -> list[Entry]:
    """One Observation per reading; a systolic and diastolic pair becomes one BP panel."""
    out: list[Entry] = []
    pressure: dict[tuple[str, datetime], dict[Metric, Reading]] = {}
    for reading in readings:
        if reading.metric in _BP:
            key = (reading.device_id, reading.measured_at)
            pressure.setdefault(key, {})[reading.metric] = reading
        elif loinc_of(reading) is not None:
            out.append(_single(reading, patient_url, device_urls))
    for parts in pressure.values():
        if len(parts) == 2:
            out.append(_bp_panel(parts[Metric.SYSTOLIC], parts[Metric.DIASTOLIC],
                                 patient_url, device_urls))
        else:
            out.extend(_single(r, patient_url, device_urls) for r in parts.values())
    return out


def _reading_key(device_id: str, what: str, when: datetime) -> str:
    return f"{device_id}/{what}/{fhir_instant(when)}"


def _base(reading: Reading, what: str, patient_url: str, device_urls: Mapping[str, str],
          code: str) -> dict[str, Any]:
    key = _reading_key(reading.device_id, what, reading.measured_at)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": stable_id("observation", key),
        "identifier": [identifier("reading", key)],
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY,
                                  "code": _CATEGORY.get(reading.metric, "vital-signs")}]}],
        "code": {"coding": [{"system": LOINC, "code": code}],
                 "text": CATALOGUE[reading.metric].description.split(";")[0]},
        "subject": {"reference": patient_url},
        "effectiveDateTime": fhir_instant(reading.measured_at),
    }
    if reading.device_id in device_urls:
        resource["device"] = {"reference": device_urls[reading.device_id]}
    notes = [n for n in (reading.context, *reading.status) if n]
    if notes:
        resource["note"] = [{"text": n} for n in notes]
    return resource


def _single(reading: Reading, patient_url: str, device_urls: Mapping[str, str]) -> Entry:
    code = loinc_of(reading)
    assert code is not None
    resource = _base(reading, str(reading.metric), patient_url, device_urls, code)
    resource["valueQuantity"] = quantity(reading.value, reading.metric)
    if reading.metric is Metric.SPO2:
        resource["code"]["coding"].insert(0, {"system": LOINC, "code": SPO2_VITAL_SIGNS_LOINC})
    if reading.metric is Metric.GLUCOSE:
        resource["code"]["text"] = f"Glucose ({reading.source})"
        if reading.source == GlucoseMethod.CGM:
            resource["meta"] = {"profile": [CGM_READING_PROFILE]}
            resource["valueQuantity"]["unit"] = CGM_MASS_UNIT
    return Entry(full_url(resource["id"]), resource)


def _bp_panel(systolic: Reading, diastolic: Reading, patient_url: str,
              device_urls: Mapping[str, str]) -> Entry:
    resource = _base(systolic, "blood_pressure", patient_url, device_urls, BP_PANEL_LOINC)
    resource["code"]["text"] = "Blood pressure"
    resource["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": CATALOGUE[r.metric].loinc}],
                  "text": CATALOGUE[r.metric].description},
         "valueQuantity": quantity(r.value, r.metric)}
        for r in (systolic, diastolic)
    ]
    notes = [n for n in (diastolic.context, *diastolic.status) if n]
    if notes and "note" not in resource:
        resource["note"] = [{"text": n} for n in notes]
    return Entry(full_url(resource["id"]), resource)


def collection_bundle(entries: Sequence[Entry], *, timestamp: datetime,
                      bundle_key: str) -> dict[str, Any]:
    """A ``collection`` Bundle (FHIR R4 §Bundle), validated before it is returned."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": stable_id("bundle", bundle_key),
        "meta": {"lastUpdated": fhir_instant(timestamp)},
        "type": "collection",
        "timestamp": fhir_instant(timestamp),
        "entry": [e.as_json() for e in entries],
    }
    validate_bundle(bundle)
    return bundle


def validate_bundle(bundle: Mapping[str, Any]) -> None:
    """Validate the bundle and every resource in it against the R4 schema and the R4B models.

    The schema goes first: it names an unknown resource type clearly, where the
    models fail with a KeyError of their own.
    """
    problems = schema_problems(bundle)
    if problems:
        raise FhirValidationError(
            "the FHIR bundle does not validate against the R4 JSON schema: " + "; ".join(problems))
    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        raise FhirValidationError(f"the FHIR bundle does not validate: {exc}") from exc


@cache
def _schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


@cache
def _validator(definition: str | None) -> Any:
    """A draft-06 validator of the whole schema (None) or of one of its definitions."""
    schema = _schema()
    if definition is not None:
        if definition not in schema["definitions"]:
            raise FhirValidationError(f"no resource type {definition!r} in FHIR R4")
        schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    return jsonschema_rs.Draft6Validator(schema)


def schema_problems(resource: Mapping[str, Any], *, limit: int = 5) -> list[str]:
    """Where a resource (a Bundle: each entry's) breaks HL7's R4 JSON schema: paths and rules.

    The messages name the element and the rule broken, never the value (a reading).
    The whole schema (all resource types under one ``oneOf``) answers fast whether
    anything is wrong; each entry is then checked against its own type's definition
    for a message that says where.
    """
    if _validator(None).is_valid(resource):
        return []
    parts: list[tuple[str, Any]] = []
    entries = resource.get("entry", []) if resource.get("resourceType") == "Bundle" else []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(inner, dict):
            parts.append((f"/entry/{i}/resource", inner))
    shell = {k: v for k, v in resource.items() if k != "entry"} if entries else resource
    parts.insert(0, ("", shell))
    out: list[str] = []
    for prefix, part in parts:
        kind = part.get("resourceType")
        if not isinstance(kind, str):
            out.append(f"{prefix or '/'}: no resourceType")
            continue
        for error in _validator(kind).iter_errors(part):
            where = prefix + "/" + "/".join(str(p) for p in error.instance_path)
            rule = error.schema_path[-1] if error.schema_path else "schema"
            out.append(f"{kind} {where.rstrip('/') or '/'}: breaks '{rule}'")
            if len(out) >= limit:
                return out
    return out or ["the bundle breaks the schema (no single entry is at fault)"]
