"""InfluxDB adapter specifics: its URL, retries, error translation, retention policies.

The behaviour every store shares is in test_timeseries_conformance.py. Here the
HTTP side is faked with httpx.MockTransport where the point is what the adapter
sends and how it reacts; the retention-policy test uses the real server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from core.errors import ConfigurationError, StoreError, StoreUnavailableError
from core.metrics import Metric
from core.readings import Reading, to_epoch_us
from core.timeseries.factory import open_store
from core.timeseries.influxdb import (
    InfluxSettings,
    InfluxTimeSeriesStore,
    _line,
    quote_identifier,
    quote_string,
)
from tests.core.test_timeseries_conformance import AWKWARD_IDS
from tests.support.influxdb import InfluxServer

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
EMPTY_RESULT = {"results": [{"statement_id": 0}]}


def reading(*, device: str = "cgm-1", patient: str = "p1", minutes: int = 0) -> Reading:
    return Reading(
        patient_id=patient,
        device_id=device,
        metric=Metric.GLUCOSE,
        value=100.0,
        measured_at=T0 + timedelta(minutes=minutes),
        source="cgm",
        original_value=5.55,
        original_unit="mmol/L",
    )


class FakeInflux:
    """Answers /query with no stored points and /write with the given status codes, in turn."""

    def __init__(self, write_statuses: list[int] | None = None) -> None:
        self.write_statuses = list(write_statuses or [])
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/query":
            statements = request.url.params["q"].split(";\n")
            results = [{"statement_id": i} for i in range(len(statements))]
            return httpx.Response(200, json={"results": results})
        status = self.write_statuses.pop(0) if self.write_statuses else 204
        if status == 204:
            return httpx.Response(204)
        return httpx.Response(status, json={"error": f"status {status}"})

    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/write"]


def fake_store(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float], **settings: object
) -> InfluxTimeSeriesStore:
    return InfluxTimeSeriesStore(
        InfluxSettings(base_url="http://influx.test:8086", **settings),  # type: ignore[arg-type]
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
    )


# -- the URL ---------------------------------------------------------------------------------


def test_url_with_user_password_database_and_options() -> None:
    settings = InfluxSettings.from_url(
        "influxdb://hearth:p%40ss%2Fword@influx.example:8087/clinic?rp=two_years&timeout=3"
        "&batch_size=2000&retries=6&backoff_cap=2.5&statements_per_query=1"
    )

    assert settings.base_url == "http://influx.example:8087"
    assert (settings.database, settings.retention_policy) == ("clinic", "two_years")
    assert (settings.username, settings.password, settings.token) == ("hearth", "p@ss/word", None)
    assert (settings.timeout, settings.batch_size, settings.retries) == (3.0, 2000, 6)
    assert (settings.backoff_cap, settings.statements_per_query) == (2.5, 1)


def test_url_defaults_and_tls() -> None:
    settings = InfluxSettings.from_url("influxdbs://influx.example")

    assert settings.base_url == "https://influx.example:8086"
    assert (settings.database, settings.retention_policy) == ("hearth", None)
    assert (settings.username, settings.password, settings.token) == (None, None, None)


def test_an_empty_user_makes_the_password_a_token() -> None:
    settings = InfluxSettings.from_url("influxdb://:s3cr3t-token@influx:8086/hearth")

    assert (settings.username, settings.password, settings.token) == (None, None, "s3cr3t-token")
    assert "s3cr3t" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("influxdb:///hearth", "no host"),
        ("influxdb://influx/hearth?retention=autogen", "unknown InfluxDB URL options"),
        ("influxdb://influx/hearth?timeout=soon", "bad option"),
        ("postgres://influx/hearth", "not an InfluxDB URL"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        InfluxSettings.from_url(url)


def test_the_factory_opens_influxdb_urls() -> None:
    store = open_store("influxdb://influx.invalid:8086/hearth")
    try:
        assert isinstance(store, InfluxTimeSeriesStore)
    finally:
        store.close()


# -- what goes over the wire -----------------------------------------------------------------


def test_writes_go_in_batches_in_microseconds_with_basic_auth() -> None:
    fake, sleeps = FakeInflux(), []
    store = fake_store(fake, sleeps, batch_size=5, username="u", password="pw", database="db")

    assert store.write([reading(minutes=m) for m in range(12)]) == 12

    writes = fake.writes()
    assert [len(w.content.splitlines()) for w in writes] == [5, 5, 2]
    assert dict(writes[0].url.params) == {"db": "db", "precision": "u"}
    assert writes[0].headers["authorization"] == httpx.BasicAuth("u", "pw")._auth_header
    first = writes[0].content.decode().splitlines()[0]
    assert first.startswith("glucose,device=cgm-1,patient=p1,source=cgm ")
    assert first.endswith(" 1777636800000000")


def test_a_failed_request_stops_the_batch_and_raises() -> None:
    """Requests are pipelined (the next is serialised while one is sent), but once one
    fails nothing after it goes out, and write() raises, so ingest acknowledges nothing."""
    fake, sleeps = FakeInflux(write_statuses=[204, 400]), []
    store = fake_store(fake, sleeps, batch_size=5)

    with pytest.raises(StoreError, match="refused the request"):
        store.write([reading(minutes=m) for m in range(20)])

    assert [len(w.content.splitlines()) for w in fake.writes()] == [5, 5]
    store.close()


HANGING_SERVER_SCRIPT = """
import json, threading, time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from core.metrics import Metric
from core.readings import Reading
from core.timeseries.influxdb import InfluxSettings, InfluxTimeSeriesStore

writing = threading.Event()

class Hanging(BaseHTTPRequestHandler):
    def do_GET(self):  # the existence check: nothing stored yet
        body = json.dumps({"results": [{"statement_id": 0}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # the write: accepted, never answered
        writing.set()
        time.sleep(3600)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
store = InfluxTimeSeriesStore(InfluxSettings(
    base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=30.0, retries=3))
reading = Reading("p1", "cgm-1", Metric.GLUCOSE, 100.0, datetime(2026, 5, 1, tzinfo=UTC),
                  "cgm", 100.0, "mg/dL")
threading.Thread(target=store.write, args=([reading],), daemon=True).start()
assert writing.wait(20)
print("exiting", flush=True)
"""


def test_a_write_hanging_on_the_server_does_not_hold_up_the_process_exit() -> None:
    """Ingest's worker is a daemon thread; the adapter's sender thread must be one too,
    or a server that accepts and never answers keeps a stopping process alive for
    timeout x attempts (here 120 s)."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", HANGING_SERVER_SCRIPT], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "exiting" in done.stdout
    assert time.monotonic() - began < 20


def test_token_auth_and_retention_policy() -> None:
    fake, sleeps = FakeInflux(), []
    store = fake_store(fake, sleeps, token="tok", database="db", retention_policy="rp 1")

    store.write([reading()])
    store.read("p1", Metric.GLUCOSE, T0, T0 + timedelta(1))

    assert all(r.headers["authorization"] == "Token tok" for r in fake.requests)
    assert fake.writes()[0].url.params["rp"] == "rp 1"
    query = fake.requests[-1].url.params["q"]
    assert 'FROM "db"."rp 1"."glucose"' in query


def test_reads_are_get_requests_with_at_most_statements_per_query_each() -> None:
    metrics = [Metric.GLUCOSE, Metric.WEIGHT, Metric.PULSE]
    one_at_a_time, together = FakeInflux(), FakeInflux()

    assert fake_store(one_at_a_time, [], statements_per_query=1).latest("p1", metrics) == {}
    assert fake_store(together, [], statements_per_query=50).latest("p1", metrics) == {}

    assert [r.method for r in one_at_a_time.requests] == ["GET"] * 3
    assert len(together.requests) == 1
    assert together.requests[0].url.params["q"].count("SELECT") == 3
    assert together.requests[0].url.params["epoch"] == "u"


# -- retries and errors ------------------------------------------------------------------------


def test_transient_failures_are_retried_with_capped_backoff() -> None:
    fake, sleeps = FakeInflux(write_statuses=[503, 500, 429, 204]), []
    store = fake_store(fake, sleeps, retries=5, backoff_cap=0.3)

    assert store.write([reading()]) == 1

    assert len(fake.writes()) == 4
    assert len(sleeps) == 3
    assert all(0 < s <= 0.3 for s in sleeps)


def test_a_store_that_stays_down_raises_unavailable_after_the_retries() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sleeps: list[float] = []
    store = fake_store(refuse, sleeps, retries=3, backoff_cap=1.0)

    with pytest.raises(StoreUnavailableError, match="after 4 attempts"):
        store.write([reading()])
    assert len(sleeps) == 3


@pytest.mark.parametrize(("status", "message"), [(400, "refused the request"),
                                                 (401, "refused the credentials"),
                                                 (404, "refused the request")])
def test_refusals_are_store_errors_and_not_retried(status: int, message: str) -> None:
    fake, sleeps = FakeInflux(write_statuses=[status]), []
    store = fake_store(fake, sleeps)

    with pytest.raises(StoreError, match=message) as caught:
        store.write([reading()])

    assert not isinstance(caught.value, StoreUnavailableError)
    assert len(fake.writes()) == 1 and sleeps == []


def test_a_truncated_result_is_an_error_not_a_short_answer() -> None:
    def truncated(request: httpx.Request) -> httpx.Response:
        series = {"name": "glucose", "columns": ["time", "value"], "values": [[1, 1.0]],
                  "partial": True}
        return httpx.Response(200, json={"results": [{"statement_id": 0, "series": [series],
                                                      "partial": True}]})

    store = fake_store(truncated, [])
    with pytest.raises(StoreError, match="truncated"):
        store.read_series("p1", Metric.GLUCOSE, T0, T0 + timedelta(1))


def test_a_query_error_is_reported() -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": [{"statement_id": 0, "error": "boom"}]})

    with pytest.raises(StoreError, match="boom"):
        fake_store(failing, []).latest("p1", [Metric.GLUCOSE])


@pytest.mark.parametrize(
    ("device", "problem"),
    [("ends\\", "ends with a backslash"), ("new\nline", "contains a control character"),
     ("tab\tbed", "contains a control character"), ("", "is empty")],
)
def test_ids_the_line_protocol_cannot_carry_are_refused_before_anything_is_sent(
    device: str, problem: str
) -> None:
    fake = FakeInflux()
    store = fake_store(fake, [])

    with pytest.raises(StoreError, match=f"reading 1: its device id {problem}"):
        store.write([reading(), reading(device=device)])

    assert fake.requests == []
    # Nothing with such an id can be stored, so reading it finds nothing (and asks nothing).
    assert store.read(device, Metric.GLUCOSE, T0, T0 + timedelta(1)) == []


def point_line(r: Reading) -> str:
    """The line influxdb-client's Point writes for a reading, built whole."""
    fields: dict[str, object] = {"value": r.value, "original_value": r.original_value,
                                 "original_unit": r.original_unit}
    if r.context is not None:
        fields["context"] = r.context
    if r.status:
        fields["status"] = json.dumps(list(r.status))
    point = Point.from_dict(
        {"measurement": str(r.metric), "fields": fields, "time": to_epoch_us(r.measured_at),
         "tags": {"patient": r.patient_id, "device": r.device_id, "source": r.source}},
        write_precision=WritePrecision.US,  # type: ignore[arg-type]
    )
    line: str = point.to_line_protocol()
    return line


@pytest.mark.parametrize("name", [*AWKWARD_IDS, "plain", "a=b,c d"])
def test_lines_are_exactly_what_point_writes(name: str) -> None:
    """The adapter caches Point's escaping per series and string; the lines must not change."""
    for value, context, status in [(1e-7, None, ()), (123456789.125, name, ("low", 'x"y\\')),
                                   (5.0, "", ("a",)), (1e21, "fasting", ()), (1 / 3, None, ())]:
        r = Reading(name, f"dev {name}", Metric.WEIGHT, value, T0, f"src {name}", value,
                    f'u "{name}" \\', context=context, status=status)
        assert _line(r, to_epoch_us(r.measured_at)) == point_line(r)


def test_influxql_quoting() -> None:
    assert quote_string("o'brien \\ x") == "'o\\'brien \\\\ x'"
    assert quote_identifier('a "b" \\') == '"a \\"b\\" \\\\"'


# -- the real server: a retention policy of its own ----------------------------------------------


def test_a_named_retention_policy_on_a_real_server(influxdb_server: InfluxServer) -> None:
    database = influxdb_server.create_database()
    influxdb_server.query(
        f'CREATE RETENTION POLICY "two years" ON "{database}" DURATION 104w REPLICATION 1'
    )
    store = open_store(influxdb_server.url(database, rp="two%20years"))
    try:
        assert store.write([reading(minutes=m) for m in range(3)]) == 3
        assert len(store.read("p1", Metric.GLUCOSE, T0, T0 + timedelta(1))) == 3

        in_policy = influxdb_server.query(
            f'SELECT count("value") FROM "{database}"."two years"."glucose"'
        )
        in_default = influxdb_server.query(f'SELECT count("value") FROM "{database}".."glucose"')
        assert json.dumps(in_policy).count('"values": [[0, 3]]') == 1
        assert "series" not in json.dumps(in_default)
    finally:
        store.close()
