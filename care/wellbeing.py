"""The WHO-5 Well-Being Index (issue 21): an optional, validated measure of wellbeing the
patient may fill in at a check-in, beside the outcomes she names herself.

The instrument (docs/CLINICAL.md "Wellbeing (WHO-5)"): five statements about the last two
weeks, each answered on a six-point scale from "At no time" (0) to "All of the time" (5);
the raw score is the sum, 0-25, and the percentage score is the raw score times 4, 0-100
(0 the worst imaginable wellbeing, 100 the best). Source and cut-offs: Topp CW,
Østergaard SD, Søndergaard S, Bech P. The WHO-5 Well-Being Index: a systematic review of
the literature. Psychother Psychosom 2015;84:167-176. A percentage score of 50 or less
suggests poor wellbeing and is the documented cut-off for screening for depression; 28
or less suggests likely depression. Hearth never says either: a score at or under a
cut-off shows the patient a gentle prompt to talk to her care team (and, at 28 or less,
puts a follow-up in her coach's queue), never a diagnosis.

Licence: the WHO-5 is free to use without permission; its copyright belongs to the
Psychiatric Research Unit, Mental Health Centre North Zealand (Hillerød, Denmark), whose
English wording is used here unchanged. The items are deliberately NOT marked for
translation: Hearth has no official Polish or Urdu WHO-5 text on file, and a validated
instrument is not re-translated by us (docs/I18N.md), so it is shown in English in
every language.

Functions take the session and never commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.appdb.coaching import CoachAlert
from core.appdb.coaching import new_id as alert_id
from core.appdb.joint_record import WellbeingCheck
from core.clock import aware

NAME = "WHO-5 Well-Being Index"
SOURCE = ("Topp CW, Østergaard SD, Søndergaard S, Bech P. The WHO-5 Well-Being Index: a "
          "systematic review of the literature. Psychother Psychosom 2015;84:167-176.")
COPYRIGHT = ("© Psychiatric Research Unit, Mental Health Centre North Zealand. "
             "Free to use without permission.")
INTRO = ("Please indicate for each of the five statements which is closest to how you "
         "have been feeling over the last two weeks.")
# The five statements, in the instrument's order and words (English, 1998 version).
ITEMS: tuple[str, ...] = (
    "I have felt cheerful and in good spirits",
    "I have felt calm and relaxed",
    "I have felt active and vigorous",
    "I woke up feeling fresh and rested",
    "My daily life has been filled with things that interest me",
)
# The six answers, highest first, as the form lists them.
ANSWERS: tuple[tuple[int, str], ...] = (
    (5, "All of the time"), (4, "Most of the time"), (3, "More than half of the time"),
    (2, "Less than half of the time"), (1, "Some of the time"), (0, "At no time"),
)
ITEM_MIN, ITEM_MAX = 0, 5
MULTIPLIER = 4  # raw 0-25 -> percentage 0-100
# docs/CLINICAL.md "Wellbeing (WHO-5)", Topp 2015: percentage scores at or under these.
POOR_WELLBEING_AT_MOST = 50
LIKELY_DEPRESSION_AT_MOST = 28
FOLLOW_UP_FLAG = "who5_low"

Level = Literal["good", "low", "very_low"]


class WellbeingError(ValueError):
    """A WHO-5 the rules refuse (a missing or out-of-range answer), fit to show."""


@dataclass(frozen=True, slots=True)
class Who5:
    id: str
    items: tuple[int, ...]
    raw: int  # 0-25
    taken_at: datetime

    @property
    def percent(self) -> int:
        return self.raw * MULTIPLIER

    @property
    def level(self) -> Level:
        return level_of(self.percent)


def level_of(percent: int) -> Level:
    """Where a percentage score stands against the documented cut-offs (Topp 2015)."""
    if percent <= LIKELY_DEPRESSION_AT_MOST:
        return "very_low"
    if percent <= POOR_WELLBEING_AT_MOST:
        return "low"
    return "good"


def parse(form: dict[str, str]) -> tuple[int, ...] | None:
    """The five answers from a form's ``who5-1`` ... ``who5-5`` fields: None when all are
    left empty (the WHO-5 is optional), refused when only some are answered."""
    raw = [str(form.get(f"who5-{n}") or "").strip() for n in range(1, len(ITEMS) + 1)]
    if not any(raw):
        return None
    if not all(raw):
        raise WellbeingError("please answer all five wellbeing questions, or none of them")
    try:
        items = tuple(int(x) for x in raw)
    except ValueError as exc:
        raise WellbeingError("a wellbeing answer is one of the six choices") from exc
    if any(not ITEM_MIN <= x <= ITEM_MAX for x in items):
        raise WellbeingError("a wellbeing answer is one of the six choices")
    return items


def score(items: tuple[int, ...]) -> int:
    """The raw score, 0-25."""
    if len(items) != len(ITEMS) or any(isinstance(x, bool) or not ITEM_MIN <= x <= ITEM_MAX
                                       for x in items):
        raise WellbeingError("the WHO-5 has five answers, each 0 to 5")
    return sum(items)


def record(session: Session, patient_id: str, items: tuple[int, ...], *, by: str,
           coach_id: str | None, now: datetime) -> Who5:
    """Store one WHO-5. At or under the likely-depression cut-off, a follow-up goes into
    the coach's queue (a conversation to have, not a diagnosis)."""
    raw = score(items)
    row = WellbeingCheck(id=secrets.token_hex(8), patient_id=patient_id, items=list(items),
                         raw=raw, taken_by=by, taken_at=now)
    session.add(row)
    result = Who5(row.id, items, raw, now)
    if result.level == "very_low":
        session.add(CoachAlert(
            id=alert_id(), patient_id=patient_id, flag_type=FOLLOW_UP_FLAG,
            group="self_assessment", kind="alert", audience="coach", priority="normal",
            title="Low WHO-5 wellbeing score: please get in touch",
            body=(f"At today's check-in the WHO-5 Well-Being Index was {result.percent}/100. "
                  "Please ask how they have been feeling; this is a screen, not a diagnosis."),
            why=(f"A WHO-5 score of {LIKELY_DEPRESSION_AT_MOST} or less suggests likely "
                 "depression (Topp et al., Psychother Psychosom 2015; docs/CLINICAL.md)."),
            evidence={"who5_id": row.id, "percent": result.percent,
                      "cutoff": LIKELY_DEPRESSION_AT_MOST, "coach_id": coach_id},
            state="open", created_at=now, ladder=[]))
    session.flush()
    return result


def history(session: Session, patient_id: str, *, limit: int = 100) -> list[Who5]:
    """Her WHO-5 results, oldest first (the newest ``limit``)."""
    rows = session.scalars(select(WellbeingCheck).where(WellbeingCheck.patient_id == patient_id)
                           .order_by(WellbeingCheck.taken_at.desc(), WellbeingCheck.id.desc())
                           .limit(limit)).all()
    return [Who5(r.id, tuple(int(x) for x in r.items), r.raw, aware(r.taken_at))
            for r in reversed(rows)]


def latest(session: Session, patient_id: str) -> Who5 | None:
    found = history(session, patient_id, limit=1)
    return found[-1] if found else None


def latest_of(session: Session, patient_ids: list[str]) -> dict[str, Who5]:
    """The latest WHO-5 of each of these patients who took one (one query: the caseload)."""
    if not patient_ids:
        return {}
    ranked = (select(WellbeingCheck.id, WellbeingCheck.patient_id, WellbeingCheck.items,
                     WellbeingCheck.raw, WellbeingCheck.taken_at, func.row_number().over(
        partition_by=WellbeingCheck.patient_id,
        order_by=(WellbeingCheck.taken_at.desc(), WellbeingCheck.id.desc())).label("n"))
        .where(WellbeingCheck.patient_id.in_(patient_ids)).subquery())
    rows = session.execute(select(ranked.c.id, ranked.c.patient_id, ranked.c["items"], ranked.c.raw,
                                  ranked.c.taken_at).where(ranked.c.n == 1))
    return {pid: Who5(rid, tuple(int(x) for x in items), raw, aware(at))
            for rid, pid, items, raw, at in rows}
