"""Who is who: patients and the device registry, read from the application database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from core.appdb.models import Device, Patient


@dataclass(frozen=True, slots=True)
class PatientInfo:
    id: str
    display_name: str
    timezone: str
    conditions: tuple[str, ...] = ()
    targets: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    device_id: str
    patient_id: str
    kind: str
    active: bool


class DeviceRegistry(Protocol):
    def binding(self, device_id: str) -> DeviceBinding | None: ...


class BulkRegistry(DeviceRegistry, Protocol):
    """A registry that answers for many devices in one look-up (ingest's batches)."""

    def bindings(self, device_ids: Iterable[str]) -> dict[str, DeviceBinding | None]: ...


BULK_CHUNK = 500  # ids in one ``IN (...)`` look-up


class PatientDirectory(Protocol):
    def patients(self) -> list[PatientInfo]: ...

    def patient(self, patient_id: str) -> PatientInfo | None: ...


class SqlDirectory:
    """Registry and patient directory over the application database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def binding(self, device_id: str) -> DeviceBinding | None:
        with Session(self._engine) as session:
            device = session.get(Device, device_id)
            if device is None:
                return None
            return DeviceBinding(device.id, device.patient_id, device.kind, device.active)

    def bindings(self, device_ids: Iterable[str]) -> dict[str, DeviceBinding | None]:
        """Many devices in one query per ``BULK_CHUNK`` ids (None: not registered)."""
        ids = list(dict.fromkeys(device_ids))
        found: dict[str, DeviceBinding | None] = dict.fromkeys(ids)
        with self._engine.connect() as conn:
            for k in range(0, len(ids), BULK_CHUNK):
                for row in conn.execute(_BINDINGS, {"ids": ids[k:k + BULK_CHUNK]}):
                    found[row.id] = DeviceBinding(row.id, row.patient_id, row.kind,
                                                  bool(row.active))
        return found

    def patients(self) -> list[PatientInfo]:
        # A plain SELECT, not ORM objects: the nurse's pages list every patient of the
        # clinic on each view, and 1,000 ORM instances cost ~0.1 s of CPU (issue 22).
        with self._engine.connect() as conn:
            return [_info(row) for row in conn.execute(_PATIENTS)]  # type: ignore[arg-type]

    def patient(self, patient_id: str) -> PatientInfo | None:
        # A plain SELECT: every page about a patient asks (an ORM look-up cost 0.5 ms).
        with self._engine.connect() as conn:
            found = conn.execute(_PATIENT, {"patient_id": patient_id}).first()
        return _info(found) if found else None  # type: ignore[arg-type]

    def devices_of(self, patient_id: str) -> list[DeviceBinding]:
        with Session(self._engine) as session:
            rows = session.scalars(
                select(Device).where(Device.patient_id == patient_id).order_by(Device.id)
            ).all()
            return [DeviceBinding(d.id, d.patient_id, d.kind, d.active) for d in rows]


_BINDINGS = select(Device.id, Device.patient_id, Device.kind, Device.active).where(
    Device.id.in_(bindparam("ids", expanding=True)))
_PATIENT = select(Patient.id, Patient.display_name, Patient.timezone, Patient.conditions,
                  Patient.targets).where(Patient.id == bindparam("patient_id"))


_PATIENTS = select(Patient.id, Patient.display_name, Patient.timezone, Patient.conditions,
                   Patient.targets).order_by(Patient.id)


def _info(p: Patient) -> PatientInfo:
    return PatientInfo(
        id=p.id,
        display_name=p.display_name,
        timezone=p.timezone,
        conditions=tuple(p.conditions or ()),
        targets=dict(p.targets or {}),
    )


class CachedRegistry:
    """Caches bindings for ``ttl`` seconds: a revocation takes effect within ttl."""

    def __init__(
        self,
        inner: DeviceRegistry,
        *,
        ttl: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, DeviceBinding | None]] = {}
        self._lock = threading.Lock()

    def binding(self, device_id: str) -> DeviceBinding | None:
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(device_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        found = self._inner.binding(device_id)
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[device_id] = (now, found)
        return found

    def bindings(self, device_ids: Iterable[str]) -> dict[str, DeviceBinding | None]:
        """Many devices at once: the cached ones, and every missing or expired one in one
        bulk look-up of the inner registry (one query per ``BULK_CHUNK`` ids) when it has
        one; the same ttl as ``binding``."""
        now = self._monotonic()
        out: dict[str, DeviceBinding | None] = {}
        stale: list[str] = []
        with self._lock:
            cache = self._cache
            for device_id in device_ids:
                hit = cache.get(device_id)
                if hit is not None and now - hit[0] < self._ttl:
                    out[device_id] = hit[1]
                else:
                    stale.append(device_id)
        if not stale:
            return out
        bulk = getattr(self._inner, "bindings", None)
        fetched = bulk(stale) if callable(bulk) else {d: self._inner.binding(d) for d in stale}
        with self._lock:
            if len(self._cache) + len(fetched) > 100_000:
                self._cache.clear()
            for device_id, found in fetched.items():
                self._cache[device_id] = (now, found)
        out.update(fetched)
        return out


def upsert_patient(session: Session, info: PatientInfo, *, birth_year: int | None = None) -> None:
    patient = session.get(Patient, info.id) or Patient(id=info.id)
    patient.display_name = info.display_name
    patient.timezone = info.timezone
    patient.birth_year = birth_year
    patient.conditions = list(info.conditions)
    patient.targets = dict(info.targets)
    session.add(patient)


def bind_devices(session: Session, patient_id: str, devices: Sequence[tuple[str, str]]) -> None:
    """Register (device_id, kind) pairs for a patient; re-binding an id moves it."""
    for device_id, kind in devices:
        device = session.get(Device, device_id) or Device(id=device_id)
        device.patient_id = patient_id
        device.kind = kind
        device.active = True
        device.revoked_at = None
        session.add(device)
