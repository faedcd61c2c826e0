"""Who may see which patient: the one place every route asks.

For the walking skeleton every visitor sees the demo patients; the accounts
and roles issue replaces these two functions with real checks.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from core.appdb.directory import PatientDirectory, PatientInfo


def _directory(request: Request) -> PatientDirectory:
    directory: PatientDirectory = request.app.state.directory
    return directory


def visible_patients(request: Request) -> list[PatientInfo]:
    return _directory(request).patients()


def require_patient(request: Request, patient_id: str) -> PatientInfo:
    """The patient, if this visitor may see them; 404 otherwise (no existence leak)."""
    patient = _directory(request).patient(patient_id)
    if patient is None:
        raise HTTPException(status_code=404, detail=f"no patient {patient_id!r} visible to you")
    return patient
