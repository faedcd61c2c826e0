"""Questions to peers asked by a caregiver on behalf of the person she cares for (issue 21;
care/questions.py ``ask_for``): ``/caring/questions`` lists her questions and the form,
``/caring/questions/{id}`` shows one with its answers.

Only with the person's consent: the "questions" share on the patient's sharing page
(revocable there; the care function checks it on every question). The question is shown
to everyone as from a caregiver. Reading one goes through the single check of
dashboard/security.py (``readable_question``: care/questions.py ``readable``), audited
under the person's id, like every question.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from care import questions as peer_questions
from care import stories
from care.record_store import CaregiverQuestionStore
from dashboard.security import (
    User,
    audit_shared,
    now_of,
    readable_question,
    require_role,
    shared_reader,
)
from dashboard.views.common import engine_of, render

pages = APIRouter(include_in_schema=False)
Caregiver = Annotated[User, Depends(require_role("caregiver"))]


def _people(request: Request, user: User) -> list[tuple[str, str, tuple[str, ...]]]:
    """(patient id, name, conditions) of everyone who lets her ask for them."""
    directory = request.app.state.directory
    allowed = CaregiverQuestionStore(engine_of(request)).consenting(user.id)
    out = []
    for pid, conditions in sorted(allowed.items()):
        info = directory.patient(pid)
        out.append((pid, info.display_name if info else pid, conditions))
    return out


@pages.get("/caring/questions", response_class=HTMLResponse)
def caregiver_questions(request: Request, user: Caregiver) -> HTMLResponse:
    reader = shared_reader(request, user)
    shown = CaregiverQuestionStore(engine_of(request)).listed(reader)
    return render(request, user, "views/caregiver_questions.html", {
        "questions": shown, "people": _people(request, user),
        "namings": {"anonymous": "A caregiver", "first": "my first name, as a caregiver",
                    "full": "my name, as a caregiver"}})


@pages.post("/caring/questions")
def ask_for(request: Request, user: Caregiver, patient_id: Annotated[str, Form(max_length=128)],
            condition: Annotated[str, Form(max_length=64)],
            title: Annotated[str, Form(max_length=200)],
            body: Annotated[str, Form(max_length=2000)],
            naming: Annotated[str, Form(max_length=16)] = "anonymous") -> RedirectResponse:
    reader = shared_reader(request, user)
    try:
        qid = CaregiverQuestionStore(engine_of(request)).ask_for(
            reader, patient_id=patient_id, condition=condition, title=title, body=body,
            naming=naming, now=now_of(request))
    except peer_questions.QuestionError as refused:
        raise HTTPException(422, str(refused)) from refused
    return RedirectResponse(f"/caring/questions/{qid}", status_code=303)


@pages.get("/caring/questions/{question_id}", response_class=HTMLResponse)
def caregiver_question(request: Request, user: Caregiver, question_id: str) -> HTMLResponse:
    reader = shared_reader(request, user)
    question = readable_question(request, user, question_id, "question to peers")
    shown = CaregiverQuestionStore(engine_of(request)).question(reader, question)
    audit_shared(request, user, [(a.answer.author_patient_id, a.answer.author_id)
                                 for a in shown.answers], "answers from peers")
    return render(request, user, "views/caregiver_question.html", {
        "qv": shown, "namings": stories.NAMING_LABELS})
