"""Secrets come from the environment or from files (HEARTH_SECRETS_DIR, one file per
variable, as Docker secrets are mounted) and never reach logs, output or backups.

`hearth -v backup` reads a PostgreSQL URL with a password from a secrets file and
runs pg_dump with it (the password goes through PGPASSWORD, not the command line);
at DEBUG level neither its output nor the manifest holds the password, on success
and when the server cannot be reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from core.config import HearthSettings
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "pw-9Xq-Secret-Only-In-A-File"  # noqa: S105 - the secret under test


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    return subprocess.run([sys.executable, "-m", "hearth", "-v", *args], cwd=REPO,
                          env=base | env, capture_output=True, text=True, timeout=300,
                          check=False)


def secrets_dir(tmp_path: Path, **values: str) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir()
    for name, value in values.items():
        (folder / name).write_text(value)
        (folder / name).chmod(0o600)
    return folder


def test_settings_read_secrets_from_files(tmp_path: Path) -> None:
    folder = secrets_dir(tmp_path, HEARTH_SECRET_KEY="from-a-file",
                         HEARTH_MQTT_URL="mqtts://svc:pw@broker:8883")
    settings = HearthSettings(_secrets_dir=str(folder))
    assert settings.secret_key == "from-a-file"
    assert settings.mqtt_url == "mqtts://svc:pw@broker:8883"


def test_a_password_from_a_secrets_file_never_reaches_logs_or_backups(
        tmp_path: Path, postgres_url: str) -> None:
    from core.appdb.engine import create_schema, make_engine

    engine = make_engine(postgres_url)
    create_schema(engine)
    engine.dispose()
    with_password = postgres_url.replace("hearth_test@", f"hearth_test:{PASSWORD}@")
    folder = secrets_dir(tmp_path, HEARTH_DATABASE_URL=with_password)
    env = {"HEARTH_SECRETS_DIR": str(folder),
           "HEARTH_TIMESERIES_URL": f"sqlite:///{tmp_path / 'ts.db'}"}
    from core.timeseries.sqlite import SqliteTimeSeriesStore

    SqliteTimeSeriesStore(tmp_path / "ts.db").close()
    done = run(["backup", str(tmp_path / "backup")], env)
    assert done.returncode == 0, done.stderr
    assert "appdb (postgresql)" in done.stdout  # the URL came from the file
    assert "DEBUG" in done.stderr or "INFO" in done.stderr  # logging was on
    manifest = (tmp_path / "backup" / "manifest.json").read_text()
    assert "hearth_test:***@" in manifest
    for text in (done.stdout, done.stderr, manifest):
        assert PASSWORD not in text

    port = urlparse(postgres_url).port
    unreachable = with_password.replace(f":{port}/", f":{free_port()}/")
    (folder / "HEARTH_DATABASE_URL").write_text(unreachable)
    failed = run(["backup", str(tmp_path / "backup-2")], env)
    assert failed.returncode != 0 and "PostgreSQL backup failed" in failed.stderr
    assert PASSWORD not in failed.stdout + failed.stderr
