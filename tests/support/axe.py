"""axe-core (vendored: tests/support/vendor/axe-core, nothing downloaded at run time) run on
a Playwright page. The page's Content-Security-Policy refuses injected scripts, so the
context that runs axe is opened with ``bypass_csp=True`` (only the test does this)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def axe_violations(page: Any, *, impacts: tuple[str, ...] = SERIOUS) -> list[dict[str, Any]]:
    """The page's axe-core violations of these impacts: [{id, impact, help, targets}]."""
    page.add_script_tag(path=str(AXE_JS))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
             const r = await axe.run(document, { resultTypes: ["violations"] });
             return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
               targets: v.nodes.map((n) => n.target.join(" ")) }));
           }""")
    return [v for v in found if v["impact"] in impacts]
