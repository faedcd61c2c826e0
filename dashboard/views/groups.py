"""The coach's peer-group management: a group formed by hand from any of the coach's
patients (two or more), suggestions with their reasons when there are enough people,
members, prompts in the feed, and moderation (through care.groups, which enforces its
rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from care import groups as peer
from care.group_store import PeerGroupStore
from dashboard.security import (
    User,
    audit_reads,
    now_of,
    require_role,
    visible_patient_ids,
    visible_patients,
)
from dashboard.views.common import engine_of, render, store_of

pages = APIRouter(include_in_schema=False)
Coach = Annotated[User, Depends(require_role("coach"))]


@pages.get("/care/groups", response_class=HTMLResponse)
def groups_page(request: Request, user: Coach, suggest: bool = False) -> HTMLResponse:
    return _page(request, user, suggest=suggest)


def _page(request: Request, user: User, *, suggest: bool = False, error: str | None = None,
          form: dict[str, object] | None = None) -> HTMLResponse:
    names = {p.id: p.display_name for p in visible_patients(request, user)}
    store = PeerGroupStore(engine_of(request))
    groups: list[dict[str, Any]] = store.coach_groups(user.id)
    suggestions = (store.suggest(store_of(request), now_of(request), patient_ids=set(names))
                   if suggest else None)
    # Members' names and posts are shown, and the caseload's names on the form; a
    # suggestion reads the whole caseload's data.
    audit_reads(request, user, [m for g in groups for m in g["members"]], "peer groups")
    audit_reads(request, user, list(names), "group suggestions" if suggestions is not None
                else "peer group form")
    return render(request, user, "views/coach_groups.html", {
        "groups": groups, "names": names, "suggestions": suggestions, "error": error,
        "form": form or {}, "min_suggested": peer.MIN_GROUP, "smallest": peer.SMALLEST_GROUP,
        "largest": peer.MAX_GROUP}, status_code=422 if error else 200)


@pages.post("/care/groups", response_class=HTMLResponse)
async def form_group(request: Request, user: Coach) -> Response:
    """Form a group of the ticked patients (2 to 15; 8-15 is advice, not a rule)."""
    form = await request.form()
    members = [str(m) for m in form.getlist("member")]
    allowed = visible_patient_ids(request, user)
    if not set(members) <= allowed:
        raise HTTPException(403, "a group is formed from your own patients")
    name = str(form.get("name") or "").strip()[:120] or "Peer group"
    reason = str(form.get("reason") or "")[:1000]

    def make() -> str | None:
        try:
            PeerGroupStore(engine_of(request)).form_group(
                name=name, coach_id=user.id, member_ids=members, now=now_of(request),
                reason=reason)
        except peer.GroupError as exc:
            return str(exc)
        return None

    from starlette.concurrency import run_in_threadpool

    error = await run_in_threadpool(make)
    if error is not None:
        return await run_in_threadpool(lambda: _page(request, user, error=error, form={
            "name": name, "reason": reason, "members": members}))
    return RedirectResponse("/care/groups", status_code=303)


@pages.post("/care/groups/{group_id}/prompts")
def prompt(request: Request, user: Coach, group_id: str,
           body: Annotated[str, Form(min_length=1, max_length=500)]) -> RedirectResponse:
    """The coach puts a prompt (a question for the week) in the group's feed."""
    _run(lambda: PeerGroupStore(engine_of(request)).post_prompt(group_id, user.id, body,
                                                               now=now_of(request)))
    return RedirectResponse(f"/care/groups#group-{group_id}", status_code=303)


@pages.post("/care/groups/{group_id}/posts/{post_id}/moderate")
def moderate(request: Request, user: Coach, group_id: str, post_id: str,
             action: Annotated[Literal["hide", "unhide"], Form()],
             reason: Annotated[str, Form(max_length=500)] = "") -> RedirectResponse:
    _run(lambda: PeerGroupStore(engine_of(request)).moderate_post(
        post_id, moderator_id=user.id, action=action, reason=reason, now=now_of(request)))
    return RedirectResponse(f"/care/groups#group-{group_id}", status_code=303)


@pages.post("/care/groups/{group_id}/members/{member_id}/remove")
def remove(request: Request, user: Coach, group_id: str, member_id: str) -> RedirectResponse:
    _run(lambda: PeerGroupStore(engine_of(request)).remove_member(group_id, member_id,
                                                                 by=user.id, now=now_of(request)))
    return RedirectResponse(f"/care/groups#group-{group_id}", status_code=303)


def _run(action: Callable[[], None]) -> None:
    try:
        action()
    except peer.GroupError as exc:
        raise HTTPException(403 if "coach" in str(exc) else 422, str(exc)) from exc
