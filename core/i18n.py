"""Patient-facing words in the person's language: gettext catalogues made with Babel.

The catalogues live in ``core/locale/<lang>/LC_MESSAGES/messages.po`` (and the compiled
``.mo`` beside it), one set for the pages (dashboard templates) and the messages the coach
sends (nudges, alerts, e-mails, the home display): core is the one package both import.
``make i18n`` extracts, updates and compiles them (babel.cfg); docs/I18N.md says how to
add a language and who must review a translation before clinical use.

Two ways text is marked for translation:

- pages: ``{{ _("...") }}`` or ``{% trans %}`` in templates; in Python, ``N_("...")``
  marks a fixed label that a template translates later;
- messages: ``say("Your glucose was {value} mg/dL.", value="62")`` composes the English
  message now (what is stored and shown to clinicians) from a template that is in the
  catalogue; ``localise(stored_text, lang)`` finds the template again at send or display
  time and says the same thing in the recipient's language, with the same values. A text
  that no catalogue template matches stays in English (never half-guessed).
"""

from __future__ import annotations

import gettext as _gettext
import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.appdb.accounts import User
from core.appdb.reviews import UserPreference

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
DEFAULT = "en"
# The languages offered (each in its own words). Polish and Urdu are common among UK
# patients with chronic conditions; Urdu is written right to left.
LANGUAGES: dict[str, str] = {"en": "English", "pl": "Polski", "ur": "اردو"}
RTL = frozenset({"ur"})


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    """Mark a fixed text for extraction; it is translated where it is shown."""
    return msgid


def say(msgid: str, /, **values: object) -> str:
    """A message in English, composed from a catalogue template and its values.

    The template uses ``{name}`` fields only (no format specs: format the numbers
    before, so every language shows the same digits)."""
    return msgid.format(**values)


def supported(lang: str | None) -> str | None:
    """The offered language a tag names ("pl-PL" -> "pl"), or None."""
    if not lang:
        return None
    primary = lang.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def negotiate(accept_language: str | None) -> str:
    """The best offered language for a browser's Accept-Language header (English if none)."""
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (found := supported(tag)):
            choices.append((-q, i, found))
    return min(choices)[2] if choices else DEFAULT


def choose(preference: str | None, accept_language: str | None = None) -> str:
    """The person's saved language, else their browser's, else English."""
    return supported(preference) or negotiate(accept_language)


def direction(lang: str) -> str:
    return "rtl" if lang in RTL else "ltr"


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalogue of one language (English: the text as written)."""
    if lang == DEFAULT or lang not in LANGUAGES:
        return NullTranslations()
    if not (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file():
        # an install without the compiled catalogues (package data): say so once, speak English
        log.warning("no compiled catalogue for %s under %s: text stays English", lang,
                    LOCALE_DIR)
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [lang], DOMAIN)


def gettext(lang: str, msgid: str) -> str:
    return translations(lang).gettext(msgid)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    return translations(lang).ngettext(singular, plural, n)


# -- messages composed in English, said again in the recipient's language -------------

_FIELD = re.compile(r"\{(\w+)\}")
MIN_LITERAL = 4  # characters of fixed text a message template needs to be recognised


@dataclass(frozen=True, slots=True)
class _Template:
    msgid: str
    pattern: re.Pattern[str]
    literal: int  # characters of fixed text: the more, the more specific


def _compile(msgid: str) -> _Template:
    parts: list[str] = []
    seen: set[str] = set()
    pos = 0
    for m in _FIELD.finditer(msgid):
        parts.append(re.escape(msgid[pos:m.start()]))
        name = m.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        pos = m.end()
    parts.append(re.escape(msgid[pos:]))
    literal = len(_FIELD.sub("", msgid))
    return _Template(msgid, re.compile("".join(parts), re.DOTALL), literal)


def _catalog(lang: str) -> dict[object, str]:
    found: dict[object, str] = getattr(translations(lang), "_catalog", {})
    return found


@cache
def _templates(lang: str) -> tuple[_Template, ...]:
    ids = [k for k, v in _catalog(lang).items() if isinstance(k, str) and v and _FIELD.search(k)]
    found = (_compile(k) for k in ids)
    # a template of little more than its fields ("{a} {b}") would match any text: never used
    return tuple(sorted((t for t in found if t.literal >= MIN_LITERAL), key=lambda t: -t.literal))


def localise(message: str, lang: str) -> str:
    """``message`` (English, as ``say()`` composed it) in ``lang``; unchanged when no
    template of that language's catalogue matches it."""
    if lang == DEFAULT or lang not in LANGUAGES or not message:
        return message
    if "\n" in message:
        return "\n".join(localise(line, lang) for line in message.split("\n"))
    exact = _catalog(lang).get(message)
    if exact:
        return exact
    for t in _templates(lang):
        m = t.pattern.fullmatch(message)
        if m is not None:
            values = {k: localise(v, lang) for k, v in m.groupdict().items()}
            return gettext(lang, t.msgid).format(**values)
    return message


# -- whose language ----------------------------------------------------------------------

def saved_language(engine: Engine, key: str) -> str | None:
    """The language a person saved in their settings, or None. ``key`` is their account
    id, or the id of the patient record their account links to."""
    with Session(engine) as session:
        row = session.get(UserPreference, key)
        if row is None:
            user_id = session.scalar(select(User.id).where(User.patient_id == key))
            row = session.get(UserPreference, user_id) if user_id is not None else None
        return supported(row.locale) if row is not None else None


def recipient_language(engine: Engine, key: str) -> str:
    """The language to send one person a message in: theirs if saved, else English."""
    return saved_language(engine, key) or DEFAULT
