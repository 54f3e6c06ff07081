"""Password hashing with argon2id; hashes are never logged nor returned."""
from __future__ import annotations

import re
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults


@cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so both answers take the same time."""
    return _hasher.hash("not-a-real-password-0")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # No account (or an erased one): spend the same time, then refuse.
        try:
            _hasher.verify(_dummy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


PASSWORD_RULE = (
    "La contraseña debe tener entre 10 y 128 caracteres, con al menos una letra y un número, "
    "y no contener la parte local de su email"
)


class WeakPassword(ValueError):
    pass


def check_password_strength(password: str, email: str | None = None) -> None:
    """Raise WeakPassword, whose message states the rule, unless it is met."""
    local_part = (email or "").split("@")[0].lower()
    if (
        not 10 <= len(password) <= 128
        or not re.search(r"[^\W\d_]", password)
        or not re.search(r"\d", password)
        or (len(local_part) >= 3 and local_part in password.lower())
    ):
        raise WeakPassword(PASSWORD_RULE)
