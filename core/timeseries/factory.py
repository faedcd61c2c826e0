"""Choose the time-series store from its URL (HEARTH_TIMESERIES_URL)."""

from __future__ import annotations

from urllib.parse import urlparse

from core.errors import ConfigurationError
from core.timeseries import TimeSeriesStore


def open_store(url: str) -> TimeSeriesStore:
    """``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db`` (as SQLAlchemy)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        from core.timeseries.sqlite import SqliteTimeSeriesStore

        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if not path:
            raise ConfigurationError(f"no file in the SQLite store URL {url!r}")
        return SqliteTimeSeriesStore(path)
    if parsed.scheme in ("influxdb", "influxdbs"):
        from core.timeseries.influxdb import InfluxTimeSeriesStore

        return InfluxTimeSeriesStore.from_url(url)  # docs/STORAGE.md describes the URL
    raise ConfigurationError(
        f"unsupported time-series store URL scheme {parsed.scheme!r}"
        " (use sqlite:///... or influxdb://...)"
    )
