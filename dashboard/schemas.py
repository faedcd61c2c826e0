"""JSON shapes of the API (they document themselves in the OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel

from core.readings import Reading
from dashboard.timefields import ApiTime


class PatientOut(BaseModel):
    id: str
    display_name: str
    timezone: str
    conditions: list[str]


class ReadingOut(BaseModel):
    time: ApiTime
    metric: str
    value: float
    unit: str
    device_id: str
    source: str
    original_value: float
    original_unit: str
    context: str | None = None
    status: list[str] = []

    @classmethod
    def of(cls, r: Reading, unit: str) -> ReadingOut:
        return cls(
            time=r.measured_at,
            metric=str(r.metric),
            value=r.value,
            unit=unit,
            device_id=r.device_id,
            source=r.source,
            original_value=r.original_value,
            original_unit=r.original_unit,
            context=r.context,
            status=list(r.status),
        )


class ReadingsOut(BaseModel):
    patient_id: str
    metric: str
    unit: str
    start: ApiTime
    end: ApiTime
    readings: list[ReadingOut]
