"""The co-production loop in a real browser (Debian's Chromium, headless, through
tests/support/browser.py), as a patient and her coach would go through it:

- check-in -> the coach sees it -> a plan of three goals (one picked by the patient from
  a choice) agreed by both -> a seeded week of readings -> the coach runs the weekly
  evaluation -> a goal steps up and the patient reads why -> a joint-record entry
  confirmed by the coach -> a message each way with unread markers;
- a group created by hand -> a prompt posted -> a member posts -> another member sees it
  -> the coach hides the post.

Waits are on conditions only (Playwright's expect), with generous timeouts for a loaded
machine. Screenshots go to test-artifacts/care-loop/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from core.metrics import Metric
from tests.dashboard.views_support import NOW, World, build_world, r
from tests.support.accounts import PASSWORD
from tests.support.browser import screenshot
from tests.support.browser import sign_in as browser_sign_in
from tests.support.dashboard_server import serving

WAIT_MS = 30_000  # a generous bound for every condition on a loaded 2-core machine
CARDS = ["healthy_eating", "being_active", "monitoring", "taking_medication", "problem_solving",
         "healthy_coping", "reducing_risks"]


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gen = build_world(tmp_path_factory.mktemp("care-loop"), extra_patients=2)
    yield next(gen)
    next(gen, None)


@pytest.fixture
def base_url(world: World) -> Iterator[str]:
    with serving(world.app) as url:
        yield url


# Every form control has a label (as tests/dashboard/test_browser_views.py checks the
# other pages): the plan form's rows, the goal editors, the choice and the tick-off forms.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 80))"""


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def sign_in(chromium: Any, base_url: str, name: str) -> Any:
    page = browser_sign_in(chromium, base_url, name, PASSWORD)
    page.context.set_default_timeout(WAIT_MS)
    return page


def shot(page: Any, name: str) -> None:
    screenshot(page, f"care-loop/{name}")


def test_check_in_plan_step_up_record_and_messages(world: World, chromium: Any,
                                                   base_url: str) -> None:
    # 1. the patient checks in: being active matters and she feels least sure about it
    patient = sign_in(chromium, base_url, world.people.patient)
    patient.goto(f"{base_url}/patients/p1/self-assessment")
    for b in CARDS:
        patient.select_option(f"#rating-{b}", "4")
        patient.select_option(f"#confidence-{b}", "8")
    patient.select_option("#rating-being_active", "2")
    patient.select_option("#confidence-being_active", "3")
    patient.select_option("#importance-being_active", "9")
    patient.select_option("#dds2-overwhelmed", "2")
    patient.select_option("#dds2-failing", "2")
    patient.click("#save-assessment")
    expect(patient.locator("#assessment-result")).to_contain_text("Where to start: Being active",
                                                                  timeout=WAIT_MS)
    patient.goto(f"{base_url}/patients/p1/self-assessment")  # her last answers, to change
    expect(patient.locator("#last-answers")).to_be_visible(timeout=WAIT_MS)
    expect(patient.locator("#confidence-being_active")).to_have_value("3", timeout=WAIT_MS)

    # 2. the coach sees it where she works, and the plan draft starts there
    coach = sign_in(chromium, base_url, world.people.coach)
    coach.goto(f"{base_url}/coach/patients/p1")
    expect(coach.locator("#checkin-start")).to_have_text("Being active", timeout=WAIT_MS)
    expect(coach.locator("#checkin-areas tbody tr")).to_have_count(7, timeout=WAIT_MS)
    expect(coach.locator("#checkin-chart figure")).to_have_count(8, timeout=WAIT_MS)
    expect(coach.locator("#focus")).to_have_value("being_active", timeout=WAIT_MS)
    assert coach.evaluate(UNLABELLED) == []
    shot(coach, "coach-check-in")

    # 3. a plan of three goals: steps, time in range, and a choice of two walks
    coach.check('tr[data-kind="daily_steps"] input[name$="-include"]')
    coach.fill('tr[data-kind="daily_steps"] input[name$="-target"]', "6000")
    coach.check('tr[data-kind="time_in_range"] input[name$="-include"]')
    walk = coach.locator('tr[data-kind="self_report"]').first
    expect(walk.locator('input[name$="-include"]')).to_be_checked(timeout=WAIT_MS)
    walk.locator('select[name$="-choice"]').select_option("A")
    coach.check("#goal-own0-include")
    coach.select_option('select[name="goal-own0-kind"]', "self_report")
    coach.fill('input[name="goal-own0-what"]', "Walk to the shop")
    coach.fill('input[name="goal-own0-target"]', "3")
    coach.select_option('select[name="goal-own0-behaviour"]', "being_active")
    coach.select_option('select[name="goal-own0-choice"]', "A")
    coach.click("#propose-plan")
    expect(coach.locator("#plan-status")).to_have_text("draft", timeout=WAIT_MS)
    coach.click("#coach-agree")
    expect(coach.locator("#plan h2 ~ p").first).to_contain_text("coach agreed", timeout=WAIT_MS)

    patient.goto(f"{base_url}/patients/p1/goals")
    assert patient.evaluate(UNLABELLED) == []
    patient.locator("label", has_text="Walk to the shop").locator("input").check()
    patient.click("#pick-A")
    patient.click("#agree-plan")
    expect(patient.locator("#plan-h ~ p").first).to_contain_text("Agreed by you and your coach",
                                                                 timeout=WAIT_MS)
    expect(patient.locator("article[data-goal]")).to_have_count(3, timeout=WAIT_MS)
    expect(patient.locator("article", has_text="6,000 steps a day").locator("[data-rule]")
           ).to_contain_text("next week's target rises to 6,500 steps a day", timeout=WAIT_MS)
    shot(patient, "patient-plan-agreed")

    # 4. a seeded week of readings: 8,000 steps a day; a week later both sign in again
    world.store.write([r("p1", "p1-steps-week", Metric.STEPS, 8000.0,
                         NOW.replace(hour=13) + timedelta(days=d), "step_counter", "{steps}")
                       for d in range(7)])
    world.clock.now = NOW + timedelta(days=7)
    patient.context.close()
    coach.context.close()
    coach = sign_in(chromium, base_url, world.people.coach)
    coach.goto(f"{base_url}/coach/patients/p1")
    coach.click("#evaluate-now")
    expect(coach.locator("#evaluated")).to_contain_text("2 finished weeks evaluated",
                                                        timeout=WAIT_MS)
    stepped = coach.locator("article", has_text="6,500 steps a day on 5 days")
    expect(stepped.locator("[data-level]")).to_have_text("2", timeout=WAIT_MS)
    expect(stepped.locator('[data-change="stepped_up"]')).to_contain_text(
        "7 of 7 days with 6,000 steps or more", timeout=WAIT_MS)
    assert coach.evaluate(UNLABELLED) == []
    shot(coach, "coach-stepped-up")

    # 5. the patient is told, in plain and positive words, what changed and why
    patient = sign_in(chromium, base_url, world.people.patient)
    patient.goto(f"{base_url}/patients/p1/goals")
    told = patient.locator("article", has_text="6,500 steps a day").locator(".changed")
    expect(told).to_contain_text("Well done: you reached your goal", timeout=WAIT_MS)
    expect(told).to_contain_text("Next week's goal is one small step more: 6,500 steps a day",
                                 timeout=WAIT_MS)
    expect(patient.locator("form[data-report]")).to_have_count(1, timeout=WAIT_MS)  # her own goal
    assert patient.evaluate(UNLABELLED) == []
    shot(patient, "patient-stepped-up")

    # 6. a joint-record entry by the patient, confirmed by the coach with one click
    patient.fill("#achievement-title", "Walked to the market")
    patient.click("#add-achievement")
    entry = patient.locator("li[data-achievement]", has_text="Walked to the market")
    expect(entry.locator("[data-coach-confirmed]")).to_have_text("coach –", timeout=WAIT_MS)
    coach.goto(f"{base_url}/coach/patients/p1")
    coach.locator("li[data-achievement]", has_text="Walked to the market").locator(
        "button[data-confirm]").click()
    expect(coach.locator("li[data-achievement]", has_text="Walked to the market").locator(
        "[data-coach-confirmed]")).to_have_text("coach ✓", timeout=WAIT_MS)
    patient.reload()
    expect(entry.locator("[data-coach-confirmed]")).to_have_text("coach ✓", timeout=WAIT_MS)
    expect(patient.locator('li[data-kind="check_in"]')).to_have_count(1, timeout=WAIT_MS)

    # 7. a message each way, with unread markers
    patient.fill("#reply", "The market walk was lovely")
    patient.click("#send-reply")
    expect(patient.locator("#thread")).to_contain_text("The market walk was lovely",
                                                       timeout=WAIT_MS)
    coach.goto(f"{base_url}/coach")
    expect(coach.locator('tr[data-patient="p1"] td[data-unread]')).to_have_text("1 new",
                                                                               timeout=WAIT_MS)
    shot(coach, "coach-caseload-unread")
    coach.locator('tr[data-patient="p1"] td[data-unread] a').click()
    expect(coach.locator("#unread-count")).to_have_text("1 new", timeout=WAIT_MS)
    expect(coach.locator("#thread li[data-unread]")).to_contain_text(
        "The market walk was lovely", timeout=WAIT_MS)
    coach.fill("#message", "So glad to hear it!")
    coach.click("#send-message")
    expect(coach.locator("#thread")).to_contain_text("So glad to hear it!", timeout=WAIT_MS)
    expect(coach.locator("#thread li[data-unread]")).to_have_count(0, timeout=WAIT_MS)
    coach.goto(f"{base_url}/coach")
    expect(coach.locator('tr[data-patient="p1"] td[data-unread]')).to_have_text("–",
                                                                               timeout=WAIT_MS)
    patient.goto(f"{base_url}/patients/p1/goals")
    expect(patient.locator("#unread-notice")).to_contain_text("1 new message from your coach",
                                                              timeout=WAIT_MS)
    expect(patient.locator("#thread li[data-unread]")).to_contain_text("So glad to hear it!",
                                                                       timeout=WAIT_MS)
    shot(patient, "patient-unread")
    patient.context.close()
    coach.context.close()


def test_a_group_by_hand_prompt_post_seen_and_hidden(world: World, chromium: Any,
                                                     base_url: str) -> None:
    world.accounts.users.add("quinn", role="patient", display_name="Quinn", password=PASSWORD,
                            patient_id="q000")
    coach = sign_in(chromium, base_url, world.people.coach)
    coach.goto(f"{base_url}/care/groups?suggest=1")
    expect(coach.locator("#no-suggestions")).to_be_visible(timeout=WAIT_MS)  # 3 patients
    coach.fill("#group-name", "Tea and a walk")
    coach.check("#member-p1")
    coach.check("#member-q000")
    coach.click("#create-group")
    group = coach.locator("section[data-group]", has_text="Tea and a walk")
    expect(group.locator("[data-advice]")).to_contain_text("2 members", timeout=WAIT_MS)
    group.locator("textarea[name=body]").fill("Where did you walk this week?")
    group.locator('button[id^="post-prompt-"]').click()
    expect(group.locator("li[data-prompt]")).to_contain_text("Where did you walk this week?",
                                                             timeout=WAIT_MS)

    pat = sign_in(chromium, base_url, world.people.patient)
    pat.goto(f"{base_url}/patients/p1/group")
    mine = pat.locator("section[data-group]", has_text="Tea and a walk")
    expect(mine.locator("li[data-prompt]")).to_contain_text("Where did you walk this week?",
                                                            timeout=WAIT_MS)
    mine.locator('input[id$="-name"]').check()  # her choice: her first name with her posts
    mine.locator("button", has_text="Save what I share").click()
    mine = pat.locator("section[data-group]", has_text="Tea and a walk")
    expect(mine.locator('input[id$="-name"]')).to_be_checked(timeout=WAIT_MS)
    mine.locator("textarea[name=body]").fill("Round the park with my neighbour")
    mine.locator("button", has_text="Post").first.click()
    expect(pat.locator("li[data-post]", has_text="Round the park")).to_contain_text(
        "You", timeout=WAIT_MS)

    quinn = sign_in(chromium, base_url, "quinn")
    quinn.goto(f"{base_url}/patients/q000/group")
    seen = quinn.locator("li[data-post]", has_text="Round the park with my neighbour")
    expect(seen).to_contain_text("Pat", timeout=WAIT_MS)
    shot(quinn, "member-sees-post")

    coach.goto(f"{base_url}/care/groups")
    post = coach.locator("li[data-post]", has_text="Round the park with my neighbour")
    post.locator("input[name=reason]").fill("Names a neighbour who did not agree")
    post.locator("button[data-moderate]").click()
    expect(coach.locator("li[data-post]", has_text="Round the park")).to_have_attribute(
        "data-state", "hidden", timeout=WAIT_MS)
    quinn.reload()
    expect(quinn.locator("li[data-post]", has_text="Round the park")).to_have_count(
        0, timeout=WAIT_MS)
    pat.reload()
    expect(pat.locator("li[data-post]", has_text="Round the park")).to_contain_text(
        "Hidden by your coach: Names a neighbour who did not agree", timeout=WAIT_MS)
    shot(coach, "coach-moderated")
    for page in (coach, pat, quinn):
        page.context.close()
