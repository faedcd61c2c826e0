"""Logging set-up, done once at start-up by the CLI, and the secret scrubber.

No personal health data in logs: log ids, counts and error categories, never
values, names or payloads. No secret either: ``install_secret_scrubbing`` rewrites
every log record as it is made (whatever the logger: uvicorn's access log, httpx's
request lines, our own), so that a credential in a query string
(``?token=...``, ``api_secret=``, ``password=``...) or in a URL's user-info
(``mqtt://user:password@host``) reaches no handler. The dashboard installs it too
(every uvicorn worker process builds the app), so it holds however uvicorn was started.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

# Query and form parameters whose value is a credential (case-insensitive, also with
# '-' for '_'): Nightscout's token and api_secret, OAuth's, and the usual names.
SECRET_PARAMS = ("token", "access_token", "refresh_token", "id_token", "api_secret",
                 "apisecret", "secret", "client_secret", "password", "passwd", "pwd",
                 "api_key", "apikey", "key", "signature", "sig", "auth", "authorization",
                 "session", "csrf_token", "secret_key")
REDACTED = "[redacted]"
_NAMES = "|".join(re.escape(p).replace("_", "[_-]") for p in SECRET_PARAMS)
_PARAM = re.compile(
    r"(?P<lead>(?:^|[?&;\s\"'(,])(?:" + _NAMES + r")=)(?P<value>[^&;\s\"'#)]*)",
    re.IGNORECASE,
)
# Path segments that are credentials: Nightscout's GET /api/v2/authorization/request/<token>
# (a follower's token, exchanged for a JWT).
SECRET_PATH_PREFIXES = ("/authorization/request/",)
_PATH = re.compile(
    r"(?P<lead>(?:" + "|".join(re.escape(p) for p in SECRET_PATH_PREFIXES) + r"))"
    r"(?P<value>[^/?&#\s\"']+)")
_USERINFO = re.compile(r"(?P<lead>\b[a-z][a-z0-9+.-]*://[^/\s:@\"']*:)(?P<value>[^@/\s\"']+)@",
                       re.IGNORECASE)



def scrub(text: str) -> str:
    """``text`` with the value of every secret parameter, secret path segment and URL
    password redacted."""
    if "=" not in text and "@" not in text and "/authorization/" not in text:
        return text
    text = _PARAM.sub(lambda m: m.group("lead") + (REDACTED if m.group("value") else ""), text)
    text = _PATH.sub(lambda m: m.group("lead") + REDACTED, text)
    return _USERINFO.sub(lambda m: m.group("lead") + REDACTED + "@", text)


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bytes):
        return scrub(value.decode("utf-8", "replace"))
    return value


def scrub_record(record: logging.LogRecord) -> None:
    """Redact secrets from a record's message, arguments and traceback text in place."""
    if isinstance(record.msg, str):
        record.msg = scrub(record.msg)
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_scrub_value(a) for a in args)
    elif isinstance(args, dict):
        record.args = {k: _scrub_value(v) for k, v in args.items()}
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


class SecretScrubber(logging.Filter):
    """The same as a handler or logger filter, for a logging config (dictConfig)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


_installed = threading.Lock()
_state: dict[str, bool] = {"installed": False}


def install_secret_scrubbing() -> None:
    """Scrub every log record of this process as it is made (idempotent)."""
    with _installed:
        if _state["installed"]:
            return
        make = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            scrub_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _state["installed"] = True


def configure_logging(*, verbose: bool = False) -> None:
    install_secret_scrubbing()
    level = logging.DEBUG if verbose else os.environ.get("HEARTH_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request line at INFO: InfluxDB query URLs of ~10 kB each.
    for noisy in ("amqtt", "transitions", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
