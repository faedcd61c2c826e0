"""What a patient shares with each caregiver (core/appdb/accounts.py CaregiverShare)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, delete, select
from sqlalchemy.orm import Session

from core.appdb.accounts import SHARE_SCOPES, CaregiverShare
from core.appdb.users import AccountError, existing_patient, existing_user


@dataclass(frozen=True, slots=True)
class Share:
    patient_id: str
    caregiver_id: str
    scopes: tuple[str, ...]
    urgent_alerts: bool


class Sharing:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def share(self, patient_id: str, caregiver_id: str, scopes: Iterable[str], *,
              urgent_alerts: bool = False) -> Share:
        """Set what a patient shares with a caregiver (replaces the previous share)."""
        wanted = tuple(dict.fromkeys(scopes))
        unknown = [s for s in wanted if s not in SHARE_SCOPES]
        if unknown:
            raise AccountError(f"unknown scopes {unknown}; known: {', '.join(SHARE_SCOPES)}")
        with Session(self._engine) as session:
            if existing_user(session, caregiver_id).role != "caregiver":
                raise AccountError(f"{caregiver_id!r} is not a caregiver account")
            existing_patient(session, patient_id)
            session.merge(CaregiverShare(patient_id=patient_id, caregiver_id=caregiver_id,
                                         scopes=list(wanted), urgent_alerts=urgent_alerts))
            session.commit()
        return Share(patient_id, caregiver_id, wanted, urgent_alerts)

    def unshare(self, patient_id: str, caregiver_id: str) -> None:
        with Session(self._engine) as session:
            session.execute(delete(CaregiverShare).where(
                CaregiverShare.patient_id == patient_id,
                CaregiverShare.caregiver_id == caregiver_id))
            session.commit()

    def with_caregiver(self, caregiver_id: str) -> list[Share]:
        """What each patient shares with this caregiver."""
        return self._shares(CaregiverShare.caregiver_id == caregiver_id)

    def of_patient(self, patient_id: str) -> list[Share]:
        """What this patient shares, with each caregiver."""
        return self._shares(CaregiverShare.patient_id == patient_id)

    def urgent_alert_caregivers(self, patient_id: str) -> list[str]:
        """Caregivers the patient opted into urgent alerts."""
        return [s.caregiver_id for s in self.of_patient(patient_id) if s.urgent_alerts]

    def _shares(self, condition: ColumnElement[bool]) -> list[Share]:
        with Session(self._engine) as session:
            rows = session.scalars(select(CaregiverShare).where(condition)
                                   .order_by(CaregiverShare.patient_id))
            return [Share(r.patient_id, r.caregiver_id, tuple(r.scopes), r.urgent_alerts)
                    for r in rows]
