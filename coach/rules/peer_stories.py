"""Peers as role models (issue 21; docs/DESIGN.md §5 "use role models and peers"):

- ``story_offer``: an approved story from someone who lives with the same condition (and,
  best, works on the same self-care goals), offered as "people like you who…", with the
  reason; each story once, at most one offer every ``every_days``. The patient may answer
  "not useful" like any nudge: the dispatcher lowers the type for them, and that story is
  never offered again (care/stories.py ``not_useful_stories``).
- ``peer_answer``: someone answered the patient's question to their peers; one nudge for
  the newest answers, within the daily budget and the cool-down.

Both are motivational (coach/safety.py) and read ``ctx.peers``, built by
care.questions.peer_news from the application database: the "stories" feature (daily:
the offer, checked against each story's consent with the reader's rule, care/stories.py
``readable``) and the "peers" feature (hourly: one indexed query for new answers).
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule
from core.i18n import N_, say

DAY_S = 86_400.0


class StoryOfferSettings(RuleSettings):
    every_days: float = 7.0  # a role model a week at most: advice, not a stream


@rule("story_offer", path="scheduled", needs={"stories"}, settings=StoryOfferSettings,
      cadence="daily",
      description="an approved story from people who live with the same condition and goals")
def story_offer(ctx: PatientContext, settings: StoryOfferSettings) -> list[FlagRequest]:
    news = ctx.peers
    if news is None or news.offer is None:
        return []
    last = news.last_offer_at
    if last is not None and (ctx.now - last).total_seconds() < settings.every_days * DAY_S:
        return []
    offer = news.offer
    return [FlagRequest(
        "story_offer", Severity.NORMAL,
        say("\u201c{title}\u201d, by {author}. It is in your stories library.",
            title=offer.title, author=offer.author),
        {"story_id": offer.story_id, "conditions": list(offer.conditions),
         "goals": list(offer.goals)},
        "scheduled", title=N_("A story from someone like you"), key=offer.story_id,
        why=offer.reason)]


class PeerAnswerSettings(RuleSettings):
    pass


@rule("peer_answer", path="scheduled", needs={"peers"}, settings=PeerAnswerSettings,
      description="a peer answered your question")
def peer_answer(ctx: PatientContext, settings: PeerAnswerSettings) -> list[FlagRequest]:
    news = ctx.peers
    if news is None or not news.answers:
        return []
    newest = news.answers[-1]
    count = sum(a.answers for a in news.answers)
    if len(news.answers) > 1:
        body = say("{count} new answers to {questions} of your questions to peers.",
                   count=count, questions=len(news.answers))
    elif count == 1:
        body = say("A new answer to your question \u201c{title}\u201d.", title=newest.title)
    else:
        body = say("{count} new answers to your question \u201c{title}\u201d.", count=count,
                   title=newest.title)
    return [FlagRequest(
        "peer_answer", Severity.NORMAL, body,
        {"question_id": newest.question_id, "answer_id": newest.latest_answer_id,
         "answers": count},
        "scheduled", title=N_("Your peers answered"), key=newest.latest_answer_id,
        why=N_("You asked people who live with the same condition; they have answered."))]
