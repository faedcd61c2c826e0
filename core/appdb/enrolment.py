"""Adding a patient to a clinic (the nurse's form, dashboard/views/staff.py): the clinic's
care teams, what the database already holds against a new patient, and writing the
patient with their clinic, care team and devices in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.appdb.accounts import CareTeam, CareTeamPatient, ClinicPatient
from core.appdb.directory import PatientInfo, bind_devices, upsert_patient
from core.appdb.models import Device, Patient


class Enrolment:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def clinic_teams(self, clinic_id: str | None) -> dict[str, str]:
        """The care teams of the clinic, id -> name."""
        if clinic_id is None:
            return {}
        with Session(self._engine) as session:
            rows = session.execute(select(CareTeam.id, CareTeam.name)
                                   .where(CareTeam.clinic_id == clinic_id)
                                   .order_by(CareTeam.name))
            return {str(i): str(n) for i, n in rows}

    def conflicts(self, patient_id: str, device_ids: Sequence[str]) -> dict[str, str]:
        """What the database already holds against this patient: an existing id, a device
        bound to someone else."""
        errors: dict[str, str] = {}
        with Session(self._engine) as session:
            if session.get(Patient, patient_id) is not None:
                errors["patient_id"] = f"a patient {patient_id} exists already"
            taken = [d for d in device_ids
                     if (row := session.get(Device, d)) is not None and row.active]
        if taken:
            errors["devices"] = (f"{', '.join(taken)}: bound to another patient (an admin "
                                 "moves a device with `hearth admin bind-devices`)")
        return errors

    def add_patient(self, info: PatientInfo, *, birth_year: int | None, clinic_id: str,
                    team_id: str | None, devices: Sequence[tuple[str, str]]) -> None:
        """Write the patient, their clinic, care team and devices."""
        with Session(self._engine) as session:
            upsert_patient(session, info, birth_year=birth_year)
            session.flush()
            session.add(ClinicPatient(patient_id=info.id, clinic_id=clinic_id))
            if team_id:
                session.add(CareTeamPatient(team_id=team_id, patient_id=info.id))
            bind_devices(session, info.id, devices)
            session.commit()
