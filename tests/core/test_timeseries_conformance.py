"""One conformance suite for the time-series store interface, run against every adapter.

SQLite runs on a temporary file; InfluxDB is Debian's ``influxd`` started by
the fixture in tests/support/influxdb.py (a fresh database per test). Each
adapter is opened through ``open_store(url)``, as the services open it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from core.errors import StoreUnavailableError
from core.metrics import Metric
from core.readings import Reading, to_epoch_us
from core.timeseries import TimeSeriesStore
from core.timeseries.factory import open_store
from tests.support.influxdb import InfluxServer

T0 = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)  # a DST change in Europe follows
FAR_PAST = datetime(1990, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)

# Ids as people and devices really spell them, and as line protocol and InfluxQL must escape them.
AWKWARD_IDS = (
    "ann smith",
    "ann,smith",
    "ann=smith",
    "o'brien",
    'say "cheese"',
    "back\\slash",
    "back\\,comma",
    "\\'",
    "Zoë Ångström",
    "患者-7",
    " leading and trailing ",
    "🙂",
)


def reading(
    *,
    patient: str = "p1",
    device: str = "cgm-1",
    metric: Metric = Metric.GLUCOSE,
    value: float = 100.0,
    at: datetime = T0,
    source: str = "cgm",
    context: str | None = None,
    status: tuple[str, ...] = (),
) -> Reading:
    return Reading(
        patient_id=patient,
        device_id=device,
        metric=metric,
        value=value,
        measured_at=at,
        source=source,
        original_value=value,
        original_unit="mg/dL",
        context=context,
        status=status,
    )


@pytest.fixture(params=["sqlite", "influxdb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'timeseries.db'}"
    url: str = request.getfixturevalue("influxdb_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[TimeSeriesStore]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def everything(store: TimeSeriesStore, patient: str, metric: Metric) -> list[Reading]:
    return store.read(patient, metric, FAR_PAST, FAR_FUTURE)


# -- round trip ---------------------------------------------------------------------------


def test_round_trip_keeps_every_field_and_the_microsecond(store: TimeSeriesStore) -> None:
    written = [
        reading(value=1 / 3, at=T0),
        reading(value=123.456789012345, at=T0 + timedelta(microseconds=1), context="fasting"),
        reading(value=10.0, at=T0 + timedelta(minutes=5), status=("low_battery", "calibrating")),
        reading(value=1e-7, at=T0 + timedelta(minutes=10), context=""),
    ]
    scale = Reading(
        patient_id="p1",
        device_id="scale-1",
        metric=Metric.WEIGHT,
        value=81.64663,
        measured_at=T0,
        source="device",
        original_value=180.0,
        original_unit="[lb_av]",
    )
    assert store.write([*written, scale]) == 5

    assert everything(store, "p1", Metric.GLUCOSE) == written
    assert everything(store, "p1", Metric.WEIGHT) == [scale]
    for got in everything(store, "p1", Metric.GLUCOSE):
        assert got.measured_at.utcoffset() == timedelta(0)


def test_read_series_gives_ordered_columns(store: TimeSeriesStore) -> None:
    batch = [reading(value=float(v), at=T0 + timedelta(minutes=5 * v)) for v in (3, 1, 2)]
    meter = reading(device="meter-1", source="meter", value=42.0, at=T0 + timedelta(minutes=5))
    batch.append(meter)
    store.write(batch)

    series = store.read_series("p1", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE)

    expected_times = [T0 + timedelta(minutes=5 * v) for v in (1, 1, 2, 3)]
    assert series.times_us.dtype == np.int64 and series.values.dtype == np.float64
    assert series.times_us.tolist() == [to_epoch_us(t) for t in expected_times]
    # Two devices at one instant are both kept, ordered by device id (cgm-1 < meter-1).
    assert series.values.tolist() == [1.0, 42.0, 2.0, 3.0]


def test_read_series_of_one_source(store: TimeSeriesStore) -> None:
    store.write([reading(value=float(v), at=T0 + timedelta(minutes=5 * v)) for v in (1, 2, 3)]
                + [reading(device="meter-1", source="meter", value=42.0,
                           at=T0 + timedelta(minutes=5))])

    cgm = store.read_series("p1", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE, source="cgm")
    meter = store.read_series("p1", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE, source="meter")
    both = store.read_series("p1", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE)

    assert cgm.values.tolist() == [1.0, 2.0, 3.0]
    assert meter.values.tolist() == [42.0]
    assert meter.times_us.tolist() == [to_epoch_us(T0 + timedelta(minutes=5))]
    assert both.values.tolist() == [1.0, 42.0, 2.0, 3.0]
    assert len(store.read_series("p1", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE, source="x")) == 0


def test_read_series_gives_back_every_double_exactly(store: TimeSeriesStore) -> None:
    # Values as unit conversions and sums make them: none survives a 15-digit print.
    values = [0.1 + 0.2, 5.5 * 18.0156, 1 / 3, 2.0**53 + 2, 1e-300, 123.4, 0.0, 98.76543210987654,
              120.0, -7.0, 2.0**62, 2.0**64, 1e300, 1e-5]
    store.write([reading(value=v, at=T0 + timedelta(minutes=i)) for i, v in enumerate(values)])

    series = store.read_series("p1", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE)

    assert series.values.tolist() == values
    assert [r.value for r in everything(store, "p1", Metric.GLUCOSE)] == values


def test_latest_gives_the_newest_reading_of_each_metric(store: TimeSeriesStore) -> None:
    store.write(
        [
            reading(value=90.0, at=T0),
            reading(value=95.0, at=T0 + timedelta(hours=1)),
            reading(value=99.0, at=T0 - timedelta(hours=1)),
            reading(metric=Metric.PULSE, device="cuff", source="device", value=61.0, at=T0),
            reading(patient="p2", value=300.0, at=T0 + timedelta(days=1)),
        ]
    )

    newest = store.latest("p1")

    assert {m: r.value for m, r in newest.items()} == {Metric.GLUCOSE: 95.0, Metric.PULSE: 61.0}
    assert store.latest("p1", [Metric.PULSE]) == {Metric.PULSE: newest[Metric.PULSE]}
    assert store.latest("p1", [Metric.WEIGHT]) == {}


# -- idempotency -------------------------------------------------------------------------


def test_rewrites_change_nothing_and_count_only_new_readings(store: TimeSeriesStore) -> None:
    first = [reading(value=100.0 + i, at=T0 + timedelta(minutes=5 * i)) for i in range(10)]
    assert store.write(first) == 10
    assert store.write(first) == 0

    overlapping = first[5:] + [reading(value=200.0, at=T0 + timedelta(minutes=5 * 10))]
    assert store.write(overlapping) == 1

    assert everything(store, "p1", Metric.GLUCOSE) == [*first, overlapping[-1]]


def test_the_first_write_of_a_key_wins(store: TimeSeriesStore) -> None:
    original = reading(value=100.0)
    store.write([original])

    # Same (device, metric, measured_at): a different value, patient or source changes nothing.
    assert store.write([reading(value=250.0)]) == 0
    assert store.write([reading(patient="someone-else", value=250.0)]) == 0
    assert store.write([reading(source="meter", value=250.0)]) == 0

    assert everything(store, "p1", Metric.GLUCOSE) == [original]
    assert everything(store, "someone-else", Metric.GLUCOSE) == []


def test_duplicates_inside_one_batch_count_once(store: TimeSeriesStore) -> None:
    batch = [reading(value=100.0), reading(value=111.0), reading(value=100.0, at=T0 + timedelta(1))]

    assert store.write(batch) == 2
    assert [r.value for r in everything(store, "p1", Metric.GLUCOSE)] == [100.0, 100.0]


def test_the_same_instant_on_two_devices_is_two_readings(store: TimeSeriesStore) -> None:
    assert store.write([reading(device="cgm-1"), reading(device="cgm-2")]) == 2
    assert len(everything(store, "p1", Metric.GLUCOSE)) == 2


def test_an_empty_batch_writes_nothing(store: TimeSeriesStore) -> None:
    assert store.write([]) == 0


# -- ranges and time zones -------------------------------------------------------------------


def test_range_includes_start_and_excludes_end(store: TimeSeriesStore) -> None:
    start, end = T0, T0 + timedelta(hours=1)
    one_us = timedelta(microseconds=1)
    instants = [start - one_us, start, start + one_us, end - one_us, end, end + one_us]
    store.write([reading(value=float(i + 40), at=t) for i, t in enumerate(instants)])

    got = store.read("p1", Metric.GLUCOSE, start, end)

    assert [r.measured_at for r in got] == [start, start + one_us, end - one_us]
    series = store.read_series("p1", Metric.GLUCOSE, start, end)
    assert series.values.tolist() == [41.0, 42.0, 43.0]


def test_time_zones_of_inputs_do_not_matter(store: TimeSeriesStore) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    pacific = timezone(timedelta(hours=-8))
    at_india = datetime(2026, 3, 29, 6, 29, 59, 999_999, tzinfo=india)  # == T0
    at_pacific = datetime(2026, 3, 28, 17, 5, tzinfo=pacific)  # T0 + 5 min 0.000001 s
    store.write([reading(value=80.0, at=at_india), reading(value=81.0, at=at_pacific)])

    got = store.read(
        "p1",
        Metric.GLUCOSE,
        datetime(2026, 3, 28, 16, 59, 59, 999_999, tzinfo=pacific),
        datetime(2026, 3, 29, 6, 35, 0, 1, tzinfo=india),
    )

    assert [r.measured_at for r in got] == [T0, T0 + timedelta(minutes=5, microseconds=1)]
    assert all(r.measured_at.tzinfo is not None and r.measured_at.utcoffset() == timedelta(0)
               for r in got)
    # The same instant written in another zone is the same key.
    assert store.write([reading(value=80.0, at=T0)]) == 0


def test_empty_ranges_and_unknown_patients_give_empty_results(store: TimeSeriesStore) -> None:
    store.write([reading(at=T0)])

    assert store.read("p1", Metric.GLUCOSE, T0, T0) == []
    assert store.read("p1", Metric.GLUCOSE, T0 + timedelta(1), T0) == []
    assert store.read("p1", Metric.GLUCOSE, T0 + timedelta(microseconds=1), FAR_FUTURE) == []
    assert store.read("p1", Metric.STEPS, FAR_PAST, FAR_FUTURE) == []
    assert store.read("nobody", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE) == []
    empty = store.read_series("nobody", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE)
    assert len(empty) == 0
    assert empty.times_us.dtype == np.int64 and empty.values.dtype == np.float64
    assert store.latest("nobody") == {}


# -- size --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_100000_point_batch(store: TimeSeriesStore) -> None:
    batch = [
        reading(device=f"cgm-{i % 4}", value=40.0 + (i % 360), at=T0 + timedelta(seconds=i))
        for i in range(100_000)
    ]

    assert store.write(batch) == 100_000

    series = store.read_series("p1", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE)
    assert len(series) == 100_000
    assert series.values.sum() == sum(r.value for r in batch)
    assert bool(np.all(np.diff(series.times_us) == 1_000_000))
    middle = store.read("p1", Metric.GLUCOSE, T0 + timedelta(seconds=50_000),
                        T0 + timedelta(seconds=50_003))
    assert middle == batch[50_000:50_003]
    assert store.write(batch[99_000:]) == 0


# -- awkward identifiers ---------------------------------------------------------------------


def test_awkward_ids_round_trip_and_stay_apart(store: TimeSeriesStore) -> None:
    batch = [
        reading(patient=name, device=f"dev {name}", source=f"src {name}", value=float(50 + i))
        for i, name in enumerate(AWKWARD_IDS)
    ]
    assert store.write(batch) == len(AWKWARD_IDS)

    for name, written in zip(AWKWARD_IDS, batch, strict=True):
        assert everything(store, name, Metric.GLUCOSE) == [written]
        assert store.read_series(name, Metric.GLUCOSE, FAR_PAST, FAR_FUTURE).values.tolist() == [
            written.value
        ]
        assert store.latest(name) == {Metric.GLUCOSE: written}
    # Idempotency holds for them too: the existence check finds every one.
    assert store.write(batch) == 0
    # A near miss is another patient.
    assert everything(store, "ann  smith", Metric.GLUCOSE) == []
    assert everything(store, "o'brien'", Metric.GLUCOSE) == []


# -- a store that is down ------------------------------------------------------------------


@pytest.fixture
def restartable_influxdb(influxdb_factory: type[InfluxServer]) -> Callable[[], InfluxServer]:
    def start() -> InfluxServer:
        server = influxdb_factory()
        server.start()
        server.create_database("hearth")
        return server

    return start


def test_a_store_that_is_down_says_so_and_works_again_when_it_returns(
    restartable_influxdb: Callable[[], InfluxServer],
) -> None:
    # SQLite is a file inside the process: it cannot be "down" the way a server can.
    server = restartable_influxdb()
    store = open_store(server.url("hearth", retries="2", backoff_cap="0.05"))
    try:
        before = [reading(value=100.0, at=T0)]
        assert store.write(before) == 1

        server.stop()
        with pytest.raises(StoreUnavailableError, match="unavailable"):
            store.write([reading(value=101.0, at=T0 + timedelta(minutes=5))])
        with pytest.raises(StoreUnavailableError):
            store.read("p1", Metric.GLUCOSE, FAR_PAST, FAR_FUTURE)
        with pytest.raises(StoreUnavailableError):
            store.latest("p1")

        server.start()
        after = [reading(value=101.0, at=T0 + timedelta(minutes=5))]
        assert store.write(before + after) == 1
        assert everything(store, "p1", Metric.GLUCOSE) == before + after
    finally:
        store.close()
