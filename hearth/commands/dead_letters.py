"""`hearth dead-letters keep|list|show|replay|prune`: the messages ingest refused.

    hearth dead-letters keep                    # the keeper service (HEARTH_MQTT_URL)
    hearth dead-letters list [--device ID] [--code CODE] [--limit N] [--json]
    hearth dead-letters show ID [--json]        # reason, errors, and the original payload
    hearth dead-letters replay ID [ID ...]      # after fixing the cause: store what passes
    hearth dead-letters prune [--days N]        # what `keep` does hourly (retention)

Letters are kept in the application database (HEARTH_DATABASE_URL,
core/appdb/deadletters.py) for HEARTH_DEAD_LETTERS_RETENTION_DAYS (30) after they
last arrived. `replay` runs the original message through ingest's checks again and
writes what now passes straight to the time-series store (HEARTH_TIMESERIES_URL);
the letter stays, marked with the outcome. docs/DEPLOY.md, "Dead letters".
"""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from core.appdb.deadletters import DeadLetter, DeadLetterStore


def _store() -> DeadLetterStore:
    from core.appdb.deadletters import DeadLetterStore
    from core.config import get_settings
    from hearth import wiring

    return DeadLetterStore(wiring.app_engine(get_settings()))


@click.group("dead-letters")
def dead_letters() -> None:
    """Keep, list, inspect and replay the messages ingest refused."""


@dead_letters.command()
def keep() -> None:
    """Run the keeper: store every dead letter (hearth/v1/dead/+) before acknowledging it."""
    from core.config import get_settings
    from hearth import wiring
    from ingest.deadletter_keeper import DeadLetterKeeper, KeeperSettings

    settings = KeeperSettings()
    keeper = DeadLetterKeeper(endpoint=wiring.mqtt_endpoint(get_settings()), store=_store(),
                              settings=settings)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    keeper.start()
    click.echo(f"hearth dead-letters keep: running as {settings.client_id}, keeping letters "
               f"{settings.retention_days:g} days; Ctrl-C to stop")
    done.wait()
    keeper.stop()


def _line(letter: DeadLetter) -> str:
    when = letter.last_received_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    replayed = "" if letter.replayed_at is None else "\treplayed"
    reason = letter.reason if len(letter.reason) <= 100 else letter.reason[:99] + "…"
    return (f"{letter.id}\t{when}\t{letter.device_id}\t{','.join(letter.codes)}\t"
            f"x{letter.times}\t{reason}{replayed}")


@dead_letters.command("list")
@click.option("--device", "device_id", default=None, help="Only this device's letters.")
@click.option("--code", default=None, help="Only letters with this error code (e.g. too_old).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (no payload).")
def list_(device_id: str | None, code: str | None, limit: int, as_json: bool) -> None:
    """Kept letters, newest first: id, last received, device, codes, times, reason."""
    letters = _store().list(device_id=device_id, code=code, limit=limit)
    for letter in letters:
        if as_json:
            body = letter.as_dict()
            del body["payload"]
            click.echo(json.dumps(body))
        else:
            click.echo(_line(letter))
    if not letters and not as_json:
        click.echo("no dead letters", err=True)


def _get(letter_id: int) -> DeadLetter:
    letter = _store().get(letter_id)
    if letter is None:
        raise click.ClickException(f"no dead letter {letter_id}")
    return letter


@dead_letters.command()
@click.argument("letter_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The whole letter as one JSON object.")
def show(letter_id: int, as_json: bool) -> None:
    """One letter: why it was refused, each error, and the original message."""
    letter = _get(letter_id)
    if as_json:
        click.echo(json.dumps(letter.as_dict(), indent=2))
        return
    body = letter.as_dict()
    for key in ("id", "device_id", "topic", "received_at", "last_received_at", "times",
                "reason", "replayed_at", "replay_outcome"):
        if body[key] is not None:
            click.echo(f"{key}: {body[key]}")
    for error in letter.errors:
        where = "" if error.get("index") is None else f" (reading {error['index']})"
        click.echo(f"error {error.get('code')}{where}: {error.get('reason')}")
    size = f"{letter.payload_bytes} bytes"
    if letter.payload_truncated:
        click.echo(f"payload ({size}; only the first bytes were kept, base64):")
    else:
        click.echo(f"payload ({size}, {letter.payload_encoding}):")
    click.echo(letter.payload)


@dead_letters.command()
@click.argument("letter_ids", type=int, nargs=-1, required=True)
def replay(letter_ids: tuple[int, ...]) -> None:
    """Run letters through ingest's checks again and store what now passes."""
    from core.appdb.deadletters import DeadLetterStore
    from core.appdb.directory import SqlDirectory
    from core.config import get_settings
    from hearth import wiring
    from ingest.deadletter_keeper import replay_letter
    from ingest.settings import IngestSettings

    settings = get_settings()
    engine = wiring.app_engine(settings)
    letters = DeadLetterStore(engine)
    found = [_get(i) for i in letter_ids]  # all exist, or nothing is replayed
    registry, store = SqlDirectory(engine), wiring.timeseries(settings)
    failed = 0
    try:
        for letter in found:
            now = datetime.now(UTC)
            try:
                outcome = replay_letter(letter, registry=registry, store=store,
                                        settings=IngestSettings(), now=now)
            except ValueError as exc:
                click.echo(f"{letter.id}: {exc}", err=True)
                failed += 1
                continue
            letters.mark_replayed(letter.id, outcome.describe(), now=now)
            click.echo(f"{letter.id}: {outcome.describe()}")
            failed += outcome.refused is not None
    finally:
        store.close()
    if failed:
        raise click.ClickException(f"{failed} of {len(found)} letters not (wholly) replayed")


@dead_letters.command()
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Forget letters last received more than this many days ago "
                   "(default: HEARTH_DEAD_LETTERS_RETENTION_DAYS).")
def prune(days: float | None) -> None:
    """Forget letters older than the retention (the keeper does this hourly)."""
    from ingest.deadletter_keeper import KeeperSettings

    keep_days = days if days is not None else KeeperSettings().retention_days
    removed = _store().prune(older_than=datetime.now(UTC) - timedelta(days=keep_days))
    click.echo(f"forgot {removed} dead letters older than {keep_days:g} days")
