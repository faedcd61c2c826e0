"""Peer groups: suggestions, membership, posts, sharing consent, moderation and the weekly
prompts (issue 5, item 6).

What a member shares is their own choice, recorded as consent (``sharing_consents``,
newest row per scope wins, nothing is shared by default):
- ``name``: their name is shown with their posts and may be mentioned in group prompts;
  without it they appear as "A member" and are never named.
- ``achievements``: the group may hear that they reached a goal, and they may be
  invited to share what worked.
- ``challenge``: their steps count toward the group challenge (only the group total
  and the number taking part are ever shown).
- ``post``: written with every post (the post is shared by choice); withdrawing a
  post records the consent withdrawn.

Functions take the session (and the time-series store where readings are needed),
never commit, and return Outbound messages for the scheduler to dispatch.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.trends import daily_values
from care.goals import GoalKind
from care.grouping import (
    MAX_GROUP,
    MIN_GROUP,
    PeerFeatures,
    Suggestions,
    cluster_people,
)
from care.messages import Outbound
from care.plans import evaluate_goals, new_id
from core.appdb.models import Patient
from core.appdb.plans import (
    Achievement,
    CoachPrompt,
    Goal,
    ModerationEvent,
    PeerGroup,
    PeerMembership,
    PeerPost,
    PeerPreference,
    SelfAssessment,
    SharingConsent,
)
from core.i18n import N_, say
from core.metrics import Metric
from core.timeseries import TimeSeriesStore

logger = logging.getLogger(__name__)

SCOPES = ("name", "achievements", "challenge")
SMALLEST_GROUP = 2  # a coach may form a group of any size from two; 8-15 is advice
POST_MAX_CHARS = 500  # "short messages"; a product choice, not a clinical one
ACTIVITY_DAYS = 28  # steps per day for grouping: the median over the last four weeks
QUESTIONS = (
    N_("What is one small thing that made this week easier?"),
    N_("Where do you find a few minutes to move more?"),
    N_("What helps you on the days you do not feel like checking?"),
    N_("Which healthy meal do you keep coming back to?"),
    N_("Who or what gives you a lift when things get hard?"),
    N_("What did you try this week for the first time?"),
    N_("What would you tell someone who has just been diagnosed?"),
    N_("How do you plan for a day out of your usual routine?"),
)


class GroupError(ValueError):
    pass


# --- Suggestions from the database --------------------------------------------------------


def peer_features(session: Session, store: TimeSeriesStore, now: datetime, *,
                  include_grouped: bool = False,
                  patient_ids: Collection[str] | None = None) -> list[PeerFeatures]:
    """Everyone open to a group (and, by default, not already in an active one), among
    ``patient_ids`` when given (e.g. a coach's caseload)."""
    grouped = set() if include_grouped else set(session.scalars(
        select(PeerMembership.member_id).join(PeerGroup, PeerGroup.id == PeerMembership.group_id)
        .where(PeerMembership.left_at.is_(None), PeerGroup.status == "active")))
    preferences = {p.patient_id: p for p in session.scalars(select(PeerPreference))}
    out = []
    for patient in session.scalars(select(Patient).order_by(Patient.id)):
        preference = preferences.get(patient.id)
        if patient.id in grouped or (preference is not None and not preference.open_to_groups):
            continue
        if patient_ids is not None and patient.id not in patient_ids:
            continue
        out.append(PeerFeatures(
            patient_id=patient.id, conditions=tuple(patient.conditions or ()),
            behaviours=_behaviours(session, patient.id),
            steps_per_day=_steps_per_day(store, patient.id, now, patient.timezone or "UTC"),
            age=now.year - patient.birth_year if patient.birth_year else None,
            language=preference.language if preference else "en"))
    return out


def _behaviours(session: Session, patient_id: str) -> tuple[str, ...]:
    active = set(session.scalars(select(Goal.behaviour).where(
        Goal.patient_id == patient_id, Goal.status == "active")))
    if active:
        return tuple(sorted(active))
    focus = session.scalars(select(SelfAssessment.focus).where(
        SelfAssessment.patient_id == patient_id).order_by(SelfAssessment.taken_at.desc())).first()
    return (focus,) if focus else ()


def _steps_per_day(store: TimeSeriesStore, patient_id: str, now: datetime, tz: str) -> float | None:
    s = store.read_series(patient_id, Metric.STEPS, now - timedelta(days=ACTIVITY_DAYS), now)
    if len(s) == 0:
        return None
    _, totals = daily_values(s.times_us, s.values, tz=tz, how="sum")
    return float(np.median(totals))


def suggest_groups(session: Session, store: TimeSeriesStore, now: datetime, *,
                   include_grouped: bool = False, patient_ids: Collection[str] | None = None,
                   seed: int = 0) -> Suggestions:
    """Suggested groupings of 8-15 people with the reason for each (the coach decides);
    ``patient_ids`` limits them to, for example, the coach's caseload."""
    people = peer_features(session, store, now, include_grouped=include_grouped,
                           patient_ids=patient_ids)
    return cluster_people(people, seed=seed)


def set_peer_preference(session: Session, patient_id: str, *, language: str,
                        open_to_groups: bool, now: datetime) -> PeerPreference:
    pref = session.get(PeerPreference, patient_id) or PeerPreference(patient_id=patient_id)
    pref.language, pref.open_to_groups, pref.updated_at = language, open_to_groups, now
    session.add(pref)
    return pref


# --- Forming and running groups -----------------------------------------------------------


def form_group(session: Session, *, name: str, coach_id: str, member_ids: Sequence[str],
               now: datetime, language: str = "en", reason: str = "",
               challenge_kind: GoalKind | None = None,
               challenge_target: float | None = None) -> PeerGroup:
    """A coach forms a group of 2-15 people, by hand or from a suggestion and its reason.

    Groups of 8-15 (``MIN_GROUP``) are what suggestions aim for; below that the size is
    only advice (``size_advice``), so a small clinic has groups from its first day."""
    members = list(dict.fromkeys(member_ids))
    if not SMALLEST_GROUP <= len(members) <= MAX_GROUP:
        raise GroupError(f"a group has {SMALLEST_GROUP}-{MAX_GROUP} members, not {len(members)}")
    if challenge_kind is not None and challenge_kind is not GoalKind.STEPS:
        raise GroupError("group challenges count steps (the one activity every member can share)")
    group = PeerGroup(id=new_id(), name=name, coach_id=coach_id, language=language, reason=reason,
                      challenge_kind=str(challenge_kind) if challenge_kind else None,
                      challenge_target=challenge_target, status="active", created_at=now)
    session.add(group)
    session.flush()
    session.add_all(PeerMembership(group_id=group.id, member_id=m, joined_at=now) for m in members)
    session.flush()
    logger.info("group %s formed by coach %s with %d members", group.id, coach_id, len(members))
    return group


def size_advice(n: int) -> str:
    """Advice on a group's size (never a refusal between 2 and 15)."""
    if n < MIN_GROUP:
        return (f"{n} members: a small group works; groups of {MIN_GROUP}-{MAX_GROUP} keep "
                "the conversation going when some are quiet, so add people as your caseload grows.")
    return ""


def add_member(session: Session, group_id: str, member_id: str, *, by: str,
               now: datetime) -> PeerMembership:
    group = _group(session, group_id)
    _require_coach(group, by)
    if len(members(session, group_id)) >= MAX_GROUP:
        raise GroupError(f"the group already has {MAX_GROUP} members")
    membership = session.get(PeerMembership, (group_id, member_id))
    if membership is None:
        membership = PeerMembership(group_id=group_id, member_id=member_id)
        session.add(membership)
    membership.joined_at, membership.left_at, membership.removed_by = now, None, None
    session.flush()
    return membership


def remove_member(session: Session, group_id: str, member_id: str, *, by: str,
                  now: datetime) -> None:
    """The coach removes a member, or a member leaves (``by`` is themself)."""
    group = _group(session, group_id)
    if by != member_id:
        _require_coach(group, by)
    membership = session.get(PeerMembership, (group_id, member_id))
    if membership is None or membership.left_at is not None:
        raise GroupError("not a member of this group")
    membership.left_at, membership.removed_by = now, by
    session.flush()


def members(session: Session, group_id: str) -> list[str]:
    return list(session.scalars(select(PeerMembership.member_id).where(
        PeerMembership.group_id == group_id, PeerMembership.left_at.is_(None))
        .order_by(PeerMembership.member_id)))


def groups_of(session: Session, member_id: str) -> list[PeerGroup]:
    return list(session.scalars(select(PeerGroup).join(
        PeerMembership, PeerMembership.group_id == PeerGroup.id).where(
        PeerMembership.member_id == member_id, PeerMembership.left_at.is_(None),
        PeerGroup.status == "active")))


def set_consent(session: Session, group_id: str, member_id: str, *, scope: str, granted: bool,
                now: datetime) -> SharingConsent:
    """The member's own choice of what to share with this group (appended to the record)."""
    if scope not in SCOPES:
        raise GroupError(f"unknown sharing scope {scope!r}; one of {SCOPES}")
    if member_id not in members(session, group_id):
        raise GroupError("only a member chooses what they share with a group")
    row = SharingConsent(group_id=group_id, member_id=member_id, scope=scope, granted=granted,
                         recorded_at=now)
    session.add(row)
    session.flush()
    return row


def consents(session: Session, group_id: str, member_id: str) -> dict[str, bool]:
    """The member's current choices (nothing is shared until they say so)."""
    rows = session.scalars(select(SharingConsent).where(
        SharingConsent.group_id == group_id, SharingConsent.member_id == member_id,
        SharingConsent.scope.in_(SCOPES)).order_by(SharingConsent.recorded_at, SharingConsent.id))
    current = dict.fromkeys(SCOPES, False)
    for row in rows:
        current[row.scope] = row.granted
    return current


# --- Posts and moderation -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostView:
    post_id: str
    author: str  # the name (with consent), "You", or "A member"
    mine: bool
    body: str
    created_at: datetime
    state: str
    moderation_reason: str | None  # shown to the coach and to the author
    reply_to: str | None
    by_coach: bool = False  # the group's coach wrote it (a prompt for the group)


def post(session: Session, group_id: str, author_id: str, body: str, *, now: datetime,
         reply_to: str | None = None, prompt_id: str | None = None) -> PeerPost:
    """A member posts a short message; posting is their choice and recorded as consent."""
    if author_id not in members(session, group_id):
        raise GroupError("only members post to a group")
    text = body.strip()
    if not 0 < len(text) <= POST_MAX_CHARS:
        raise GroupError(f"a post is 1-{POST_MAX_CHARS} characters")
    row = PeerPost(id=new_id(), group_id=group_id, author_id=author_id, body=text,
                   reply_to=reply_to, prompt_id=prompt_id, state="visible", created_at=now)
    session.add(row)
    session.flush()
    session.add(SharingConsent(group_id=group_id, member_id=author_id, scope="post", ref=row.id,
                               granted=True, recorded_at=now))
    session.flush()
    return row


def post_prompt(session: Session, group_id: str, coach_id: str, body: str, *,
                now: datetime) -> PeerPost:
    """The group's coach puts a prompt (a question, an idea for the week) in the feed."""
    group = _group(session, group_id)
    _require_coach(group, coach_id)
    text = body.strip()
    if not 0 < len(text) <= POST_MAX_CHARS:
        raise GroupError(f"a prompt is 1-{POST_MAX_CHARS} characters")
    row = PeerPost(id=new_id(), group_id=group_id, author_id=coach_id, body=text,
                   state="visible", created_at=now)
    session.add(row)
    session.add(CoachPrompt(id=new_id(), key=f"group:{group_id}:post:{row.id}",
                            kind="group_post_prompt", group_id=group_id, created_at=now))
    session.flush()
    return row


def withdraw_post(session: Session, post_id: str, *, author_id: str, now: datetime) -> PeerPost:
    row = _post(session, post_id)
    if row.author_id != author_id:
        raise GroupError("only the author withdraws a post")
    row.state = "withdrawn"
    session.add(SharingConsent(group_id=row.group_id, member_id=author_id, scope="post",
                               ref=row.id, granted=False, recorded_at=now))
    session.flush()
    return row


def moderate_post(session: Session, post_id: str, *, moderator_id: str,
                  action: Literal["hide", "unhide"], reason: str, now: datetime) -> PeerPost:
    """The group's coach hides or restores a post, always with a reason (kept in a log)."""
    row = _post(session, post_id)
    _require_coach(_group(session, row.group_id), moderator_id)
    if not reason.strip():
        raise GroupError("moderation needs a reason")
    if row.state == "withdrawn":
        raise GroupError("the author has withdrawn this post")
    if action not in ("hide", "unhide"):
        raise GroupError(f"unknown moderation action {action!r}")
    row.state = "hidden" if action == "hide" else "visible"
    row.moderated_by, row.moderation_reason, row.moderated_at = moderator_id, reason.strip(), now
    session.add(ModerationEvent(post_id=row.id, action=action, moderator_id=moderator_id,
                                reason=reason.strip(), at=now))
    session.flush()
    logger.info("post %s %s by %s", row.id, action, moderator_id)
    return row


def moderation_log(session: Session, post_id: str) -> list[ModerationEvent]:
    return list(session.scalars(select(ModerationEvent).where(ModerationEvent.post_id == post_id)
                                .order_by(ModerationEvent.at, ModerationEvent.id)))


def group_feed(session: Session, group_id: str, viewer_id: str) -> list[PostView]:
    """Posts as the viewer may see them: members see visible posts (and their own hidden
    ones, with the reason); the group's coach sees hidden posts too. Withdrawn posts are gone."""
    group = _group(session, group_id)
    is_coach = viewer_id == group.coach_id
    if not is_coach and viewer_id not in members(session, group_id):
        raise GroupError("only members and the group's coach read a group")
    rows = session.scalars(select(PeerPost).where(PeerPost.group_id == group_id,
                                                  PeerPost.state != "withdrawn")
                           .order_by(PeerPost.created_at, PeerPost.id))
    names: dict[str, str] = {}
    out = []
    for row in rows:
        mine = row.author_id == viewer_id
        by_coach = row.author_id == group.coach_id
        if row.state == "hidden" and not (is_coach or mine):
            continue
        if row.author_id not in names:
            names[row.author_id] = ("Your coach" if by_coach
                                    else _shown_name(session, group_id, row.author_id))
        out.append(PostView(row.id, "You" if mine else names[row.author_id], mine, row.body,
                            row.created_at, row.state,
                            row.moderation_reason if (is_coach or mine) else None, row.reply_to,
                            by_coach))
    return out


def _shown_name(session: Session, group_id: str, member_id: str) -> str:
    if not consents(session, group_id, member_id)["name"]:
        return "A member"
    patient = session.get(Patient, member_id)
    return patient.display_name.split()[0] if patient and patient.display_name else "A member"


# --- Weekly prompts (called by the scheduler) ---------------------------------------------


def weekly_group_prompts(session: Session, store: TimeSeriesStore, now: datetime) -> list[Outbound]:
    """This week's prompts for every active group, each issued once (a second run in the same
    ISO week returns nothing new): the group challenge's progress, an invitation to each
    consenting member who reached a goal in the last 7 days to share what worked, and the
    question of the week (with congratulations naming only members who chose to be named).
    The caller dispatches the messages and commits."""
    out: list[Outbound] = []
    for group in session.scalars(select(PeerGroup).where(PeerGroup.status == "active")
                                 .order_by(PeerGroup.id)):
        people = members(session, group.id)
        if not people:
            continue
        choices = {m: consents(session, group.id, m) for m in people}
        for member in people:  # finished periods first, so this week's goals reached count
            evaluate_goals(session, store, now, patient_id=member)
        reached = _goals_reached(session, people, now)
        out += _challenge(session, store, group, people, choices, now)
        out += _invitations(session, group, reached, choices, now)
        out += _question(session, group, people, reached, choices, now)
    session.flush()
    logger.info("weekly group prompts: %d messages", len(out))
    return out


def _week(now: datetime) -> str:
    year, week, _ = now.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _issue(session: Session, key: str, kind: str, group_id: str, now: datetime,
           patient_id: str | None = None) -> CoachPrompt | None:
    """The prompt's record, or None if it was issued before."""
    if session.scalars(select(CoachPrompt.id).where(CoachPrompt.key == key)).first():
        return None
    prompt = CoachPrompt(id=new_id(), key=key, kind=kind, group_id=group_id,
                         patient_id=patient_id, created_at=now)
    session.add(prompt)
    session.flush()
    return prompt


def _goals_reached(session: Session, people: list[str], now: datetime) -> dict[str, Achievement]:
    """Each member's latest goal met in the last 7 days."""
    rows = session.scalars(select(Achievement).where(
        Achievement.patient_id.in_(people), Achievement.kind == "goal_met",
        Achievement.achieved_at >= now - timedelta(days=7), Achievement.achieved_at <= now)
        .order_by(Achievement.achieved_at, Achievement.id))
    return {a.patient_id: a for a in rows}


def _to_members(people: list[str], prompt: CoachPrompt, *, kind: str, flag_type: str,
                title: str, body: str, why: str, evidence: dict[str, object],
                now: datetime) -> list[Outbound]:
    return [Outbound(kind="nudge", patient_id=m, recipient_role="patient", recipient_id=m,
                     flag_type=flag_type, priority="low", title=title, body=body, why=why,
                     evidence=dict(evidence), created_at=now, ref=prompt.id) for m in people]


def _challenge(session: Session, store: TimeSeriesStore, group: PeerGroup, people: list[str],
               choices: dict[str, dict[str, bool]], now: datetime) -> list[Outbound]:
    if group.challenge_kind != str(GoalKind.STEPS) or not group.challenge_target:
        return []
    prompt = _issue(session, f"group:{group.id}:{_week(now)}:challenge", "group_challenge",
                    group.id, now)
    if prompt is None:
        return []
    taking_part = [m for m in people if choices[m]["challenge"]]
    total = sum(float(store.read_series(m, Metric.STEPS, now - timedelta(days=7), now).values.sum())
                for m in taking_part)
    percent = 100.0 * total / group.challenge_target
    body = say("Together the group walked {steps} steps this week. That is {percent}% of the "
               "{target}-step challenge. {taking_part} of {members} members took part.",
               steps=f"{total:,.0f}", percent=f"{percent:.0f}",
               target=f"{group.challenge_target:,.0f}", taking_part=len(taking_part),
               members=len(people))
    if not taking_part:
        body = N_("No one has joined the step challenge yet. You can choose to count your "
                  "steps toward the group total; only the total is shown.")
    return _to_members(people, prompt, kind="nudge", flag_type="group_challenge",
                       title=say("{group}: this week's step challenge", group=group.name),
                       body=body,
                       why=N_("This is your group's weekly challenge news. Members' steps count "
                              "only if they chose to take part."),
                       evidence={"group_id": group.id, "week": _week(now), "total_steps": total,
                                 "target": group.challenge_target,
                                 "taking_part": len(taking_part), "members": len(people)},
                       now=now)


def _invitations(session: Session, group: PeerGroup, reached: dict[str, Achievement],
                 choices: dict[str, dict[str, bool]], now: datetime) -> list[Outbound]:
    out = []
    for member, achievement in sorted(reached.items()):
        if not choices[member]["achievements"]:
            continue  # they did not choose to share achievements with this group
        prompt = _issue(session, f"group:{group.id}:invite:{achievement.id}", "group_invitation",
                        group.id, now, patient_id=member)
        if prompt is None:
            continue
        out.append(Outbound(
            kind="positive", patient_id=member, recipient_role="patient", recipient_id=member,
            flag_type="group_share_invitation", priority="positive",
            title=N_("You reached your goal - well done!"),
            body=say("You reached \"{goal}\". Would you like to tell {group} what worked for "
                     "you? Only if you want to: what you share is up to you.",
                     goal=achievement.title, group=group.name),
            why=N_("You reached a goal this week and chose to let your group hear about your "
                   "achievements."),
            evidence={"group_id": group.id, "achievement_id": achievement.id,
                      "goal_id": achievement.goal_id, "detail": achievement.detail},
            created_at=now, ref=prompt.id))
    return out


def _question(session: Session, group: PeerGroup, people: list[str],
              reached: dict[str, Achievement], choices: dict[str, dict[str, bool]],
              now: datetime) -> list[Outbound]:
    prompt = _issue(session, f"group:{group.id}:{_week(now)}:question", "group_question",
                    group.id, now)
    if prompt is None:
        return []
    question = QUESTIONS[now.astimezone(UTC).isocalendar()[1] % len(QUESTIONS)]
    sharing = [m for m in sorted(reached) if choices[m]["achievements"]]
    named = [_shown_name(session, group.id, m) for m in sharing if choices[m]["name"]]
    others = len(sharing) - len(named)
    cheer = _cheer(named, others)
    if cheer:
        body = say("{cheer} Question of the week: {question}", cheer=cheer, question=question)
    else:
        body = say("Question of the week: {question}", question=question)
    return _to_members(people, prompt, kind="nudge", flag_type="group_question",
                       title=say("{group}: question of the week", group=group.name), body=body,
                       why=N_("A weekly question for your group; answer with a post if you "
                              "like."),
                       evidence={"group_id": group.id, "week": _week(now), "question": question,
                                 "goals_reached_shared": len(sharing)}, now=now)


def _cheer(named: list[str], others: int) -> str:
    if not named and not others:
        return ""
    who = named + ([f"{others} more member{'s' if others > 1 else ''}"] if others else [])
    text = who[0] if len(who) == 1 else ", ".join(who[:-1]) + " and " + who[-1]
    return say("Congratulations to {names}, who reached a goal this week!", names=text)


def _group(session: Session, group_id: str) -> PeerGroup:
    group = session.get(PeerGroup, group_id)
    if group is None:
        raise GroupError(f"no group {group_id}")
    return group


def _post(session: Session, post_id: str) -> PeerPost:
    row = session.get(PeerPost, post_id)
    if row is None:
        raise GroupError(f"no post {post_id}")
    return row


def _require_coach(group: PeerGroup, user_id: str) -> None:
    if user_id != group.coach_id:
        raise GroupError("only the group's coach does this")


__all__ = [
    "MAX_GROUP", "MIN_GROUP", "SMALLEST_GROUP",
    "GroupError", "PostView", "add_member", "consents", "form_group", "group_feed", "groups_of",
    "members", "moderate_post", "moderation_log", "peer_features", "post", "post_prompt",
    "size_advice",
    "remove_member", "set_consent", "set_peer_preference", "suggest_groups",
    "weekly_group_prompts", "withdraw_post",
]
