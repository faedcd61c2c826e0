import pytest

from core.metrics import CATALOGUE, GLUCOSE_MGDL_PER_MMOLL, Metric, normalise_unit, spec


def test_every_metric_has_a_complete_catalogue_entry() -> None:
    assert set(CATALOGUE) == set(Metric)
    for metric, entry in CATALOGUE.items():
        assert entry.metric is metric
        assert entry.minimum < entry.maximum
        assert entry.unit in entry.units


@pytest.mark.parametrize(
    ("metric", "value", "unit", "canonical"),
    [
        (Metric.GLUCOSE, 5.5, "mmol/L", 5.5 * GLUCOSE_MGDL_PER_MMOLL),
        (Metric.GLUCOSE, 99.0, "mg/dL", 99.0),
        (Metric.WEIGHT, 150.0, "[lb_av]", 68.0388555),
        (Metric.BODY_TEMPERATURE, 98.6, "[degF]", 37.0),
        (Metric.SYSTOLIC, 16.0, "kPa", 120.00992),
    ],
)
def test_conversions_reach_the_canonical_unit_and_back(
    metric: Metric, value: float, unit: str, canonical: float
) -> None:
    entry = spec(metric)
    assert entry.to_canonical(value, unit) == pytest.approx(canonical, rel=1e-6)
    assert entry.from_canonical(entry.to_canonical(value, unit), unit) == pytest.approx(value)


def test_glucose_conversion_uses_the_molar_mass_of_glucose() -> None:
    # 180.156 g/mol: 10 mmol/L is 180.156 mg/dL.
    assert spec(Metric.GLUCOSE).to_canonical(10.0, "mmol/L") == pytest.approx(180.156)


def test_loinc_codes_for_fhir_export() -> None:
    assert spec(Metric.SYSTOLIC).loinc == "8480-6"
    assert spec(Metric.DIASTOLIC).loinc == "8462-4"
    assert spec(Metric.WEIGHT).loinc == "29463-7"
    assert spec(Metric.SPO2).loinc == "59408-5"
    assert spec(Metric.MOTION).loinc is None


@pytest.mark.parametrize(("spelling", "ucum"), [("mg/dl", "mg/dL"), ("lbs", "[lb_av]"),
                                                ("°F", "[degF]"), ("mmHg", "mm[Hg]"),
                                                ("bpm", "/min")])
def test_common_unit_spellings_are_understood(spelling: str, ucum: str) -> None:
    assert normalise_unit(spelling) == ucum


def test_ranges_reject_the_implausible() -> None:
    glucose = spec(Metric.GLUCOSE)
    assert glucose.in_range(40) and not glucose.in_range(5000) and not glucose.in_range(0)
