"""The CGM summary as the HL7 FHIR Continuous Glucose Monitoring IG has it.

Source: HL7 FHIR Implementation Guide "Continuous Glucose Monitoring" v1.0.0
(STU 1, FHIR R4), http://hl7.org/fhir/uv/cgm/ — profiles cgm-summary,
cgm-summary-mean-glucose-mass-per-volume, cgm-summary-times-in-ranges,
cgm-summary-gmi, cgm-summary-coefficient-of-variation, cgm-summary-days-of-wear
and cgm-summary-sensor-active-percentage.  Codes as the IG binds them:

    summary panel ............ LOINC 107931-8 (STU 1; the ballot used the IG's
                               temporary code cgm-summary, sent too for receivers
                               of the ballot version)
    times in ranges panel .... LOINC 106793-3, components very low 104642-4,
                               low 104641-6, target 97510-2, high 104640-8,
                               very high 104639-0 (percent)
    mean glucose ............. LOINC 97507-8 (mg/dL)
    GMI ...................... LOINC 97506-0 (%)
    CV ....................... LOINC 104638-2 (%)
    days of wear ............. LOINC 104636-6 (d)
    sensor active ............ LOINC 104637-4 (%)

The figures themselves come from analytics (the International Consensus
on Time in Range, Battelino et al. 2019; GMI by Bergenstal et al. 2018); this
module only maps plain numbers, so ``core`` stays free of the coach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

from core.interop.fhir import (
    LOINC,
    OBSERVATION_CATEGORY,
    UCUM,
    Entry,
    full_url,
    identifier,
    stable_id,
)

CGM_IG = "http://hl7.org/fhir/uv/cgm"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
CGM_TEMPORARY_CODES = f"{CGM_IG}/CodeSystem/cgm-summary-codes-temporary"
SUMMARY_LOINC = "107931-8"
TIMES_IN_RANGES_LOINC = "106793-3"
RANGE_LOINC = {
    "very_low": "104642-4",  # <54 mg/dL
    "low": "104641-6",  # 54-69 mg/dL
    "in_range": "97510-2",  # 70-180 mg/dL
    "high": "104640-8",  # 181-250 mg/dL
    "very_high": "104639-0",  # >250 mg/dL
}
RANGE_TEXT = {
    "very_low": "Time in very low range (<54 mg/dL)",
    "low": "Time in low range (54-69 mg/dL)",
    "in_range": "Time in target range (70-180 mg/dL)",
    "high": "Time in high range (181-250 mg/dL)",
    "very_high": "Time in very high range (>250 mg/dL)",
}


@dataclass(frozen=True, slots=True)
class CgmSummaryFigures:
    """The numbers of one reporting period, as analytics computed them."""

    first_day: date  # reporting period, local dates, inclusive
    last_day: date
    mean_mg_dl: float
    very_low: float  # percent of time
    low: float
    in_range: float
    high: float
    very_high: float
    gmi_percent: float
    cv_percent: float | None  # None: undefined (fewer than two readings)
    days_of_wear: int
    percent_active: float


def _profile(name: str) -> dict[str, list[str]]:
    return {"profile": [f"{CGM_IG}/StructureDefinition/{name}"]}


def _percent(value: float) -> dict[str, Any]:
    # The IG asks for percentages with at least two decimal places of precision.
    return {"value": round(value, 2), "unit": "%", "system": UCUM, "code": "%"}


def _observation(name: str, codings: list[dict[str, str]], text: str, *,
                 figures: CgmSummaryFigures, patient_url: str) -> dict[str, Any]:
    key = f"{patient_url}/{figures.first_day}/{figures.last_day}/{name}"
    return {
        "resourceType": "Observation",
        "id": stable_id("cgm-summary", key),
        "meta": _profile(name),
        "identifier": [identifier("cgm-summary", key)],
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "code": {"coding": codings, "text": text},
        "subject": {"reference": patient_url},
        "effectivePeriod": {"start": figures.first_day.isoformat(),
                            "end": figures.last_day.isoformat()},
    }


def _loinc(code: str) -> list[dict[str, str]]:
    return [{"system": LOINC, "code": code}]


def cgm_summary_entries(figures: CgmSummaryFigures, *, patient_url: str) -> list[Entry]:
    """The summary panel first, then its six members (it references them in hasMember)."""
    observation = partial(_observation, figures=figures, patient_url=patient_url)
    mean = observation("cgm-summary-mean-glucose-mass-per-volume", _loinc("97507-8"),
                        "Mean glucose")
    mean["valueQuantity"] = {"value": round(figures.mean_mg_dl, 1), "unit": "mg/dl",
                             "system": UCUM, "code": "mg/dL"}
    ranges = observation("cgm-summary-times-in-ranges", _loinc(TIMES_IN_RANGES_LOINC),
                          "Times in glucose ranges")
    ranges["component"] = [
        {"code": {"coding": _loinc(code), "text": RANGE_TEXT[band]},
         "valueQuantity": _percent(getattr(figures, band))}
        for band, code in RANGE_LOINC.items()
    ]
    gmi = observation("cgm-summary-gmi", _loinc("97506-0"),
                       "Glucose management indicator (GMI)")
    gmi["valueQuantity"] = _percent(figures.gmi_percent)
    cv = observation("cgm-summary-coefficient-of-variation", _loinc("104638-2"),
                      "Coefficient of variation (CV)")
    if figures.cv_percent is None:
        cv["dataAbsentReason"] = {"coding": [{"system": DATA_ABSENT, "code": "not-a-number"}]}
    else:
        cv["valueQuantity"] = _percent(figures.cv_percent)
    wear = observation("cgm-summary-days-of-wear", _loinc("104636-6"), "Days of wear")
    wear["valueQuantity"] = {"value": figures.days_of_wear, "unit": "days", "system": UCUM,
                             "code": "d"}
    active = observation("cgm-summary-sensor-active-percentage", _loinc("104637-4"),
                          "Sensor active percentage")
    active["valueQuantity"] = _percent(figures.percent_active)
    members = [mean, ranges, gmi, cv, wear, active]
    summary = observation(
        "cgm-summary",
        [*_loinc(SUMMARY_LOINC), {"system": CGM_TEMPORARY_CODES, "code": "cgm-summary"}],
        "CGM summary")
    summary["hasMember"] = [{"reference": full_url(m["id"])} for m in members]
    return [Entry(full_url(r["id"]), r) for r in (summary, *members)]


def summary_codes(entries: Sequence[Entry]) -> list[str]:
    """The first LOINC code of each entry (for reports and tests)."""
    return [e.resource["code"]["coding"][0]["code"] for e in entries]
