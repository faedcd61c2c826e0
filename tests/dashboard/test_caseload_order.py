"""The coach's caseload is a queue (issue 18): urgent alerts first, then other open alerts,
a slipping plan, no plan yet, on track; within each, unread messages first, then the
longest since the last contact."""

from __future__ import annotations

from datetime import UTC, datetime

from core.appdb.directory import PatientInfo
from dashboard.views.care import CaseloadRow, by_need


def row(pid: str, *, open_: int = 0, urgent: int = 0, contact: datetime | None = None,
        plan: str | None = "agreed", met: int = 0, done: int = 0) -> CaseloadRow:
    return CaseloadRow(PatientInfo(pid, pid.title(), "UTC"), open_, urgent, contact, plan, 1,
                       met, done)


def test_who_needs_the_coach_now_comes_first() -> None:
    old, recent = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 14, tzinfo=UTC)
    rows = [row("ontrack", done=2, met=2, contact=old), row("noplan", plan=None),
            row("slipping", done=3, met=0), row("open", open_=1),
            row("urgent", open_=1, urgent=1), row("recent", done=1, met=1, contact=recent),
            row("unread", done=1, met=1, contact=recent)]
    ordered = [r.patient.id for r in by_need(rows, {"unread": 2})]
    assert ordered == ["urgent", "open", "slipping", "noplan", "unread", "ontrack", "recent"]
