"""One router with every view route, for create_app."""

from __future__ import annotations

from fastapi import APIRouter

from dashboard import live
from dashboard.views import coach, nurse, patient

router = APIRouter()
for part in (patient.pages, patient.api, coach.pages, coach.api, nurse.pages, nurse.api,
             live.router):
    router.include_router(part)
