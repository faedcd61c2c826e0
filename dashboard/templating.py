"""The Jinja2 environment every page uses: the CSRF field and the signed-in user
are available to every template (``csrf_field(request)``, ``request.state.user``)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from dashboard.csrf import csrf_field, csrf_token

TEMPLATES = Path(__file__).with_name("templates")


def make_templates(directory: Path = TEMPLATES) -> Jinja2Templates:
    """A Jinja2Templates with the security helpers as globals (views may pass their own
    directory; keep ``base.html`` reachable for the header and the sign-out form)."""
    templates = Jinja2Templates(directory=directory)
    templates.env.add_extension("jinja2.ext.i18n")
    # Until a page's language is chosen, the text is English as written in the template.
    templates.env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    templates.env.globals.update(csrf_field=csrf_field, csrf_token=csrf_token)
    return templates


templates = make_templates()
