"""Readings that no longer count: those of Nightscout documents a person deleted or edited
(core/appdb/nightscout_documents.py), left out of every read of the time-series store.

A reading deleted as wrong through the Nightscout API (a sensor value the user removed in
xDrip+, a treatment invalidated in AndroidAPS) stays stored, and the deletion is kept and
audited, but it must not count: no statistic, chart, alert or export may use it. The store
itself only grows (its writes are idempotent on the reading's key), so the readings are
left out here, around the store every reader gets (hearth/wiring.py): ``VoidFilteredStore``
passes writes through and drops voided readings from ``read``, ``read_series``,
``latest`` and ``newest_values``.

The voided keys are few (people's deletions) and are loaded whole; a process checks for
new revisions at most every ``refresh_s`` seconds (one indexed query), so a deletion stops
counting everywhere within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from core.metrics import Metric
from core.readings import Reading, from_epoch_us, to_epoch_us
from core.timeseries import Series, TimeSeriesStore

Voids = dict[tuple[str, str], set[tuple[str, int]]]  # (patient, metric) -> {(device, us)}
LOOK_BACK = timedelta(days=400)  # how far latest() looks for the newest reading still counting


class VoidedReadings:
    """The voided keys, reloaded when the record of changes grows."""

    def __init__(self, engine: Any, *, refresh_s: float = 2.0) -> None:
        from core.appdb.nightscout_documents import NightscoutDocuments

        self._book = NightscoutDocuments(engine)
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._checked = -float("inf")
        self._last_id = -1
        self._voids: Voids = {}

    def current(self) -> Voids:
        now = time.monotonic()
        if now - self._checked < self._refresh_s:
            return self._voids
        with self._lock:
            if now - self._checked >= self._refresh_s:
                try:
                    last = self._book.last_id()
                    if last != self._last_id:
                        self._voids, self._last_id = self._book.voided(), last
                except Exception:  # noqa: BLE001 - no table yet (a store without app DB)
                    self._voids = {}
                self._checked = now
        return self._voids

    def of(self, patient_id: str, metric: Metric) -> set[tuple[str, int]]:
        return self.current().get((patient_id, str(metric)), set())


class VoidFilteredStore:
    """A TimeSeriesStore whose reads leave voided readings out."""

    def __init__(self, inner: TimeSeriesStore, voids: VoidedReadings) -> None:
        self.inner = inner
        self.voids = voids

    def __getattr__(self, name: str) -> Any:  # count() and the adapters' extras
        return getattr(self.inner, name)

    def write(self, readings: Sequence[Reading]) -> int:
        return self.inner.write(readings)

    def read(self, patient_id: str, metric: Metric, start: datetime, end: datetime
             ) -> list[Reading]:
        found = self.inner.read(patient_id, metric, start, end)
        voided = self.voids.of(patient_id, metric)
        if not voided:
            return found
        return [r for r in found if (r.device_id, to_epoch_us(r.measured_at)) not in voided]

    def read_series(self, patient_id: str, metric: Metric, start: datetime, end: datetime,
                    *, source: str | None = None) -> Series:
        voided = self.voids.of(patient_id, metric)
        low, high = to_epoch_us(start), to_epoch_us(end)
        if not any(low <= at_us < high for _, at_us in voided):
            return self.inner.read_series(patient_id, metric, start, end, source=source)
        kept = [r for r in self.read(patient_id, metric, start, end)
                if source is None or r.source == source]
        return Series(np.array([to_epoch_us(r.measured_at) for r in kept], dtype=np.int64),
                      np.array([r.value for r in kept], dtype=np.float64))

    def latest(self, patient_id: str, metrics: Iterable[Metric] | None = None
               ) -> dict[Metric, Reading]:
        found = self.inner.latest(patient_id, metrics)
        for metric, reading in list(found.items()):
            voided = self.voids.of(patient_id, metric)
            if (reading.device_id, to_epoch_us(reading.measured_at)) not in voided:
                continue
            end = reading.measured_at + timedelta(microseconds=1)
            earlier = self.read(patient_id, metric, end - LOOK_BACK, end)
            if earlier:
                found[metric] = earlier[-1]
            else:
                del found[metric]
        return found

    def newest_values(self, patient_ids: Iterable[str], metrics: Iterable[Metric],
                      since: datetime) -> dict[tuple[str, Metric], tuple[int, float]]:
        wanted = list(metrics)
        found = self.inner.newest_values(patient_ids, wanted, since)
        for (patient_id, metric), (at_us, _value) in list(found.items()):
            voided = self.voids.of(patient_id, metric)
            if not any(t == at_us for _, t in voided):
                continue
            end = from_epoch_us(at_us) + timedelta(microseconds=1)
            kept = self.read(patient_id, metric, since, end)
            if kept:
                found[(patient_id, metric)] = (to_epoch_us(kept[-1].measured_at),
                                               kept[-1].value)
            else:
                del found[(patient_id, metric)]
        return found

    def close(self) -> None:
        self.inner.close()
