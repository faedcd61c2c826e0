"""Build the real objects from settings: the one place that knows which adapter to use."""

from __future__ import annotations

from sqlalchemy import Engine

from core.appdb.directory import SqlDirectory
from core.appdb.engine import create_schema, make_engine
from core.config import HearthSettings
from core.errors import ConfigurationError
from core.mqtt import MqttEndpoint
from core.timeseries import TimeSeriesStore
from core.timeseries.factory import open_store


def app_engine(settings: HearthSettings) -> Engine:
    engine = make_engine(settings.resolved_database_url())
    create_schema(engine)
    return engine


def directory(settings: HearthSettings) -> SqlDirectory:
    return SqlDirectory(app_engine(settings))


def timeseries(settings: HearthSettings) -> TimeSeriesStore:
    """The store every service reads, without the readings people deleted through the
    Nightscout API (core/nightscout_voids.py: kept, audited, no longer counted)."""
    from core.nightscout_voids import VoidedReadings, VoidFilteredStore

    store = open_store(settings.resolved_timeseries_url())
    return VoidFilteredStore(store, VoidedReadings(make_engine(settings.resolved_database_url())))


def mqtt_endpoint(settings: HearthSettings) -> MqttEndpoint:
    if not settings.mqtt_url:
        raise ConfigurationError(
            "HEARTH_MQTT_URL is not set (for example mqtt://127.0.0.1:1883); "
            "`hearth up` runs an embedded broker when it is unset"
        )
    return MqttEndpoint.parse(settings.mqtt_url)
