"""The locks (scripts/lock.sh) hold the whole install, with hashes, in step with pyproject.toml.

requirements-test.lock is what scripts/bootstrap.sh (so `make test`) installs,
requirements.lock what the Dockerfile installs.  A pin changed in pyproject.toml
without re-running scripts/lock.sh fails here, as does a venv that drifted from
the lock.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+) \\$")


def lock(name: str) -> dict[str, str]:
    """Canonical name -> version; every pin must be followed by at least one hash."""
    lines = (REPO / name).read_text().splitlines()
    pins: dict[str, str] = {}
    for i, line in enumerate(lines):
        match = PIN.match(line)
        if match:
            assert lines[i + 1].strip().startswith("--hash=sha256:"), f"{name}: {line} has no hash"
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def pyproject_pins(*groups: str) -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for group in groups:
        specs += project["optional-dependencies"][group]
    out: dict[str, str] = {}
    for spec in map(Requirement, specs):
        (only,) = spec.specifier
        assert only.operator == "==", f"{spec} is not pinned exactly"
        out[canonicalize_name(spec.name)] = only.version
    return out


@pytest.mark.parametrize(("name", "groups"), [("requirements.lock", ()),
                                              ("requirements-test.lock", ("test",))])
def test_the_lock_holds_every_pin_of_pyproject(name: str, groups: tuple[str, ...]) -> None:
    pins = lock(name)
    for package, version in pyproject_pins(*groups).items():
        assert pins.get(package) == version, (
            f"pyproject.toml pins {package}=={version}, {name} has {pins.get(package)}: "
            "run scripts/lock.sh")


def test_runtime_and_test_locks_agree() -> None:
    runtime, full = lock("requirements.lock"), lock("requirements-test.lock")
    assert len(runtime) > 50 and len(full) > len(runtime)
    assert {p: full.get(p) for p in runtime} == runtime


def test_this_environment_is_the_lock() -> None:
    for package, version in lock("requirements-test.lock").items():
        assert metadata.version(package) == version, f"{package}: run scripts/bootstrap.sh test"


def test_bootstrap_and_image_install_from_the_locks() -> None:
    bootstrap = (REPO / "scripts" / "bootstrap.sh").read_text()
    assert "requirements-test.lock" in bootstrap and "--require-hashes" in bootstrap
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements.lock" in dockerfile
