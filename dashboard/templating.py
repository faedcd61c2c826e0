"""The Jinja2 environment every page uses: the CSRF field and the signed-in user
are available to every template (``csrf_field(request)``, ``request.state.user``).

Words are in the viewer's language (core/i18n.py, docs/I18N.md): the language saved in
their settings, else their browser's Accept-Language, else English. Each page is
rendered with that language's catalogue: ``{{ _("...") }}`` and ``{% trans %}``
translate, ``page_lang`` and ``page_dir`` go on ``<html lang dir>`` (``rtl`` for Urdu),
and ``|localise`` says a message the coach composed (a nudge, an alert) in the same
language.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from core import i18n
from core.i18n import N_
from dashboard.csrf import csrf_field, csrf_token

TEMPLATES = Path(__file__).with_name("templates")

# The language of the page being rendered: set by the context processor, in the same
# context (thread or task) as the rendering that reads it.
_page_lang: ContextVar[str] = ContextVar("page_lang", default=i18n.DEFAULT)


# Words a template translates that Python hands it (marked here for extraction).
ROLE_WORDS = (N_("patient"), N_("caregiver"), N_("coach"), N_("nurse"), N_("admin"),
              N_("not useful"))


def page_language(request: Request) -> str:
    """The viewer's language: saved in their settings (read with their preferences, see
    dashboard/views/common.py prefs_of), else Accept-Language, else English."""
    prefs = getattr(request.state, "view_prefs", None)
    saved = getattr(prefs, "locale", None)
    return i18n.choose(saved, request.headers.get("accept-language"))


def _language_context(request: Request) -> dict[str, Any]:
    lang = page_language(request)
    _page_lang.set(lang)
    return {"page_lang": lang, "page_dir": i18n.direction(lang),
            "languages": i18n.LANGUAGES}


def _gettext(message: str) -> str:
    return i18n.gettext(_page_lang.get(), message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(_page_lang.get(), singular, plural, n)


def _pgettext(context: str, message: str) -> str:
    return i18n.translations(_page_lang.get()).pgettext(context, message)


def _npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return i18n.translations(_page_lang.get()).npgettext(context, singular, plural, n)


def _localise(message: str | None) -> str:
    return i18n.localise(message or "", _page_lang.get())


def make_templates(directory: Path = TEMPLATES) -> Jinja2Templates:
    """A Jinja2Templates with the security helpers as globals (views may pass their own
    directory; keep ``base.html`` reachable for the header and the sign-out form)."""
    templates = Jinja2Templates(directory=directory, context_processors=[_language_context])
    templates.env.add_extension("jinja2.ext.i18n")
    templates.env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext)
    templates.env.filters["localise"] = _localise
    templates.env.globals.update(csrf_field=csrf_field, csrf_token=csrf_token)
    return templates


templates = make_templates()
