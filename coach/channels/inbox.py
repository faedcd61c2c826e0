"""The in-app inbox: rows in the application database that the dashboard reads."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from care.messages import Outbound
from coach.channels import DeliveryResult, Recipient
from core.appdb.delivery import InboxMessage


class InboxChannel:
    name = "inbox"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def send(self, recipient: Recipient, outbound: Outbound) -> DeliveryResult:
        row = InboxMessage(
            recipient_key=recipient.key,
            recipient_role=recipient.role,
            patient_id=outbound.patient_id,
            kind=outbound.kind,
            priority=outbound.priority,
            flag_type=outbound.flag_type,
            title=outbound.title,
            body=outbound.body,
            why=outbound.why,
            evidence=dict(outbound.evidence),
            ref=outbound.ref,
            created_at=outbound.created_at,
        )
        try:
            with Session(self._engine) as session:
                session.add(row)
                session.commit()
        except SQLAlchemyError as exc:
            return DeliveryResult.failed(f"database: {type(exc).__name__}")
        return DeliveryResult.sent()
