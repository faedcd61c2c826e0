"""The rule plugin interface: a rule reads a prepared context and returns flag requests.

A rule is pure (docs/STYLE.md "Coaching rules as plugins"): it never sends, writes or
sleeps. It declares which feature groups of the context it needs, whether it runs on
the real-time path (after new readings are stored) or the scheduled path (periodic
checks), and a pydantic model of its per-patient tuning, which it validates itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from coach.safety import flag_class, is_safety

if TYPE_CHECKING:
    from coach.context import PatientContext


class Severity(StrEnum):
    URGENT = "urgent"  # safety: bypasses quiet hours and budget, escalates
    HIGH = "high"  # nudge now (within budget) and an alert to the coach
    NORMAL = "normal"  # nudge now within quiet hours and budget, else the digest
    LOW = "low"  # the morning digest
    POSITIVE = "positive"  # reinforcement

    @property
    def rank(self) -> int:
        """Lower is more important (urgent = 0)."""
        return _RANK[self]


_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3, "positive": 4}

RulePath = Literal["realtime", "scheduled"]
# How often a scheduled rule is worth running: "hourly" (things that happen within the
# day: a quiet home, a missed dose, a silent device) or "daily" (findings over complete
# days or weeks: patterns, trends, averages, bests, streaks). A hint for the scheduler;
# running a daily rule more often changes nothing but the cost (cool-downs and keys hold).
# "watch": every escalation tick (about a minute), for what no new reading announces (a
# sensor gone quiet while low: coach/episodes.py).
Cadence = Literal["hourly", "daily", "watch"]

# Feature groups the context builder can prepare; a rule names the ones it reads.
FEATURES = frozenset(
    {"glucose", "glucose_history", "bp", "weight", "spo2", "motion", "steps", "medication",
     "devices", "goals", "peers", "stories"}
)


@dataclass(frozen=True, slots=True)
class FlagRequest:
    """What a rule found: the dispatcher decides who hears about it, when, and whether.

    ``key`` tells two findings of the same flag type apart (e.g. the start of a low
    event): the same key is never sent twice. ``group`` joins flag types that say the
    same thing (``urgent_low``, ``low`` and ``predicted_low`` are all "hypo"): the
    dispatcher keeps one request per group, the most severe, and cools them down together.
    ``clinical`` marks a finding the nurse should see (a clinical alert), not only
    the coach; ``patient_only`` one only the patient needs (no alert, no ladder).
    ``evidence`` is JSON-able: the readings, days and values behind it.
    """

    flag_type: str
    severity: Severity
    explanation: str  # plain words, addressed to the patient
    evidence: dict[str, Any]
    path: RulePath
    title: str = ""
    key: str = ""
    group: str = ""  # flags of one group (e.g. "hypo") share a cool-down; "" = the flag type
    clinical: bool = False
    patient_only: bool = False  # e.g. "measure again": to the patient now, no alert, no ladder
    why: str = ""  # the check behind it, in plain words; the engine fills it from the rule

    def __post_init__(self) -> None:
        flag_class(self.flag_type)  # every flag type is classified (coach/safety.py)
        if not self.title:
            object.__setattr__(self, "title", self.flag_type.replace("_", " ").capitalize())
        if not self.group:
            object.__setattr__(self, "group", self.flag_type)

    @property
    def safety(self) -> bool:
        """A safety message: live at any hour, once per episode (coach/safety.py)."""
        return is_safety(self.flag_type)


class RuleSettings(BaseModel):
    """Per-patient tuning of one rule; every rule's settings subclass this."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


S = TypeVar("S", bound=RuleSettings)


class Rule(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def path(self) -> RulePath: ...

    @property
    def needs(self) -> frozenset[str]: ...

    def settings(self, tuning: Mapping[str, Any] | None) -> RuleSettings:
        """Validate this patient's tuning for the rule (raises pydantic.ValidationError)."""
        ...

    def evaluate(self, ctx: PatientContext, settings: Any) -> list[FlagRequest]: ...


@dataclass(frozen=True, slots=True)
class FunctionRule(Generic[S]):
    """A rule written as one function over the context and its settings."""

    name: str
    path: RulePath
    needs: frozenset[str]
    settings_model: type[S]
    fn: Callable[[PatientContext, S], list[FlagRequest]]
    description: str = ""
    cadence: Cadence = "hourly"

    def settings(self, tuning: Mapping[str, Any] | None) -> S:
        return self.settings_model.model_validate(dict(tuning or {}))

    def evaluate(self, ctx: PatientContext, settings: S) -> list[FlagRequest]:
        return self.fn(ctx, settings)


def rule(
    name: str,
    *,
    path: RulePath,
    needs: set[str] | frozenset[str],
    settings: type[S],
    description: str = "",
    cadence: Cadence = "hourly",
) -> Callable[[Callable[[PatientContext, S], list[FlagRequest]]], FunctionRule[S]]:
    """Decorator: turn ``fn(ctx, settings) -> list[FlagRequest]`` into a registered-able rule."""
    unknown = set(needs) - FEATURES
    if unknown:
        raise ValueError(f"rule {name}: unknown feature groups {sorted(unknown)}")

    def wrap(fn: Callable[[PatientContext, S], list[FlagRequest]]) -> FunctionRule[S]:
        return FunctionRule(name, path, frozenset(needs), settings, fn, description, cadence)

    return wrap


def iso_us(time_us: int) -> str:
    """An epoch-microsecond time as ISO 8601 UTC, for evidence."""
    return datetime.fromtimestamp(time_us / 1_000_000, UTC).isoformat(timespec="seconds")
