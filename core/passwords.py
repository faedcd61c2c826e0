"""Password hashing with Argon2id (argon2-cffi's RFC 9106 low-memory profile).

The one place that knows how passwords are hashed: the dashboard's login and
the `hearth admin` command both use it. Hashes carry their own parameters, so
``needs_rehash`` tells when stored ones are weaker than today's settings.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # Argon2id, t=3, m=64 MiB, p=4 (RFC 9106 second recommendation)

MIN_PASSWORD_LENGTH = 10  # NIST SP 800-63B §5.1.1.2 asks for at least 8; we ask a little more


class WeakPasswordError(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
        )
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("hearth-no-such-account")


def verify_nothing(password: str) -> bool:
    """Spend the time of a verification when the account does not exist, so that a
    failed login takes as long for unknown names as for known ones (no enumeration)."""
    verify_password(_dummy_hash(), password)
    return False
