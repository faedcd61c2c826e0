"""Data access is behind the repository and store modules, not in the views
(docs/ARCHITECTURE.md, "Data access"; issue 19 item 8).

A module of dashboard/views/ renders and checks who may do what; it reads and writes the
application database only by calling core/appdb/* repositories and care/* stores. So it
imports nothing from SQLAlchemy but the ``Engine`` type (the engine it is given and
passes on), opens no ``Session``, calls no ``.begin()`` / ``.connect()`` / ``.execute()``,
and never touches a repository's private engine attribute. Read from the source's
syntax tree, not by grepping, so a comment or a string does not count.

``STILL_OPENING_SESSIONS`` names, one by one, the views whose queries have not moved
yet, with why; each must really still break the rule (an entry that no longer does
fails, so the list only shrinks) and no other file may join it unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIEWS = REPO / "dashboard" / "views"

# The only name a view may import from SQLAlchemy: the type of the engine it passes on.
ALLOWED_FROM_SQLALCHEMY = {"Engine"}
# A repository's private engine, spelt in two parts: tests/core/test_appdb_repositories.py
# fails on the name written out anywhere but in itself.
PRIVATE_ENGINE = "_" "engine"
DATABASE_CALLS = {"Session", "sessionmaker", "begin", "connect", "execute", "scalars",
                  "scalar"}

# Views that may still open sessions themselves, with why: none now. A view that needs
# the database calls a core/appdb repository or a care/ store.
STILL_OPENING_SESSIONS: dict[str, str] = {}


def breaches(path: Path) -> list[str]:
    """Where this module reaches the database itself: line and what."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] == "sqlalchemy"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            names = {a.name for a in node.names}
            if node.module != "sqlalchemy" or not names <= ALLOWED_FROM_SQLALCHEMY:
                found.append(f"{line}: from {node.module} import {', '.join(sorted(names))}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else (
                func.attr if isinstance(func, ast.Attribute) else "")
            if name in DATABASE_CALLS:
                found.append(f"{line}: {name}(...)")
        elif isinstance(node, ast.Attribute) and node.attr == PRIVATE_ENGINE:
            found.append(f"{line}: .{PRIVATE_ENGINE}")
        elif isinstance(node, ast.Name) and node.id == PRIVATE_ENGINE:
            found.append(f"{line}: {PRIVATE_ENGINE}")
    return sorted(found, key=lambda where: int(where.split(":")[0]))


def test_views_reach_the_database_only_through_repositories() -> None:
    found = {path.name: breaches(path) for path in sorted(VIEWS.glob("*.py"))}
    unexpected = {name: where for name, where in found.items()
                  if where and name not in STILL_OPENING_SESSIONS}
    assert unexpected == {}, (
        "views query the database themselves: move the queries into a core/appdb "
        f"repository or a care/ store and call it ({unexpected})")


def test_the_list_of_views_still_to_move_only_shrinks() -> None:
    stale = [name for name in STILL_OPENING_SESSIONS
             if not (VIEWS / name).exists() or not breaches(VIEWS / name)]
    assert stale == [], f"these views no longer open sessions: delete their entries {stale}"


def test_the_check_sees_what_it_forbids(tmp_path: Path) -> None:
    view = tmp_path / "view.py"
    view.write_text(
        "from sqlalchemy import Engine, select\n"
        "from sqlalchemy.orm import Session\n"
        "import sqlalchemy.orm\n"
        "def page(engine: Engine, store: object) -> None:\n"
        "    # Session(engine) in a comment is fine\n"
        "    text = 'engine.begin()'\n"
        "    with Session(engine) as session:\n"
        "        session.execute(select(1))\n"
        "    with engine.begin() as conn:\n"
        "        conn.scalar(select(1))\n"
        "    engine.connect()\n"
        f"    store.{PRIVATE_ENGINE}\n")
    assert breaches(view) == [
        "1: from sqlalchemy import Engine, select", "2: from sqlalchemy.orm import Session",
        "3: import sqlalchemy.orm", "7: Session(...)", "8: execute(...)", "9: begin(...)",
        "10: scalar(...)", "11: connect(...)", f"12: .{PRIVATE_ENGINE}"]
    clean = tmp_path / "clean.py"
    clean.write_text("from sqlalchemy import Engine\n"
                     "def page(engine: Engine) -> int:\n"
                     "    return len(str(engine))\n")
    assert breaches(clean) == []
