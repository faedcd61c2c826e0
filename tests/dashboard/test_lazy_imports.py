"""Every dashboard worker imports dashboard.app: the heavy libraries wait for the code that
needs them (matplotlib for the AGP report, scikit-learn and scipy for peer groups and
trends; tests/care/test_groups.py and tests/analytics/test_report.py use them).  What is
loaded is checked, not how long it takes (bench.footprint measures that: docs/DASHBOARD.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("matplotlib", "sklearn", "scipy", "pandas")


def test_importing_the_dashboard_loads_no_plotting_or_machine_learning_library() -> None:
    probe = ("import json, sys; import dashboard.app; "
             f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []

