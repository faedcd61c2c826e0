"""The InfluxDB adapter knows what is new without a read before each write
(core/timeseries/influxdb.py): what it wrote, and each series' newest stored time,
learned once. A second adapter (an ingest restarted after a crash) over the same
database must still store each key once, first write winning, with the awkward ids
of the conformance suite too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from core.metrics import Metric
from core.readings import Reading
from core.timeseries.influxdb import InfluxSettings, InfluxTimeSeriesStore
from tests.core.test_timeseries_conformance import AWKWARD_IDS

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
FAR = timedelta(days=3650)


def reading(value: float, minutes: int, *, device: str = "cgm-1", patient: str = "p1",
            source: str = "cgm") -> Reading:
    return Reading(patient, device, Metric.GLUCOSE, value, T0 + timedelta(minutes=minutes),
                   source, value, "mg/dL")


class Counting(httpx.HTTPTransport):
    """The real server, with the queries counted."""

    def __init__(self) -> None:
        super().__init__()
        self.queries = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            self.queries += 1
        return super().handle_request(request)


def store_on(url: str) -> tuple[InfluxTimeSeriesStore, Counting]:
    transport = Counting()
    return InfluxTimeSeriesStore(InfluxSettings.from_url(url), transport=transport), transport


def test_a_restarted_writer_stores_each_key_once_and_the_first_write_wins(
    influxdb_url: str,
) -> None:
    first, _ = store_on(influxdb_url)
    devices = ["cgm-1", *AWKWARD_IDS]
    batch = [reading(100.0 + i, m, device=d, patient=d)
             for i, d in enumerate(devices) for m in range(5)]
    assert first.write(batch) == len(batch)
    first.close()

    second, transport = store_on(influxdb_url)  # knows nothing yet
    replay = batch[2:] + [reading(250.0, 3, device=d, patient="someone-else", source="meter")
                          for d in devices]  # same keys, other content: the first stays
    assert second.write(replay) == 0
    newer = [reading(90.0, 10, device=d, patient=d) for d in devices]
    asked = transport.queries
    assert second.write(newer) == len(devices)
    assert transport.queries == asked  # newer than each series' newest: no query
    assert second.write(newer) == 0  # remembered: no query either
    assert transport.queries == asked
    for d in devices:
        got = second.read(d, Metric.GLUCOSE, T0 - FAR, T0 + FAR)
        want = [(r.value, "cgm") for r in batch if r.device_id == d] + [(90.0, "cgm")]
        assert [(r.value, r.source) for r in got] == want
    assert second.read("someone-else", Metric.GLUCOSE, T0 - FAR, T0 + FAR) == []
    second.close()


def test_a_backfill_older_than_the_newest_reading_is_looked_up(
    influxdb_url: str,
) -> None:
    first, _ = store_on(influxdb_url)
    assert first.write([reading(100.0, 0), reading(110.0, 10)]) == 2
    first.close()
    second, transport = store_on(influxdb_url)
    # Between the two stored readings: older than the newest, so checked with the server.
    assert second.write([reading(105.0, 5), reading(999.0, 0)]) == 1
    assert transport.queries >= 2  # the newest time learned, then the existence check
    got = second.read("p1", Metric.GLUCOSE, T0 - FAR, T0 + FAR)
    assert [r.value for r in got] == [100.0, 105.0, 110.0]
    second.close()


def test_the_first_write_of_thousands_of_new_series_keeps_each_request_short(
    influxdb_url: str,
) -> None:
    """Issue 22: 2,500 devices new to the adapter in one batch (ingest's first batch after
    a restart with thousands of patients). Their newest times were asked for in one GET
    whose URL httpx refused (125 KB); every request now stays under the limit."""
    devices = [f"cgm-{n:05d}-with-a-long-serial-number" for n in range(2_500)]
    first, _ = store_on(influxdb_url)
    older = [reading(100.0, 0, device=d, patient=f"p-{d}") for d in devices[:10]]
    assert first.write(older) == 10
    first.close()
    second, transport = store_on(influxdb_url)
    batch = [reading(101.0, m, device=d, patient=f"p-{d}") for d in devices for m in (0, 5)]
    assert second.write(batch) == len(batch) - 10  # the ten stored readings are known
    assert 2 <= transport.queries <= 60
    assert second.count() == 2 * len(devices)
    second.close()
