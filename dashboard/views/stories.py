"""Peers (issue 21): the lived-experience library (write, consent, search, "this helped
me"), the coach's moderation queue, questions to peers with answers and the coach's
"clinically unsafe" mark, and the story the coach offered on the patient's Today.

Another person's story, question or answer is read only through dashboard/security.py
(``require_story``, ``require_question``, ``shared_reader`` + ``audit_shared``), which
applies the author's consent (care/stories.py ``readable``) and audits the read; the
rules of writing and moderating are care/stories.py's and care/questions.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from care import questions as peer_questions
from care import stories
from care.story_store import StoryStore
from core.appdb.stories import story_search
from dashboard.security import (
    User,
    audit_shared,
    now_of,
    readable_question,
    readable_story,
    require_role,
    shared_reader,
)
from dashboard.views.common import engine_of, render, templates

pages = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require_role("patient", "caregiver", "coach", "nurse"))]
Patient = Annotated[User, Depends(require_role("patient"))]
Coach = Annotated[User, Depends(require_role("coach"))]
Author = Annotated[User, Depends(require_role("patient", "caregiver"))]
Asking = Annotated[User, Depends(require_role("patient", "coach", "nurse"))]
T = TypeVar("T")


def _write(request: Request, action: Callable[[StoryStore], T]) -> T:
    """Run a care action (its own transaction); its refusals are 422 with their reason."""
    try:
        return action(StoryStore(engine_of(request)))
    except (stories.StoryError, peer_questions.QuestionError) as exc:
        raise HTTPException(422, str(exc)) from exc


# --- the library -----------------------------------------------------------------------------


@pages.get("/stories", response_class=HTMLResponse)
def library(request: Request, user: Reader, q: str = "") -> HTMLResponse:
    reader = shared_reader(request, user)
    query = q.strip()[:200]
    found, shown, own = StoryStore(engine_of(request)).library(
        story_search(engine_of(request)), reader, query,
        author_id=user.id if user.role in ("patient", "caregiver") else None)
    audit_shared(request, user, [(s.author_patient_id, s.author_id) for s in found],
                 "stories search" if query else "stories library")
    return render(request, user, "views/stories.html", {
        "stories": shown, "own": own, "q": query,
        "audiences": stories.AUDIENCE_LABELS, "namings": stories.NAMING_LABELS})


@pages.get("/stories/new", response_class=HTMLResponse)
def new_story(request: Request, user: Author) -> HTMLResponse:
    audiences = (stories.AUDIENCE_LABELS if user.role == "patient"
                 else {"everyone": stories.AUDIENCE_LABELS["everyone"]})
    return render(request, user, "views/story_new.html", {
        "audiences": audiences, "namings": stories.NAMING_LABELS,
        "situations": stories.SITUATIONS, "goals": stories.GOALS,
        "conditions": sorted(shared_reader(request, user).conditions)})


@pages.post("/stories")
async def write(request: Request, user: Author) -> RedirectResponse:
    form = await request.form()

    def many(name: str) -> list[str]:
        return [str(v) for v in form.getlist(name)]

    def make(store: StoryStore) -> str:
        return store.write(
            author_id=user.id, author_patient_id=user.patient_id,
            title=str(form.get("title") or ""), body=str(form.get("body") or ""),
            naming=str(form.get("naming") or ""), audience=str(form.get("audience") or ""),
            now=now_of(request), conditions=many("condition"), situations=many("situation"),
            goals=many("goal"), caregiver_of=shared_reader(request, user).conditions)

    from starlette.concurrency import run_in_threadpool

    story_id = await run_in_threadpool(_write, request, make)
    return RedirectResponse(f"/stories/{story_id}", status_code=303)


@pages.get("/stories/{story_id}", response_class=HTMLResponse)
def story_page(request: Request, user: Reader, story_id: str) -> HTMLResponse:
    reader = shared_reader(request, user)
    story = readable_story(request, user, story_id, "story")
    shown, log = StoryStore(engine_of(request)).story(reader, story)
    return render(request, user, "views/story.html", {
        "s": shown, "moderator": stories.may_moderate(reader, story), "log": log,
        "audiences": stories.AUDIENCE_LABELS, "namings": stories.NAMING_LABELS})


@pages.post("/stories/{story_id}/helped")
def helped(request: Request, user: Annotated[User, Depends(require_role("patient", "caregiver"))],
           story_id: str, helped: Annotated[Literal["yes", "no"], Form()] = "yes"
           ) -> RedirectResponse:
    readable_story(request, user, story_id, "story helped mark")
    _write(request, lambda s: s.mark_helped(shared_reader(request, user), story_id,
                                            helped=helped == "yes", now=now_of(request)))
    return RedirectResponse(f"/stories/{story_id}", status_code=303)


def _own_story(request: Request, user: User, story_id: str) -> None:
    story = readable_story(request, user, story_id, "own story")
    if story.author_id != user.id:
        raise HTTPException(403, "only the author changes a story's consent")


@pages.post("/stories/{story_id}/consent")
def consent(request: Request, user: Author, story_id: str,
            naming: Annotated[str, Form()], audience: Annotated[str, Form()]
            ) -> RedirectResponse:
    _own_story(request, user, story_id)
    _write(request, lambda s: s.set_consent(story_id, author_id=user.id, naming=naming,
                                            audience=audience, now=now_of(request)))
    return RedirectResponse(f"/stories/{story_id}", status_code=303)


@pages.post("/stories/{story_id}/revoke")
def revoke(request: Request, user: Author, story_id: str) -> RedirectResponse:
    _own_story(request, user, story_id)
    search = story_search(engine_of(request))
    _write(request, lambda s: s.revoke(search, story_id, author_id=user.id,
                                       now=now_of(request)))
    return RedirectResponse(f"/stories/{story_id}", status_code=303)


# --- the coach's moderation queue -------------------------------------------------------------


@pages.get("/coach/stories", response_class=HTMLResponse)
def moderation(request: Request, user: Coach) -> HTMLResponse:
    reader = shared_reader(request, user)
    queue, shown = StoryStore(engine_of(request)).moderation_queue(reader)
    audit_shared(request, user, [(s.author_patient_id, s.author_id) for s in queue],
                 "story moderation")
    return render(request, user, "views/coach_stories.html", {
        "queue": shown, "audiences": stories.AUDIENCE_LABELS, "namings": stories.NAMING_LABELS})


@pages.post("/coach/stories/{story_id}/moderate")
def moderate(request: Request, user: Coach, story_id: str,
             action: Annotated[Literal["approve", "reject"], Form()],
             reason: Annotated[str, Form(max_length=500)] = "") -> RedirectResponse:
    reader = shared_reader(request, user)
    story = readable_story(request, user, story_id, "story moderation")
    if not stories.may_moderate(reader, story):
        raise HTTPException(403, "only the author's coach moderates a story")
    search = story_search(engine_of(request))
    _write(request, lambda s: s.moderate(search, story_id, moderator=reader, action=action,
                                         reason=reason, now=now_of(request)))
    return RedirectResponse("/coach/stories", status_code=303)


# --- questions to peers -----------------------------------------------------------------------


@pages.get("/questions", response_class=HTMLResponse)
def questions_page(request: Request, user: Asking) -> HTMLResponse:
    reader = shared_reader(request, user)
    found, shown = StoryStore(engine_of(request)).questions(reader)
    audit_shared(request, user, [(x.asker_patient_id, x.asker_id) for x in found],
                 "questions to peers")
    return render(request, user, "views/questions.html", {
        "questions": shown, "conditions": sorted(reader.conditions),
        "namings": stories.NAMING_LABELS})


@pages.post("/questions")
def ask(request: Request, user: Patient, condition: Annotated[str, Form()],
        title: Annotated[str, Form(max_length=200)], body: Annotated[str, Form(max_length=2000)],
        naming: Annotated[str, Form()] = "anonymous") -> RedirectResponse:
    reader = shared_reader(request, user)
    qid = _write(request, lambda s: s.ask(reader, condition=condition, title=title, body=body,
                                          naming=naming, now=now_of(request)))
    return RedirectResponse(f"/questions/{qid}", status_code=303)


@pages.get("/questions/{question_id}", response_class=HTMLResponse)
def question_page(request: Request, user: Asking, question_id: str) -> HTMLResponse:
    reader = shared_reader(request, user)
    question = readable_question(request, user, question_id, "question to peers")
    shown = StoryStore(engine_of(request)).question(reader, question)
    audit_shared(request, user, [(a.answer.author_patient_id, a.answer.author_id)
                                 for a in shown.answers], "answers from peers")
    return render(request, user, "views/question.html", {
        "qv": shown, "namings": stories.NAMING_LABELS,
        "may_answer": user.role == "patient" and question.state == "open",
        "may_mark": user.role == "coach"})


@pages.post("/questions/{question_id}/answers")
def answer(request: Request, user: Patient, question_id: str,
           body: Annotated[str, Form(max_length=2000)],
           naming: Annotated[str, Form()] = "anonymous") -> RedirectResponse:
    readable_question(request, user, question_id, "answer a peer")
    reader = shared_reader(request, user)
    _write(request, lambda s: s.answer(reader, question_id, body=body, naming=naming,
                                       now=now_of(request)))
    return RedirectResponse(f"/questions/{question_id}", status_code=303)


@pages.post("/questions/{question_id}/answers/{answer_id}/unsafe")
def unsafe(request: Request, user: Coach, question_id: str, answer_id: str,
           reason: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    readable_question(request, user, question_id, "mark an answer unsafe")
    reader = shared_reader(request, user)
    _write(request, lambda s: s.mark_unsafe(reader, question_id, answer_id, reason=reason,
                                            now=now_of(request)))
    return RedirectResponse(f"/questions/{question_id}#answer-{answer_id}", status_code=303)


# --- Today: the story the coach offered --------------------------------------------------------


def offer_card(request: Request, user: User) -> stories.OfferCard | None:
    """For the patient's own Today (patient_today.html calls it): the story the coach's
    nudge offered, if its consent still lets her read it. Audited like any story read."""
    if user.role != "patient" or not user.patient_id:
        return None
    reader = shared_reader(request, user)
    card = StoryStore(engine_of(request)).current_offer(reader, now_of(request))
    if card is not None:
        audit_shared(request, user, [(card.story.author_patient_id, card.story.author_id)],
                     "story offered on Today")
    return card


def _offer_for_template(request: Request, user: Any) -> stories.OfferCard | None:
    return offer_card(request, user) if isinstance(user, User) else None


def _waiting_for_template(request: Request, user: Any) -> int:
    """How many stories wait in the coach's moderation queue (coach_home.html): a count,
    no one's content."""
    if not isinstance(user, User) or user.role != "coach":
        return 0
    return StoryStore(engine_of(request)).waiting(shared_reader(request, user))


templates.env.globals["story_offer_card"] = _offer_for_template
templates.env.globals["stories_waiting"] = _waiting_for_template
