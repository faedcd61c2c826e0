"""`hearth admin`: accounts, clinics, care teams, caregiver shares and device bindings.

    hearth admin add-clinic riverside "Riverside Health Centre"
    hearth admin add-user nina --role nurse --name "Nina Osei" --clinic riverside
    echo "$PASSWORD" | hearth admin add-user ann --role patient --name "Ann" --patient ann \\
        --password-stdin
    hearth admin add-team riverside-care "Riverside care team" --clinic riverside
    hearth admin add-member riverside-care cora
    hearth admin assign riverside-care ann          # the team's coaches see ann
    hearth admin register ann riverside             # the clinic's nurses see ann
    hearth admin share ann sam --scope readings --scope alerts --urgent-alerts
    hearth admin bind-devices ann ann-cgm:cgm ann-scale:scale
    hearth admin list-users

Passwords are read from a hidden prompt (asked twice) or, with --password-stdin,
from the first line of standard input; they are stored as argon2id hashes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

ROLES = ("patient", "caregiver", "coach", "nurse", "admin")
SCOPES = ("readings", "trends", "nudges", "goals", "alerts", "export")


def _store():  # type: ignore[no-untyped-def]
    from core.appdb.account_store import AccountStore
    from core.config import get_settings
    from hearth import wiring

    return AccountStore(wiring.app_engine(get_settings()))


def _clear_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Provisioning mistakes are the user's to fix: say what, without a traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from core.appdb.account_store import AccountError
        from core.passwords import WeakPasswordError

        try:
            command(*args, **kwargs)
        except (AccountError, WeakPasswordError) as exc:
            raise click.ClickException(str(exc)) from exc

    return run


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.ClickException("no password on standard input")
        return line
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


password_stdin = click.option("--password-stdin", is_flag=True,
                              help="Read the password from the first line of standard input.")


@click.group()
def admin() -> None:
    """Manage accounts, clinics, care teams, caregiver shares and device bindings."""


@admin.command("add-clinic")
@click.argument("clinic_id")
@click.argument("name")
@_clear_errors
def add_clinic(clinic_id: str, name: str) -> None:
    """Create or rename a clinic."""
    _store().add_clinic(clinic_id, name)
    click.echo(f"clinic {clinic_id} saved")


@admin.command("add-user")
@click.argument("user_id")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", required=True, help="Name shown in the dashboard.")
@click.option("--patient", "patient_id", help="The patient record (patient accounts only).")
@click.option("--clinic", "clinic_id", help="The clinic (a nurse sees its patients).")
@password_stdin
@_clear_errors
def add_user(user_id: str, role: str, display_name: str, patient_id: str | None,
             clinic_id: str | None, password_stdin: bool) -> None:
    """Create an account that signs in as USER_ID."""
    account = _store().add_user(user_id, role=role, display_name=display_name,
                                password=_password(password_stdin), patient_id=patient_id,
                                clinic_id=clinic_id)
    click.echo(f"{account.role} account {account.id} created")


@admin.command("set-password")
@click.argument("user_id")
@password_stdin
@_clear_errors
def set_password(user_id: str, password_stdin: bool) -> None:
    """Set a new password (signs the account out everywhere)."""
    _store().set_password(user_id, _password(password_stdin))
    click.echo(f"password of {user_id} changed; its sessions are closed")


@admin.command("disable-user")
@click.argument("user_id")
@click.option("--enable", is_flag=True, help="Enable it again instead.")
@_clear_errors
def disable_user(user_id: str, enable: bool) -> None:
    """Stop an account from signing in (and close its sessions)."""
    _store().set_active(user_id, enable)
    click.echo(f"{user_id} {'enabled' if enable else 'disabled'}")


@admin.command("add-team")
@click.argument("team_id")
@click.argument("name")
@click.option("--clinic", "clinic_id")
@_clear_errors
def add_team(team_id: str, name: str, clinic_id: str | None) -> None:
    """Create or rename a care team."""
    _store().add_care_team(team_id, name, clinic_id)
    click.echo(f"care team {team_id} saved")


@admin.command("add-member")
@click.argument("team_id")
@click.argument("user_id")
@_clear_errors
def add_member(team_id: str, user_id: str) -> None:
    """Put a coach or nurse in a care team."""
    _store().add_team_member(team_id, user_id)
    click.echo(f"{user_id} is in care team {team_id}")


@admin.command("assign")
@click.argument("team_id")
@click.argument("patient_ids", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Take the patients out of the team instead.")
@_clear_errors
def assign(team_id: str, patient_ids: tuple[str, ...], remove: bool) -> None:
    """Assign patients to a care team (its coaches see them)."""
    store = _store()
    if remove:
        for patient_id in patient_ids:
            store.unassign_patient(team_id, patient_id)
    else:
        store.assign_patients(team_id, patient_ids)
    click.echo(f"{len(patient_ids)} patient(s) {'removed from' if remove else 'assigned to'} "
               f"{team_id}")


@admin.command("register")
@click.argument("patient_id")
@click.argument("clinic_id")
@_clear_errors
def register(patient_id: str, clinic_id: str) -> None:
    """Register a patient with a clinic (its nurses see them)."""
    _store().register_at_clinic(patient_id, clinic_id)
    click.echo(f"{patient_id} registered at {clinic_id}")


@admin.command("share")
@click.argument("patient_id")
@click.argument("caregiver_id")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES),
              help="What the caregiver may see; repeat. None: stop sharing.")
@click.option("--urgent-alerts", is_flag=True, help="Send them the patient's urgent alerts.")
@_clear_errors
def share(patient_id: str, caregiver_id: str, scopes: tuple[str, ...],
          urgent_alerts: bool) -> None:
    """Set what a patient shares with a caregiver (on the patient's behalf)."""
    store = _store()
    if not scopes:
        store.unshare(patient_id, caregiver_id)
        click.echo(f"{patient_id} no longer shares with {caregiver_id}")
        return
    done = store.share(patient_id, caregiver_id, scopes, urgent_alerts=urgent_alerts)
    click.echo(f"{patient_id} shares {', '.join(done.scopes)} with {caregiver_id}"
               + (" (and urgent alerts)" if urgent_alerts else ""))


@admin.command("bind-devices")
@click.argument("patient_id")
@click.argument("devices", nargs=-1, required=True, metavar="DEVICE_ID:KIND...")
@_clear_errors
def bind(patient_id: str, devices: tuple[str, ...]) -> None:
    """Bind devices to a patient (re-binding an id moves it)."""
    from sqlalchemy.orm import Session

    from core.appdb.account_store import AccountError
    from core.appdb.directory import bind_devices
    from core.appdb.models import Patient
    from core.config import get_settings
    from hearth import wiring

    pairs = []
    for item in devices:
        device_id, _, kind = item.partition(":")
        if not device_id or not kind:
            raise click.BadParameter(f"{item!r}: write DEVICE_ID:KIND, e.g. ann-cgm:cgm")
        pairs.append((device_id, kind))
    with Session(wiring.app_engine(get_settings())) as session:
        if session.get(Patient, patient_id) is None:
            raise AccountError(f"no patient {patient_id!r}")
        bind_devices(session, patient_id, pairs)
        session.commit()
    click.echo(f"{len(pairs)} device(s) bound to {patient_id}")


@admin.command("list-users")
def list_users() -> None:
    """Every account: login, role, links and whether it may sign in."""
    for a in _store().accounts():
        links = " ".join(x for x in (a.patient_id and f"patient={a.patient_id}",
                                     a.clinic_id and f"clinic={a.clinic_id}") if x)
        click.echo(f"{a.id:<20} {a.role:<10} {'active' if a.active else 'disabled':<9} {links}")
