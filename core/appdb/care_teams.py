"""Care teams: their coaches and nurses, and the patients assigned to them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from core.appdb.accounts import CARE_TEAM_ROLES, CareTeam, CareTeamMember, CareTeamPatient
from core.appdb.users import AccountError, existing_patient, existing_user


def _existing_team(session: Session, team_id: str) -> CareTeam:
    team = session.get(CareTeam, team_id)
    if team is None:
        raise AccountError(f"no care team {team_id!r}")
    return team


class CareTeams:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, team_id: str, name: str, clinic_id: str | None = None) -> None:
        """Create a care team, or rename it."""
        with Session(self._engine) as session:
            team = session.get(CareTeam, team_id) or CareTeam(id=team_id)
            team.name, team.clinic_id = name, clinic_id
            session.add(team)
            session.commit()

    def add_member(self, team_id: str, user_id: str) -> None:
        with Session(self._engine) as session:
            user = existing_user(session, user_id)
            if user.role not in CARE_TEAM_ROLES:
                raise AccountError(f"only a {' or '.join(CARE_TEAM_ROLES)} joins a care team")
            _existing_team(session, team_id)
            session.merge(CareTeamMember(team_id=team_id, user_id=user.id))
            session.commit()

    def assign(self, team_id: str, patient_id: str) -> None:
        self.assign_many(team_id, [patient_id])

    def assign_many(self, team_id: str, patient_ids: Iterable[str]) -> None:
        """Assign patients to a care team, in one transaction."""
        with Session(self._engine) as session:
            _existing_team(session, team_id)
            for patient_id in dict.fromkeys(patient_ids):
                existing_patient(session, patient_id)
                session.merge(CareTeamPatient(team_id=team_id, patient_id=patient_id))
            session.commit()

    def unassign(self, team_id: str, patient_id: str) -> None:
        with Session(self._engine) as session:
            session.execute(delete(CareTeamPatient).where(
                CareTeamPatient.team_id == team_id, CareTeamPatient.patient_id == patient_id))
            session.commit()

    def patients_of_member(self, user_id: str) -> set[str]:
        """Patients assigned to any care team the user belongs to."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(CareTeamPatient.patient_id)
                .join(CareTeamMember, CareTeamMember.team_id == CareTeamPatient.team_id)
                .where(CareTeamMember.user_id == user_id))
            return set(rows)

    def members_for(self, patient_id: str) -> list[str]:
        """The coaches and nurses of every team the patient is assigned to."""
        with Session(self._engine) as session:
            return sorted(set(session.scalars(
                select(CareTeamMember.user_id)
                .join(CareTeamPatient, CareTeamMember.team_id == CareTeamPatient.team_id)
                .where(CareTeamPatient.patient_id == patient_id))))
