"""Nightscout tokens made by people: `hearth admin nightscout-token` (create, list, revoke,
with a role) and the patient's Sharing page in a real browser (Debian's Chromium through
Playwright): a token for a follower app, shown once, working as Nightscout's apps send it
(``?token=``, and ``api-secret`` = its SHA-1 as xDrip+'s follower mode does), revoked from
the page and refused from the next request; every issue and revocation in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from core.appdb.audit_log import AuditLog
from core.config import get_settings
from core.provisioning import Provisioner
from dashboard.nightscout_backend import NightscoutBackend
from hearth.cli import main
from tests.interop.nightscout_apps.conftest import sha1
from tests.support.browser import screenshot, sign_in
from tests.support.demo_site import DemoSite
from tests.support.factories import app_database, register


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HEARTH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HEARTH_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    engine = app_database(tmp_path / "hearth.db")
    register(engine, "ann", [], name="Ann")
    engine.dispose()
    yield tmp_path
    get_settings.cache_clear()


def admin(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(main, ["admin", "nightscout-token", *args])
    assert (result.exit_code == 0) == ok, (result.output, result.exception)
    return result.output


def test_hearth_admin_makes_lists_and_revokes_tokens(database: Path) -> None:
    made = admin("create", "ann", "--name", "Mum's phone")
    assert "readable token mum-s-phone-" in made and "shown once" in made
    token_id = made.split()[2]
    token = made.splitlines()[1]
    uploader = admin("create", "ann", "--name", "AndroidAPS", "--role", "uploader")
    assert "uploader token ann-androidaps" in uploader
    secret = uploader.splitlines()[1]

    engine = app_database(database / "hearth.db")
    from dashboard.nightscout_tokens import NightscoutTokens

    tokens = NightscoutTokens(engine)
    assert tokens.by_sha1(sha1(token)) is not None  # the printed token is the real one
    assert Provisioner(engine).nightscout_uploader(sha1(secret)) == ("ann-androidaps", "ann")
    listing = admin("list", "ann")
    assert token_id in listing and "readable" in listing and "Mum's phone" in listing
    assert "ann-androidaps" in listing and "uploader" in listing
    assert token not in listing and secret not in listing

    assert f"{token_id} revoked" in admin("revoke", "ann", token_id)
    assert tokens.by_sha1(sha1(token)) is None
    admin("revoke", "ann", "ann-androidaps")
    assert Provisioner(engine).nightscout_uploader(sha1(secret)) is None
    assert "revoked" in admin("list", "ann")
    assert "no active token" in admin("revoke", "ann", token_id, ok=False)
    assert "no patient 'zed'" in admin("create", "zed", "--name", "X", ok=False)
    assert "'admin' is not one of 'readable', 'uploader'" in admin(
        "create", "ann", "--name", "X", "--role", "admin", ok=False)

    audited = [(e.actor_id, e.purpose) for e in AuditLog(engine).entries(patient_id="ann")]
    assert ("hearth-admin", f"Nightscout token issued: {token_id} (readable)") in audited
    assert ("hearth-admin", "Nightscout token issued: ann-androidaps (uploader)") in audited
    assert ("hearth-admin", f"Nightscout token revoked: {token_id}") in audited
    engine.dispose()


def test_sharing_page_makes_shows_once_and_revokes_a_token(chromium: Any,
                                                          served_demo: DemoSite) -> None:
    site = served_demo
    engine = site.accounts.engine
    site.app.state.nightscout = NightscoutBackend(Provisioner(engine), None)  # reads only
    page = sign_in(chromium, site.base_url, *site.credentials["patient"])
    try:
        page.goto(f"{site.base_url}/patients/{site.patient_id}/sharing")
        page.fill("#ns-holder", "Mum's phone")
        page.get_by_role("button", name="Make a token").click()
        page.wait_for_load_state("networkidle")
        token = page.input_value("[data-token]")
        assert token.startswith("mum-s-phone-") and len(token) > 30
        assert site.base_url in page.inner_text("[data-site]")
        screenshot(page, "nightscout/token-shown-once")

        # the follower app: ?token= and xDrip+'s api-secret (SHA-1 of the token)
        entries = httpx.get(f"{site.base_url}/api/v1/entries.json", params={"token": token})
        assert entries.status_code == 200 and entries.json()
        assert httpx.get(f"{site.base_url}/api/v1/entries.json",
                         headers={"api-secret": sha1(token)}).status_code == 200
        assert httpx.post(f"{site.base_url}/api/v1/entries", params={"token": token},
                          json=[{"type": "sgv", "sgv": 100, "date": 1}]).status_code == 401

        # shown once: the Sharing page lists it, never the token itself
        page.goto(f"{site.base_url}/patients/{site.patient_id}/sharing")
        row = page.locator("table.ns-tokens tbody tr").first
        assert "Mum's phone" in row.inner_text() and "Active" in row.inner_text()
        assert token not in page.content()
        row.get_by_role("button", name="Revoke for Mum's phone").click()
        page.wait_for_load_state("networkidle")
        assert "can no longer read your data" in page.inner_text("main")
        assert "Revoked" in page.locator("table.ns-tokens tbody tr").first.inner_text()
        screenshot(page, "nightscout/token-revoked")
        # at once: the next request is refused
        assert httpx.get(f"{site.base_url}/api/v1/entries.json",
                         params={"token": token}).status_code == 401
        token_id = page.locator("table.ns-tokens tbody tr").first.get_attribute(
            "data-token-id")
    finally:
        page.context.close()
    audited = [e.purpose for e in AuditLog(engine).entries(patient_id=site.patient_id)]
    assert f"Nightscout token issued: {token_id} (readable)" in audited
    assert f"Nightscout token revoked: {token_id}" in audited
    assert any(p == "Nightscout entries" for p in audited)  # the follower's read
