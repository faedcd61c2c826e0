"""Stories and questions to peers over the application database, one transaction each, as
the dashboard's peer pages use them (the rules, and who may read which story under its
author's consent, are care/stories.py's and care/questions.py's, which take a session and
never commit). A refusal is ``StoryError`` or ``QuestionError`` with its reason. The
rows returned are detached: read, never changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care import questions as peer_questions
from care import stories
from core.appdb.stories import PeerQuestion, Story, StoryModeration, StorySearch


class StoryStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- the library ---------------------------------------------------------------------------

    def library(self, search: StorySearch, reader: stories.Reader, query: str, *,
                author_id: str | None) -> tuple[list[Story], list[stories.StoryView], list[Story]]:
        """(the stories found, as shown to ``reader``, ``author_id``'s own stories): the
        search's matches for a query, else the library."""
        with Session(self._engine) as session:
            found = (stories.search(session, search, reader, query) if query
                     else stories.library(session, reader))
            shown = stories.views(session, reader, found)
            own = stories.mine(session, author_id) if author_id is not None else []
            return found, shown, own

    def story(self, reader: stories.Reader, story: Story
              ) -> tuple[stories.StoryView, list[StoryModeration]]:
        """One readable story as shown to ``reader``, with its moderation log for its
        author and its moderator (empty for anyone else)."""
        with Session(self._engine) as session:
            shown = stories.views(session, reader, [story])[0]
            log = stories.moderation_log(session, story.id) if (
                shown.mine or stories.may_moderate(reader, story)) else []
            return shown, log

    def write(self, *, author_id: str, author_patient_id: str | None, title: str, body: str,
              naming: str, audience: str, now: datetime, conditions: Iterable[str],
              situations: Iterable[str], goals: Iterable[str],
              caregiver_of: Iterable[str]) -> str:
        """A new story (waiting for moderation); its id."""
        with Session(self._engine) as session:
            story_id = stories.write_story(
                session, author_id=author_id, author_patient_id=author_patient_id, title=title,
                body=body, naming=naming, audience=audience, now=now, conditions=conditions,
                situations=situations, goals=goals, caregiver_of=caregiver_of).id
            session.commit()
            return story_id

    def mark_helped(self, reader: stories.Reader, story_id: str, *, helped: bool,
                    now: datetime) -> None:
        with Session(self._engine) as session:
            stories.mark_helped(session, reader, story_id, helped=helped, now=now)
            session.commit()

    def set_consent(self, story_id: str, *, author_id: str, naming: str, audience: str,
                    now: datetime) -> None:
        with Session(self._engine) as session:
            stories.set_consent(session, story_id, author_id=author_id, naming=naming,
                                audience=audience, now=now)
            session.commit()

    def revoke(self, search: StorySearch, story_id: str, *, author_id: str,
               now: datetime) -> None:
        with Session(self._engine) as session:
            stories.revoke(session, search, story_id, author_id=author_id, now=now)
            session.commit()

    # -- moderation ---------------------------------------------------------------------------

    def moderation_queue(self, reader: stories.Reader
                         ) -> tuple[list[Story], list[stories.StoryView]]:
        with Session(self._engine) as session:
            queue = stories.moderation_queue(session, reader)
            return queue, stories.views(session, reader, queue)

    def waiting(self, reader: stories.Reader) -> int:
        """How many stories wait in this coach's moderation queue."""
        with Session(self._engine) as session:
            return len(stories.moderation_queue(session, reader))

    def moderate(self, search: StorySearch, story_id: str, *, moderator: stories.Reader,
                 action: Literal["approve", "reject"], reason: str, now: datetime) -> None:
        with Session(self._engine) as session:
            stories.moderate(session, search, story_id, moderator=moderator, action=action,
                             reason=reason, now=now)
            session.commit()

    # -- Today's offer -------------------------------------------------------------------------

    def current_offer(self, reader: stories.Reader, now: datetime) -> stories.OfferCard | None:
        """The story the coach's nudge offered, if its consent still lets ``reader`` read it."""
        with Session(self._engine) as session:
            card = stories.current_offer(session, reader, now)
            if card is not None:
                session.expunge(card.story)
            return card

    # -- questions to peers -------------------------------------------------------------------

    def questions(self, reader: stories.Reader
                  ) -> tuple[list[PeerQuestion], list[peer_questions.QuestionView]]:
        with Session(self._engine) as session:
            found = peer_questions.questions(session, reader)
            return found, [peer_questions.view(session, reader, x) for x in found]

    def question(self, reader: stories.Reader,
                 question: PeerQuestion) -> peer_questions.QuestionView:
        with Session(self._engine) as session:
            return peer_questions.view(session, reader, question)

    def ask(self, reader: stories.Reader, *, condition: str, title: str, body: str,
            naming: str, now: datetime) -> str:
        """A new question to peers; its id."""
        with Session(self._engine) as session:
            question_id = peer_questions.ask(session, reader, condition=condition, title=title,
                                             body=body, naming=naming, now=now).id
            session.commit()
            return question_id

    def answer(self, reader: stories.Reader, question_id: str, *, body: str, naming: str,
               now: datetime) -> None:
        with Session(self._engine) as session:
            peer_questions.answer(session, reader, question_id, body=body, naming=naming,
                                  now=now)
            session.commit()

    def mark_unsafe(self, reader: stories.Reader, question_id: str, answer_id: str, *,
                    reason: str, now: datetime) -> None:
        with Session(self._engine) as session:
            peer_questions.mark_unsafe(session, reader, question_id, answer_id, reason=reason,
                                       now=now)
            session.commit()
