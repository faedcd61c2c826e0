"""Hypothesis settings for the bad-input suite: quick in CI, thorough on demand.

    HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest tests/security -k fuzz

The default profile ("hearth-ci") runs a few hundred examples per property, which
keeps the suite's CI time low; "thorough" runs thousands. The profiles are applied
per test (``@FUZZ``), never loaded globally, so other tests keep their own settings.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_COMMON: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                              HealthCheck.data_too_large],
    "database": None,  # no example database in the checkout
}
settings.register_profile("hearth-ci", max_examples=200, **_COMMON)
settings.register_profile("thorough", max_examples=5000, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "hearth-ci")
if PROFILE not in ("hearth-ci", "thorough"):
    PROFILE = "hearth-ci"
FUZZ = settings(settings.get_profile(PROFILE))
EXAMPLES = FUZZ.max_examples

# JSON of any shape, with the values that trip parsers: huge and non-finite numbers,
# odd strings, deep nesting.
SCALARS = (st.none() | st.booleans() | st.integers()
           | st.integers(min_value=-10**400, max_value=10**400)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
           | st.sampled_from(["", "0", "1e400", "NaN", "2026-11-23T08:00:00Z",
                              "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "mg/dL",
                              "mmol/L", "kg", "glucose", "cgm", "meter", "\x00", "\u202e",
                              "' OR 1=1 --"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
# For properties that go through a whole HTTP request per example.
FUZZ_HTTP = settings(FUZZ, max_examples=max(50, EXAMPLES // 2))
