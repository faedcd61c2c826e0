"""Care-team data the coach view shows (caseload, the message thread): read and written by
care/caseload.py."""

from __future__ import annotations

from care.caseload import (
    MESSAGE,
    NEED_ORDER,
    CaseloadRow,
    Message,
    by_need,
    caseload,
    send,
    thread,
    unconfirmed_achievements,
)

__all__ = ["MESSAGE", "NEED_ORDER", "CaseloadRow", "Message", "by_need", "caseload", "send",
           "thread", "unconfirmed_achievements"]
