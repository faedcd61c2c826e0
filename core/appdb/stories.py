"""Lived-experience stories and questions to peers (issue 21): the tables, and full-text
search through one interface with two implementations.

``StorySearch`` finds the stories that match a query, best first, among those that are
approved and not revoked; who may read which of them is decided above this layer
(care/stories.py and dashboard/security.py). Two implementations:

- ``SqliteStorySearch``: an FTS5 table (``story_search``, porter stemming). It is derived
  data: created and filled from ``stories`` the first time it is needed (so that the
  schema Alembic compares holds only real tables), kept current as stories are
  approved, revoked or rejected (``index`` / ``remove``, in the caller's transaction).
- ``PostgresStorySearch``: a weighted ``tsvector`` per story in its own ``story_search``
  table (GIN index), matched with ``websearch_to_tsquery('english', q)`` and ranked by
  ``ts_rank``; derived data made when first needed and kept current exactly like the
  FTS5 table (a TSVECTOR column is not something the SQLite side of the models can hold).

``story_search(engine)`` picks the one for the engine's dialect. User ids are plain
strings, as in core/appdb/plans.py.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.appdb.models import Base, _now

UTC_DATETIME = DateTime(timezone=True)
SEARCH_LIMIT = 200  # matches considered per query, before the reader's filter


class Story(Base):
    """A short first-person story or tip, with the author's consent for it."""

    __tablename__ = "stories"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    author_id: Mapped[str] = mapped_column(String(128), index=True)  # the account
    author_patient_id: Mapped[str | None] = mapped_column(String(128), index=True, default=None)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list[str]] = mapped_column(JSON, default=list)
    situations: Mapped[list[str]] = mapped_column(JSON, default=list)
    goals: Mapped[list[str]] = mapped_column(JSON, default=list)  # self-care behaviours
    naming: Mapped[str] = mapped_column(String(16))  # full | first | anonymous
    audience: Mapped[str] = mapped_column(String(16))  # group | clinic | everyone
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|approved|rejected
    moderated_by: Mapped[str | None] = mapped_column(String(128), default=None)
    moderated_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    moderation_reason: Mapped[str | None] = mapped_column(Text, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class StoryModeration(Base):
    """Every moderation decision, with its reason (the story keeps the latest)."""

    __tablename__ = "story_moderation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    story_id: Mapped[str] = mapped_column(ForeignKey("stories.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # approve | reject
    moderator_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class StoryMark(Base):
    """"This helped me": one per reader and story."""

    __tablename__ = "story_marks"

    story_id: Mapped[str] = mapped_column(ForeignKey("stories.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class PeerQuestion(Base):
    """A patient's question to the people who live with the same condition."""

    __tablename__ = "peer_questions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asker_id: Mapped[str] = mapped_column(String(128), index=True)
    asker_patient_id: Mapped[str] = mapped_column(String(128), index=True)
    condition: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    naming: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(20), default="open")  # open | withdrawn
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class PeerAnswer(Base):
    """A peer's answer; a coach may mark it clinically unsafe, with the explanation shown."""

    __tablename__ = "peer_answers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    question_id: Mapped[str] = mapped_column(ForeignKey("peer_questions.id"), index=True)
    author_id: Mapped[str] = mapped_column(String(128))
    author_patient_id: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    naming: Mapped[str] = mapped_column(String(16))
    unsafe_by: Mapped[str | None] = mapped_column(String(128), default=None)
    unsafe_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    unsafe_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now, index=True)


# --- full-text search -----------------------------------------------------------------------


def searchable_text(story: Story) -> tuple[str, str, str]:
    """(title, body, tags) as indexed: tags are words ("heart failure", "at work")."""
    tags = " ".join(t.replace("_", " ") for t in
                    [*story.conditions, *story.situations, *story.goals])
    return story.title, story.body, tags


def _params(story: Story) -> dict[str, str]:
    title, body, tags = searchable_text(story)
    return {"id": story.id, "title": title, "body": body, "tags": tags}


def _live(session: Session) -> list[Story]:
    """The approved, unwithdrawn stories: what a search index holds."""
    return list(session.scalars(select(Story).where(Story.state == "approved",
                                                    Story.revoked_at.is_(None))))


class StorySearch(Protocol):
    """Full-text search over approved, unrevoked stories (the reader filter is not here)."""

    def index(self, session: Session, story: Story) -> None:
        """(Re)index a story that became approved (its text is searchable from the commit)."""
        ...

    def remove(self, session: Session, story_id: str) -> None:
        """Forget a story (revoked or rejected): it stops matching from the commit."""
        ...

    def matching(self, session: Session, query: str, *, limit: int = SEARCH_LIMIT) -> list[str]:
        """Ids of approved, unrevoked stories matching ``query``, best first."""
        ...


_WORD = re.compile(r"\w+", re.UNICODE)


def _fts5_query(query: str) -> str:
    """Every word as a quoted FTS5 string (all must match); no operators get through."""
    return " ".join(f'"{w}"' for w in _WORD.findall(query.lower()))


class SqliteStorySearch:
    """FTS5 (``story_search``), created and filled from ``stories`` when first needed."""

    def _ensure(self, session: Session) -> None:
        exists = session.execute(text(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'story_search'"
        )).first()
        if exists:
            return
        session.execute(text(
            "CREATE VIRTUAL TABLE IF NOT EXISTS story_search USING fts5("
            "story_id UNINDEXED, title, body, tags, tokenize = 'porter unicode61')"))
        session.execute(text("DELETE FROM story_search"))  # a racing creator filled it too
        self._insert(session, _live(session))

    @staticmethod
    def _insert(session: Session, stories: list[Story]) -> None:
        if stories:
            session.execute(text("INSERT INTO story_search (story_id, title, body, tags) "
                                 "VALUES (:id, :title, :body, :tags)"),
                            [_params(story) for story in stories])

    def index(self, session: Session, story: Story) -> None:
        self._ensure(session)
        self.remove(session, story.id)
        self._insert(session, [story])

    def remove(self, session: Session, story_id: str) -> None:
        self._ensure(session)
        session.execute(text("DELETE FROM story_search WHERE story_id = :id"), {"id": story_id})

    def matching(self, session: Session, query: str, *, limit: int = SEARCH_LIMIT) -> list[str]:
        match = _fts5_query(query)
        if not match:
            return []
        self._ensure(session)
        rows = session.execute(text(
            "SELECT story_id FROM story_search WHERE story_search MATCH :q "
            "ORDER BY bm25(story_search, 0.0, 3.0, 1.0, 2.0) LIMIT :limit"),
            {"q": match, "limit": limit})
        return [str(r[0]) for r in rows]


_PG_READY: set[str] = set()  # databases whose search table this process has made sure of


class PostgresStorySearch:
    """``websearch_to_tsquery`` over ``story_search`` (story id, a weighted ``tsvector``:
    title A, tags B, body C; GIN index), created and filled from ``stories`` when first
    needed and kept current by ``index`` / ``remove``, like the SQLite one. The document is
    stored, not recomputed from the text: ranking 10,000 matches re-parsed each story and
    took about 2 s (docs/PEERS.md)."""

    def _ensure(self, session: Session) -> None:
        url = session.get_bind().engine.url.render_as_string(hide_password=True)
        if url in _PG_READY:
            return
        exists = session.execute(text("SELECT to_regclass('story_search')")).scalar()
        if exists is None:
            session.execute(text(
                "CREATE TABLE IF NOT EXISTS story_search (story_id VARCHAR(64) PRIMARY KEY, "
                "document TSVECTOR NOT NULL)"))
            session.execute(text("CREATE INDEX IF NOT EXISTS ix_story_search_document "
                                 "ON story_search USING gin (document)"))
            self._upsert(session, _live(session))
        _PG_READY.add(url)

    @staticmethod
    def _upsert(session: Session, stories: list[Story]) -> None:
        if not stories:
            return
        session.execute(text(
            "INSERT INTO story_search (story_id, document) VALUES (:id, "
            "setweight(to_tsvector('english', :title), 'A') || "
            "setweight(to_tsvector('english', :tags), 'B') || "
            "setweight(to_tsvector('english', :body), 'C')) "
            "ON CONFLICT (story_id) DO UPDATE SET document = excluded.document"),
            [_params(story) for story in stories])

    def index(self, session: Session, story: Story) -> None:
        self._ensure(session)
        self._upsert(session, [story])

    def remove(self, session: Session, story_id: str) -> None:
        self._ensure(session)
        session.execute(text("DELETE FROM story_search WHERE story_id = :id"), {"id": story_id})

    def matching(self, session: Session, query: str, *, limit: int = SEARCH_LIMIT) -> list[str]:
        if not _WORD.search(query):
            return []
        self._ensure(session)
        rows = session.execute(text(
            "SELECT story_id FROM story_search, websearch_to_tsquery('english', :q) AS query "
            "WHERE document @@ query ORDER BY ts_rank(document, query) DESC, story_id "
            "LIMIT :limit"), {"q": query, "limit": limit})
        return [str(r[0]) for r in rows]


def story_search(engine: Engine) -> StorySearch:
    """The implementation for this database."""
    if engine.dialect.name == "postgresql":
        return PostgresStorySearch()
    if engine.dialect.name == "sqlite":
        return SqliteStorySearch()
    raise ValueError(f"no story search for {engine.dialect.name}")


__all__ = [
    "SEARCH_LIMIT", "PeerAnswer", "PeerQuestion", "PostgresStorySearch",
    "SqliteStorySearch", "Story", "StoryMark", "StoryModeration", "StorySearch",
    "searchable_text", "story_search",
]
