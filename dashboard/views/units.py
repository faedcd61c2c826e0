"""Weight in the viewer's units (kg or lb, their settings), at the edge: readings and
targets stay in kg (core/metrics.py, the canonical unit) through the analytics and the
clinical rules (the heart-failure warning is 2 kg in 3 days, docs/CLINICAL.md, whatever
the viewer reads); only what a page or its JSON shows is converted, to one decimal."""

from __future__ import annotations

import re
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


_KG_IN_TEXT = re.compile(r"([+−-]?)(\d+(?:\.\d+)?) kg\b")
_KG_RANGE = re.compile(r"(\d+(?:\.\d+)?) to (\d+(?:\.\d+)?) kg\b")  # "70.0 to 72.5 kg"


def in_text(text: str, units: str) -> str:
    """Every "<number> kg" of a sentence in ``units``: "Weight up 2.4 kg since 3 Dec (80.1
    to 82.5 kg)" -> "Weight up 5.3 lb since 3 Dec (176.6 to 181.9 lb)". For texts made once
    for every viewer in the canonical kg (the triage board is built once per set of patients
    and shared by every nurse and server process: dashboard/views/triage.py), converted for
    each viewer as it is shown. A gain converts like a weight (both scale by the same factor)."""
    if units != LB:
        return text
    text = _KG_RANGE.sub(lambda m: f"{weight(float(m[1]), LB):.1f} to {m[2]} kg", text)
    return _KG_IN_TEXT.sub(lambda m: f"{m[1]}{weight(float(m[2]), LB):.1f} lb", text)
