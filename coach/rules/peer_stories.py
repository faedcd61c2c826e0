"""Peers as role models (issue 21; docs/DESIGN.md §5 "use role models and peers"):

- ``story_offer``: an approved story from someone who lives with the same condition (and,
  best, works on the same self-care goals), offered as "people like you who…", with the
  reason; each story once, at most one offer every ``every_days``. The patient may answer
  "not useful" like any nudge: the dispatcher lowers the type for them, and that story is
  never offered again (care/stories.py ``not_useful_stories``).
- ``peer_answer``: someone answered the patient's question to their peers; one nudge for
  the newest answers, within the daily budget and the cool-down.

Both are motivational (coach/safety.py) and read the ``peers`` feature, built by
care.questions.peer_news from the application database (the consent of each story is
checked there with the reader's rule, care/stories.py ``readable``).
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule

DAY_S = 86_400.0


class StoryOfferSettings(RuleSettings):
    every_days: float = 7.0  # a role model a week at most: advice, not a stream


@rule("story_offer", path="scheduled", needs={"peers"}, settings=StoryOfferSettings,
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
        f"\u201c{offer.title}\u201d, by {offer.author}. It is in your stories library.",
        {"story_id": offer.story_id, "conditions": list(offer.conditions),
         "goals": list(offer.goals)},
        "scheduled", title="A story from someone like you", key=offer.story_id,
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
    body = (f"{count} new answer{'s' if count != 1 else ''} to your question "
            f"\u201c{newest.title}\u201d." if len(news.answers) == 1 else
            f"{count} new answers to {len(news.answers)} of your questions to peers.")
    return [FlagRequest(
        "peer_answer", Severity.NORMAL, body,
        {"question_id": newest.question_id, "answer_id": newest.latest_answer_id,
         "answers": count},
        "scheduled", title="Your peers answered", key=newest.latest_answer_id,
        why="You asked people who live with the same condition; they have answered.")]
