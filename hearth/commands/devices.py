"""`hearth devices add|list|revoke|render`: device credentials and the broker's auth files.

    hearth devices add ann-cgm --patient ann --kind cgm            # prints its secret once
    hearth devices add ann-hub --patient ann --kind hub --role gateway
    hearth devices add ann-meter --patient ann --kind meter --via ann-hub
    hearth devices add ann-xdrip --patient ann --kind cgm --role nightscout
    hearth devices revoke ann-cgm --render /mosquitto/auth --reload-pidfile /run/mosquitto.pid
    hearth devices render --out /etc/mosquitto/hearth          # passwd + acl, services from env

``render`` writes Mosquitto's password file and ACL (core/provisioning.py).
With ``--devices-only`` it writes ``devices.passwd`` and ``devices.acl`` for
the compose deployment, whose broker adds the service accounts itself
(deploy/mosquitto/entrypoint.sh). Mosquitto re-reads its files on SIGHUP:
``--reload-pidfile`` sends it, or run ``docker compose kill -s HUP mosquitto``.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from core.provisioning import Provisioner


def _provisioner() -> Provisioner:
    from core.config import get_settings
    from core.provisioning import Provisioner
    from hearth import wiring

    return Provisioner(wiring.app_engine(get_settings()))


def _render(out: Path, *, devices_only: bool, reload_pidfile: Path | None) -> None:
    from core import provisioning

    provisioner = _provisioner()
    if devices_only:
        done = provisioning.render(provisioner, out, service_names=(),
                                   passwd_name="devices.passwd", acl_name="devices.acl")
    else:
        services = provisioning.services_from_env(dict(os.environ))
        missing = sorted(set(provisioning.SERVICE_PASSWORD_ENV) - {s.user for s in services})
        if missing:
            click.echo(f"note: no password in the environment for {', '.join(missing)}: "
                       "left out of the password file", err=True)
        done = provisioning.render(provisioner, out, services=services)
    click.echo(f"wrote {done.passwd} and {done.acl} ({done.devices} device logins)")
    if reload_pidfile is not None:
        _reload(reload_pidfile)


def _reload(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the broker's pid from {pidfile}: {exc}") from exc
    os.kill(pid, signal.SIGHUP)
    click.echo(f"sent SIGHUP to the broker (pid {pid}): it re-reads its password file and ACL")


render_option = click.option(
    "--render", "render_dir", type=click.Path(file_okay=False, path_type=Path),
    help="Afterwards re-render the broker's files into this directory.")
devices_only_option = click.option(
    "--devices-only", is_flag=True,
    help="Write devices.passwd/devices.acl only (compose: the broker adds the services).")
reload_option = click.option(
    "--reload-pidfile", type=click.Path(dir_okay=False, path_type=Path),
    help="Send SIGHUP to the broker whose pid is in this file (Mosquitto's pid_file).")


@click.group()
def devices() -> None:
    """Register devices and gateways, issue and revoke their MQTT credentials."""


@devices.command()
@click.argument("device_id")
@click.option("--patient", "patient_id", required=True, help="The patient the device belongs to.")
@click.option("--kind", required=True, help="What it is: cgm, meter, bp_cuff, scale, hub, ...")
@click.option("--role", type=click.Choice(["device", "gateway", "display", "nightscout"]),
              default="device", show_default=True,
              help="gateway/display also read the patient's nudges; nightscout: an uploader "
                   "for the Nightscout API (no MQTT login).")
@click.option("--via", "via", default=None,
              help="A device without its own login, forwarded by this gateway.")
@render_option
@devices_only_option
@reload_option
def add(device_id: str, patient_id: str, kind: str, role: str, via: str | None,
        render_dir: Path | None, devices_only: bool, reload_pidfile: Path | None) -> None:
    """Register DEVICE_ID for a patient and print its secret (shown once, never stored)."""
    from core.provisioning import ProvisioningError, nightscout_api_secret_header

    try:
        issued = _provisioner().add(device_id=device_id, patient_id=patient_id, kind=kind,
                                    role=role, via=via)
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from exc
    if issued.secret is None:
        click.echo(f"registered {device_id} for {patient_id}, forwarded by gateway {via}")
    elif role == "nightscout":
        click.echo(f"registered Nightscout uploader {device_id} for {patient_id}")
        click.echo(f"API secret (shown once): {issued.secret}")
        click.echo(f"  api-secret header (SHA-1): {nightscout_api_secret_header(issued.secret)}")
        click.echo("  in the app: https://<secret>@<dashboard host>/  or  ?token=<secret>")
    else:
        click.echo(f"registered {device_id} ({role}) for {patient_id}")
        click.echo(f"MQTT user: {device_id}")
        click.echo(f"MQTT password (shown once): {issued.secret}")
    if render_dir is not None:
        _render(render_dir, devices_only=devices_only, reload_pidfile=reload_pidfile)


@devices.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--active", "active_only", is_flag=True, help="Leave revoked devices out.")
def list_(as_json: bool, active_only: bool) -> None:
    """Registered credentials: device, patient, kind, role, state."""
    from dataclasses import asdict

    for account in _provisioner().accounts(include_revoked=not active_only):
        if as_json:
            click.echo(json.dumps(asdict(account)))
            continue
        extra = (f" via {account.gateway_id}" if account.gateway_id
                 else f" forwards {','.join(account.forwards)}" if account.forwards else "")
        state = "active" if account.active else "revoked"
        click.echo(f"{account.device_id}\t{account.patient_id}\t{account.kind}\t"
                   f"{account.role}\t{state}{extra}")


@devices.command()
@click.argument("device_id")
@render_option
@devices_only_option
@reload_option
def revoke(device_id: str, render_dir: Path | None, devices_only: bool,
           reload_pidfile: Path | None) -> None:
    """Revoke DEVICE_ID: its login, rights and registry binding (re-render and reload)."""
    from core.provisioning import ProvisioningError

    try:
        _provisioner().revoke(device_id)
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {device_id}")
    if render_dir is None:
        click.echo("now re-render (hearth devices render) and reload the broker "
                   "(docker compose kill -s HUP mosquitto)", err=True)
        return
    _render(render_dir, devices_only=devices_only, reload_pidfile=reload_pidfile)


@devices.command()
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the password file and ACL (written atomically).")
@devices_only_option
@reload_option
def render(out_dir: Path, devices_only: bool, reload_pidfile: Path | None) -> None:
    """Write Mosquitto's password file and ACL from the registry.

    Service passwords come from MQTT_INGEST_PASSWORD, MQTT_COACH_PASSWORD,
    MQTT_DASHBOARD_PASSWORD, MQTT_HOME_ASSISTANT_PASSWORD and MQTT_HA_PASSWORD.
    """
    _render(out_dir, devices_only=devices_only, reload_pidfile=reload_pidfile)
