"""Password hashing with Argon2id (argon2-cffi's RFC 9106 low-memory profile), and the
strength check every new password passes (zxcvbn).

The one place that knows how passwords are hashed and which are strong enough: the
dashboard's login and the `hearth admin` command both use it. Hashes carry their own
parameters, so ``needs_rehash`` tells when stored ones are weaker than today's settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

_hasher = PasswordHasher()  # Argon2id, t=3, m=64 MiB, p=4 (RFC 9106 second recommendation)

MIN_PASSWORD_LENGTH = 10  # NIST SP 800-63B §5.1.1.2 asks for at least 8; we ask a little more
# zxcvbn's score: 0 "too guessable" (< 10^3 guesses) ... 3 "safely unguessable: moderate
# protection from offline slow-hash scenario" (< 10^10), 4 above. NIST SP 800-63B §5.1.1.2
# asks to refuse commonly used, expected or compromised values; 3 refuses those (common
# passwords, keyboard walks, repeats, sequences, dates, dictionary words with l33t).
MIN_PASSWORD_SCORE = 3
# zxcvbn's cost grows with length; nobody types more than this (argon2 takes any length).
_SCORED_PREFIX = 256


class WeakPasswordError(ValueError):
    pass


def check_strength(password: str, user_inputs: Iterable[str] = ()) -> None:
    """WeakPasswordError with a clear reason (and zxcvbn's advice) unless ``password`` is
    long and hard enough to guess. ``user_inputs``: the login name and display name,
    which make a password weaker when it contains them."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    inputs = [word for word in user_inputs if word]
    result = zxcvbn(password[:_SCORED_PREFIX], user_inputs=inputs)
    if int(result["score"]) >= MIN_PASSWORD_SCORE:
        return
    feedback = result.get("feedback") or {}
    advice = [str(feedback.get("warning") or "").strip()]
    advice += [str(s).strip() for s in feedback.get("suggestions") or ()]
    said = " ".join(a if a.endswith(".") else f"{a}." for a in advice if a)
    raise WeakPasswordError(
        "this password is too easy to guess"
        + (f": {said}" if said else ".")
        + " Try a few unrelated words, or let a password manager make one."
    )


def hash_password(password: str, *, user_inputs: Iterable[str] = ()) -> str:
    """The Argon2id hash of a NEW password, which must pass ``check_strength``."""
    check_strength(password, user_inputs)
    return _hasher.hash(password)


def rehash_password(password: str) -> str:
    """A fresh hash of a password already accepted (upgrading its parameters at sign-in):
    not checked again, so that a stronger policy never locks anyone out."""
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
