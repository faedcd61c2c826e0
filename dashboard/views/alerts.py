"""The care team's alert queue, for the views: the reads and the actions are
care/alert_queue.py's (acknowledge, snooze, resolve through care/alerts.py)."""

from __future__ import annotations

from care.alert_queue import (
    CLINICAL_KINDS,
    OPEN_STATES,
    PRIORITY_RANK,
    SNOOZE_CHOICES,
    AlertItem,
    NudgeItem,
    Step,
    act,
    alert_patient,
    aware,
    nudge_feedback,
    nudge_patient,
    queue,
    todays_nudges,
    version,
)

__all__ = ["CLINICAL_KINDS", "OPEN_STATES", "PRIORITY_RANK", "SNOOZE_CHOICES", "AlertItem",
           "NudgeItem", "Step", "act", "alert_patient", "aware", "nudge_feedback", "nudge_patient",
           "queue", "todays_nudges", "version"]
