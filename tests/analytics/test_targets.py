"""analytics/targets.py is the one source of clinical thresholds.

A scan of analytics/ and dashboard/ (Python, templates, scripts) fails on any comparison
with one of the clinical numbers written as a literal (``x < 70``, ``{% if v >= 180 %}``,
``value > 250``): such a threshold must come from analytics/targets.py (which cites
docs/CLINICAL.md). And the consensus numbers themselves are checked against the source.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from analytics import targets as tg
from analytics.cgm import Ranges, consensus_targets

ROOT = Path(__file__).resolve().parents[2]


def _numbers(value: object) -> set[float]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, int | float):
        return {float(value)}
    if isinstance(value, tuple | list):
        return {n for v in value for n in _numbers(v)}
    if hasattr(value, "__dataclass_fields__"):
        return {n for f in value.__dataclass_fields__ for n in _numbers(getattr(value, f))}
    if hasattr(value, "values"):
        return {n for v in value.values() for n in _numbers(v)}
    return set()


def clinical_numbers() -> set[float]:
    """Every number of analytics/targets.py distinctive enough to be a threshold when it
    stands in a comparison (small counts such as 1, 2 or 3 are too common to tell)."""
    found = {n for name, value in vars(tg).items() if name.isupper()
             for n in _numbers(value)}
    return {n for n in found if n >= 30.0 and n not in (50.0,)}


KNOWN = clinical_numbers()


def test_the_known_numbers_hold_the_consensus_ones() -> None:
    assert {54.0, 70.0, 180.0, 250.0, 36.0, 92.0, 130.0, 135.0, 85.0, 120.0} <= KNOWN


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _python_hits(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if isinstance(side, ast.Constant) and isinstance(side.value, int | float) \
                        and not isinstance(side.value, bool) and float(side.value) in KNOWN:
                    hits.append(f"{_shown(path)}:{node.lineno}: {ast.unparse(node)}")
    return hits


# a comparison with a number (not a product such as ``48 * 60``, a unit conversion)
COMPARE = re.compile(r"(?<![=!<>-])(?:<=?|>=?|==|!=)\s*(\d+(?:\.\d+)?)\b(?!\s*[*/.])"
                     r"|\b(\d+(?:\.\d+)?)\s*(?:<=?|>=?|==|!=)(?![=<>])")
JINJA = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.S)
JS_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _text_hits(path: Path, code: str) -> list[str]:
    hits = []
    for m in COMPARE.finditer(code):
        number = float(m.group(1) or m.group(2))
        if number in KNOWN:
            hits.append(f"{_shown(path)}: {m.group(0).strip()}")
    return hits


def scan() -> list[str]:
    hits: list[str] = []
    for path in sorted((ROOT / "analytics").rglob("*.py")):
        if path.name != "targets.py":
            hits += _python_hits(path)
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        hits += _python_hits(path)
    for path in sorted((ROOT / "dashboard" / "templates").rglob("*.html")):
        hits += _text_hits(path, " ".join(JINJA.findall(path.read_text())))
    for path in sorted((ROOT / "dashboard" / "static").rglob("*.js")):
        if "vendor" not in path.parts:
            hits += _text_hits(path, JS_COMMENT.sub(" ", path.read_text()))
    return hits


def test_no_view_template_or_analytics_module_compares_with_a_literal_threshold() -> None:
    hits = scan()
    assert not hits, "clinical thresholds written as literals (use analytics/targets.py):\n" \
        + "\n".join(hits)


@pytest.mark.parametrize("code", ["if tir < 70.0:\n        return 1", "return v >= 180",
                                  "return 250 < v"])
def test_the_scan_finds_a_literal_threshold_in_python(tmp_path: Path, code: str) -> None:
    path = tmp_path / "probe.py"
    path.write_text(f"def f(tir, v):\n    {code}\n")
    assert len(_python_hits(path)) == 1
    path.write_text("def f(tir, v):\n    return v >= tg.GLUCOSE_HIGH_ABOVE and len(v) > 1\n")
    assert _python_hits(path) == []


def test_the_scan_finds_one_in_a_template_and_a_script() -> None:
    path = Path("dashboard/templates/x.html")
    assert _text_hits(ROOT / path, " ".join(JINJA.findall("{% if r.wear < 70 %}bad{% endif %}")))
    assert not _text_hits(ROOT / path, " ".join(JINJA.findall("<th>&lt;70</th> {{ x }}")))
    assert _text_hits(ROOT / path, JS_COMMENT.sub(" ", "if (v > 250) { hi(); } // > 180"))
    assert len(_text_hits(ROOT / path, JS_COMMENT.sub(" ", "if (v > 250) {} // > 180"))) == 1
    assert not _text_hits(ROOT / path, "if (minutes < 48 * 60) return h;")


def test_the_consensus_targets_are_battelino_2019() -> None:
    """Battelino 2019, Figure 3, as docs/CLINICAL.md quotes it."""
    adult, older = tg.CGM_TARGETS_ADULT, tg.CGM_TARGETS_OLDER
    assert (adult.tir_above, adult.below_70_under, adult.below_54_under,
            adult.above_180_under, adult.above_250_under) == (70, 4, 1, 25, 5)
    assert (older.tir_above, older.below_70_under, older.above_250_under) == (50, 1, 10)
    assert tg.CV_TARGET_AT_MOST == 36 and tg.WEAR_MIN_PERCENT == 70 and tg.REPORT_MIN_DAYS == 14
    assert (tg.GLUCOSE_VERY_LOW_BELOW, tg.GLUCOSE_LOW_BELOW, tg.GLUCOSE_HIGH_ABOVE,
            tg.GLUCOSE_VERY_HIGH_ABOVE) == (54, 70, 180, 250)
    ranges = Ranges(0.5, 2.0, 75.0, 20.0, 2.5, (0.0,) * 5)
    met = {t.name: t.met for t in consensus_targets(ranges, 30.0)}
    assert met == {"Time in range 70-180 mg/dL": True, "Time below 70 mg/dL": True,
                   "Time below 54 mg/dL": True, "Time above 180 mg/dL": True,
                   "Time above 250 mg/dL": True, "Coefficient of variation": True}
    older_met = {t.name: t.met for t in consensus_targets(ranges, 40.0, older_or_high_risk=True)}
    assert older_met == {"Time in range 70-180 mg/dL": True, "Time below 70 mg/dL": False,
                         "Time above 250 mg/dL": True, "Coefficient of variation": False}


def test_spo2_limits_follow_the_prescribed_target_or_the_condition() -> None:
    """docs/CLINICAL.md "Pulse oximetry (SpO2)": NHS @home without a lower target, BTS 2017
    and NEWS2 scale 2 for people at risk of hypercapnia."""
    assert tg.spo2_limits({}, ()) == (95.0, 92.0)
    assert tg.spo2_limits({}, ("copd",)) == (88.0, 83.0)
    assert tg.spo2_limits({"spo2_percent": 90}, ()) == (90.0, 83.0)  # below 92: hypercapnic
    assert tg.spo2_limits({"spo2_percent": 94}, ("copd",)) == (94.0, 92.0)
    assert tg.spo2_limits({"spo2_percent": True}, ()) == (95.0, 92.0)  # not a number
