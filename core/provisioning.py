"""Device provisioning: credentials, Mosquitto's password file and ACL, revocation.

An administrator registers a device, gateway or home display for a patient and
gets its MQTT secret once; the application database keeps only Mosquitto's
hash of it (core/appdb/credentials.py). ``render`` writes the broker's
password file and ACL from the database: each device may publish only to its
own ``hearth/v1/up/{id}`` and ``hearth/v1/status/{id}`` and read only its own
``hearth/v1/ack/{id}``; a gateway also forwards the devices linked to it, and
a gateway or home display reads its patient's ``hearth/v1/down/{patient}``.
Services (ingest, coach, dashboard, the Home Assistant bridge) have their own
accounts with fixed rights (``SERVICE_RULES``). Revoking a device removes its
login and rights from the next render; Mosquitto re-reads both files on SIGHUP,
so a revocation needs no broker restart.

Password hashes: Mosquitto 2.0's ``$7$`` format (PBKDF2-HMAC-SHA512, 101
iterations, 12-byte salt; mosquitto ``apps/mosquitto_passwd`` and
``src/password_mosq.c``). The ``mosquitto_passwd`` tool makes them when it is
installed (the secret goes through its standard input, never its argv);
otherwise ``hashlib.pbkdf2_hmac`` writes the same format. Both paths are
tested against the real broker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core import topics
from core.appdb.credentials import GatewayLink, MqttAccount, NightscoutUploader
from core.appdb.models import Device, Patient
from core.errors import HearthError

log = logging.getLogger(__name__)

ROLES = ("device", "gateway", "display")
NIGHTSCOUT_KIND = "nightscout"
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default in 2.0 (PW_DEFAULT_ITERATIONS)
SALT_BYTES = 12
SECRET_BYTES = 24  # 192 bits; shown once, URL-safe


class ProvisioningError(HearthError):
    """A registration or revocation that cannot be done (the message says why)."""


# --- password hashes -------------------------------------------------------


def hash_password_pbkdf2(secret: str, *, salt: bytes | None = None,
                         iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto's ``$7$iterations$salt$hash`` (base64), in Python."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    derived = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(derived).decode()}"


def hash_password_tool(secret: str, tool: str | None = None) -> str:
    """The same hash made by ``mosquitto_passwd`` (secret on stdin, not in argv)."""
    exe = tool or mosquitto_passwd_tool()
    if exe is None:
        raise ProvisioningError("mosquitto_passwd is not installed")
    if "\n" in secret:
        raise ProvisioningError("a secret cannot contain a line break")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "passwd"
        path.touch(mode=0o600)
        subprocess.run([exe, str(path), "hash"], input=f"{secret}\n{secret}\n".encode(),
                       check=True, capture_output=True, timeout=30)
        line = path.read_text().strip()
    user, _, hashed = line.partition(":")
    if user != "hash" or not hashed.startswith("$"):
        raise ProvisioningError("mosquitto_passwd wrote an unexpected line")
    return hashed


def mosquitto_passwd_tool() -> str | None:
    return shutil.which("mosquitto_passwd")


def hash_password(secret: str) -> str:
    """Prefer the broker's own tool; fall back to the Python implementation."""
    if mosquitto_passwd_tool() is not None:
        return hash_password_tool(secret)
    return hash_password_pbkdf2(secret)


def verify_password(secret: str, hashed: str) -> bool:
    """Check a ``$7$`` (PBKDF2-SHA512) hash as Mosquitto does."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    iterations = int(parts[2])
    salt, expected = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    derived = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return hmac.compare_digest(derived, expected)


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


# --- Nightscout uploader secrets ------------------------------------------


def nightscout_api_secret_header(secret: str) -> str:
    """What a Nightscout uploader sends as ``api-secret``: the SHA-1 hex of the secret
    (cgm-remote-monitor ``lib/server/enclave.js`` keeps ``genHash(apiKey, 'sha1')``)."""
    return hashlib.sha1(secret.encode()).hexdigest()  # noqa: S324 - Nightscout's protocol


def nightscout_digest_of_header(api_secret_sha1: str) -> str:
    """The stored lookup key: SHA-256 of the SHA-1 hex (the secret is random, 192 bits)."""
    return hashlib.sha256(api_secret_sha1.strip().lower().encode()).hexdigest()


# --- the registry of credentials ------------------------------------------


@dataclass(frozen=True, slots=True)
class Issued:
    """A new registration; ``secret`` is shown once and never stored."""

    device_id: str
    patient_id: str
    role: str
    secret: str | None


@dataclass(frozen=True, slots=True)
class DeviceAccount:
    device_id: str
    patient_id: str
    kind: str
    role: str  # device, gateway, display, nightscout, or "linked" (behind a gateway)
    active: bool
    gateway_id: str | None = None
    forwards: tuple[str, ...] = ()  # for a gateway: the devices linked to it


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A Hearth service's broker login; its secret comes from the deployment (.env)."""

    user: str
    password_hash: str


# Every service's MQTT client id starts with this; on the broker's device listener a
# client id is the device's login (deploy/mosquitto/mosquitto.conf), so no device id may.
SERVICE_PREFIX = "hearth-"

# Fixed rights of the services (topics: docs/CONTRACT.md). The dashboard's right to
# publish Nightscout uploads is per uploader and added by ``render_acl``.
SERVICE_RULES: dict[str, tuple[str, ...]] = {
    "hearth-ingest": (
        f"read {topics.UP_ALL}", f"read $share/hearth/{topics.UP_ALL}",
        # ingest/lane.py: the priority lane's QoS 0 scanner of the shared group "hearth".
        f"read $share/hearth-priority/{topics.UP_ALL}",
        f"write {topics.DEAD_ALL}", f"write {topics.ACK_ALL}", f"write {topics.STORED_ALL}",
        f"write {topics.STORED_BATCH}",  # one stored event for a batch (issue 22)
        # `hearth dead-letters keep` (its own client id) stores the dead letters.
        f"read {topics.DEAD_ALL}",
    ),
    "hearth-coach": (
        f"read {topics.STORED_ALL}", f"read $share/hearth-coach/{topics.STORED_ALL}",
        f"read {topics.STORED_BATCH}", f"read $share/hearth-coach/{topics.STORED_BATCH}",
        f"read {topics.PREFIX}/status/+", f"write {topics.DOWN_ALL}",
    ),
    "hearth-dashboard": (f"read {topics.PREFIX}/status/+", "read $SYS/broker/uptime"),
    # coach/home_assistant.py: reads stored events and nudges, writes discovery and state.
    "hearth-home-assistant": (
        f"read {topics.STORED_ALL}", f"read {topics.STORED_BATCH}", f"read {topics.DOWN_ALL}",
        "write homeassistant/#", "write hearth/ha/#", "read hearth/ha/#",
    ),
    # A Home Assistant installation on the same broker: reads what the bridge publishes.
    "home-assistant": ("read homeassistant/#", "read hearth/ha/#", "write homeassistant/status"),
}


@dataclass
class Provisioner:
    """Registers, lists and revokes device credentials in the application database."""

    engine: Engine
    hasher: Callable[[str], str] = field(default=hash_password)

    def add(self, *, device_id: str, patient_id: str, kind: str, role: str = "device",
            via: str | None = None) -> Issued:
        """Register a device (or gateway/display/Nightscout uploader) and issue its secret.

        ``role`` "nightscout" makes an uploader for the Nightscout API; ``via``
        links a device without its own login to the gateway that forwards it.
        """
        if not topics.valid_topic_id(device_id):
            raise ProvisioningError(f"device id {device_id!r} cannot stand as one MQTT topic level")
        if device_id in SERVICE_RULES or device_id.startswith(SERVICE_PREFIX):
            raise ProvisioningError(f"{device_id!r} is the name of a service account "
                                    f"(or starts with {SERVICE_PREFIX!r}, as their client ids do)")
        if role not in (*ROLES, NIGHTSCOUT_KIND):
            raise ProvisioningError(f"role must be one of {', '.join((*ROLES, NIGHTSCOUT_KIND))}")
        with Session(self.engine) as session:
            if session.get(Patient, patient_id) is None:
                raise ProvisioningError(f"no patient {patient_id!r}")
            device = session.get(Device, device_id)
            if device is not None and device.active and device.patient_id != patient_id:
                raise ProvisioningError(
                    f"device {device_id!r} is bound to another patient; revoke it first")
            device = device or Device(id=device_id)
            device.patient_id, device.kind, device.active, device.revoked_at = (
                patient_id, kind, True, None)
            session.add(device)
            session.flush()
            secret = self._credentials(session, device_id, patient_id, role, via)
            session.commit()
        log.info("registered device %s as %s", device_id, role)
        return Issued(device_id, patient_id, role, secret)

    def _credentials(self, session: Session, device_id: str, patient_id: str, role: str,
                     via: str | None) -> str | None:
        for model in (MqttAccount, NightscoutUploader, GatewayLink):
            old = session.get(model, device_id)
            if old is not None:
                session.delete(old)
        session.flush()
        if via is not None:
            self._link(session, device_id, patient_id, via)
            return None
        secret = new_secret()
        if role == NIGHTSCOUT_KIND:
            digest = nightscout_digest_of_header(nightscout_api_secret_header(secret))
            session.add(NightscoutUploader(device_id=device_id, secret_digest=digest))
        else:
            hashed = self.hasher(secret)
            session.add(MqttAccount(device_id=device_id, role=role, password_hash=hashed))
        return secret

    def _link(self, session: Session, device_id: str, patient_id: str, via: str) -> None:
        gateway = session.get(MqttAccount, via)
        device = session.get(Device, via)
        if gateway is None or gateway.role != "gateway" or gateway.revoked_at is not None:
            raise ProvisioningError(f"{via!r} is not an active gateway")
        if device is None or device.patient_id != patient_id:
            raise ProvisioningError(f"gateway {via!r} belongs to another patient")
        session.add(GatewayLink(device_id=device_id, gateway_id=via))

    def revoke(self, device_id: str, *, now: datetime | None = None) -> None:
        """Deactivate the device and its credentials (effective at the next render + reload)."""
        when = now or datetime.now(UTC)
        with Session(self.engine) as session:
            device = session.get(Device, device_id)
            if device is None:
                raise ProvisioningError(f"no device {device_id!r}")
            device.active, device.revoked_at = False, when
            for row in (session.get(MqttAccount, device_id),
                        session.get(NightscoutUploader, device_id)):
                if row is not None and row.revoked_at is None:
                    row.revoked_at = when
            session.commit()
        log.info("revoked device %s", device_id)

    def accounts(self, *, include_revoked: bool = True) -> list[DeviceAccount]:
        with Session(self.engine) as session:
            devices = session.scalars(select(Device).order_by(Device.id)).all()
            mqtt = {a.device_id: a for a in session.scalars(select(MqttAccount))}
            uploaders = {u.device_id: u for u in session.scalars(select(NightscoutUploader))}
            links = {g.device_id: g.gateway_id for g in session.scalars(select(GatewayLink))}
            out = [_account(d, mqtt, uploaders, links) for d in devices
                   if d.id in mqtt or d.id in uploaders or d.id in links]
        return [a for a in out if include_revoked or a.active]

    def nightscout_uploader(self, api_secret_sha1: str) -> tuple[str, str] | None:
        """(device id, patient id) of the active uploader whose secret has this SHA-1 hex."""
        digest = nightscout_digest_of_header(api_secret_sha1)
        with Session(self.engine) as session:
            row = session.execute(
                select(Device.id, Device.patient_id)
                .join(NightscoutUploader, NightscoutUploader.device_id == Device.id)
                .where(NightscoutUploader.secret_digest == digest,
                       NightscoutUploader.revoked_at.is_(None), Device.active.is_(True))
            ).first()
        return (row[0], row[1]) if row else None

    def mqtt_hashes(self) -> dict[str, str]:
        """Active device logins: device id -> ``$7$`` hash."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(MqttAccount.device_id, MqttAccount.password_hash)
                .join(Device, Device.id == MqttAccount.device_id)
                .where(MqttAccount.revoked_at.is_(None), Device.active.is_(True))
                .order_by(MqttAccount.device_id)
            ).all()
        return {device_id: hashed for device_id, hashed in rows}


def _account(device: Device, mqtt: dict[str, MqttAccount], uploaders: dict[str, NightscoutUploader],
             links: dict[str, str]) -> DeviceAccount:
    if device.id in mqtt:
        login = mqtt[device.id]
        forwards = tuple(sorted(d for d, g in links.items() if g == device.id))
        return DeviceAccount(device.id, device.patient_id, device.kind, login.role,
                             device.active and login.revoked_at is None, forwards=forwards)
    if device.id in uploaders:
        up = uploaders[device.id]
        return DeviceAccount(device.id, device.patient_id, device.kind, NIGHTSCOUT_KIND,
                             device.active and up.revoked_at is None)
    return DeviceAccount(device.id, device.patient_id, device.kind, "linked", device.active,
                         gateway_id=links[device.id])


# --- rendering the broker's files -------------------------------------------


def render_acl(accounts: Iterable[DeviceAccount], *,
               services: Iterable[str] = SERVICE_RULES) -> str:
    """Mosquitto's ACL file: the services' fixed rights, then one block per active device."""
    accounts = [a for a in accounts if a.active]
    active = {a.device_id for a in accounts}
    lines = ["# Generated by `hearth devices render`: do not edit; re-render instead.",
             "# Topics: docs/CONTRACT.md. Mosquitto re-reads this file on SIGHUP.", ""]
    uploaders = [a.device_id for a in accounts if a.role == NIGHTSCOUT_KIND]
    for user in services:
        lines.append(f"user {user}")
        lines += [f"topic {rule}" for rule in SERVICE_RULES[user]]
        lines.append("")
    if uploaders:
        # The Nightscout API (dashboard) publishes each uploader's entries as that device,
        # and reads ingest's commit acks for them (dashboard/upload_outbox.py).
        # Mosquitto adds a repeated `user` block's topics to that user's rights.
        lines.append("user hearth-dashboard")
        for d in uploaders:
            lines += [f"topic write {topics.up(d)}", f"topic read {topics.ack(d)}"]
        lines.append("")
    for account in accounts:
        if account.role not in ROLES:
            continue
        lines.append(f"user {account.device_id}")
        forwarded = [d for d in account.forwards if d in active]
        for device_id in (account.device_id, *forwarded):
            lines += [f"topic write {topics.up(device_id)}",
                      f"topic write {topics.status(device_id)}",
                      f"topic read {topics.ack(device_id)}"]
        if account.role in ("gateway", "display"):
            lines.append(f"topic read {topics.down(account.patient_id)}")
        lines.append("")
    return "\n".join(lines)


def render_passwd(device_hashes: dict[str, str], services: Iterable[ServiceAccount] = ()) -> str:
    entries = [(s.user, s.password_hash) for s in services] + sorted(device_hashes.items())
    users = [user for user, _ in entries]
    if len(set(users)) != len(users):
        raise ProvisioningError("a device id collides with a service account")
    return "".join(f"{user}:{hashed}\n" for user, hashed in entries)


@dataclass(frozen=True, slots=True)
class Rendered:
    passwd: Path
    acl: Path
    devices: int


# The deployment's environment variables holding each service's broker password
# (.env.example; the same names the Mosquitto container reads in entrypoint.sh).
SERVICE_PASSWORD_ENV: dict[str, str] = {
    "hearth-ingest": "MQTT_INGEST_PASSWORD",
    "hearth-coach": "MQTT_COACH_PASSWORD",
    "hearth-dashboard": "MQTT_DASHBOARD_PASSWORD",
    "hearth-home-assistant": "MQTT_HOME_ASSISTANT_PASSWORD",
    "home-assistant": "MQTT_HA_PASSWORD",
}


def services_from_env(environ: dict[str, str], hasher: Callable[[str], str] = hash_password
                      ) -> list[ServiceAccount]:
    """Service logins whose password is set in ``environ``; the others are left out."""
    return [ServiceAccount(user, hasher(environ[var]))
            for user, var in SERVICE_PASSWORD_ENV.items() if environ.get(var)]


def render(provisioner: Provisioner, out_dir: Path, *,
           services: Iterable[ServiceAccount] = (), service_names: Iterable[str] = SERVICE_RULES,
           passwd_name: str = "passwd", acl_name: str = "acl") -> Rendered:
    """Write the password file and ACL into ``out_dir`` atomically (rename over the old ones)."""
    service_list = list(services)
    accounts = provisioner.accounts(include_revoked=False)
    hashes = provisioner.mqtt_hashes()
    clashes = {s.user for s in service_list} & set(hashes) | set(service_names) & set(hashes)
    if clashes:
        raise ProvisioningError(f"device ids collide with service accounts: {sorted(clashes)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    passwd = _write_atomic(out_dir / passwd_name, render_passwd(hashes, service_list))
    acl = _write_atomic(out_dir / acl_name, render_acl(accounts, services=service_names))
    log.info("rendered broker credentials for %d devices", len(hashes))
    return Rendered(passwd, acl, len(hashes))


def _write_atomic(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
