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
    hearth admin add-patient ann --name "Ann Hughes" --timezone Europe/London \\
        --condition type1_diabetes --target glucose_high=180 --device ann-cgm:cgm \\
        --clinic riverside --team riverside-care
    hearth admin list-users

Passwords are read from a hidden prompt (asked twice) or, with --password-stdin,
from the first line of standard input; they are stored as argon2id hashes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from core.appdb.account_store import AccountStore

ROLES = ("patient", "caregiver", "coach", "nurse", "admin")
SCOPES = ("readings", "trends", "nudges", "goals", "alerts", "export")


def _store() -> AccountStore:
    from core.appdb.account_store import AccountStore
    from core.config import get_settings
    from hearth import wiring

    return AccountStore(wiring.app_engine(get_settings()))


def _clear_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Provisioning mistakes are the user's to fix: say what, without a traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from core.appdb.users import AccountError
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
    _store().clinics.add(clinic_id, name)
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
    account = _store().users.add(user_id, role=role, display_name=display_name,
                                password=_password(password_stdin), patient_id=patient_id,
                                clinic_id=clinic_id)
    click.echo(f"{account.role} account {account.id} created")


@admin.command("set-password")
@click.argument("user_id")
@password_stdin
@_clear_errors
def set_password(user_id: str, password_stdin: bool) -> None:
    """Set a new password (signs the account out everywhere)."""
    _store().users.set_password(user_id, _password(password_stdin))
    click.echo(f"password of {user_id} changed; its sessions are closed")


@admin.command("disable-user")
@click.argument("user_id")
@click.option("--enable", is_flag=True, help="Enable it again instead.")
@_clear_errors
def disable_user(user_id: str, enable: bool) -> None:
    """Stop an account from signing in (and close its sessions)."""
    _store().users.set_active(user_id, enable)
    click.echo(f"{user_id} {'enabled' if enable else 'disabled'}")


@admin.command("add-team")
@click.argument("team_id")
@click.argument("name")
@click.option("--clinic", "clinic_id")
@_clear_errors
def add_team(team_id: str, name: str, clinic_id: str | None) -> None:
    """Create or rename a care team."""
    _store().care_teams.add(team_id, name, clinic_id)
    click.echo(f"care team {team_id} saved")


@admin.command("add-member")
@click.argument("team_id")
@click.argument("user_id")
@_clear_errors
def add_member(team_id: str, user_id: str) -> None:
    """Put a coach or nurse in a care team."""
    _store().care_teams.add_member(team_id, user_id)
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
            store.care_teams.unassign(team_id, patient_id)
    else:
        store.care_teams.assign_many(team_id, patient_ids)
    click.echo(f"{len(patient_ids)} patient(s) {'removed from' if remove else 'assigned to'} "
               f"{team_id}")


@admin.command("register")
@click.argument("patient_id")
@click.argument("clinic_id")
@_clear_errors
def register(patient_id: str, clinic_id: str) -> None:
    """Register a patient with a clinic (its nurses see them)."""
    _store().clinics.register(patient_id, clinic_id)
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
        store.sharing.unshare(patient_id, caregiver_id)
        click.echo(f"{patient_id} no longer shares with {caregiver_id}")
        return
    done = store.sharing.share(patient_id, caregiver_id, scopes, urgent_alerts=urgent_alerts)
    click.echo(f"{patient_id} shares {', '.join(done.scopes)} with {caregiver_id}"
               + (" (and urgent alerts)" if urgent_alerts else ""))


@admin.command("bind-devices")
@click.argument("patient_id")
@click.argument("devices", nargs=-1, required=True, metavar="DEVICE_ID:KIND...")
@_clear_errors
def bind(patient_id: str, devices: tuple[str, ...]) -> None:
    """Bind devices to a patient (re-binding an id moves it)."""
    from sqlalchemy.orm import Session

    from core.appdb.directory import bind_devices
    from core.appdb.models import Patient
    from core.appdb.users import AccountError
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
    for a in _store().users.all():
        links = " ".join(x for x in (a.patient_id and f"patient={a.patient_id}",
                                     a.clinic_id and f"clinic={a.clinic_id}") if x)
        click.echo(f"{a.id:<20} {a.role:<10} {'active' if a.active else 'disabled':<9} {links}")


# A patient id is what devices, URLs and the other admin commands name the patient by.
PATIENT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # one MQTT topic level
# Target keys the coach and the dashboard read (devices/household.toml has examples) and
# the range a typed value must fall in. These bounds only catch typing mistakes (a weight
# of 6800 kg, a systolic of 13.5); they are not clinical targets, which are the clinician's
# to set (docs/CLINICAL.md has the defaults used where none is set).
NUMERIC_TARGETS: dict[str, tuple[float, float]] = {
    "glucose_low": (40, 200),  # mg/dL
    "glucose_high": (100, 400),  # mg/dL
    "tir_percent": (0, 100),
    "bp_systolic": (80, 250),  # mmHg
    "bp_diastolic": (40, 150),  # mmHg
    "weight_kg": (20, 400),
    "spo2_percent": (70, 100),
    "steps_per_day": (0, 50_000),
}
FLAG_TARGETS = ("older_adult",)
TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _conditions() -> tuple[str, ...]:
    from care.grouping import CONDITION_WORDS

    return tuple(CONDITION_WORDS)


def _target(item: str) -> tuple[str, object]:
    key, sep, raw = item.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise click.BadParameter(f"{item!r}: write KEY=VALUE, e.g. glucose_high=180",
                                 param_hint="--target")
    if key in NUMERIC_TARGETS:
        low, high = NUMERIC_TARGETS[key]
        try:
            value = float(raw)
        except ValueError:
            raise click.BadParameter(f"{key} must be a number, not {raw!r}",
                                     param_hint="--target") from None
        if not low <= value <= high:
            raise click.BadParameter(f"{key}={raw} is outside {low:g}-{high:g}",
                                     param_hint="--target")
        return key, int(value) if value.is_integer() else value
    if key in FLAG_TARGETS:
        if raw.lower() not in ("true", "false", "yes", "no"):
            raise click.BadParameter(f"{key} is true or false, not {raw!r}", param_hint="--target")
        return key, raw.lower() in ("true", "yes")
    if key == "medication_times":
        times = [t.strip() for t in raw.split(",")]
        bad = [t for t in times if not TIME.fullmatch(t)]
        if bad:
            raise click.BadParameter(f"medication_times are 24-hour HH:MM, comma-separated; "
                                     f"not {', '.join(map(repr, bad))}", param_hint="--target")
        return key, sorted(set(times))
    known = ", ".join([*NUMERIC_TARGETS, *FLAG_TARGETS, "medication_times"])
    raise click.BadParameter(f"unknown target {key!r}; one of {known}", param_hint="--target")


def _device(item: str) -> tuple[str, str]:
    from coach.device_kinds import DEVICE_KINDS

    device_id, _, kind = item.rpartition(":")
    if not device_id or not kind:
        raise click.BadParameter(f"{item!r}: write DEVICE_ID:KIND, e.g. ann-cgm:cgm",
                                 param_hint="--device")
    if not DEVICE_ID.fullmatch(device_id):
        raise click.BadParameter(f"{device_id!r} is not a device id (letters, digits, . _ -)",
                                 param_hint="--device")
    if kind not in DEVICE_KINDS:
        raise click.BadParameter(f"unknown device kind {kind!r}; one of "
                                 f"{', '.join(sorted(DEVICE_KINDS))}", param_hint="--device")
    return device_id, kind


@admin.command("add-patient")
@click.argument("patient_id")
@click.option("--name", "display_name", required=True, help="The patient's name as shown.")
@click.option("--timezone", "tz", required=True,
              help="IANA time zone of the patient's home, e.g. Europe/London.")
@click.option("--condition", "conditions", multiple=True, metavar="CONDITION",
              help="A condition the patient lives with; repeat (see --help for the list).")
@click.option("--target", "targets", multiple=True, metavar="KEY=VALUE",
              help="A personal target, e.g. glucose_high=180, bp_systolic=135, weight_kg=68, "
                   "spo2_percent=90, medication_times=08:00,20:00; repeat.")
@click.option("--birth-year", type=int, default=None)
@click.option("--device", "devices", multiple=True, metavar="DEVICE_ID:KIND",
              help="Bind a device to the patient, e.g. ann-cgm:cgm; repeat.")
@click.option("--clinic", "clinic_id", help="Register the patient at this clinic (its nurses).")
@click.option("--team", "team_id", help="Assign the patient to this care team (its coaches).")
@_clear_errors
def add_patient(patient_id: str, display_name: str, tz: str, conditions: tuple[str, ...],
                targets: tuple[str, ...], birth_year: int | None, devices: tuple[str, ...],
                clinic_id: str | None, team_id: str | None) -> None:
    """Create a patient record (a clinic starts without the simulator); all or nothing.

    Conditions: type1_diabetes, type2_diabetes, hypertension, heart_failure, copd, frailty.
    Then `hearth admin add-user ... --role patient --patient PATIENT_ID` gives them a login.
    """
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    from sqlalchemy.orm import Session

    from core.appdb.accounts import CareTeam, Clinic
    from core.appdb.directory import PatientInfo, bind_devices, upsert_patient
    from core.appdb.models import Device, Patient
    from core.appdb.users import AccountError
    from core.config import get_settings
    from hearth import wiring

    if not PATIENT_ID.fullmatch(patient_id):
        raise click.BadParameter(
            f"{patient_id!r}: a patient id is 1-64 lower-case letters, digits, '.', '_' or "
            "'-', starting with a letter or digit", param_hint="PATIENT_ID")
    name = display_name.strip()
    if not name or len(name) > 200:
        raise click.BadParameter("a name of 1-200 characters", param_hint="--name")
    if tz not in available_timezones():
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise click.BadParameter(f"unknown time zone {tz!r}; an IANA name such as "
                                     "Europe/London or America/New_York",
                                     param_hint="--timezone") from None
    known = _conditions()
    unknown = [c for c in conditions if c not in known]
    if unknown:
        raise click.BadParameter(f"unknown condition {', '.join(map(repr, unknown))}; one of "
                                 f"{', '.join(known)}", param_hint="--condition")
    parsed = dict(_target(t) for t in targets)
    low, high = parsed.get("glucose_low"), parsed.get("glucose_high")
    if isinstance(low, int | float) and isinstance(high, int | float) and low >= high:
        raise click.BadParameter("glucose_low must be below glucose_high", param_hint="--target")
    sys_, dia = parsed.get("bp_systolic"), parsed.get("bp_diastolic")
    if isinstance(sys_, int | float) and isinstance(dia, int | float) and dia >= sys_:
        raise click.BadParameter("bp_diastolic must be below bp_systolic", param_hint="--target")
    this_year = datetime.now(UTC).year
    if birth_year is not None and not this_year - 120 <= birth_year <= this_year:
        raise click.BadParameter(f"{birth_year} is not a birth year", param_hint="--birth-year")
    pairs = [_device(d) for d in devices]
    ids = [d for d, _ in pairs]
    if len(set(ids)) != len(ids):
        raise click.BadParameter("a device is listed twice", param_hint="--device")

    store = _store()
    with Session(wiring.app_engine(get_settings())) as session:
        # every check before the first write: a refused command leaves nothing behind
        if clinic_id and session.get(Clinic, clinic_id) is None:
            raise AccountError(f"no clinic {clinic_id!r}")
        if team_id and session.get(CareTeam, team_id) is None:
            raise AccountError(f"no care team {team_id!r}")
        if session.get(Patient, patient_id) is not None:
            raise AccountError(f"patient {patient_id!r} exists already")
        for device_id in ids:
            bound = session.get(Device, device_id)
            if bound is not None and bound.active:
                raise AccountError(f"device {device_id!r} is bound to patient "
                                   f"{bound.patient_id!r}; `hearth admin bind-devices "
                                   f"{patient_id} {device_id}:KIND` moves it once the "
                                   "patient exists")
        upsert_patient(session, PatientInfo(patient_id, name, tz, tuple(dict.fromkeys(
            conditions)), parsed), birth_year=birth_year)
        session.flush()
        bind_devices(session, patient_id, pairs)
        session.commit()
    done = [f"patient {patient_id} created ({tz}"
            + (f"; {', '.join(dict.fromkeys(conditions))}" if conditions else "") + ")"]
    if pairs:
        done.append(f"{len(pairs)} device(s) bound")
    if clinic_id:
        store.clinics.register(patient_id, clinic_id)
        done.append(f"registered at {clinic_id}")
    if team_id:
        store.care_teams.assign_many(team_id, [patient_id])
        done.append(f"assigned to {team_id}")
    click.echo("; ".join(done))


def _nightscout_tokens() -> click.Command:
    from hearth.commands.admin_tokens import nightscout_token

    return nightscout_token


admin.add_command(_nightscout_tokens())  # hearth admin nightscout-token create|list|revoke


def _engagement() -> click.Command:
    from hearth.commands.admin_engagement import engagement

    return engagement


admin.add_command(_engagement())  # hearth admin engagement show|set
