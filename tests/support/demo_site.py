"""The dashboard over the demo household, with one account of each role (hearth/demo.py)
and an outsider patient in no clinic, team or share: what `hearth up` serves, minus MQTT."""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI

from core.appdb.account_store import AccountStore
from core.appdb.directory import SqlDirectory
from core.appdb.engine import make_engine
from core.timeseries.sqlite import SqliteTimeSeriesStore
from dashboard.app import create_app
from devices.profiles import load_profiles
from hearth import demo
from tests.support.factories import app_database, cgm_series, register

OUTSIDER = "zed"


@dataclass(frozen=True)
class DemoSite:
    app: FastAPI
    accounts: AccountStore
    credentials: dict[str, tuple[str, str]]  # role -> (name, password)
    patient_id: str  # the patient account's own record
    household: tuple[str, ...]  # every patient of the demo household
    outsider: str  # a patient nobody here may see
    base_url: str = ""


_TEMPLATE: dict[str, object] = {}


def _template() -> tuple[Path, dict[str, tuple[str, str]]]:
    """The demo's application database (migrations, household, the five accounts with
    their Argon2 hashes, the outsider), made once per test run and copied for each site:
    making it costs seconds, copying it milliseconds."""
    if "path" not in _TEMPLATE:
        root = Path(tempfile.mkdtemp(prefix="hearth-demo-"))
        atexit.register(shutil.rmtree, root, True)
        engine = app_database(root / "template.db")
        profiles = load_profiles()
        demo.register_household(engine, profiles)
        made = demo.create_demo_accounts(engine, profiles)
        register(engine, OUTSIDER, [("zed-cgm", "cgm")], name="Zed Outsider")
        engine.dispose()
        _TEMPLATE["path"] = root / "template.db"
        _TEMPLATE["credentials"] = {a.role: (a.user_id, a.password) for a in made}
    return _TEMPLATE["path"], dict(_TEMPLATE["credentials"])  # type: ignore[return-value,call-overload]


@contextmanager
def demo_site(root: Path) -> Iterator[DemoSite]:
    template, credentials = _template()
    src, dst = sqlite3.connect(template), sqlite3.connect(root / "hearth.db")
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    engine = make_engine(f"sqlite:///{root / 'hearth.db'}")
    profiles = load_profiles()
    store = SqliteTimeSeriesStore(root / "timeseries.db")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=12)
    for pid in [*(p.id for p in profiles), OUTSIDER]:
        store.write(cgm_series(100, patient_id=pid, device_id=f"{pid}-cgm-test", start=start))
    accounts = AccountStore(engine)
    app = create_app(store=store, directory=SqlDirectory(engine), accounts=accounts)
    try:
        yield DemoSite(app=app, accounts=accounts,
                       credentials=credentials,
                       patient_id=profiles[0].id, household=tuple(p.id for p in profiles),
                       outsider=OUTSIDER)
    finally:
        store.close()
        engine.dispose()
