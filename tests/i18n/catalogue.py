"""What the i18n tests read: the texts marked for translation, extracted now from the
source with the project's own babel.cfg (so a text added a minute ago counts), and each
language's catalogue as written (.po) and as compiled (.mo)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from core import i18n

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {**DEFAULT_KEYWORDS, "say": None}  # as scripts/i18n.sh: pybabel's and say()
TRANSLATED = tuple(lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT)
FIELDS = re.compile(r"\{(\w+)\}|%\((\w+)\)[sd]")


@dataclass(frozen=True)
class Marked:
    """One marked text: its id (a str, or (singular, plural)) and the file it is in."""

    msgid: str | tuple[str, str]
    path: str

    @property
    def texts(self) -> tuple[str, ...]:
        return self.msgid if isinstance(self.msgid, tuple) else (self.msgid,)


@cache
def marked() -> tuple[Marked, ...]:
    """Every text marked for translation in the source (babel.cfg's files and keywords)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[object, Marked] = {}
    for path, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS,
            strip_comment_tags=True):
        if isinstance(message, tuple):
            if not all(message[:2]):
                continue
            msgid: str | tuple[str, str] = (message[0], message[1])
        elif message:
            msgid = message
        else:
            continue
        found.setdefault(msgid, Marked(msgid, path))
    return tuple(found.values())


def po_path(lang: str) -> Path:
    return i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


@cache
def po(lang: str) -> Catalog:
    with open(po_path(lang), "rb") as fh:
        return read_po(fh, locale=lang)


@cache
def mo(lang: str) -> Catalog:
    with open(po_path(lang).with_suffix(".mo"), "rb") as fh:
        return read_mo(fh)


def fields(text: str) -> set[str]:
    """The placeholders of a text: {name} (messages) and %(name)s (pages)."""
    return {a or b for a, b in FIELDS.findall(text)}
