"""The joint record as a PDF (issue 21), drawn with matplotlib like the AGP report
(analytics/report.py: object API, Agg canvas, no display), A4 pages of text.

The PDF is in English whatever the page's language: matplotlib's bundled font draws no
right-to-left Urdu, and a half-translated document would be worse (docs/I18N.md).
"""

from __future__ import annotations

import io
import textwrap
from datetime import datetime
from typing import TYPE_CHECKING

from care.record import JointRecord
from care.wellbeing import COPYRIGHT, NAME, SOURCE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

A4 = (8.27, 11.69)  # inches
LINES_PER_PAGE = 52
WRAP = 92
LEVEL_WORDS = {"good": "", "low": " (at or under 50: worth talking over with your care team)",
               "very_low": " (at or under 28: please talk to your care team)"}


def _day(at: datetime) -> str:
    return at.strftime("%d %b %Y")


def lines(record: JointRecord) -> list[tuple[str, str]]:
    """The document as (style, text) lines: "h1", "h2" or "p"."""
    out: list[tuple[str, str]] = [("h1", f"Joint record of achievements: {record.name}"),
                                  ("p", f"Made on {_day(record.made_at)} by Hearth.")]

    def para(text: str) -> None:
        for part in textwrap.wrap(text, WRAP) or [""]:
            out.append(("p", part))

    out.append(("h2", "Goals met and personal bests"))
    shown = [a for a in record.achievements if a["kind"] in ("goal_met", "personal_best")]
    for a in shown:
        para(f"{_day(a['at'])}  {a['title']}" + (f" - {a['detail']}" if a["detail"] else ""))
    if not shown:
        para("None yet.")
    out.append(("h2", "Goals"))
    for g in record.goals:
        para(f"{g.text} ({g.status}): met in {g.met} of {g.periods} weeks")
    if not record.goals:
        para("No goals yet.")
    if record.outcomes is not None:
        out.append(("h2", "Outcomes that matter to me (0-10)"))
        for o in record.outcomes:
            scores = ", ".join(f"{s} on {_day(at)}" for at, s in o.ratings) or "not rated yet"
            para(f"{o.text}{' (retired)' if o.retired_at else ''}: {scores}")
        if not record.outcomes:
            para("None named yet.")
    if record.wellbeing is not None:
        out.append(("h2", f"Wellbeing: {NAME} (0-100)"))
        for w in record.wellbeing:
            para(f"{_day(w.taken_at)}  {w.percent} out of 100{LEVEL_WORDS[w.level]}")
        if not record.wellbeing:
            para("Not taken yet.")
        para(f"{SOURCE} {COPYRIGHT}")
    out.append(("h2", "Stories I shared"))
    for s in record.stories:
        para(f"{_day(s.shared_at)}  {s.title} (shared with: {s.audience}; "
             f"{s.helped} found it helpful)")
    if not record.stories:
        para("None shared yet.")
    if record.readings is not None:
        out.append(("h2", "My readings, last 30 days"))
        for r in record.readings:
            text = (f"{r.label}: {r.readings} readings, average {r.mean:.1f} {r.unit}, "
                    f"latest {r.latest:g} {r.unit} on {_day(r.latest_at)}")
            if r.in_range is not None:
                text += f"; {r.in_range:.0f}% in 70-180 mg/dL"
            para(text)
        if not record.readings:
            para("No readings in the last 30 days.")
    return out


def _page(chunk: list[tuple[str, str]], number: int, total: int) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=A4)
    y = 0.96
    sizes = {"h1": 15, "h2": 12, "p": 9}
    for style, text in chunk:
        if style == "h2":
            y -= 0.008
        fig.text(0.07, y, text, fontsize=sizes[style],
                 fontweight="bold" if style != "p" else "normal", va="top")
        y -= 0.032 if style == "h1" else 0.022 if style == "h2" else 0.0172
    fig.text(0.93, 0.03, f"page {number} of {total}", fontsize=7, ha="right", color="#555555")
    return fig


def pdf_bytes(record: JointRecord) -> bytes:
    from matplotlib.backends.backend_pdf import PdfPages

    doc = lines(record)
    pages = [doc[i:i + LINES_PER_PAGE] for i in range(0, len(doc), LINES_PER_PAGE)] or [[]]
    out = io.BytesIO()
    with PdfPages(out, metadata={"Title": f"Joint record: {record.name}",
                                 "Creator": "Hearth"}) as pdf:
        for n, chunk in enumerate(pages, start=1):
            pdf.savefig(_page(chunk, n, len(pages)))
    return out.getvalue()
