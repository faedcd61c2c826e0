"""Clinics and the patients registered with each (one clinic a patient at a time)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.appdb.accounts import Clinic, ClinicPatient
from core.appdb.users import AccountError, existing_patient


class Clinics:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, clinic_id: str, name: str) -> None:
        """Create a clinic, or rename it."""
        with Session(self._engine) as session:
            clinic = session.get(Clinic, clinic_id) or Clinic(id=clinic_id)
            clinic.name = name
            session.add(clinic)
            session.commit()

    def register(self, patient_id: str, clinic_id: str) -> None:
        self.register_many([patient_id], clinic_id)

    def register_many(self, patient_ids: Iterable[str], clinic_id: str) -> None:
        """Register patients with a clinic (moving them from another), in one transaction."""
        with Session(self._engine) as session:
            if session.get(Clinic, clinic_id) is None:
                raise AccountError(f"no clinic {clinic_id!r}")
            for patient_id in dict.fromkeys(patient_ids):
                existing_patient(session, patient_id)
                session.merge(ClinicPatient(patient_id=patient_id, clinic_id=clinic_id))
            session.commit()

    def patient_ids(self, clinic_id: str) -> set[str]:
        with Session(self._engine) as session:
            return set(session.scalars(
                select(ClinicPatient.patient_id).where(ClinicPatient.clinic_id == clinic_id)))
