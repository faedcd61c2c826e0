"""Run every enabled rule over one prepared context, each in its own try/except.

A failing rule is logged by name (never with the patient's values) and the others go
on; the result lists the failures so the caller can count them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from coach.context import FEATURE_METRICS, PatientContext
from coach.rules.base import FlagRequest
from coach.rules.registry import EnabledRule, enabled_rules
from core.i18n import say
from core.metrics import Metric

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineResult:
    flags: tuple[FlagRequest, ...]
    ran: tuple[str, ...]
    failed: tuple[str, ...]


def run_rules(ctx: PatientContext, rules: Sequence[EnabledRule]) -> EngineResult:
    flags: list[FlagRequest] = []
    ran: list[str] = []
    failed: list[str] = []
    for item in rules:
        name = item.rule.name
        try:
            found = item.rule.evaluate(ctx, item.settings)
        except Exception:  # noqa: BLE001 - one broken rule must not silence the others
            logger.exception("coaching rule %s failed for patient %s", name, ctx.patient_id)
            failed.append(name)
            continue
        ran.append(name)
        flags.extend(_with_why(f, item) for f in found)
    return EngineResult(tuple(flags), tuple(ran), tuple(failed))


def _with_why(flag: FlagRequest, item: EnabledRule) -> FlagRequest:
    """Say which check sent it and on what grounds (docs/DESIGN.md §5: every nudge says why)."""
    if flag.why:
        return flag
    description = getattr(item.rule, "description", "") or item.rule.name.replace("_", " ")
    source = flag.evidence.get("source")
    check = item.rule.name.replace("_", " ")
    if isinstance(source, str) and source:
        why = say("{message} (Sent by the {check} check: {reason}. Based on: {source}.)",
                  message=flag.explanation, check=check, reason=description, source=source)
    else:
        why = say("{message} (Sent by the {check} check: {reason}.)",
                  message=flag.explanation, check=check, reason=description)
    return replace(flag, why=why)


def evaluate(
    ctx: PatientContext,
    *,
    tuning: Mapping[str, Mapping[str, Any]] | None = None,
    names: Iterable[str] | None = None,
    path: str | None = None,
) -> EngineResult:
    """The enabled rules (by name and path, tuned for this patient) over ``ctx``."""
    return run_rules(ctx, enabled_rules(tuning, names=names, path=path))


def needs_of(rules: Sequence[EnabledRule]) -> frozenset[str]:
    """The feature groups a context must hold for these rules (for build_context)."""
    return frozenset().union(*(r.rule.needs for r in rules)) if rules else frozenset()


def metrics_of(rules: Sequence[EnabledRule]) -> frozenset[Metric]:
    """The metrics these rules read: new readings of other metrics need not wake them
    (e.g. a motion event does not need the real-time glucose and BP rules)."""
    return frozenset().union(*(FEATURE_METRICS[n] for n in needs_of(rules)))
