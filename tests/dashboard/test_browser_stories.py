"""Peers in a real browser (Debian's Chromium, headless; tests/support/browser.py), issue 21:

- a patient writes a story for her clinic -> her coach approves it with a reason -> the
  coach service's daily rules (the real evaluator, engine and dispatcher) offer it to
  another patient with the same condition, who sees it on Today with the reason and finds
  it by search -> a patient of another clinic, not allowed by its consent, never sees it
  (not in the library, not in search, not by its address, not on Today) -> the author
  withdraws it and it is gone from search at once;
- a question to peers answered by a peer, and the answer marked clinically unsafe by the
  coach, with the explanation shown to the asker.

Waits are on conditions only (Playwright's expect). Screenshots: test-artifacts/stories/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from coach.evaluation import CoachEvaluator
from core.appdb.accounts import AuditEvent
from core.appdb.audit_log import REFUSED
from core.appdb.coaching import CoachNudge
from tests.dashboard.views_support import World, add_patient, build_world
from tests.support.accounts import PASSWORD
from tests.support.browser import screenshot
from tests.support.browser import sign_in as browser_sign_in
from tests.support.dashboard_server import serving

WAIT_MS = 30_000  # a generous bound for every condition on a loaded 2-core machine
PEER, OUTSIDER = "q000", "z001"  # same clinic and condition as the author; another clinic


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gen = build_world(tmp_path_factory.mktemp("stories"), extra_patients=1)
    made = next(gen)
    made.accounts.users.add("bea", role="patient", display_name="Bea", password=PASSWORD,
                           patient_id=PEER)
    add_patient(made.engine, OUTSIDER, "Zed Elsewhere")
    made.accounts.clinics.add("other", "Another clinic")
    made.accounts.clinics.register(OUTSIDER, "other")
    made.accounts.users.add("zed", role="patient", display_name="Zed", password=PASSWORD,
                           patient_id=OUTSIDER)
    yield made
    next(gen, None)


@pytest.fixture
def base_url(world: World) -> Iterator[str]:
    with serving(world.app) as url:
        yield url


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def sign_in(chromium: Any, base_url: str, name: str) -> Any:
    page = browser_sign_in(chromium, base_url, name, PASSWORD)
    page.context.set_default_timeout(WAIT_MS)
    return page


def shot(page: Any, name: str) -> None:
    screenshot(page, f"stories/{name}")


def offers(world: World, patient_id: str) -> list[CoachNudge]:
    with Session(world.engine) as session:
        return list(session.scalars(select(CoachNudge).where(
            CoachNudge.patient_id == patient_id, CoachNudge.flag_type == "story_offer")))


def test_story_written_approved_offered_found_and_kept_from_others(
        world: World, chromium: Any, base_url: str) -> None:
    # 1. the author writes a story for her clinic, first name only
    author = sign_in(chromium, base_url, world.people.patient)
    author.goto(f"{base_url}/stories/new")
    author.fill("#story-title", "How I handle lows at work")
    author.fill("#story-body", "I keep glucose tablets in my desk drawer and told one "
                               "colleague what a hypo looks like. Now I do not worry in meetings.")
    author.check("#sit-at_work")
    author.check("#goal-problem_solving")
    author.check("#audience-clinic")
    author.click("#story-form button[type=submit]")
    expect(author.locator("#story-state")).to_contain_text("Waiting for your coach")
    story_id = author.locator("#story").get_attribute("data-story")
    assert story_id
    shot(author, "1-written")

    # 2. nobody else reads it before the coach has: not even by its address
    peer = sign_in(chromium, base_url, "bea")
    assert peer.goto(f"{base_url}/stories/{story_id}").status == 404

    # 3. her coach approves it, with a reason
    coach = sign_in(chromium, base_url, world.people.coach)
    coach.goto(f"{base_url}/coach")
    expect(coach.locator("#stories-waiting")).to_contain_text("1 story from a patient")
    coach.click("#stories-waiting a")
    item = coach.locator(f'#queue li[data-story="{story_id}"]')
    expect(item).to_contain_text("How I handle lows at work")
    item.locator("input[name=reason]").fill("A practical, safe tip")
    item.locator("button[value=approve]").click()
    expect(coach.locator("#queue-empty")).to_be_visible()
    shot(coach, "2-approved")

    # 4. the coach service's daily rules offer it to people like her (same condition)
    evaluator = CoachEvaluator(store=world.store, engine=world.engine)
    evaluator.scheduled(world.clock.now, patient_ids=[PEER, OUTSIDER], cadence="daily")
    assert [n.evidence["story_id"] for n in offers(world, PEER)] == [story_id]
    assert offers(world, OUTSIDER) == []  # the clinic-only consent keeps it from her

    peer.goto(f"{base_url}/patients/{PEER}/today")
    card = peer.locator("#story-offer")
    expect(card).to_contain_text("How I handle lows at work")
    expect(card.locator(".why")).to_contain_text("People like you who live with type 1 diabetes")
    expect(card).to_contain_text("Pat")  # her first name, as she chose
    shot(peer, "3-offered-on-today")
    peer.goto(f"{base_url}/stories?q=hypo+meetings")
    expect(peer.locator(f'#stories li[data-story="{story_id}"]')).to_be_visible()
    peer.locator(f'#stories a[href="/stories/{story_id}"]').click()
    peer.click("#helped")
    expect(peer.locator("#helped-count")).to_contain_text("1 found it helpful")

    # 5. a patient of another clinic never sees it: library, search, address, Today
    outsider = sign_in(chromium, base_url, "zed")
    outsider.goto(f"{base_url}/stories")
    expect(outsider.locator("#no-stories")).to_be_visible()
    outsider.goto(f"{base_url}/stories?q=hypo+meetings")
    expect(outsider.locator("#no-stories")).to_be_visible()
    assert outsider.goto(f"{base_url}/stories/{story_id}").status == 404
    outsider.goto(f"{base_url}/patients/{OUTSIDER}/today")
    expect(outsider.locator("#nudges-h")).to_be_visible()
    expect(outsider.locator("#story-offer")).to_have_count(0)
    shot(outsider, "4-outsider-search")

    # 6. the offer answered "not useful" like any nudge
    peer.goto(f"{base_url}/patients/{PEER}/today")
    peer.click("#offer-not-useful")
    expect(peer.locator("#story-offer")).to_contain_text("you said: not useful")
    assert offers(world, PEER)[0].feedback == "not_useful"

    # 7. the author withdraws it: gone from search and Today at once
    author.goto(f"{base_url}/stories/{story_id}")
    author.click("#revoke")
    expect(author.locator("#story-state")).to_contain_text("You withdrew this story")
    peer.goto(f"{base_url}/stories?q=hypo+meetings")
    expect(peer.locator("#no-stories")).to_be_visible()
    peer.goto(f"{base_url}/patients/{PEER}/today")
    expect(peer.locator("#nudges-h")).to_be_visible()
    expect(peer.locator("#story-offer")).to_have_count(0)

    # every read of the story by someone else is in the audit log, refusals too
    with Session(world.engine) as session:
        purposes = set(session.scalars(select(AuditEvent.purpose).where(
            AuditEvent.patient_id == "p1", AuditEvent.actor_id.in_(("bea", "zed", "cole")))))
    assert {"story", "stories search", "story offered on Today", "story moderation"} <= purposes
    assert f"{REFUSED}story" in purposes  # the peer before approval, the outsider after


def test_a_question_answered_by_a_peer_and_marked_unsafe(world: World, chromium: Any,
                                                         base_url: str) -> None:
    asker = sign_in(chromium, base_url, "bea")
    asker.goto(f"{base_url}/questions")
    asker.fill("#ask-title", "Exercise and lows?")
    asker.fill("#ask-body", "How do you avoid going low when you swim?")
    asker.select_option("#ask-naming", "first")
    asker.click("#ask-form button[type=submit]")
    expect(asker.locator("#question-body")).to_contain_text("when you swim")
    question_url = asker.url

    peer = sign_in(chromium, base_url, world.people.patient)  # same condition
    peer.goto(f"{base_url}/questions")
    peer.locator("#questions a", has_text="Exercise and lows?").click()
    peer.fill("#answer-body", "I skip my insulin on swimming days.")
    peer.click("#answer-form button[type=submit]")
    expect(peer.locator("#answers")).to_contain_text("I skip my insulin")

    outsider = sign_in(chromium, base_url, "zed")  # same condition, another clinic: a peer too
    outsider.goto(question_url)
    expect(outsider.locator("#answers")).to_contain_text("I skip my insulin")

    coach = sign_in(chromium, base_url, world.people.coach)
    coach.goto(question_url)
    coach.locator("#answers input[name=reason]").fill(
        "Never stop insulin on your own: ask your care team how to adjust it for exercise.")
    coach.locator("#answers button[type=submit]").click()
    expect(coach.locator(".unsafe-note")).to_be_visible()

    asker.goto(question_url)
    note = asker.locator("#answers .unsafe-note")
    expect(note).to_contain_text("A coach marked this answer clinically unsafe")
    expect(note).to_contain_text("Never stop insulin on your own")
    shot(asker, "5-answer-marked-unsafe")

    # the asker hears of the answer through the coach's nudge, within her budget
    evaluator = CoachEvaluator(store=world.store, engine=world.engine)
    evaluator.scheduled(world.clock.now, patient_ids=[PEER], cadence="hourly")
    with Session(world.engine) as session:
        told = session.scalars(select(CoachNudge).where(
            CoachNudge.patient_id == PEER, CoachNudge.flag_type == "peer_answer")).all()
    assert [(n.title, n.counts_to_budget) for n in told] == [("Your peers answered", True)]


def test_the_peer_pages_have_no_serious_accessibility_violations(
        world: World, chromium: Any, base_url: str) -> None:
    """axe-core (tests/support/axe.py) on every new page, as the role that uses it."""
    from care import stories
    from tests.support.axe import axe_violations

    with Session(world.engine) as session:
        story = stories.write_story(session, author_id=world.people.patient,
                                    author_patient_id="p1", title="A tip", body="Walk daily.",
                                    naming="first", audience="clinic", now=world.clock.now)
        session.commit()
        story_id = story.id
    pages = {world.people.patient: ["/stories/new", f"/stories/{story_id}", "/questions"],
             world.people.coach: ["/coach/stories", "/stories", "/questions"]}
    found = []
    for name, paths in pages.items():
        signed = sign_in(chromium, base_url, name)
        context = chromium.new_context(bypass_csp=True,
                                       storage_state=signed.context.storage_state())
        page = context.new_page()
        for path in paths:
            page.goto(f"{base_url}{path}")
            found += [f"{path}: {v['id']} {v['targets']}" for v in axe_violations(page)]
        context.close()
        signed.context.close()
    assert found == []
