"""Password hashing and the password rule (``common.passwords``).

Nothing is faked: real argon2id hashes are computed (about 50 ms each), so
each test hashes as little as it can.
"""
from __future__ import annotations

import re
import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from common.passwords import (
    PASSWORD_RULE,
    WeakPassword,
    check_password_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from cuentas.schemas import NEW_PASSWORD

GOOD = "correcto-caballo-42"


@pytest.fixture(scope="module")
def good_hash() -> str:
    return hash_password(GOOD)


def test_hash_is_argon2id_salted_and_never_the_password(good_hash):
    assert good_hash.startswith("$argon2id$")
    assert GOOD not in good_hash
    assert hash_password(GOOD) != good_hash  # a fresh salt every time
    assert not needs_rehash(good_hash)


def test_verify_accepts_the_password_and_nothing_else(good_hash):
    assert verify_password(good_hash, GOOD)
    assert not verify_password(good_hash, GOOD.upper())
    assert not verify_password(good_hash, GOOD + " ")
    assert not verify_password(good_hash, "")


@pytest.mark.parametrize("stored", [None, "not-a-hash", "$argon2id$v=19$m=1,t=1,p=1$broken"])
def test_verify_never_accepts_a_missing_or_corrupt_hash(stored):
    assert verify_password(stored, GOOD) is False
    # not even the password the dummy hash was made from
    assert verify_password(stored, "not-a-real-password-0") is False


def test_verify_never_accepts_an_empty_hash():
    # regression: '' used to fall back to the dummy hash and then pass the "is not None" check
    assert verify_password("", "not-a-real-password-0") is False


def test_unknown_account_costs_a_real_verification(good_hash):
    """With no hash, a dummy hash is verified so that an unknown email is not
    told apart by a faster answer. Compare the fastest of a few runs."""
    verify_password(None, GOOD)  # builds the cached dummy hash

    def fastest(stored):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            verify_password(stored, "wrong-password-1")
            times.append(time.perf_counter() - started)
        return min(times)

    unknown, known = fastest(None), fastest(good_hash)
    assert unknown > known * 0.3, (unknown, known)


@pytest.mark.parametrize(
    "password",
    [
        "abcdefgh12",                      # exactly 10, letters and digits
        "a" * 127 + "1",                    # exactly 128
        "contraseña2024",                   # non-ASCII letters count as letters
        "12345678é9",                       # one letter is enough
        "ana-2024-segura",                  # contains "ana" but email local part is "an" (too short)
    ],
)
def test_strong_passwords_pass(password):
    check_password_strength(password, "an@example.com")


@pytest.mark.parametrize(
    "password, email",
    [
        ("abcdefg12", None),                    # 9 characters
        ("a" * 128 + "1", None),                # 129 characters
        ("abcdefghijkl", None),                 # no digit
        ("1234567890123", None),                # no letter
        ("____--1234__", None),                 # underscore is not a letter
        ("mi-juanperez-2024", "JuanPerez@example.com"),   # holds the email's local part (any case)
        ("JUANPEREZ-2024x", "juanperez@example.com"),
    ],
)
def test_weak_passwords_are_refused_with_the_rule(password, email):
    with pytest.raises(WeakPassword) as info:
        check_password_strength(password, email)
    message = str(info.value)
    assert message == PASSWORD_RULE
    for words in ("10", "128", "letra", "número", "email"):
        assert words in message


@given(st.text(max_size=140))
@example("Lampara-2026")
@example("ñandúpingüino7")
@example("1234567890")
@example("sin-numeros-aqui")
@example("corta-1")
@example("x1" * 64 + "y")
@example("00000000\n¹")  # a line break before the letter: ``.`` would not look past it
def test_the_documented_rule_accepts_exactly_what_the_server_accepts_but_for_the_email(password):
    """``NEW_PASSWORD`` is the rule as the OpenAPI documents state it (length
    and pattern, read as Python and JSON Schema validators read them): with
    no e-mail to compare, it holds exactly when the server's check passes."""
    documented = (NEW_PASSWORD["minLength"] <= len(password) <= 128
                  and re.search(NEW_PASSWORD["pattern"], password) is not None)
    try:
        check_password_strength(password)
        accepted = True
    except WeakPassword:
        accepted = False
    assert documented == accepted
