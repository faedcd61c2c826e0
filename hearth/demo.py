"""The demo household in the application database."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.appdb.directory import PatientInfo, bind_devices, upsert_patient
from devices.profiles import PatientProfile


def register_household(engine: Engine, profiles: Sequence[PatientProfile]) -> None:
    """Create or update each profile's patient and bind its devices (idempotent)."""
    with Session(engine) as session:
        for p in profiles:
            info = PatientInfo(p.id, p.name, p.timezone, p.conditions, p.targets)
            upsert_patient(session, info, birth_year=p.birth_year)
        session.flush()
        for p in profiles:
            bind_devices(session, p.id, [(d.id, d.kind) for d in p.devices])
        session.commit()
