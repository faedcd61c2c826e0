"""`hearth admin nightscout-token`: Nightscout access tokens for a patient's apps.

    hearth admin nightscout-token create ann --name "Mum's phone"          # read-only
    hearth admin nightscout-token create ann --name AndroidAPS --role uploader
    hearth admin nightscout-token list ann
    hearth admin nightscout-token revoke ann mums-phone-1a2b3c

Roles, in Nightscout's words: ``readable`` (a follower: a caregiver's app, a watch face,
xDrip+ in follower mode; reads, writes nothing) and ``uploader`` (an app that uploads:
xDrip+, Loop, AndroidAPS, a LibreLinkUp bridge; made as a registered device with the
Nightscout role, as ``hearth devices add ID --role nightscout`` does). The token is
printed once and never stored (only a digest); revoking takes effect at the next request.
Issuing and revoking are written to the audit log, which the patient sees.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

ROLES = ("readable", "uploader")
ACTOR = "hearth-admin"  # who the audit log names for the command line
_NOT_ID = re.compile(r"[^a-z0-9]+")


def _engine() -> Engine:
    from core.config import get_settings
    from hearth import wiring

    return wiring.app_engine(get_settings())


def _patient(engine: Engine, patient_id: str) -> None:
    from sqlalchemy.orm import Session

    from core.appdb.models import Patient

    with Session(engine) as session:
        if session.get(Patient, patient_id) is None:
            raise click.ClickException(f"no patient {patient_id!r}")


def _audit(engine: Engine, patient_id: str, what: str, command: str) -> None:
    from core.appdb.audit_log import AuditEntry, AuditLog

    AuditLog(engine).record([AuditEntry(datetime.now(UTC), ACTOR, "admin", patient_id, what,
                                        f"hearth admin nightscout-token {command}")])


@click.group("nightscout-token")
def nightscout_token() -> None:
    """Nightscout access tokens for a patient's apps (followers and uploaders)."""


@nightscout_token.command("create")
@click.argument("patient_id")
@click.option("--name", "holder", required=True, help="Who or what the token is for.")
@click.option("--role", type=click.Choice(ROLES), default="readable", show_default=True,
              help="readable: reads only (followers); uploader: an app that uploads.")
def create(patient_id: str, holder: str, role: str) -> None:
    """Make a token for PATIENT_ID; it is shown once."""
    from core.provisioning import Provisioner, ProvisioningError
    from dashboard.nightscout_tokens import NightscoutTokens

    engine = _engine()
    _patient(engine, patient_id)
    if role == "readable":
        try:
            issued = NightscoutTokens(engine).issue(patient_id, holder, created_by=ACTOR,
                                                    now=datetime.now(UTC))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        token_id, token = issued.info.id, issued.token
    else:
        slug = (_NOT_ID.sub("-", holder.lower()).strip("-") or "app")[:40]
        token_id = f"{patient_id}-{slug}"
        try:
            made = Provisioner(engine).add(device_id=token_id, patient_id=patient_id,
                                           kind="cgm", role="nightscout")
        except ProvisioningError as exc:
            raise click.ClickException(str(exc)) from exc
        assert made.secret is not None
        token = made.secret
    _audit(engine, patient_id, f"Nightscout token issued: {token_id} ({role})", "create")
    click.echo(f"{role} token {token_id} for {holder} (shown once, keep it safe):")
    click.echo(token)
    if role == "uploader":
        click.echo("With the generated broker ACL, re-render it: hearth devices render")


@nightscout_token.command("list")
@click.argument("patient_id")
def list_tokens(patient_id: str) -> None:
    """The patient's tokens and uploaders (never the tokens themselves)."""
    from core.provisioning import Provisioner
    from dashboard.nightscout_tokens import NightscoutTokens

    engine = _engine()
    _patient(engine, patient_id)
    for t in NightscoutTokens(engine).of_patient(patient_id):
        state = "active" if t.active else "revoked"
        click.echo(f"{t.id:<32} {t.role:<9} {state:<8} {t.created_at:%Y-%m-%d}  {t.holder}")
    for a in Provisioner(engine).accounts():
        if a.patient_id == patient_id and a.role == "nightscout":
            click.echo(f"{a.device_id:<32} {'uploader':<9} "
                       f"{'active' if a.active else 'revoked':<8}")


@nightscout_token.command("revoke")
@click.argument("patient_id")
@click.argument("token_id")
def revoke(patient_id: str, token_id: str) -> None:
    """Revoke one of the patient's tokens or uploaders; refused from the next request."""
    from core.provisioning import Provisioner
    from dashboard.nightscout_tokens import NightscoutTokens

    engine = _engine()
    _patient(engine, patient_id)
    if not NightscoutTokens(engine).revoke(patient_id, token_id, now=datetime.now(UTC)):
        provisioner = Provisioner(engine)
        uploaders = {a.device_id for a in provisioner.accounts(include_revoked=False)
                     if a.patient_id == patient_id and a.role == "nightscout"}
        if token_id not in uploaders:
            raise click.ClickException(f"{patient_id} has no active token {token_id!r}")
        provisioner.revoke(token_id)
    _audit(engine, patient_id, f"Nightscout token revoked: {token_id}", "revoke")
    click.echo(f"{token_id} revoked")
