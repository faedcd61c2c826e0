"""Password strength (zxcvbn) wherever a password is set: the account store, so
`hearth admin add-user` / `set-password` and the demo; an old weak password still
signs in (its hash is only upgraded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.appdb.account_store import AccountStore
from core.appdb.accounts import User
from core.config import get_settings
from core.passwords import WeakPasswordError, check_strength
from hearth.cli import main
from tests.support.factories import app_database

WEAK = ("aaaaaaaaaa", "password12", "1234567890", "qwertyuiop", "Password1!", "iloveyou12")
STRONG = ("correct horse battery staple", "plum-kettle-orbit-9", "Tr0ub4dor&3-sunset")


@pytest.mark.parametrize("password", WEAK)
def test_common_and_patterned_passwords_are_refused_with_a_clear_reason(password: str) -> None:
    with pytest.raises(WeakPasswordError, match="too easy to guess") as refused:
        check_strength(password)
    message = str(refused.value)
    assert password not in message  # the message never echoes the password
    assert "Try a few unrelated words" in message


@pytest.mark.parametrize("password", STRONG)
def test_strong_passwords_pass(password: str) -> None:
    check_strength(password)


def test_short_passwords_and_the_login_name_inside_are_refused() -> None:
    with pytest.raises(WeakPasswordError, match="at least 10 characters"):
        check_strength("Xq7#pL2!")
    check_strength("nightingale2026!")
    with pytest.raises(WeakPasswordError, match="too easy to guess"):
        check_strength("nightingale2026!", user_inputs=("nightingale",))


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("HEARTH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HEARTH_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    engine = app_database(tmp_path / "hearth.db")
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def _admin(*args: str, stdin: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["admin", *args, "--password-stdin"], input=stdin + "\n")
    return result.exit_code, result.output


@pytest.mark.parametrize("password", ["aaaaaaaaaa", "password12", "1234567890"])
def test_hearth_admin_refuses_weak_passwords_and_creates_nothing(database: Engine,
                                                                 password: str) -> None:
    code, output = _admin("add-user", "nina", "--role", "admin", "--name", "Nina",
                          stdin=password)
    assert code != 0 and "too easy to guess" in output and "Traceback" not in output
    assert AccountStore(database).users.get("nina") is None
    code, output = _admin("add-user", "nina", "--role", "admin", "--name", "Nina",
                          stdin="plum-kettle-orbit-9")
    assert code == 0, output
    code, output = _admin("set-password", "nina", stdin=password)
    assert code != 0 and "too easy to guess" in output
    assert AccountStore(database).users.check_password("nina", "plum-kettle-orbit-9") is not None


def test_an_old_weak_password_still_signs_in_and_is_only_rehashed(database: Engine) -> None:
    accounts = AccountStore(database)
    accounts.users.add("olde", role="admin", display_name="Olde", password="plum-kettle-orbit-9")
    weak_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("password12")
    with Session(database) as session:
        user = session.get(User, "olde")
        assert user is not None
        user.password_hash = weak_hash  # set before the strength policy existed
        session.commit()
    assert accounts.users.check_password("olde", "password12") is not None
    with Session(database) as session:
        user = session.get(User, "olde")
        assert user is not None and user.password_hash != weak_hash
