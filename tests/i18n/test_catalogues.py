"""Every text marked for translation is in every language's catalogue, translated, not
fuzzy, with the same placeholders; the compiled .mo files say what the .po files say
(docs/I18N.md). A text added to a template or a rule without its translations fails here:
run `make i18n` and translate the new entries."""

from __future__ import annotations

import re

import pytest

from core import i18n
from tests.i18n.catalogue import TRANSLATED, fields, marked, mo, po


def test_texts_are_marked_in_pages_and_in_the_coach_messages() -> None:
    paths = {m.path for m in marked()}
    assert any(p.startswith("dashboard/templates/") for p in paths)
    assert any(p.startswith("coach/rules/") for p in paths)
    ids = {m.msgid for m in marked()}
    assert "Your glucose is {value} mg/dL, below {limit}: that is very low. Take 15 g of " \
           "fast-acting sugar now and check again in 15 minutes." in ids


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_marked_text_is_translated_and_not_fuzzy(lang: str) -> None:
    catalogue = po(lang)
    missing, fuzzy, empty = [], [], []
    for m in marked():
        entry = catalogue.get(m.msgid)
        if entry is None:
            missing.append(f"{m.path}: {m.msgid!r}")
        elif entry.fuzzy:
            fuzzy.append(m.msgid)
        elif not entry.string or (isinstance(entry.string, tuple) and not all(entry.string)):
            empty.append(m.msgid)
    assert not missing, f"{lang}: not in the catalogue (run make i18n):\n" + "\n".join(missing)
    assert not fuzzy, f"{lang}: fuzzy entries: {fuzzy}"
    assert not empty, f"{lang}: untranslated entries: {empty}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_every_placeholder(lang: str) -> None:
    """{value} in the English is {value} in the translation: the reading, the dose and the
    time reach the person in every language."""
    wrong = []
    for entry in po(lang):
        if not entry.id or not entry.string:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        want = fields(ids[-1]) | fields(ids[0])
        for s in strings:
            # a plural's singular may say the number in words; every other field stays
            if fields(s) - want or (want - fields(s)) - {"num"}:
                wrong.append((entry.id, s))
    assert not wrong, f"{lang}: placeholders differ: {wrong}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_numbers_and_units_of_advice_are_kept(lang: str) -> None:
    """Medical instructions keep their numbers and units: the 15 of "15 g", "15 minutes",
    the 70 and 54 mg/dL, 999 and 111."""
    for entry in po(lang):
        if not isinstance(entry.id, str) or not entry.string:
            continue
        for token in ("15 g", "mg/dL", "mmHg", "999", "111", "70", "54", "250", "5 minutes"):
            if token in entry.id:
                number = token.split()[0]
                assert number in entry.string, (lang, entry.id, entry.string)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_compiled_catalogue_is_up_to_date_with_the_po(lang: str) -> None:
    def key(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    written = {key(e.id): key(e.string) for e in po(lang)
               if e.id and e.string and not e.fuzzy}
    compiled = {key(e.id): key(e.string) for e in mo(lang) if e.id}
    assert compiled == written, f"{lang}: the .mo differs from the .po: run make i18n"


def test_the_code_loads_the_compiled_catalogues() -> None:
    assert i18n.gettext("pl", "Low glucose") == po("pl")["Low glucose"].string
    assert i18n.gettext("ur", "Low glucose") == po("ur")["Low glucose"].string
    assert i18n.gettext("en", "Low glucose") == "Low glucose"


def test_every_message_template_can_be_recognised_again() -> None:
    """A composed message is said again in the recipient's language by finding its
    template (core/i18n.py localise): a template needs some fixed words of its own."""
    short = [m.msgid for m in marked() if isinstance(m.msgid, str) and "{" in m.msgid
             and len(re.sub(r"\{\w+\}", "", m.msgid)) < i18n.MIN_LITERAL]
    assert not short, short
