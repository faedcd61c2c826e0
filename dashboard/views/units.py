"""Weight in the viewer's units (kg or lb, their settings), at the edge: readings and
targets stay in kg (core/metrics.py, the canonical unit) through the analytics and the
clinical rules (the heart-failure warning is 2 kg in 3 days, docs/CLINICAL.md, whatever
the viewer reads); only what a page or its JSON shows is converted, to one decimal."""

from __future__ import annotations

from collections.abc import Iterable

from core.metrics import KG_PER_LB

KG, LB = "kg", "lb"
WEIGHT_UNITS = (KG, LB)


def weight(kg: float, units: str) -> float:
    """A weight (kg) in ``units``, rounded to 0.1 as scales show it."""
    return round(kg / KG_PER_LB if units == LB else kg, 1)


def weights(kgs: Iterable[float], units: str) -> list[float]:
    return [weight(float(x), units) for x in kgs]


def weight_text(kg: float, units: str) -> str:
    """"81.2 kg", "179.0 lb"."""
    return f"{weight(kg, units):.1f} {units if units in WEIGHT_UNITS else KG}"
