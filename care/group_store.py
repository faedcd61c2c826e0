"""Peer groups over the application database, one transaction each, as the coach's and the
patient's group pages use them (the rules are care/groups.py, which takes a session and
never commits). A refusal is care/groups.py's ``GroupError`` with its reason; who may
call what is decided by dashboard/security.py.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import groups as peer
from care.grouping import Suggestions
from core.appdb.plans import PeerGroup
from core.timeseries import TimeSeriesStore


class PeerGroupStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def coach_groups(self, coach_id: str) -> list[dict[str, Any]]:
        """The coach's active groups, oldest first: each with its members, the size advice
        and its feed as the coach sees it."""
        with Session(self._engine) as session:
            mine = session.scalars(select(PeerGroup).where(PeerGroup.coach_id == coach_id,
                                                           PeerGroup.status == "active")
                                   .order_by(PeerGroup.created_at)).all()
            groups: list[dict[str, Any]] = []
            for g in mine:
                people = peer.members(session, g.id)
                groups.append({"group": g, "members": people,
                               "advice": peer.size_advice(len(people)),
                               "feed": peer.group_feed(session, g.id, coach_id)})
            return groups

    def suggest(self, store: TimeSeriesStore, now: datetime, *,
                patient_ids: Collection[str]) -> Suggestions:
        with Session(self._engine) as session:
            return peer.suggest_groups(session, store, now, patient_ids=patient_ids)

    def member_groups(self, patient_id: str) -> list[dict[str, Any]]:
        """The patient's groups: each with its feed, her consents and how many members."""
        with Session(self._engine) as session:
            return [{"group": g, "feed": peer.group_feed(session, g.id, patient_id),
                     "consents": peer.consents(session, g.id, patient_id),
                     "members": len(peer.members(session, g.id))}
                    for g in peer.groups_of(session, patient_id)]

    def form_group(self, *, name: str, coach_id: str, member_ids: Sequence[str], now: datetime,
                   reason: str) -> None:
        with Session(self._engine) as session:
            peer.form_group(session, name=name, coach_id=coach_id, member_ids=member_ids,
                            now=now, reason=reason)
            session.commit()

    def post(self, group_id: str, author_id: str, body: str, *, now: datetime) -> None:
        with Session(self._engine) as session:
            peer.post(session, group_id, author_id, body, now=now)
            session.commit()

    def set_consents(self, group_id: str, member_id: str, wanted: dict[str, bool], *,
                     now: datetime) -> None:
        """The member's choices, one consent row for each scope that changed."""
        with Session(self._engine) as session:
            current = peer.consents(session, group_id, member_id)
            for scope, granted in wanted.items():
                if current.get(scope) != granted:
                    peer.set_consent(session, group_id, member_id, scope=scope,
                                     granted=granted, now=now)
            session.commit()

    def post_prompt(self, group_id: str, coach_id: str, body: str, *, now: datetime) -> None:
        with Session(self._engine) as session:
            peer.post_prompt(session, group_id, coach_id, body, now=now)
            session.commit()

    def moderate_post(self, post_id: str, *, moderator_id: str,
                      action: Literal["hide", "unhide"], reason: str, now: datetime) -> None:
        with Session(self._engine) as session:
            peer.moderate_post(session, post_id, moderator_id=moderator_id, action=action,
                               reason=reason, now=now)
            session.commit()

    def remove_member(self, group_id: str, member_id: str, *, by: str, now: datetime) -> None:
        with Session(self._engine) as session:
            peer.remove_member(session, group_id, member_id, by=by, now=now)
            session.commit()
