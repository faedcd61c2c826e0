"""Coaching rules as plugins: pure functions of a prepared context (coach/context.py).

``registry.RULES`` lists every rule by name; ``registry.enabled_rules`` applies a
patient's tuning; coach/engine.py runs them.
"""

from coach.rules.base import FlagRequest, Rule, RuleSettings, Severity

__all__ = ["FlagRequest", "Rule", "RuleSettings", "Severity"]
