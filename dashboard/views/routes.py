"""One router with every view route, for create_app."""

from __future__ import annotations

from fastapi import APIRouter

from dashboard import live, nightscout_sharing
from dashboard.views import (
    agreements,
    caregiver_questions,
    coach,
    display,
    engagement_settings,
    groups,
    nurse,
    outcomes,
    outreach,
    patient,
    record,
    safety,
    selfcare,
    staff,
    stories,
)

router = APIRouter()
for part in (patient.pages, patient.api, safety.pages, safety.api, selfcare.pages, coach.pages,
             coach.api, groups.pages, nurse.pages, nurse.api, staff.pages, stories.pages,
             outreach.pages, live.router, nightscout_sharing.pages, display.pages,
             outcomes.pages, record.pages, agreements.pages, caregiver_questions.pages,
             engagement_settings.pages):
    router.include_router(part)
