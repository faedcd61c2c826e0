"""How the suite is spread over pytest-xdist workers (``make test`` runs ``-n 4 --dist
loadgroup --no-loadscope-reorder``, scripts/test.sh). No list of tests: the rules read
what each test declares.

- A test that uses a module-, class- or package-scoped fixture runs on the same worker as
  the rest of its file (an ``xdist_group`` named after the file), so the fixture is built
  once; every other test is a unit of its own and goes to whichever worker is free.
  A test that names its own ``xdist_group`` keeps it.
- The order the units are handed out: tests marked ``slow`` first (each a long stream of
  processes; started first, they end before the short tests run out), then the groups,
  larger first, then the single tests in file order. Each worker runs one unit's tests in
  file order.

Session-scoped fixtures (Mosquitto, InfluxDB, PostgreSQL, Chromium) are made once per
worker; their ports come from tests/support/ports.py (never one port to two processes)
and their files from each worker's own ``tmp_path_factory`` directory.
"""

from __future__ import annotations

import pytest

SHARED_SCOPES = frozenset({"module", "class", "package"})


def _shares_a_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs and defs[-1].scope in SHARED_SCOPES
               for defs in info.name2fixturedefs.values())


def _unit(item: pytest.Item) -> str:
    """The name of the work unit the item belongs to (its group, or the item itself)."""
    marker = item.get_closest_marker("xdist_group")
    if marker is not None:
        return str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))
    return item.nodeid


def add_groups(items: list[pytest.Item]) -> None:
    """An ``xdist_group`` named after its file on each test that shares a fixture."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None and _shares_a_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def hand_out_order(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``, the items in the order their units are handed out."""
    if config.getoption("dist", "no") != "loadgroup":
        return
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(_unit(item), []).append(item)

    def rank(entry: tuple[int, tuple[str, list[pytest.Item]]]) -> tuple[int, int, int]:
        position, (_name, members) = entry
        if any(m.get_closest_marker("slow") for m in members):
            return (0, -len(members), position)
        if len(members) > 1:
            return (1, -len(members), position)
        return (2, 0, position)

    ordered = sorted(enumerate(units.items()), key=rank)
    items[:] = [item for _, (_name, members) in ordered for item in members]
